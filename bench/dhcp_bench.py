"""DHCP throughput: perfdhcp 4-way exchanges against our server, dnsmasq and Kea, side by side.

    sudo .venv/bin/python bench/dhcp_bench.py [--quick] [--seconds 20] [--clients 50000]
        [--rates 250,500,1000,...] [--servers ours,dnsmasq,kea]

One run, the same namespaces for every server: a server namespace and a client namespace joined
by a veth pair (10.78.0.1/16 <-> 10.78.0.2/16). perfdhcp always acts as a relay (from port 67,
``giaddr`` = its address, replies unicast to it), so every server needs relay support. For each
server and each rate step (ascending) the server is started with a fresh, empty lease store,
perfdhcp runs ``--seconds`` at that rate with ``--clients`` simulated clients, and the step passes
when fewer than 1% of the exchanges failed (failed = DISCOVERs sent without an ACK back). The
report gives, per server, the highest passing rate, the rate perfdhcp achieved there and the
average DISCOVER-OFFER / REQUEST-ACK latency, then ratios against dnsmasq and Kea.

Servers: ours (``python -m provisioner.net.standalone``; journal leases, fdatasync per batch
before the ACKs); dnsmasq (``--no-ping``, lease file rewritten per ACK); Kea (``kea-dhcp4``,
memfile with ``persist: true``, single-threaded). No timing assertions: numbers are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.netns import Netns, netns, veth_between  # noqa: E402

SERVER_IP, CLIENT_IP, PREFIX = "10.78.0.1", "10.78.0.2", 16
POOL = ("10.78.1.0", "10.78.250.255")
IFACE = "vs0"


@dataclass
class Step:
    rate: int
    achieved: float
    discover: int
    ack: int
    do_ms: float
    ra_ms: float

    @property
    def failed(self) -> float:
        return 1.0 if not self.discover else max(0.0, 1 - self.ack / self.discover)


def parse(out: str, rate: int) -> Step:
    sent = [int(x) for x in re.findall(r"sent packets: (\d+)", out)]
    recv = [int(x) for x in re.findall(r"received packets: (\d+)", out)]
    delays = [float(x) for x in re.findall(r"avg delay: ([\d.]+) ms", out)]
    achieved = re.search(r"Rate: ([\d.]+)", out)
    if len(sent) < 2 or len(recv) < 2:
        return Step(rate, 0.0, sent[0] if sent else 0, 0, 0.0, 0.0)
    return Step(rate, float(achieved.group(1)) if achieved else 0.0, sent[0], recv[1],
                delays[0] if delays else 0.0, delays[1] if len(delays) > 1 else 0.0)


def wait_port(ns: Netns, proc: subprocess.Popen, log: Path, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"server did not start ({want!r} not in {log}):\n"
                       f"{log.read_text(errors='replace')[-2000:]}")


def start_ours(ns: Netns, work: Path) -> subprocess.Popen:
    cfg = {"settings": {"data_dir": str(work / "data"), "interfaces": [IFACE],
                        "dhcp_enabled": True,
                        "dhcp_ranges": [f"{POOL[0]},{POOL[1]},255.255.0.0,1h"]}}
    (work / "ours.json").write_text(json.dumps(cfg))
    log = work / "ours.log"
    with open(log, "wb") as fh:
        proc = ns.popen([sys.executable, "-m", "provisioner.net.standalone",
                         str(work / "ours.json")], stdout=fh, cwd=ROOT,
                        env={**os.environ, "PROVISIONER_LOG": "WARNING"})
    wait_port(ns, proc, log, "READY")
    return proc


def start_dnsmasq(ns: Netns, work: Path) -> subprocess.Popen:
    log = work / "dnsmasq.log"
    with open(log, "wb") as fh:
        proc = ns.popen(["dnsmasq", "--no-daemon", "--port=0", f"--interface={IFACE}",
                         "--bind-interfaces", "--no-ping", "--user=root",
                         f"--pid-file={work}/dnsmasq.pid", f"--dhcp-leasefile={work}/leases",
                         "--dhcp-lease-max=1000000", "--dhcp-authoritative",
                         f"--dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,1h"],
                        stdout=fh, stderr=subprocess.STDOUT)
    wait_port(ns, proc, log, "sockets bound")
    return proc


def start_kea(ns: Netns, work: Path) -> subprocess.Popen:
    conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": str(work / "kea-leases4.csv")},
        "valid-lifetime": 3600,
        "multi-threading": {"enable-multi-threading": False},
        "subnet4": [{"id": 1, "subnet": f"10.78.0.0/{PREFIX}",
                     "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                     "output_options": [{"output": "stdout"}]}]}}
    (work / "kea.json").write_text(json.dumps(conf))
    log = work / "kea.log"
    env = {**os.environ, "KEA_LOCKFILE_DIR": str(work), "KEA_PIDFILE_DIR": str(work)}
    with open(log, "wb") as fh:
        proc = ns.popen(["kea-dhcp4", "-c", str(work / "kea.json")], stdout=fh,
                        stderr=subprocess.STDOUT, env=env)
    wait_port(ns, proc, log, "DHCP4_STARTED")
    return proc


STARTERS = {"ours": start_ours, "dnsmasq": start_dnsmasq, "kea": start_kea}


def run_step(name: str, server_ns: Netns, client_ns: Netns, rate: int, seconds: int,
             clients: int) -> Step:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        work = Path(tmp)
        proc = STARTERS[name](server_ns, work)
        try:
            out = client_ns.run(["perfdhcp", "-4", "-l", CLIENT_IP, "-r", str(rate), "-R",
                                 str(clients), "-p", str(seconds), SERVER_IP],
                                timeout=seconds + 60, check=False)
            return parse(out.stdout, rate)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            server_ns.procs.remove(proc)


def bench(servers: list[str], rates: list[int], seconds: int, clients: int) -> dict:
    results: dict[str, dict] = {}
    with netns("bs") as sns, netns("bc") as cns:
        veth_between(sns, IFACE, cns, "vc0")
        sns.ip("addr", "add", f"{SERVER_IP}/{PREFIX}", "dev", IFACE)
        cns.ip("addr", "add", f"{CLIENT_IP}/{PREFIX}", "dev", "vc0")
        for name in servers:
            best: Step | None = None
            steps = []
            for rate in rates:
                step = run_step(name, sns, cns, rate, seconds, clients)
                steps.append(step)
                print(f"{name:8} rate {rate:6}/s: achieved {step.achieved:8.1f}/s, failed "
                      f"{100 * step.failed:6.2f}%, latency DO {step.do_ms:.2f} ms "
                      f"RA {step.ra_ms:.2f} ms", flush=True)
                if step.failed >= 0.01:
                    break
                best = step
            results[name] = {"best": best.__dict__ if best else None,
                             "steps": [s.__dict__ for s in steps]}
    return results


def report(results: dict) -> None:
    print("\nHighest rate with < 1% failed exchanges (perfdhcp 4-way, same run):")
    print(f"{'server':8} {'offered/s':>10} {'achieved/s':>11} {'DO ms':>8} {'RA ms':>8}")
    for name, r in results.items():
        b = r["best"]
        if b is None:
            print(f"{name:8} {'none':>10}")
        else:
            print(f"{name:8} {b['rate']:>10} {b['achieved']:>11.1f} {b['do_ms']:>8.2f} "
                  f"{b['ra_ms']:>8.2f}")
    ours = (results.get("ours") or {}).get("best")
    for ref in ("dnsmasq", "kea"):
        other = (results.get(ref) or {}).get("best")
        if ours and other and other["achieved"]:
            print(f"ours / {ref}: {ours['achieved'] / other['achieved']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 s steps, 5,000 clients, fewer rates")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--rates",
                    default="100,250,500,1000,1500,2000,3000,4000,5000,6000,7000,8000,9000")
    ap.add_argument("--servers", default="ours,dnsmasq,kea")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("perfdhcp"):
        sys.exit("needs root (network namespaces) and perfdhcp (Debian package kea-admin)")
    if args.quick:
        args.seconds, args.clients = 4, 5000
        if args.rates == ap.get_default("rates"):
            args.rates = "100,250,1000,2000,4000,6000"
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in STARTERS:
            sys.exit(f"unknown server {s!r}; one of {', '.join(STARTERS)}")
    results = bench(servers, [int(r) for r in args.rates.split(",")], args.seconds, args.clients)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
