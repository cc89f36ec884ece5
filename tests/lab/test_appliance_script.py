"""README's first command, default mode: ``scripts/appliance.sh`` runs the one-command lab.

The script must bring up its private lab network, boot one guest that fetches its kickstart,
serve the web UI on a loopback port, and on SIGTERM (what Ctrl-C amounts to) take down every
namespace and process it made.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.netns import have_root_netns
from tests.procs import poll, stop

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.netns, pytest.mark.qemu,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def test_appliance_script_runs_the_lab_and_cleans_up(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(data), "LAB_UI_PORT": str(port)}
    env.pop("PROVISIONER_CONFIG", None)
    log_path = tmp_path / "appliance.log"
    log = open(log_path, "w+")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "appliance.sh")], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state_file = data / "lab-run" / "lab" / "lab.json"
    netns = None
    try:
        # a fresh machine builds the boot kit first
        poll(lambda: "the lab is up" in log_path.read_text() or proc.poll() is not None, 900,
             step=1)
        text = log_path.read_text()
        assert proc.poll() is None and "the lab is up" in text, text
        state = json.loads(state_file.read_text())
        netns = state["netns"]
        assert netns in _netns()
        # the guest fetched its kickstart (lab up --wait kickstart returned)
        assert "guest1" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ui/login", timeout=30) as resp:
            assert resp.status == 200
    finally:
        stop(proc, grace=180, group=False)  # the script itself must take its lab down
    assert not state_file.exists(), log_path.read_text()
    if netns:
        assert netns not in _netns()
    assert "taking the lab down" in log_path.read_text()
