"""``provisioner serve`` as an unprivileged user with only the capabilities its protocols need
(issue 19's production units: CAP_NET_BIND_SERVICE for ports 67/69, CAP_NET_RAW and
CAP_NET_ADMIN for per-interface sockets and the neighbour entries of address-less clients).

Started by ``setpriv`` as ``nobody`` with those three as ambient capabilities and the bounding
set cut to them (what ``packaging/systemd/provisioner.service.d/hardening.conf`` asks systemd
for); a real busybox udhcpc gets its address by broadcast and curl fetches over TFTP and HTTP.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan
from tests.test_units import capabilities

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("busybox")
                                 or not shutil.which("setpriv"),
                                 reason="needs root, ip netns, busybox and setpriv")]

# the drop-in's capabilities, as setpriv spells them (tests/test_units.py checks the file)
CAPS = ",".join("+" + c.removeprefix("CAP_").lower()
                for c in sorted(capabilities("AmbientCapabilities")))
NOBODY = 65534


def test_serve_runs_as_nobody_with_three_capabilities() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="unpriv-"))  # not under pytest's 0700 root-only tree
    os.chmod(tmp, 0o755)
    (tmp / "tftpboot").mkdir()
    (tmp / "tftpboot" / "hello.txt").write_text("hello\n")
    launcher = ("sh", "-c", f'chown -R {NOBODY}:{NOBODY} {tmp} && exec setpriv --reuid {NOBODY} '
                f'--regid {NOBODY} --clear-groups --inh-caps -all,{CAPS} --ambient-caps '
                f'-all,{CAPS} --bounding-set -all,{CAPS} "$@"', "sh")
    try:
        with lan("up") as (server, client), \
                appliance(server, tmp, "10.77.0.1", lambda core: None, launcher=launcher,
                          interfaces=("br0",), dhcp_enabled=True, tftp_enabled=True,
                          tftp_workers=1, agent_loops=False,
                          dhcp_ranges=("10.77.0.100,10.77.0.150,255.255.255.0,1h",)) as app:
            uids = {int(line.split()[1]) for pid in server.pids()
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Uid:") and "python" in Path(f"/proc/{pid}/cmdline")
                    .read_bytes().decode(errors="replace")}
            assert uids == {NOBODY}, uids
            r = client.run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T",
                            "2", "-s", "/bin/true"], timeout=60, check=False)
            assert "lease of 10.77.0.1" in r.stdout + r.stderr, r.stdout + r.stderr + app.log()
            client.ip("addr", "add", "10.77.0.120/24", "dev", "eth0")
            r = client.run(["curl", "-sS", "--max-time", "10", "tftp://10.77.0.1/hello.txt"],
                           timeout=30, check=False)
            assert r.stdout == "hello\n", r.stderr + app.log()
            assert "openapi" in app.get("/api/openapi.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
