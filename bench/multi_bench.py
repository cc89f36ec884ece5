"""DHCP over a shared PostgreSQL: one and two ``provisioner serve`` against one and two Kea 2.2
servers with Kea's PostgreSQL lease backend, same run, same load (issue 19).

    sudo .venv/bin/python bench/multi_bench.py [--seconds 5] [--clients 4000]
        [--rates 200,400,800,1200,1600] [--servers ours1,ours2,kea1,kea2] [--repeat 3]

One throw-away PostgreSQL cluster (``tests/pg.py``) and the two-appliance network of
``tests/multi/site.py``: appliance namespaces ``a`` (10.77.0.1) and ``b`` (10.77.0.2) and a
client namespace on one bridge. perfdhcp acts as a relay. ``ours1``/``kea1``: one server, one
perfdhcp at the step's rate; ``ours2``/``kea2``: both servers on one database, one perfdhcp per
server at half the rate each (distinct MAC bases, distinct relay addresses), the step's result
the sum. Every step starts from an empty lease table (``dhcp_leases`` or Kea's ``lease4``
truncated) and freshly started servers. ``ours`` is ``provisioner serve`` from its config file
(``tests/e2e/appliance.py`` writes it as the README shows) with ``database_url`` on the cluster;
Kea is ``kea-dhcp4`` with ``lease-database: {type: postgresql}`` (schema by ``kea-admin
db-init pgsql``). A step passes when fewer than 1% of exchanges failed; a server's result is its
highest passing rate, the median over the interleaved repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dhcp_bench import Step, parse, wait_port  # noqa: E402
from tests.multi.site import ADDRS, RANGE, RELAYS, Site, site  # noqa: E402

MACS = {"a": "mac=00:0c:01:00:00:00", "b": "mac=00:0c:02:00:00:00"}
POOL = RANGE.split(",")[:2]


def perf(s: Site, server: str, relay: str, rate: int, seconds: int, clients: int) -> object:
    return s.client.popen(["perfdhcp", "-4", "-l", relay, "-r", str(rate), "-R", str(clients),
                           "-b", MACS[server], "-p", str(seconds), ADDRS[server]])


def kea_init(s: Site) -> None:
    s.db.psql("CREATE DATABASE kea")
    r = subprocess.run(["runuser", "-u", "postgres", "--", "kea-admin", "db-init", "pgsql",
                        "-u", "postgres", "-n", "kea", "-h", s.db.dir],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stdout + r.stderr)


def start_kea(s: Site, name: str, work: Path) -> subprocess.Popen:
    conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": ["eth0"], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "postgresql", "name": "kea", "user": "postgres",
                           "host": s.db.dir},
        "valid-lifetime": 3600,
        "subnet4": [{"id": 1, "subnet": "10.77.0.0/16",
                     "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": "stdout"}]}]}}
    path = work / f"kea-{name}.json"
    path.write_text(json.dumps(conf))
    log = work / f"kea-{name}.log"
    env = {**os.environ, "KEA_LOCKFILE_DIR": str(work), "KEA_PIDFILE_DIR": str(work)}
    with open(log, "wb") as fh:
        proc = s.nss[name].popen(["kea-dhcp4", "-c", str(path)], stdout=fh,
                                 stderr=subprocess.STDOUT, env=env)
    wait_port(s.nss[name], proc, log, "DHCP4_STARTED")
    return proc


def step(s: Site, kind: str, n: int, rate: int, seconds: int, clients: int) -> Step:
    names = ["a", "b"][:n]
    kea: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="mbench-") as tmp:
        if kind == "ours":
            s.db.psql("TRUNCATE dhcp_leases")
            for name in names:
                s.start(name)
        else:
            s.db.psql("TRUNCATE lease4", db="kea")
            kea = [start_kea(s, name, Path(tmp)) for name in names]
        try:
            procs = [perf(s, name, RELAYS[i], rate // n, seconds, clients // n)
                     for i, name in enumerate(names)]
            outs = [p.communicate(timeout=seconds + 60)[0].decode(errors="replace")
                    for p in procs]
            for p in procs:
                s.client.procs.remove(p)
        finally:
            for name in names:
                s.stop(name)
            for p in kea:
                p.terminate()
                p.wait(timeout=15)
    parts = [parse(o, rate // n) for o in outs]
    return Step(rate, sum(p.achieved for p in parts), sum(p.discover for p in parts),
                sum(p.ack for p in parts), max(p.do_ms for p in parts),
                max(p.ra_ms for p in parts))


def ramp(s: Site, server: str, rates: list[int], seconds: int, clients: int) -> Step | None:
    best = None
    kind, n = server[:-1], int(server[-1])
    for rate in rates:
        st = step(s, kind, n, rate, seconds, clients)
        print(f"{server:6} rate {rate:5}/s: achieved {st.achieved:7.1f}/s, failed "
              f"{100 * st.failed:6.2f}%, DO {st.do_ms:.2f} ms RA {st.ra_ms:.2f} ms", flush=True)
        if st.failed >= 0.01:
            break
        best = st
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=4000)
    ap.add_argument("--rates", default="200,400,800,1200,1600,2400")
    ap.add_argument("--servers", default="ours1,ours2,kea1,kea2")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("perfdhcp") or not shutil.which("kea-dhcp4"):
        sys.exit("needs root (network namespaces), perfdhcp and kea-dhcp4")
    servers = args.servers.split(",")
    rates = [int(r) for r in args.rates.split(",")]
    load = os.getloadavg()
    best: dict[str, list[float]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory(prefix="mbench-site-") as tmp, site(Path(tmp)) as s:
        if any(x.startswith("kea") for x in servers):
            kea_init(s)
        s.start("a")  # migrates the database once
        s.stop("a")
        for rep in range(args.repeat):
            for server in servers:
                print(f"-- repeat {rep + 1}, {server}", flush=True)
                b = ramp(s, server, rates, args.seconds, args.clients)
                best[server].append(b.achieved if b else 0.0)
    print("\nHighest rate with < 1% failed exchanges (median of the repeats, each in brackets):")
    med = {k: statistics.median(v) for k, v in best.items() if v}
    for k, v in best.items():
        print(f"{k:6} {med.get(k, 0):8.1f}/s  [{', '.join(f'{x:.0f}' for x in v)}]")
    for mine, ref in (("ours1", "kea1"), ("ours2", "kea2"), ("ours2", "ours1"),
                      ("kea2", "kea1")):
        if med.get(mine) and med.get(ref):
            print(f"{mine} / {ref}: {med[mine] / med[ref]:.2f}x")
    print(f"load average: start {load}, end {os.getloadavg()}; {time.strftime('%F %T')}")


if __name__ == "__main__":
    main()
