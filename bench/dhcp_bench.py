"""DHCP throughput: perfdhcp 4-way exchanges against ``provisioner serve``, Kea and dnsmasq.

    sudo .venv/bin/python bench/dhcp_bench.py [--quick] [--seconds 10] [--clients 50000]
        [--rates 1000,2000,...] [--servers ours,standalone,kea,kea2[,dnsmasq]] [--repeat 3]
    sudo .venv/bin/python bench/dhcp_bench.py -6 ...     # DHCPv6, see bench/dhcp6_bench.py

One run, the same namespaces for every server: a server and a client namespace joined by a veth
pair (10.78.0.1/16 <-> 10.78.0.2/16). perfdhcp always acts as a relay (from port 67, ``giaddr``
= its address, replies unicast to it). For each server and rate step (ascending) the server is
started with a fresh, empty lease store, perfdhcp runs ``--seconds`` at that rate with
``--clients`` simulated clients, and the step passes when fewer than 1% of the exchanges failed
(DISCOVERs sent without an ACK back). A server's result is its highest passing rate (the rate
perfdhcp achieved there), the median over ``--repeat`` interleaved ramps.

Servers: ``ours`` is the product as users run it: ``provisioner --config provisioner.toml serve``
(the README's command) with 10,000 systems in its inventory (reserved addresses outside the
pool), its DHCP worker process, and ``bench/ks_load.py`` fetching kickstarts over HTTP at 50
requests/s during every step. ``standalone`` is the DHCP core alone (``python -m
provisioner.net.standalone``, no inventory), kept for comparison with earlier results. Both
keep leases in the journal with one fdatasync per batch before its ACKs. ``kea``: kea-dhcp4,
memfile ``persist: true``, single-threaded; ``kea2``: the same with 2 threads; ``dnsmasq``
(``--no-ping``; slow, not run by default). After the ramps, with serve running: the kickstart
latency idle and under DHCP load, and the change-to-visible latency (``bench/visible.py``:
a reservation changed through the API until the next DISCOVER is offered the new address).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servekit import SYSTEMS, KsLoad, Serve, populate, system_mac, write_config  # noqa: E402
from tests.netns import Netns, netns, veth_between  # noqa: E402

SERVER_IP, CLIENT_IP, PROBE_IP, PREFIX = "10.78.0.1", "10.78.0.2", "10.78.0.3", 16
POOL = ("10.78.1.0", "10.78.200.255")
IFACE = "vs0"
TOKEN = "bench-token-" + "x" * 30
TEMPLATE: dict[str, Path] = {}  # the populated database, copied into each step's data dir
MACS: list[str] = []


def reserved_ip(i: int) -> str:
    """System ``i``'s reserved address: 10.78.201.0 upwards, outside perfdhcp's pool."""
    return f"10.78.{201 + (i >> 8)}.{i & 255}"


@dataclass
class Step:
    rate: int
    achieved: float
    discover: int
    ack: int
    do_ms: float
    ra_ms: float
    ks: dict | None = None  # kickstart latency during the step (ours)
    cpu_us: float = 0.0  # CPU time of the DHCP server process per acknowledged exchange

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


def _template() -> Path:
    if "db" not in TEMPLATE:
        d = Path(tempfile.mkdtemp(prefix="dhcpbench-db-"))
        MACS.extend(populate(f"sqlite:///{d / 'provisioner.db'}", SYSTEMS, reserved_ip))
        TEMPLATE["db"] = d / "provisioner.db"
    return TEMPLATE["db"]


def serve_config(work: Path) -> Path:
    data = work / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(_template(), data / "provisioner.db")
    return write_config(work / "provisioner.toml", data_dir=str(data), http_host=SERVER_IP,
                        interfaces=[IFACE], dhcp_enabled=True, api_token=TOKEN,
                        dhcp_ranges=[f"{POOL[0]},{POOL[1]},255.255.0.0,1h"])


def start_standalone(ns: Netns, work: Path) -> subprocess.Popen:
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


def start_kea(ns: Netns, work: Path, threads: int = 1) -> subprocess.Popen:
    mt = {"enable-multi-threading": threads > 1}
    if threads > 1:
        mt.update({"thread-pool-size": threads, "packet-queue-size": 64})
    conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": [IFACE], "dhcp-socket-type": "udp"},
        "lease-database": {"type": "memfile", "persist": True, "lfc-interval": 0,
                           "name": str(work / "kea-leases4.csv")},
        "valid-lifetime": 3600,
        "multi-threading": mt,
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


STARTERS = {"standalone": start_standalone, "dnsmasq": start_dnsmasq,
            "kea": start_kea, "kea2": lambda ns, work: start_kea(ns, work, threads=2)}


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of processes (and their threads), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def perfdhcp(client_ns: Netns, rate: int, seconds: int, clients: int) -> str:
    return client_ns.run(["perfdhcp", "-4", "-l", CLIENT_IP, "-r", str(rate), "-R",
                          str(clients), "-p", str(seconds), SERVER_IP],
                         timeout=seconds + 60, check=False).stdout


def run_step(name: str, server_ns: Netns, client_ns: Netns, rate: int, seconds: int,
             clients: int) -> Step:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        work = Path(tmp)
        if name == "ours":
            serve = Serve(server_ns, serve_config(work), work / "serve.log",
                          f"http://{SERVER_IP}:8080")
            KsLoad.warm(client_ns, serve.http, MACS, work, 3.0)  # a server that has been up
            ks = KsLoad(client_ns, serve.http, MACS, work)
            try:
                worker = [p for p in serve.pids() if p != serve.proc.pid]
                before = cpu_seconds(worker)
                step = parse(perfdhcp(client_ns, rate, seconds, clients), rate)
                step.cpu_us = 1e6 * (cpu_seconds(worker) - before) / max(1, step.ack)
            finally:
                step_ks = ks.stop()
                serve.stop()
            step.ks = step_ks
            return step
        proc = STARTERS[name](server_ns, work)
        try:
            before = cpu_seconds([proc.pid])
            step = parse(perfdhcp(client_ns, rate, seconds, clients), rate)
            step.cpu_us = 1e6 * (cpu_seconds([proc.pid]) - before) / max(1, step.ack)
            return step
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc in server_ns.procs:
                server_ns.procs.remove(proc)


def ramp(name: str, sns: Netns, cns: Netns, rates: list[int], seconds: int,
         clients: int) -> tuple[Step | None, list[Step]]:
    best: Step | None = None
    steps = []
    for rate in rates:
        step = run_step(name, sns, cns, rate, seconds, clients)
        steps.append(step)
        ks = f", kickstart p99 {step.ks['p99_ms']} ms" if step.ks else ""
        print(f"{name:10} rate {rate:6}/s: achieved {step.achieved:8.1f}/s, failed "
              f"{100 * step.failed:6.2f}%, latency DO {step.do_ms:.2f} ms RA {step.ra_ms:.2f} ms"
              f", CPU {step.cpu_us:.0f} us/exchange{ks}", flush=True)
        if step.failed >= 0.01:
            break
        best = step
    return best, steps


def extras(sns: Netns, cns: Netns, rate: int, seconds: int, clients: int) -> dict:
    """With serve running: kickstart latency idle and under DHCP load; change-to-visible."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-extras-") as tmp:
        work = Path(tmp)
        serve = Serve(sns, serve_config(work), work / "serve.log", f"http://{SERVER_IP}:8080")
        try:
            KsLoad.warm(cns, serve.http, MACS, work)
            ks = KsLoad(cns, serve.http, MACS, work)
            time.sleep(seconds)
            out["kickstart_idle"] = ks.stop()
            ks = KsLoad(cns, serve.http, MACS, work)
            load = cns.popen(["perfdhcp", "-4", "-l", CLIENT_IP, "-r", str(rate), "-R",
                              str(clients), "-p", str(seconds), SERVER_IP])
            vis = cns.run([sys.executable, str(ROOT / "bench" / "visible.py"), "dhcp",
                           serve.http, TOKEN, SERVER_IP, "s42", system_mac(42), "--giaddr",
                           PROBE_IP, "--ips", f"{reserved_ip(SYSTEMS)},{reserved_ip(42)}"],
                          timeout=300, check=False, cwd=ROOT)
            out["change_to_visible_under_load"] = vis.stdout.strip() or vis.stderr[-400:]
            load.communicate(timeout=seconds + 60)
            cns.procs.remove(load)
            out["kickstart_under_dhcp_load"] = ks.stop()
            out["dhcp_load_rate"] = rate
        finally:
            serve.stop()
    return out


def bench(servers: list[str], rates: list[int], seconds: int, clients: int,
          repeat: int) -> dict:
    results: dict[str, dict] = {name: {"best": [], "steps": []} for name in servers}
    with netns("bs") as sns, netns("bc") as cns:
        veth_between(sns, IFACE, cns, "vc0")
        sns.ip("addr", "add", f"{SERVER_IP}/{PREFIX}", "dev", IFACE)
        cns.ip("addr", "add", f"{CLIENT_IP}/{PREFIX}", "dev", "vc0")
        cns.ip("addr", "add", f"{PROBE_IP}/{PREFIX}", "dev", "vc0")  # visible.py's relay
        if "ours" in servers:
            _template()
        for rep in range(repeat):  # interleaved: load from elsewhere hits every server alike
            for name in servers:
                print(f"-- repeat {rep + 1}, {name}", flush=True)
                best, steps = ramp(name, sns, cns, rates, seconds, clients)
                results[name]["best"].append(best.__dict__ if best else None)
                results[name]["steps"].append([s.__dict__ for s in steps])
        if "ours" in servers:
            bests = [b["achieved"] for b in results["ours"]["best"] if b]
            rate = int(statistics.median(bests) / 2) if bests else 500
            results["_extras"] = extras(sns, cns, rate, max(seconds, 20), clients)
    return results


def _median_best(r: dict) -> float | None:
    vals = [b["achieved"] if b else 0.0 for b in r["best"]]
    return statistics.median(vals) if vals else None


def report(results: dict) -> None:
    print("\nHighest rate with < 1% failed exchanges (perfdhcp 4-way, same run; median of the "
          "repeats, per repeat in brackets):")
    print(f"{'server':10} {'achieved/s':>11} {'CPU us/exchange':>16}  per repeat")
    medians: dict[str, float | None] = {}
    for name, r in results.items():
        if name.startswith("_"):
            continue
        medians[name] = _median_best(r)
        each = ", ".join(f"{b['achieved']:.0f}" if b else "none" for b in r["best"])
        cpu = [b["cpu_us"] for b in r["best"] if b and b.get("cpu_us")]
        cpu_s = f"{statistics.median(cpu):.0f}" if cpu else "-"
        print(f"{name:10} {medians[name] or 0:>11.1f} {cpu_s:>16}  [{each}]")
    for mine in ("ours", "standalone"):
        for ref in ("kea", "kea2", "dnsmasq", "standalone"):
            a, b = medians.get(mine), medians.get(ref)
            if mine != ref and a and b:
                print(f"{mine} / {ref}: {a / b:.2f}x")
    for key, value in results.get("_extras", {}).items():
        print(f"{key}: {value}")


def main() -> None:
    if "-6" in sys.argv[1:]:  # DHCPv6: ours vs kea-dhcp6 (bench/dhcp6_bench.py)
        from bench.dhcp6_bench import main as main6

        return main6(sys.argv[1:])
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 s steps, 5,000 clients, fewer rates")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--rates", default="500,1000,2000,3000,4000,5000,6000,7000,8000,10000")
    ap.add_argument("--servers", default="ours,standalone,kea,kea2")
    ap.add_argument("--repeat", type=int, default=3, help="ramps per server (median reported)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("perfdhcp"):
        sys.exit("needs root (network namespaces) and perfdhcp (Debian package kea-admin)")
    if args.quick:
        args.seconds, args.clients = 4, 5000
        if args.rates == ap.get_default("rates"):
            args.rates = "500,1000,2000,4000,6000"
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in STARTERS and s != "ours":
            sys.exit(f"unknown server {s!r}; one of ours, {', '.join(STARTERS)}")
    load = os.getloadavg()
    results = bench(servers, [int(r) for r in args.rates.split(",")], args.seconds, args.clients,
                    args.repeat)
    report(results)
    print(f"load average: start {load}, end {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
