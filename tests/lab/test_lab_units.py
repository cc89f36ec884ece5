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
