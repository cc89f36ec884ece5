"""``provisioner lab up`` / ``status`` / ``down`` through the real command.

Each test brings a whole lab up (namespace, appliance with DHCP/TFTP/DNS/HTTP, QEMU guests that
network-boot from it under TCG), waits for the guests, and takes it down again; then nothing the
lab made may remain: no namespace, no process, no file (the boot kit cache is kept on purpose).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.netns import have_root_netns

pytestmark = [pytest.mark.netns, pytest.mark.qemu,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns"),
              pytest.mark.skipif(not os.access("/usr/bin/qemu-system-x86_64", os.X_OK),
                                 reason="needs qemu-system-x86")]

CACHE = os.environ.get("PROVISIONER_LAB_CACHE", "/var/cache/provisioner/lab")


def lab(data_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioner.cli", "--data-dir", str(data_dir),
                           "lab", *args], capture_output=True, text=True, timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(") ", 1)[1][0] != "Z"


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def _up_status_down(tmp_path: Path, mode: str, wait: str) -> dict:
    data = tmp_path / "data"
    res = lab(data, "up", "--guests", "1", "--mode", mode, "--wait", wait, "--cache", CACHE,
              "--timeout", "420")
    state_file = data / "lab" / "lab.json"
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        _shows_progress(res.stdout, wait)
        state = json.loads(state_file.read_text())
        assert state["netns"] in _netns()
        info = json.loads(lab(data, "status", "--json").stdout)
        text = lab(data, "status").stdout
        assert f"namespace {state['netns']}" in text and "guest1" in text
        # the web UI answers on loopback through the forwarder
        with urllib.request.urlopen(info["ui"] + "ui/login", timeout=10) as resp:
            assert resp.status == 200
    finally:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            down = lab(data, "down", timeout=120)
            assert down.returncode == 0, down.stdout + down.stderr
    # nothing it made remains
    assert state["netns"] not in _netns()
    assert not Path("/var/run/netns", state["netns"]).exists()
    assert [role for role, pid in state["pids"].items() if _alive(pid)] == []
    assert not (data / "lab").exists() and list(data.iterdir()) == []
    if state.get("libvirt_root"):
        assert not Path(state["libvirt_root"]).exists()
    assert lab(data, "status").returncode == 1
    return info


def _shows_progress(out: str, wait: str) -> None:
    """Issue 15 item 5: while it waits, ``lab up`` shows each stage the guest reaches, with the
    time since it was ordered and its last event (plain lines: the output is not a terminal)."""
    rows = [line for line in out.splitlines() if line.startswith("guest1 ")]
    stages = [line[11:35].strip() for line in rows]
    assert len(set(stages)) >= 3, out
    assert stages[-1] == {"installed": "Installed", "kickstart": "Kickstart fetched"}[wait] or \
        wait == "kickstart" and stages[-1] in ("Installing", "Installed"), out
    assert all(re.match(r"^\d+:\d\d$", line[36:43].strip()) for line in rows), rows
    assert any(re.search(r"DHCP (offered|gave) 10\.79\.0\.|(HTTP|TFTP) sent ", line)
               for line in rows), rows
    print("\n".join(rows))


def test_lab_with_a_local_agent(tmp_path: Path) -> None:
    info = _up_status_down(tmp_path, "agent", "installed")
    assert info["mode"] == "agent"
    [guest] = info["guests"]
    assert guest["state"] == "installed" and guest["host"] == "lab-host"
    assert guest["address"].startswith("10.79.0.")


def test_lab_booting_qemu_itself(tmp_path: Path) -> None:
    info = _up_status_down(tmp_path, "qemu", "kickstart")
    [guest] = info["guests"]
    assert guest["state"] in ("kickstart", "installing", "installed")


def test_second_up_is_refused_and_down_twice_is_fine(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "lab").mkdir(parents=True)
    (data / "lab" / "lab.json").write_text(json.dumps(
        {"dir": str(data / "lab"), "netns": "prlab-nothere", "subnet": "10.79.0",
         "mode": "qemu"}))
    res = lab(data, "up", "--guests", "0", "--mode", "qemu")
    assert res.returncode == 2 and "already up" in res.stderr
    assert lab(data, "down").returncode == 0
    assert lab(data, "down").returncode == 0
    assert not (data / "lab").exists()


def test_an_order_survives_an_appliance_restart(tmp_path: Path) -> None:
    """Order placed, appliance restarted at once: the agent still builds the guest and the
    guest still installs (orders, work queue, leases and users are on disk).

    The agent is paused (SIGSTOP) from before the order is placed until the restart is over, so
    the order can only be carried out from what the new appliance reads back from disk. Without
    the pause the agent could take the order first and start the guest, whose PXE boot then
    races the restart (its TFTP fetch dies with the old appliance and the firmware gives up):
    a different scenario, which this test does not claim."""
    from provisioner.core import orders
    from provisioner.core.ordering import Ordering
    from provisioner.core.rules import check
    from provisioner.settings import load
    from provisioner.store import open_store

    data = tmp_path / "data"
    res = lab(data, "up", "--guests", "0", "--mode", "agent", "--cache", CACHE)
    state_file = data / "lab" / "lab.json"
    try:
        assert res.returncode == 0, res.stdout + res.stderr
        settings = load(str(data / "lab" / "provisioner.toml"), environ={})
        pids = json.loads(state_file.read_text())["pids"]
        os.kill(pids["agent"], signal.SIGSTOP)
        try:
            store = open_store(settings.db_url, migrate=False)
            try:
                ordering = Ordering(store, rules_check=check, clock=time.time,
                                    enqueue=lambda h, k, p, key: orders.enqueue(
                                        store, h, k, p, key=key, now=time.time()))
                order = ordering.submit({"name": "survivor", "profile": "lab-guest",
                                         "host": "lab-host"}, store.get_user("admin"))
            finally:
                store.close()
            res = lab(data, "restart")
            assert res.returncode == 0, res.stdout + res.stderr
        finally:
            os.kill(pids["agent"], signal.SIGCONT)
        assert json.loads(state_file.read_text())["pids"]["appliance"] != pids["appliance"]
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            store = open_store(settings.db_url, migrate=False)
            try:
                p = Ordering(store, clock=time.time).progress(store.get_order(order.id))
            finally:
                store.close()
            if p.state in ("installed", "failed"):
                break
            time.sleep(2)
        assert p.state == "installed", (p.state, p.detail)
    finally:
        if state_file.exists():
            assert lab(data, "down", timeout=120).returncode == 0


def test_ctrl_c_while_waiting_is_an_interruption(tmp_path: Path) -> None:
    """Issue 15 item 4, for real: SIGINT (what Ctrl-C sends) while ``lab up`` waits for its
    guest: it says "interrupted", not "failed", names no log directory it deletes, exits 130
    and leaves nothing behind."""

    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "provisioner.cli", "--data-dir", str(data),
                             "lab", "up", "--guests", "1", "--mode", "qemu", "--wait",
                             "installed", "--cache", CACHE], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    state: dict = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the lab's own timeouts
            lines.append(line)
            if line.startswith("lab: waiting for"):
                state = json.loads((data / "lab" / "lab.json").read_text())
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=120)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if (data / "lab" / "lab.json").exists():
            lab(data, "down", timeout=120)
    out = "".join(lines)
    assert proc.returncode == 130, out
    assert "lab: interrupted; taking down what was made" in out
    assert "fail" not in out.lower() and "logs" not in out, out
    assert state and state["netns"] not in _netns()
    assert [r for r, pid in state["pids"].items() if _alive(pid)] == []
    assert not (data / "lab").exists() and not (data / "lab-failed").exists()
