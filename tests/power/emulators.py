"""BMC emulators for the power tests, as OpenStack Ironic's CI runs them (BMC emulators recipe):
``sushy-tools``' Redfish emulator and ``virtualbmc``'s IPMI BMCs, both from PyPI, both driving
a real libvirtd (or, for the fast Redfish tests, sushy-tools' own in-memory "fake" systems).

Each runs inside the test's network namespace with its state in the test's directory; they are
stopped by PID at the end. Two facts of the recipe shape the harness:

* vbmc's server (pyghmi's own server code) accepts IPMI cipher suite 17 but implements only
  suite 3, and pyghmi's client then dies in RAKP2. A real SHA-1-only BMC refuses suite 17 with
  status 0x11 ("no matching cipher suite") and pyghmi falls back to suite 3, so the harness
  makes vbmc's server do exactly that (:data:`VBMCD`) -- the emulator is changed, never the
  driver under test.
* vbmc keeps BMC passwords in plain text in its config dir: a test directory, removed after.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from tests.netns import Netns
from tests.procs import poll, stop

VENV_BIN = Path(sys.executable).parent

#: vbmcd with its server refusing every cipher suite but 3 (see the module docstring)
VBMCD = """\
import sys
from pyghmi.ipmi.private import serversession as ss
_orig = ss.ServerSession.create_open_session_response
def _suite3_only(self, request):
    request = bytearray(request)
    if len(request) >= 13 and request[12] != 1:  # proposed auth algorithm is not RAKP-HMAC-SHA1
        self.clientsessionid = request[4:8]
        return bytearray([request[0], 0x11, 0, 0]) + request[4:8]
    return _orig(self, request)
ss.ServerSession.create_open_session_response = _suite3_only
from virtualbmc.cmd.vbmcd import main
sys.exit(main())
"""


@dataclass
class Redfish:
    url: str
    proc: subprocess.Popen
    log: Path


@contextlib.contextmanager
def sushy_emulator(ns: Netns, workdir: Path, *, address: str, port: int,
                   users: dict[str, str], libvirt_uri: str | None = None,
                   allowed: tuple[str, ...] = (), fake_power: str = "Off",
                   tls: tuple[Path, Path] | None = None) -> Iterator[Redfish]:
    """``sushy-emulator`` in ``ns`` on ``address:port`` with basic auth for ``users``; over
    libvirt (``libvirt_uri``, only the domains ``allowed`` by UUID) or its fake driver."""
    workdir.mkdir(parents=True, exist_ok=True)
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("".join(
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for u, p in users.items()))
    conf = [f"SUSHY_EMULATOR_LISTEN_IP = {address!r}", f"SUSHY_EMULATOR_LISTEN_PORT = {port}",
            f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}",
            f"SUSHY_EMULATOR_STATE_DIR = {str(workdir / 'state')!r}"]
    if libvirt_uri:
        conf += [f"SUSHY_EMULATOR_LIBVIRT_URI = {libvirt_uri!r}",
                 f"SUSHY_EMULATOR_ALLOWED_INSTANCES = {list(allowed)!r}"]
    else:
        conf += ["SUSHY_EMULATOR_FAKE_DRIVER = True",
                 "SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef094',"
                 f" 'name': 'fake', 'power_state': {fake_power!r}, 'nics': []}}]"]
    if tls:
        conf += [f"SUSHY_EMULATOR_SSL_CERT = {str(tls[0])!r}",
                 f"SUSHY_EMULATOR_SSL_KEY = {str(tls[1])!r}"]
    (workdir / "emulator.conf").write_text("\n".join(conf) + "\n")
    log = workdir / "emulator.log"
    with open(log, "wb") as out:
        proc = ns.popen([str(VENV_BIN / "sushy-emulator"), "--config",
                         str(workdir / "emulator.conf")], stdout=out, stderr=subprocess.STDOUT)
    scheme = "https" if tls else "http"
    url = f"{scheme}://{address}:{port}"
    try:
        up = poll(lambda: ns.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                  "--max-time", "2", f"{url}/redfish/v1/"], check=False,
                                 timeout=10).stdout == "200" or proc.poll() is not None, 30,
                  step=0.3)
        if not up or proc.poll() is not None:
            raise RuntimeError(f"sushy-emulator did not start:\n{log.read_text()[-2000:]}")
        yield Redfish(url, proc, log)
    finally:
        stop(proc, grace=10)


@dataclass
class Vbmc:
    ns: Netns
    address: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen
    log: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``vbmc --no-daemon ...`` in the namespace (vbmcd's control port is on its loopback);
        without ``--no-daemon`` the client would start a second daemon with default paths."""
        res = self.ns.run([str(VENV_BIN / "vbmc"), "--no-daemon", *args], env=self.env,
                          check=False, timeout=60)
        if check and res.returncode:
            raise RuntimeError(f"vbmc {' '.join(args)}: {res.stderr or res.stdout}")
        return res


@contextlib.contextmanager
def virtualbmc(ns: Netns, workdir: Path, *, domain: str, address: str, port: int, user: str,
               password: str, libvirt_uri: str = "qemu:///system") -> Iterator[Vbmc]:
    """``vbmcd`` in ``ns`` (its state in ``workdir``) serving one BMC for ``domain``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "conf").mkdir(exist_ok=True)
    conf = workdir / "virtualbmc.conf"
    conf.write_text(f"[default]\nconfig_dir = {workdir / 'conf'}\npid_file = {workdir / 'pid'}\n"
                    f"server_port = 50891\n[log]\nlogfile = {workdir / 'vbmc.log'}\n")
    env = {**os.environ, "VIRTUALBMC_CONFIG": str(conf)}
    log = workdir / "vbmcd.out"
    with open(log, "wb") as out:
        proc = ns.popen([sys.executable, "-c", VBMCD, "--foreground"], stdout=out,
                        stderr=subprocess.STDOUT, env=env)
    vbmc = Vbmc(ns, address, port, env, proc, log)
    try:
        if not poll(lambda: vbmc.cli("list", check=False).returncode == 0
                    or proc.poll() is not None, 30, 0.5) or proc.poll() is not None:
            raise RuntimeError(f"vbmcd did not start:\n{log.read_text()[-2000:]}")
        vbmc.cli("add", domain, "--libvirt-uri", libvirt_uri, "--address", address,
                 "--port", str(port), "--username", user, "--password", password)
        vbmc.cli("start", domain)
        yield vbmc
    finally:
        stop(proc, grace=10)
