"""Kickstart rendering over HTTP vs a static file of the same size, from the same server.

    .venv/bin/python bench/render_bench.py [--systems 1000 10000] [--duration 10]

For each inventory size: a fresh SQLite database (WAL) with that many systems, the real app
(``create_app`` on waitress with the production thread count) started as a subprocess, plus one
extra route serving a static file exactly as large as a rendered kickstart with Flask's
``send_file`` (the cheapest static response the stack has). ``wrk`` (a C load generator) then
measures, interleaved on the same server: ``GET /bench/static``, ``GET /ks/system/<random
system>`` (rendered per request: store lookups, resolution, Jinja2, a timeline event per fetch)
and the same file through the appliance's own ``/tftpboot/<path>`` endpoint. Printed:
requests/s, p50 and p99 latency, and the ratios. Aim: rendering costs < 2x the static file;
10,000 systems cost no more per request than 1,000 (no full scans). Not a test: numbers depend
on the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/ks/system/s" .. math.random(0, %d))
end
"""


def populate(db_url: str, n: int) -> None:
    """A distro, a profile and ``n`` systems with one interface each (bulk insert)."""
    from sqlalchemy import insert

    from provisioner.models import Distro, Profile, VmDefaults
    from provisioner.store import open_store
    from provisioner.store import schema as t

    store = open_store(db_url)
    tree = "http://mirror.example/rocky/9/BaseOS/x86_64/os"
    store.put_distro(Distro("rocky9", os_version="rhel9", tree_url=tree,
                            kernel=f"{tree}/images/pxeboot/vmlinuz",
                            initrd=f"{tree}/images/pxeboot/initrd.img"))
    store.put_profile(Profile("guest", distro="rocky9", kickstart="rhel9-guest.ks",
                              vm=VmDefaults(ram_mb=2048, vcpus=2, disk_gb=20)))
    systems, ifaces = [], []
    for i in range(n):
        systems.append({"name": f"s{i}", "profile": "guest", "hostname": f"s{i}.lab.example",
                        "netboot_enabled": True, "kernel_options": None, "meta": {}, "vm": {},
                        "status": "new", "token": f"token{i:08d}"})
        ifaces.append({"system": f"s{i}", "position": 0, "name": "eth0",
                       "mac": f"52:54:{i >> 24 & 255:02x}:{i >> 16 & 255:02x}:"
                              f"{i >> 8 & 255:02x}:{i & 255:02x}",
                       "ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "bridge": None,
                       "netmask": None, "gateway": None})
    with store.engine.begin() as conn:
        conn.execute(insert(t.systems), systems)
        conn.execute(insert(t.interfaces), ifaces)
    store.close()


def serve(data_dir: str, port: int, static: str) -> None:
    """Server mode (subprocess): the production app + one static route, on waitress."""
    from flask import send_file
    from waitress import serve as waitress_serve

    from provisioner.main import HTTP_THREADS, build_core
    from provisioner.settings import Settings
    from provisioner.web.app import create_app

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" spam
    settings = Settings(data_dir=data_dir, http_port=port, templates_dir=str(ROOT / "templates"),
                        tftp_root=str(Path(static).parent))
    app = create_app(build_core(settings, batch_events=True))
    app.add_url_rule("/bench/static", "bench_static",
                     lambda: send_file(static, mimetype="text/plain", conditional=False))
    waitress_serve(app, host="127.0.0.1", port=port, threads=HTTP_THREADS, ident="provisioner",
                   _quiet=True)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, duration: int, connections: int, script: str | None = None) -> dict[str, float]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        argv += ["-s", script]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60).stdout
    lat = {p: float(v) * _UNITS[u] for p, v, u in
           re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_size(n: int, duration: int, connections: int, rounds: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix=f"render-bench-{n}-") as tmp:
        db = f"sqlite:///{tmp}/provisioner.db"
        t0 = time.monotonic()
        populate(db, n)
        port = free_port()
        static = Path(tmp) / "static.txt"
        static.write_text("x")
        proc = subprocess.Popen([sys.executable, __file__, "--serve", tmp, str(port), str(static)],
                                cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            body = b""
            for _ in range(600):  # up to 60 s for the server to come up
                try:
                    with urllib.request.urlopen(f"{base}/ks/system/s0", timeout=5) as r:
                        body = r.read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit("server did not start")
            static.write_bytes(b"#" * len(body))  # same size as a rendered kickstart
            print(f"  {n} systems loaded in {time.monotonic() - t0:.1f}s; "
                  f"kickstart {len(body)} bytes", flush=True)
            lua = Path(tmp) / "ks.lua"
            lua.write_text(LUA % (n - 1))
            wrk(f"{base}/bench/static", 2, connections)  # warm-up
            wrk(f"{base}/ks/system/s0", 2, connections)
            tftpboot = f"{base}/tftpboot/{static.name}"
            if urllib.request.urlopen(tftpboot, timeout=5).status != 200:
                tftpboot = ""
            runs: dict[str, list[dict[str, float]]] = {
                "static": [], "kickstart": [], "tftpboot": []}
            for _ in range(rounds):  # interleaved, so machine load hits both alike
                runs["static"].append(wrk(f"{base}/bench/static", duration, connections))
                runs["kickstart"].append(wrk(base, duration, connections, str(lua)))
                if tftpboot:
                    runs["tftpboot"].append(wrk(tftpboot, duration, connections))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
    return {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99")}
            for k, v in runs.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    ap.add_argument("--serve", nargs=3, metavar=("DATA_DIR", "PORT", "STATIC"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    print(f"render_bench: wrk -t2 -c{args.connections} -d{args.duration}s x{args.rounds} "
          f"(median), waitress, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    summary = []
    for n in args.systems:
        r = run_size(n, args.duration, args.connections, args.rounds)
        static, ks = r["static"], r["kickstart"]
        rows = [("static file (send_file)", static), ("kickstart (rendered)", ks)]
        if "tftpboot" in r:
            rows.append(("static file (/tftpboot)", r["tftpboot"]))
        for name, m in rows:
            print(f"  {name:24s} {m['rps']:9.1f} req/s   p50 {m['p50']:7.2f} ms   "
                  f"p99 {m['p99']:7.2f} ms")
        ratio = static["rps"] / ks["rps"]
        print(f"  cost ratio vs send_file (static req/s / kickstart req/s): {ratio:.2f}x   "
              f"p50 ratio {ks['p50'] / static['p50']:.2f}x", flush=True)
        if "tftpboot" in r:
            print(f"  cost ratio vs /tftpboot: {r['tftpboot']['rps'] / ks['rps']:.2f}x")
        summary.append((n, ks["rps"], ks["p50"], ratio))
    if len(summary) > 1:
        (n0, r0, p0, _), (n1, r1, p1, _) = summary[0], summary[-1]
        print(f"inventory {n0} -> {n1}: kickstart req/s {r0:.1f} -> {r1:.1f} "
              f"({(r1 / r0 - 1) * 100:+.1f}%), p50 {p0:.2f} -> {p1:.2f} ms")


if __name__ == "__main__":
    main()
