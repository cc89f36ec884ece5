"""Boot storm: N PXE clients at once against ``provisioner serve`` and against dnsmasq + tftpd-hpa
+ nginx serving the same files, in the same run.

    sudo .venv/bin/python bench/boot_storm.py [--clients 100] [--full] [--repeat 3]

``--full`` is 1,000 clients. Each client (``bench/storm_client.py``: asyncio, all clients in one
process, or ``--procs`` processes each with its own relay address) does DHCP through a relay
(PXEClient, BIOS, the PXE retransmission schedule), TFTP of the boot loader the OFFER names
(Debian's ``pxelinux.0``), TFTP of its ``pxelinux.cfg`` file, then HTTP of a 10 MiB kernel and a
20 MiB initrd and of its kickstart. Reported per setup: the time until all N clients are done,
p50/p99 of the per-client time, and failures (a client that could not finish within the
timeout, or got a short or wrong answer), the median over ``--repeat`` alternating runs.

* ours: ``provisioner --config provisioner.toml serve`` (the README's command) on link A:
  DHCP, TFTP workers, HTTP assets (the distro's kernel/initrd are local files) and kickstarts
  rendered per MAC from a 10,000-system inventory whose first N systems are the clients.
* reference, on link B: dnsmasq (DHCP only, ``dhcp-boot=pxelinux.0``), tftpd-hpa on the same
  TFTP root (with a static ``pxelinux.cfg/default``), nginx (``worker_processes auto``,
  ``sendfile``) serving the same kernel and initrd and one static kickstart.

Both setups run side by side in one server namespace, each on its own veth link to the client
namespace; every run starts with fresh lease stores. Not a test: numbers are printed.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servekit import SYSTEMS, Serve, populate, write_config  # noqa: E402
from tests.netns import Netns, netns, veth_between  # noqa: E402

OURS = {"server": "10.79.0.1", "client": "10.79.0.2", "iface": "sa0", "peer": "ca0",
        "range": "10.79.1.0,10.79.250.255,255.255.0.0,1h"}
REF = {"server": "10.80.0.1", "client": "10.80.0.2", "iface": "sb0", "peer": "cb0",
       "range": "10.80.1.0,10.80.250.255,255.255.0.0,1h"}
PXELINUX = Path("/usr/lib/PXELINUX/pxelinux.0")
MiB = 1 << 20


def storm_mac(i: int) -> str:
    return f"52:54:02:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


def prepare(work: Path, clients: int) -> dict[str, Path]:
    """Files both setups serve: TFTP root, kernel/initrd, the kickstart, the client MACs."""
    root = work / "tftpboot"
    (root / "pxelinux.cfg").mkdir(parents=True)
    shutil.copy(PXELINUX, root / "pxelinux.0")
    (root / "pxelinux.cfg" / "default").write_text(
        "DEFAULT install\nLABEL install\n  KERNEL http://10.80.0.1/assets/rocky9/kernel\n"
        "  APPEND initrd=http://10.80.0.1/assets/rocky9/initrd inst.ks=http://10.80.0.1/ks/"
        "default.ks\n")
    www = work / "www"
    (www / "assets" / "rocky9").mkdir(parents=True)
    (www / "ks").mkdir()
    (www / "assets" / "rocky9" / "kernel").write_bytes(os.urandom(10 * MiB))
    (www / "assets" / "rocky9" / "initrd").write_bytes(os.urandom(20 * MiB))
    macs = work / "macs.txt"
    macs.write_text("\n".join(storm_mac(i) for i in range(clients)) + "\n")
    for p in [work, *work.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return {"root": root, "www": www, "macs": macs}


def start_ours(ns: Netns, work: Path, files: dict[str, Path], clients: int) -> Serve:
    data = work / "data"
    data.mkdir()
    kernel = files["www"] / "assets" / "rocky9" / "kernel"
    initrd = files["www"] / "assets" / "rocky9" / "initrd"

    def mac_of(i: int) -> str:  # the first N systems are the storm's clients
        return storm_mac(i) if i < clients else \
            f"52:54:03:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"

    populate(f"sqlite:///{data / 'provisioner.db'}", max(SYSTEMS, clients), lambda i: None,
             kernel=str(kernel), initrd=str(initrd), pxe_transport="http", mac_of=mac_of)
    config = write_config(work / "provisioner.toml", data_dir=str(data),
                          http_host=OURS["server"], tftp_root=str(files["root"]),
                          asset_roots=[str(files["www"] / "assets")],
                          interfaces=[OURS["iface"]], dhcp_enabled=True, tftp_enabled=True,
                          dhcp_ranges=[OURS["range"]])
    return Serve(ns, config, work / "serve.log", f"http://{OURS['server']}:8080")


def start_reference(ns: Netns, work: Path, files: dict[str, Path]) -> list[subprocess.Popen]:
    srv = REF["server"]
    procs = [
        ns.popen(["dnsmasq", "--no-daemon", "--port=0", f"--interface={REF['iface']}",
                  "--bind-interfaces", "--no-ping", "--user=root", f"--pid-file={work}/dm.pid",
                  f"--dhcp-leasefile={work}/dm.leases", "--dhcp-lease-max=1000000",
                  "--dhcp-authoritative", f"--dhcp-range={REF['range']}",
                  f"--dhcp-boot=pxelinux.0,,{srv}", "--log-facility=-"],
                 stdout=subprocess.DEVNULL),
        ns.popen(["in.tftpd", "-L", "-u", "root", "-a", f"{srv}:69", "-s",
                  str(files["root"])], stdout=subprocess.DEVNULL),
    ]
    (files["www"] / "ks" / "default.ks").write_text(_static_kickstart())
    (files["www"] / "ks" / "default.ks").chmod(0o644)
    conf = work / "nginx.conf"
    temp = work / "nginx-tmp"
    temp.mkdir()
    conf.write_text(f"""worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 8192; }}
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_timeout 30;
  client_body_temp_path {temp}/b; proxy_temp_path {temp}/p; fastcgi_temp_path {temp}/f;
  uwsgi_temp_path {temp}/u; scgi_temp_path {temp}/s;
  default_type application/octet-stream;
  server {{ listen {srv}:80 backlog=4096; root {files["www"]}; }}
}}
""")
    procs.append(ns.popen(["nginx", "-c", str(conf), "-g", "daemon off; user root;"],
                          stdout=subprocess.DEVNULL))
    time.sleep(1.0)
    for p in procs:
        if p.poll() is not None:
            raise RuntimeError(f"reference server {p.args[0]} exited: {p.returncode}")
    return procs


def _static_kickstart() -> str:
    """A kickstart of about the size the appliance renders, for nginx to serve as a file."""
    return ("# static kickstart served by nginx\ntext\nreboot\nlang en_US.UTF-8\n"
            "url --url http://mirror.example/rocky/9/BaseOS/x86_64/os\n%packages\n@core\n%end\n"
            + "# padding\n" * 300)


def giaddrs(setup: dict[str, str], procs: int) -> list[str]:
    """The client side's relay addresses: one per client process (``.2``, ``.3``...)."""
    base = setup["client"].rsplit(".", 1)[0]
    return [f"{base}.{2 + i}" for i in range(procs)]


def storm(client: Netns, setup: dict[str, str], files: dict[str, Path], http: str,
          ks: str, timeout: float, procs: int) -> dict:
    """Run the clients in ``procs`` processes (one relay address each), merge their results."""
    macs = files["macs"].read_text().split()
    start = time.time() + 2.0  # every shard starts its clients at the same instant
    running = []
    for i, giaddr in enumerate(giaddrs(setup, procs)):
        shard = files["macs"].with_suffix(f".{i}")
        shard.write_text("\n".join(macs[i::procs]) + "\n")
        running.append(client.popen(
            [sys.executable, str(ROOT / "bench" / "storm_client.py"), "--server",
             setup["server"], "--giaddr", giaddr, "--macs", str(shard), "--http", http,
             "--kernel", "/assets/rocky9/kernel", "--initrd", "/assets/rocky9/initrd", "--ks",
             ks, "--timeout", str(timeout), "--start", str(start)], text=True, cwd=ROOT))
    parts = []
    for p in running:
        out, _ = p.communicate(timeout=timeout + 120)
        client.procs.remove(p)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        parts.append(json.loads(lines[-1]) if lines else {"error": out[-800:]})
    return merge(parts, len(macs))


def merge(parts: list[dict], n: int) -> dict:
    times = sorted(t for p in parts for t in p.get("times", []))
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p.get("errors", {"no result": n // len(parts)}).items():
            errors[k] = errors.get(k, 0) + v
    phases: dict[str, list[float]] = {}
    for p in parts:
        for k, v in p.get("phases", {}).items():
            phases.setdefault(k, []).extend(v)

    def pct(values: list[float], q: float) -> float | None:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else None

    return {"clients": n, "ok": len(times), "failed": n - len(times), "errors": errors,
            "all_done_s": times[-1] if times else None, "p50_s": pct(times, 0.5),
            "p99_s": pct(times, 0.99), "bytes": sum(p.get("bytes", 0) for p in parts),
            "phase_p50_s": {k: pct(v, 0.5) for k, v in phases.items() if v}}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--full", action="store_true", help="1,000 clients")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600, help="per client, seconds")
    ap.add_argument("--procs", type=int, default=0,
                    help="client processes (default 1, 2 above 200 clients)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    for tool in ("dnsmasq", "in.tftpd", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"needs {tool} (scripts/setup.sh installs it)")
    n = 1000 if args.full else args.clients
    procs = args.procs or (2 if n > 200 else 1)
    load0 = os.getloadavg()
    runs: dict[str, list[dict]] = {"ours": [], "reference": []}
    with tempfile.TemporaryDirectory(prefix="bootstorm-") as tmp, \
            netns("ss") as sns, netns("sc") as cns:
        work = Path(tmp)
        for setup in (OURS, REF):
            veth_between(sns, setup["iface"], cns, setup["peer"])
            sns.ip("addr", "add", f"{setup['server']}/16", "dev", setup["iface"])
            for addr in giaddrs(setup, procs):
                cns.ip("addr", "add", f"{addr}/16", "dev", setup["peer"])
        files = prepare(work, n)
        for rep in range(args.repeat):
            for name in ("ours", "reference") if rep % 2 == 0 else ("reference", "ours"):
                run_dir = work / f"{name}-{rep}"
                run_dir.mkdir(mode=0o755)
                if name == "ours":
                    serve = start_ours(sns, run_dir, files, n)
                    try:
                        result = storm(cns, OURS, files, serve.http, "/ks/mac/{mac}",
                                       args.timeout, procs)
                    finally:
                        serve.stop()
                else:
                    servers = start_reference(sns, run_dir, files)
                    try:
                        result = storm(cns, REF, files, f"http://{REF['server']}",
                                       "/ks/default.ks", args.timeout, procs)
                    finally:
                        for p in servers:
                            p.terminate()
                            p.wait(15)
                            sns.procs.remove(p)
                runs[name].append(result)
                print(f"#{rep + 1} {name:10} {json.dumps(result)}", flush=True)
    report(n, runs)
    print(f"load average: start {load0}, end {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


def report(n: int, runs: dict[str, list[dict]]) -> None:
    print(f"\nBoot storm, {n} clients (median of {len(runs['ours'])} runs each):")
    print(f"{'setup':12} {'all done':>10} {'p50':>8} {'p99':>8} {'failed':>8}")
    med: dict[str, float] = {}
    for name, results in runs.items():
        done = [r["all_done_s"] for r in results if r.get("all_done_s") is not None]
        p50 = [r["p50_s"] for r in results if r.get("p50_s") is not None]
        p99 = [r["p99_s"] for r in results if r.get("p99_s") is not None]
        failed = [r.get("failed", n) for r in results]
        if done:
            med[name] = statistics.median(done)
        print(f"{name:12} {_s(done):>10} {_s(p50):>8} {_s(p99):>8} "
              f"{statistics.median(failed) if failed else '-':>8}")
    if "ours" in med and "reference" in med:
        print(f"ours / reference time-to-all-done: {med['ours'] / med['reference']:.2f}x "
              f"(goal <= 1.0x)")


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s" if values else "-"


if __name__ == "__main__":
    sys.exit(main())
