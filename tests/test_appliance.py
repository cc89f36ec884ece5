"""README's first command: scripts/appliance.sh sets up, seeds and serves; curl fetches the demo."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
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
    logins: list[int] = []
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
        printed = re.search(r"^appliance: log in as admin with password (\S+)$",
                            (tmp_path / "appliance.log").read_text(), re.M)
        logins.append(_login(port, printed.group(1)) if printed else 0)
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
    # issue 15 item 2: the first start made the UI's admin and printed its password once
    assert f"appliance: web UI http://127.0.0.1:{port}/ui/" in output
    password = re.search(r"^appliance: log in as admin with password (\S+)$", output, re.M)
    assert password and output.count(password.group(1)) == 1, output
    assert password.group(1).encode() not in (tmp_path / "data" / "provisioner.db").read_bytes()
    assert logins[0] == 303  # (the log-in below, made while it ran)
    # a second start keeps that admin and shows no password
    again = _run_serve(tmp_path, port, lambda: None)
    assert "appliance: log in as admin (its password was shown when it was made;" in again
    assert "with password" not in again


def _login(port: int, password: str) -> int:
    """Log in to the UI with the printed credentials, as a browser would (cookie + CSRF)."""
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    base = f"http://127.0.0.1:{port}/ui/login"
    page = opener.open(base, timeout=10).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": "admin", "password": password,
                                   "csrf_token": csrf}).encode()
    try:
        return opener.open(base, data=data, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def _run_serve(tmp_path: Path, port: int, while_up) -> str:  # noqa: ANN001
    """Start ``appliance.sh --serve``, call ``while_up()`` once it answers, stop it (SIGTERM)."""
    env = {**os.environ, "PROVISIONER_DATA_DIR": str(tmp_path / "data"),
           "PROVISIONER_HTTP_PORT": str(port)}
    env.pop("PROVISIONER_CONFIG", None)
    log_path = tmp_path / "again.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "appliance.sh"), "--serve"],
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if _curl(f"http://127.0.0.1:{port}/ui/login").stdout.endswith("200"):
                break
            time.sleep(0.5)
        while_up()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return log_path.read_text()
