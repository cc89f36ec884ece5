"""Two ``provisioner serve`` on one segment over one PostgreSQL (issue 19).

Real parts only: PostgreSQL from the distribution (``tests/pg.py``), both appliances in their
own network namespaces on one bridge, busybox udhcpc broadcasting (both appliances answer; the
client takes the first OFFER, the database decides who owns the address) and the relay-style
test client ``tests/net/dhcp_probe.py`` loading both at once.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import pg
from tests.multi.site import ADDRS, RELAYS, Site, acks, api, fill_inventory, site
from tests.netns import have_root_netns
from tests.procs import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.slow,
              pytest.mark.skipif(not have_root_netns() or pg.available() is not None
                                 or not shutil.which("busybox"),
                                 reason="needs root, ip netns, busybox and PostgreSQL")]

UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && echo "BOUND $ip $serverid"
exit 0
"""


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("two")
    with site(tmp) as s:
        s.start("a", fill_inventory(tmp / "a"))
        s.start("b")
        yield s


def udhcpc(s: Site, mac: str, tmp: Path) -> tuple[str, str]:
    """busybox udhcpc on a macvlan with ``mac`` in the client namespace: (address, server)."""
    script = tmp / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    dev = "m" + mac.replace(":", "")[-6:]
    s.client.ip("link", "add", dev, "link", "eth0", "address", mac, "type", "macvlan",
                "mode", "bridge")
    s.client.ip("link", "set", dev, "up")
    try:
        out = s.client.run(["busybox", "udhcpc", "-i", dev, "-n", "-q", "-f", "-t", "5", "-T",
                            "2", "-s", str(script)], timeout=60, check=False)
    finally:
        s.client.ip("link", "del", dev, check=False)
    bound = [line.split() for line in out.stdout.splitlines() if line.startswith("BOUND")]
    assert bound, out.stdout + out.stderr
    return bound[-1][1], bound[-1][2]


def test_broadcast_clients_get_one_address_each(two: Site, tmp_path: Path) -> None:
    got = [udhcpc(two, f"52:54:00:aa:00:{i:02x}", tmp_path) for i in range(4)]
    ips = [ip for ip, _ in got]
    assert len(set(ips)) == len(ips), got
    bound = two.bound()
    for i, (ip, _) in enumerate(got):
        assert bound[f"52:54:00:aa:00:{i:02x}"] == ip, (got, bound)
    # every offer that lost (the client took the other appliance's) is withdrawn by its
    # appliance when it sees the REQUEST naming the other (just after the client is bound)
    def one_row_each() -> bool:
        rows = two.db.psql("SELECT count(*) FROM dhcp_leases WHERE mac LIKE '52:54:00:aa:%' "
                           "AND state IN ('bound', 'offered') GROUP BY mac").split()
        return rows == ["1"] * 4

    wait_until(one_row_each, 5, "losing offers withdrawn")


def test_concurrent_load_through_both_never_duplicates(two: Site, tmp_path: Path) -> None:
    outs = {n: tmp_path / f"{n}.acks" for n in "ab"}
    procs = [two.dora_bg(ADDRS[n], relay, 150, "02:00:00:0" + n, outs[n])
             for n, relay in zip("ab", RELAYS, strict=True)]
    for p in procs:
        p.wait(timeout=180)
    got = acks(outs["a"]) + acks(outs["b"])
    assert len(got) >= 290, len(got)
    dup = [ip for ip, n in Counter(ip for _, ip in got).items() if n > 1]
    assert not dup, dup
    bound = two.bound()
    lost = [(m, ip) for m, ip in got if bound.get(m) != ip]
    assert not lost, lost[:5]


def test_a_change_on_one_is_answered_by_the_other(two: Site, tmp_path: Path) -> None:
    """A system added through appliance a is reserved at once by appliance b (NOTIFY)."""
    mac, ip = "52:54:00:bb:00:00", "10.77.200.9"
    api(two, "a", "POST", "systems", {"name": "m-shared", "profile": "p",
                                     "interfaces": [{"mac": mac, "ip": ip}]})
    t0 = time.monotonic()
    out = tmp_path / "r.acks"
    got = two.dora(ADDRS["b"], RELAYS[0], 1, "52:54:00:bb", out)
    elapsed = time.monotonic() - t0
    assert got == [(mac, ip)], (got, two.apps["b"].log()[-3000:])
    print(f"reserved by b {elapsed * 1000:.0f} ms after a's API answered (one DORA included)")
