"""README's first command: scripts/appliance.sh sets up, seeds and serves; curl fetches the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curl(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, timeout=30)


def test_appliance_script_serves_the_demo_kickstart(tmp_path):
    port = _free_port()
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(tmp_path / "data"),
           "PROVISIONER_HTTP_PORT": str(port)}
    env.pop("PROVISIONER_CONFIG", None)
    log = open(tmp_path / "appliance.log", "w+")
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "appliance.sh"), "--serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/ks/system/demo01"
        deadline = time.monotonic() + 300  # set-up is a no-op on a prepared machine
        got = None
        while time.monotonic() < deadline and proc.poll() is None:
            got = _curl(url)
            if got.returncode == 0:
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "appliance.log").read_text()
        body, _, status = got.stdout.rpartition("\n")
        assert status == "200", body
        assert body.startswith("# RHEL 9 guest kickstart: profile rhel9-guest, system demo01")
        assert f"http://127.0.0.1:{port}/cb/" in body
        assert (tmp_path / "data" / "provisioner.db").is_file()
        # nothing but HTTP on loopback: no UDP socket at all (no DHCP/TFTP/DNS by default)
        ss = subprocess.run(["ss", "-Hanup"], capture_output=True, text=True, timeout=30).stdout
        assert f"pid={proc.pid}," not in ss
        ss = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=30).stdout
        mine = [line for line in ss.splitlines() if f"pid={proc.pid}," in line]
        assert mine and all(f"127.0.0.1:{port}" in line for line in mine), mine
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(timeout=30)
        log.close()
    output = (tmp_path / "appliance.log").read_text()
    assert rc == 0, output
    assert "system demo01: added" in output and "provisioner: stopped" in output
