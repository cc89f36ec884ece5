"""Two ``provisioner serve`` on one segment over one PostgreSQL (issue 19).

Real parts only: PostgreSQL from the distribution (``tests/pg.py``), both appliances in their
own network namespaces on one bridge, busybox udhcpc broadcasting (both appliances answer; the
client takes the first OFFER, the database decides who owns the address) and the relay-style
test client ``tests/net/dhcp_probe.py`` loading both at once.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import pg
from tests.e2e.appliance import PROVISIONER, ROOT
from tests.multi.site import ADDRS, RELAYS, Site, acks, api, fill_inventory, metrics, site
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
        if shutil.which("dig"):
            s.settings = {"dns_enabled": True, "dns_port": 53, "domain": "lab.example"}
        s.start("a", fill_inventory(tmp / "a"))
        s.start("b")
        yield s


def udhcpc(s: Site, mac: str, tmp: Path, *args: str) -> tuple[str, str]:
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
                            "2", "-s", str(script), *args], timeout=60, check=False)
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

    wait_until(one_row_each, 10, "losing offers withdrawn")


@pytest.mark.skipif(not shutil.which("dig"), reason="needs dig")
def test_dns_answers_a_lease_the_other_appliance_gave(two: Site, tmp_path: Path) -> None:
    """DNS follows the shared lease table: the appliance that did not lease a name answers it."""
    ip, server = udhcpc(two, "52:54:00:dd:00:01", tmp_path, "-x", "hostname:pc-shared")
    other = "b" if server == ADDRS["a"] else "a"

    def answer() -> bool:
        r = two.client.run(["dig", f"@{ADDRS[other]}", "+short", "+time=1", "+tries=1",
                            "pc-shared.lab.example"], timeout=30, check=False)
        return r.stdout.strip() == ip

    wait_until(answer, 10, f"{other} resolving pc-shared.lab.example to {ip}", step=0.2)


def test_concurrent_load_through_both_never_duplicates(two: Site, tmp_path: Path) -> None:
    outs = {n: tmp_path / f"{n}.acks" for n in "ab"}
    procs = [two.dora_bg(ADDRS[n], relay, 150, "02:00:00:0" + n, outs[n])
             for n, relay in zip("ab", RELAYS[:2], strict=True)]
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
    """A system added through appliance a is reserved by appliance b from its next request on
    (b's cache follows LISTEN provisioner_inventory; a DISCOVER racing the NOTIFY in flight may
    still see the old inventory, so the client asks again until it is: bounded, 5 s)."""
    mac, ip = "52:54:00:bb:00:00", "10.77.200.9"
    api(two, "a", "POST", "systems", {"name": "m-shared", "profile": "p",
                                     "interfaces": [{"mac": mac, "ip": ip}]})
    t0 = time.monotonic()
    out = tmp_path / "r.acks"
    tries = []

    def reserved() -> bool:
        out.unlink(missing_ok=True)
        tries.append(two.dora(ADDRS["b"], RELAYS[0], 1, "52:54:00:bb", out))
        return tries[-1] == [(mac, ip)]

    wait_until(reserved, 5, f"b offering {ip} ({tries})", step=0)
    print(f"reserved by b {(time.monotonic() - t0) * 1000:.0f} ms after a's API answered "
          f"({len(tries)} DORA)")
    # the timeline is the database's: b's DHCP events are on a's API (and so on a's UI)
    wait_until(lambda: any(e["kind"] == "dhcp-ack" for e in two.apps["a"].timeline("m-shared")),
               10, "b's dhcp-ack in the timeline a serves")


def test_metrics_count_the_traffic(two: Site, tmp_path: Path) -> None:
    """/metrics (Prometheus, merged over the worker processes) counts what the client sent."""
    before = metrics(two, "a")
    got = two.dora(ADDRS["a"], RELAYS[0], 20, "02:60:00:00", tmp_path / "m.acks")
    after = metrics(two, "a")

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert len(got) == 20
    assert delta('provisioner_dhcp_received_total{type="discover"}') == 20, after
    assert delta('provisioner_dhcp_received_total{type="request"}') == 20, after
    assert delta('provisioner_dhcp_replies_total{type="offer"}') == 20, after
    assert delta('provisioner_dhcp_replies_total{type="ack"}') == 20, after
    assert delta('provisioner_dhcp_lease_claims_total{outcome="won"}') == 40, after
    assert after['provisioner_dhcp_degraded'] == 0, after
    pool = 'provisioner_dhcp_pool_used{range="10.77.1.0-10.77.40.255"}'
    assert after['provisioner_dhcp_pool_size{range="10.77.1.0-10.77.40.255"}'] == 40 * 256
    wait_until(lambda: metrics(two, "a")[pool] >= before.get(pool, 0) + 20, 10,
               "pool utilisation counting the 20 new leases")
    denied = two.client.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                             f"{two.apps['a'].url}/metrics"], timeout=30)
    assert denied.stdout == "401"


def test_lost_notify_connections_resynchronise(two: Site, tmp_path: Path) -> None:
    """Every appliance's database connections reset (LISTEN ones included): a change made on a
    afterwards is still answered by b (it reconnects and reads what changed, bounded 10 s)."""
    killed = two.db.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
    assert int(killed) >= 4, killed
    mac, ip = "52:54:00:bc:00:00", "10.77.200.10"
    body = {"name": "m-after-reset", "profile": "p", "interfaces": [{"mac": mac, "ip": ip}]}

    def added() -> bool:  # a write on a connection the reset broke may answer 503 once
        try:
            api(two, "a", "POST", "systems", body)
        except AssertionError as exc:
            assert "503" in str(exc), exc
            return False
        return True

    wait_until(added, 5, "a accepting the change after the reset", step=0.2)
    out = tmp_path / "r.acks"

    def reserved() -> bool:
        out.unlink(missing_ok=True)
        return two.dora(ADDRS["b"], RELAYS[0], 1, "52:54:00:bc", out) == [(mac, ip)]

    wait_until(reserved, 10, f"b offering {ip} after the reset", step=0.2)


def test_kill_9_one_then_the_other_under_load(two: Site, tmp_path: Path) -> None:
    """Relay load through both; kill -9 one mid-load, restart it; then the other. Audit: no
    address ACKed twice, every ACK still bound in the database, the survivor kept serving."""
    got: list[tuple[str, str]] = []
    for rnd, (victim, survivor) in enumerate((("a", "b"), ("b", "a"))):
        outs = {n: tmp_path / f"{rnd}{n}.acks" for n in "ab"}
        procs = {n: two.dora_bg(ADDRS[n], relay, 60 if n == victim else 200,
                                f"02:4{rnd}:00:0{n}", outs[n])
                 for n, relay in zip("ab", RELAYS[:2], strict=True)}
        wait_until(lambda v=victim, o=outs: len(acks(o[v])) >= 20, 60, f"{victim} serving")
        assert procs[survivor].poll() is None, "the survivor's load ended before the kill"
        t_kill, before = time.monotonic(), len(acks(outs[survivor]))
        two.kill(victim)
        # the victim's clients renewing (INIT-REBOOT / rebinding: no server named) get their
        # address from the survivor, which followed those leases from the database
        theirs = tmp_path / f"{rnd}{victim}.held"
        theirs.write_text("".join(f"{m} {ip}\n" for m, ip in acks(outs[victim])[:10]))
        r = two.client.run([sys.executable, "-m", "tests.net.dhcp_probe", "reboot", "--server",
                            ADDRS[survivor], "--giaddr", RELAYS[2], "--infile", str(theirs)],
                           timeout=120, check=False)
        assert r.stdout.splitlines() == [f"ACK {m} {ip} {ip}" for m, ip in
                                         acks(theirs)], r.stdout + r.stderr
        two.start(victim)
        t_up, during = time.monotonic(), len(acks(outs[survivor])) - before
        for p in procs.values():
            p.wait(timeout=240)
        got += acks(outs["a"]) + acks(outs["b"])
        print(f"kill -9 {victim}: back in {t_up - t_kill:.1f} s; {survivor} ACKed {during} "
              f"clients meanwhile ({during / (t_up - t_kill):.0f}/s, one client at a time)")
        assert during > 0, f"{survivor} stopped serving while {victim} was down"
    assert len(got) >= 2 * 255, len(got)
    dup = [ip for ip, n in Counter(ip for _, ip in got).items() if n > 1]
    assert not dup, dup
    bound = two.bound()
    lost = [(m, ip) for m, ip in got if bound.get(m) != ip]
    assert not lost, lost[:5]


def test_database_down_degraded_then_back(two: Site, tmp_path: Path) -> None:
    """PostgreSQL stopped under perfdhcp load: a renews the lease it holds, a new client gets
    nothing (no address that might be another's), /api/v1/health says why; back when it is."""
    held = two.dora(ADDRS["a"], RELAYS[0], 1, "02:50:00:00", tmp_path / "held")
    assert len(held) == 1, held
    load = None
    if shutil.which("perfdhcp"):
        load = two.client.popen(["perfdhcp", "-4", "-l", RELAYS[1], "-r", "50", "-R", "5000",
                                 "-p", "8", ADDRS["b"]])
    two.db.stop("fast")
    try:
        r = two.client.run([sys.executable, "-m", "tests.net.dhcp_probe", "reboot", "--server",
                            ADDRS["a"], "--giaddr", RELAYS[0], "--infile",
                            str(tmp_path / "held")], timeout=60, check=False)
        mac, ip = held[0]
        assert r.stdout.split() == ["ACK", mac, ip, ip], r.stdout + r.stderr
        new = two.dora(ADDRS["a"], RELAYS[0], 1, "02:51:00:00", tmp_path / "new", wait=3)
        assert new == [], new
        health = two.client.run(["curl", "-sS", "-w", " %{http_code}",
                                 f"{two.apps['a'].url}/api/v1/health"], timeout=30)
        body, code = health.stdout.rsplit(" ", 1)
        state = json.loads(body)
        assert code == "503" and state["dhcp"]["lease_database"] == "unreachable", body
        assert "no new addresses" in state["dhcp"]["policy"], body
        st = two.nss["a"].run([*PROVISIONER, "--config", str(two.apps["a"].config), "status"],
                              timeout=60, check=False, cwd=ROOT)
        assert st.returncode == 1 and "database    UNREACHABLE" in st.stdout, st.stdout + st.stderr
        assert "DHCP DEGRADED since" in st.stdout and "no new addresses" in st.stdout, st.stdout
    finally:
        two.db.start()
    t0 = time.monotonic()
    wait_until(lambda: two.dora(ADDRS["a"], RELAYS[0], 1, "02:52:00:00", tmp_path / "back",
                                wait=1), 20, "a serving new clients again")
    print(f"serving new clients {time.monotonic() - t0:.1f} s after PostgreSQL started")
    assert '"status":"ok"' in two.apps["a"].get("/api/v1/health").replace(" ", "")
    if load is not None:
        out = load.communicate(timeout=60)[0].decode(errors="replace")
        print("perfdhcp through b during the outage:", " ".join(
            line.strip() for line in out.splitlines() if "packets" in line))
