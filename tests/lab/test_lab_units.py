"""The lab's small decisions, without bringing a lab up."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.lab import LabError, LabState, check_subnet, format_status


@pytest.mark.parametrize("subnet", ["10.79.0", "192.168.77", "172.20.1"],
                         ids=["10/8", "192.168/16", "172.16/12"])
def test_private_subnets_are_accepted(subnet: str) -> None:
    assert check_subnet(subnet) == subnet


@pytest.mark.parametrize("subnet,message", [
    ("8.8.8", "use a private range"), ("127.0.0", "use a private range"),
    ("10.79", "three octets"), ("10.79.0.1", "three octets"), ("a;b", "three octets"),
    ("10.79.300", "three octets"),
], ids=["public", "loopback", "two octets", "four octets", "shell junk", "octet too big"])
def test_other_subnets_are_refused(subnet: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        check_subnet(subnet)


def test_state_file_round_trip_is_private(tmp_path: Path) -> None:
    state = LabState(dir=str(tmp_path), netns="prlab-abc123", subnet="10.79.0", mode="qemu",
                     admin_password="secret", pids={"appliance": 12})
    state.save()
    assert (tmp_path / "lab.json").stat().st_mode & 0o777 == 0o600
    again = LabState.load(tmp_path)
    assert again == state and again.appliance_url == "http://10.79.0.1:8080"
    (tmp_path / "lab.json").write_text("{not json")
    assert LabState.load(tmp_path) is None


def test_status_summary() -> None:
    text = format_status({
        "dir": "/d/lab", "mode": "agent", "netns": "prlab-1", "netns_exists": False,
        "ui": "http://127.0.0.1:9/", "admin_password": "pw", "appliance": "http://10.79.0.1:8080",
        "processes": {"agent": {"pid": 13, "alive": False}},
        "guests": [{"name": "guest1", "state": "kickstart", "address": None, "host": "lab-host"}]})
    assert text.splitlines() == [
        "lab in /d/lab (agent mode), namespace prlab-1 (MISSING)",
        "web UI      http://127.0.0.1:9/  (admin / pw)",
        "appliance   http://10.79.0.1:8080 inside the namespace",
        "processes",
        "  agent            pid 13       exited",
        "guests",
        "  guest1           kickstart   -               lab-host"]


# ---- issue 15 item 4: Ctrl-C is not a failure; a failure keeps its logs --------------------

def _up_that(tmp_path: Path, monkeypatch, exc: BaseException) -> tuple[list[str], Path]:
    """``lab up`` whose first step writes a log and then raises ``exc`` (no network is made:
    the lab's own clean-up runs for real on what the state file records)."""
    import os

    from provisioner.lab import session

    if os.geteuid() != 0:
        pytest.skip("lab up needs root")

    def step(state, *_a) -> None:
        (Path(state.dir) / "logs").mkdir(parents=True, exist_ok=True)
        (Path(state.dir) / "logs" / "appliance.log").write_text("line 1\nthe real reason\n")
        raise exc

    monkeypatch.setattr(session, "_up", step)
    monkeypatch.delenv("PROVISIONER_LAB_KEEP_FAILED", raising=False)
    said: list[str] = []
    data = tmp_path / "data"
    with pytest.raises(type(exc)):
        session.up(data, say=said.append)
    return said, data


def test_ctrl_c_is_an_interruption_not_a_failure(tmp_path: Path, monkeypatch) -> None:
    said, data = _up_that(tmp_path, monkeypatch, KeyboardInterrupt())
    assert said[0] == "lab: interrupted; taking down what was made"
    assert said[-1].startswith("lab: down (removed namespace prlab-")
    assert not any("fail" in s for s in said), said
    assert not (data / "lab").exists() and not (data / "lab-failed").exists()


def test_a_failure_keeps_its_logs_and_names_them(tmp_path: Path, monkeypatch) -> None:
    said, data = _up_that(tmp_path, monkeypatch, LabError("the appliance did not answer"))
    assert not (data / "lab").exists()  # taken down
    (kept,) = (data / "lab-failed").iterdir()
    assert (kept / "logs" / "appliance.log").read_text().endswith("the real reason\n")
    assert said[-1] == f"lab: failed and taken down; its logs are kept in {kept / 'logs'}"
    assert any("the real reason" in s for s in said)  # the tail is shown too


def test_guest_rows_say_stage_time_and_last_event() -> None:
    """Issue 15 item 5: each guest's row while ``lab up`` waits."""
    from provisioner.lab.watch import guest_rows

    rows = guest_rows([
        {"name": "guest1", "state": "tftp", "since": 100.0,
         "activity": "HTTP sent kernel /assets/lab/kernel: 8.1 MiB in 1.7 s (4.8 MiB/s)"},
        {"name": "guest2", "state": "queued", "since": None}], now=142.5)
    assert [(r.key, r.stage) for r in rows] == [("guest1", "tftp"), ("guest2", "queued")]
    assert rows[0].text == ("guest1     Boot loader (TFTP/HTTP)     0:42  HTTP sent kernel "
                            "/assets/lab/kernel: 8.1 MiB in 1.7 s (4.8 MiB/s)")
    assert rows[1].text == "guest2     Queued                         -"
