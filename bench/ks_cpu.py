"""What serving kickstarts costs ``provisioner serve``'s HTTP process: CPU per request and latency.

    sudo .venv/bin/python bench/ks_cpu.py [--rate 50] [--seconds 20] [--repeat 3]
        [--baseline DIR]

``provisioner --config provisioner.toml serve`` (the README's command) with a 10,000-system
inventory in a namespace; ``bench/ks_load.py`` fetches ``/ks/mac/<mac>`` of random systems at
``--rate`` requests/s from a client namespace (after a warm-up that compiles the templates).
Reported per run: the CPU seconds the HTTP process used per request (``/proc/<pid>/stat``,
utime + stime: robust against other load on the machine, unlike latency) and the latency
figures. ``--baseline DIR`` also runs ``serve`` from another checkout (e.g. a ``git worktree``
of an older commit), interleaved with ours, against the same database contents.

This is the load the DHCP/TFTP benchmarks run beside the protocol under test (50/s): every
millisecond of CPU per kickstart is 5% of a vCPU taken from the DHCP and TFTP workers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servekit import SYSTEMS, KsLoad, Serve, populate, write_config  # noqa: E402
from tests.netns import lan  # noqa: E402

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(server, client, work: Path, checkout: Path, rate: float,  # noqa: ANN001
            seconds: float, name: str) -> dict:
    data = work / f"data-{name}"
    data.mkdir()
    config = write_config(work / f"{name}.toml", data_dir=str(data), http_host=SERVER,
                          api_token="bench-token-" + "x" * 30)
    macs = populate(f"sqlite:///{data / 'provisioner.db'}", SYSTEMS,
                    lambda i: f"10.{100 + (i >> 16)}.{i >> 8 & 255}.{i & 255}")
    serve = Serve(server, config, work / f"{name}.log", f"http://{SERVER}:8080",
                  checkout=checkout)
    try:
        KsLoad.warm(client, serve.http, macs, work)
        before = cpu_seconds(serve.proc.pid)
        load = KsLoad(client, serve.http, macs, work, rate=rate)
        time.sleep(seconds)
        result = load.stop()
        used = cpu_seconds(serve.proc.pid) - before
    finally:
        serve.stop()
    result["cpu_ms_per_request"] = round(1000 * used / max(1, result.get("requests", 0)), 2)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="also run serve from this checkout")
    args = ap.parse_args(argv)
    setups = {"ours": ROOT}
    if args.baseline is not None:
        setups["baseline"] = args.baseline.resolve()
    runs: dict[str, list[dict]] = {name: [] for name in setups}
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kscpu") as tmp, lan("kc") as (server, client):
        os.chmod(tmp, 0o755)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        for rep in range(args.repeat):
            for name, checkout in setups.items():
                work = Path(tmp) / f"{name}{rep}"
                work.mkdir()
                r = one_run(server, client, work, checkout, args.rate, args.seconds, name)
                runs[name].append(r)
                print(f"#{rep + 1} {name:9} {r}", flush=True)
    print(f"\nkickstarts at {args.rate:g}/s for {args.seconds:g} s, median of {args.repeat}:")
    print(f"{'setup':10} {'CPU ms/request':>15} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, rs in runs.items():
        def med(key: str, rs: list[dict] = rs) -> float:
            return statistics.median(r.get(key, float("nan")) for r in rs)
        print(f"{name:10} {med('cpu_ms_per_request'):>15.2f} {med('p50_ms'):>8.2f} "
              f"{med('p99_ms'):>8.2f} {sum(r.get('errors', 0) for r in rs):>7}")
    print(f"load average: start {load0}, end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
