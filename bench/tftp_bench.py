"""TFTP throughput: ``provisioner serve`` against tftpd-hpa (and our TFTP core standalone), one run.

    sudo .venv/bin/python bench/tftp_bench.py [--quick] [--repeat 3] [--seeds 5]
        [--servers ours,standalone,tftpd-hpa[,dnsmasq]] [--only TEXT] [--baseline DIR]

``ours`` is the product as users run it: ``provisioner --config provisioner.toml serve`` (the
README's command) with a 10,000-system inventory, TFTP worker processes (one per core), and
``bench/ks_load.py`` fetching kickstarts over HTTP at 50 requests/s for the whole run.
``standalone`` is our TFTP core alone (``bench/tftp_serve.py``, one process), kept for
comparison with the earlier results (``standalone-asyncio``: the same on an asyncio loop);
``baseline`` is ``standalone`` from another checkout.

Network: a server and a client namespace; ``ours`` on ``br0`` (10.77.0.1, the interface serve
is told to serve), the reference servers on a second veth pair (10.78.0.x) so that nothing else
shares serve's interface; the client reaches each through its own link. Every download by
``atftp`` is checked against the file's SHA-256. Servers and clients are pinned per row
(``taskset``, as the row says: reference servers as whole process trees, and for ``ours`` the
TFTP worker processes, the HTTP process staying free). Delay and loss come from
``bench/udp_relay.py`` (``tc netem`` is not available here): 1 ms added server->client, loss on
client->server packets, the same seeded pattern for every server.

Rows: one client 50 MiB (same vCPU as the server / split), 50 clients x 10 MiB (servers and
clients free on both vCPUs: tftpd-hpa forks a process per transfer, serve has a worker per core),
1 ms lock-step, 1 ms windowsize 16 and windowsize 4 with blksize 1468 (what OVMF asks for),
and 1% loss, lock-step and windowsize 16, once per loss seed (``--seeds``). Cells are the
median of ``--repeat`` interleaved runs (loss rows: one run per seed); windowsize rows are
compared with tftpd-hpa's lock-step row. At the end: the kickstart latency idle (before any
TFTP load) and under load, and the change-to-visible latency (``bench/visible.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servekit import SYSTEMS, KsLoad, Serve, populate, system_mac, write_config  # noqa: E402
from tests.netns import Netns, lan, veth_between  # noqa: E402

CLIENT, REF_CLIENT = "10.77.0.2", "10.78.0.2"
ADDRESS = {"ours": "10.77.0.1", "standalone": "10.78.0.1", "tftpd-hpa": "10.78.0.3",
           "dnsmasq": "10.78.0.4", "baseline": "10.78.0.5", "standalone-asyncio": "10.78.0.6"}
WINDOWED = ("ours", "standalone", "baseline", "standalone-asyncio")
BASELINE: Path | None = None
RELAY_PORT = 6969
TOKEN = "bench-token-" + "x" * 30
MiB = 1 << 20


@dataclass
class Row:
    name: str
    size: int  # bytes per client
    clients: int = 1
    options: tuple[str, ...] = ("blksize 1468",)
    server_cpus: str = "0"
    client_cpus: str = "1"
    relay: tuple[str, ...] = ()  # udp_relay.py link arguments; empty = direct
    window: bool = False  # only for servers that negotiate windowsize
    once: bool = False  # one run (loss rows: the seed is the repeat)

    @property
    def reference(self) -> str:
        """The tftpd-hpa row this row is compared with."""
        if not self.window:
            return self.name
        return self.name.replace("windowsize 16", "lock-step").replace("windowsize 4", "lock-step")


def rows(quick: bool, seeds: int) -> list[Row]:
    big, each, n, slow, lossy = (10 * MiB, 2 * MiB, 10, 2 * MiB, 2 * MiB) if quick else \
        (50 * MiB, 10 * MiB, 50, 10 * MiB, 5 * MiB)
    delay = ("--delay-down", "0.001")
    ws16 = ("blksize 1468", "windowsize 16")
    out = [
        Row(f"1 client {big // MiB} MiB, same vCPU", big, client_cpus="0"),
        Row(f"1 client {big // MiB} MiB, split vCPUs", big),
        Row(f"{n} clients x {each // MiB} MiB", each, clients=n, server_cpus="0,1",
            client_cpus="0,1"),
        Row(f"1 ms RTT, {slow // MiB} MiB lock-step", slow, relay=delay),
        Row(f"1 ms RTT, {slow // MiB} MiB windowsize 16", slow, relay=delay, options=ws16,
            window=True),
        Row(f"1 ms RTT, {slow // MiB} MiB windowsize 4", slow, relay=delay,
            options=("blksize 1468", "windowsize 4"), window=True),
    ]
    for seed in range(1, seeds + 1):
        loss = (*delay, "--loss-up", "0.01", "--seed", str(seed))
        out += [Row(f"1% loss seed {seed}, {lossy // MiB} MiB lock-step", lossy, relay=loss,
                    once=True),
                Row(f"1% loss seed {seed}, {lossy // MiB} MiB windowsize 16", lossy, relay=loss,
                    options=ws16, window=True, once=True)]
    return out


def server_argv(name: str, root: Path) -> list[str]:
    addr = ADDRESS[name]
    if name in ("standalone", "standalone-asyncio"):
        return [sys.executable, str(ROOT / "bench" / "tftp_serve.py"), str(root), f"{addr}:69",
                "--loop", "asyncio" if name.endswith("asyncio") else "fast"]
    if name == "baseline" and BASELINE is not None:
        return [sys.executable, str(BASELINE / "bench" / "tftp_serve.py"), str(root), f"{addr}:69"]
    if name == "tftpd-hpa":
        return ["in.tftpd", "-L", "-u", "root", "-a", f"{addr}:69", "-s", str(root)]
    if name == "dnsmasq":
        return ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--pid-file",
                "--user=root", "--enable-tftp", f"--tftp-root={root}", "--tftp-max=500",
                f"--listen-address={addr}", "--bind-interfaces", "--log-facility=-"]
    raise ValueError(name)


def pin_tree(pid: int, cpus: str) -> None:
    """Pin ``pid``, its threads and its descendants (children inherit it from then on)."""
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        subprocess.run(["taskset", "-a", "-c", "-p", cpus, str(p)], capture_output=True,
                       check=False)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]


def pin_server(name: str, pid: int, cpus: str) -> None:
    """Pin what serves TFTP: a reference server's tree; for ``ours`` only the TFTP worker
    processes (the HTTP process and the other workers stay free on every vCPU, as they would
    be in production: pinning them with the TFTP worker would put the 50/s kickstart load on
    the measured vCPU, which tftpd-hpa does not carry)."""
    if name != "ours":
        pin_tree(pid, cpus)
        return
    pin_tree(pid, "0,1")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"provisioner.net.worker" in argv and b"tftp" in argv:
                pin_tree(int(entry.name), cpus)


def _wait_ready(client: Netns, addr: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.run(["atftp", "-g", "-r", "probe", "-l", "/dev/null", addr], check=False,
                       timeout=20)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"TFTP server on {addr} did not answer")


def run_row(server: Netns, client: Netns, addr: str, row: Row,
            files: dict[int, tuple[Path, str]], out_dir: Path, timeout: float) -> float:
    """Seconds for the row's transfers (all clients), after checking every checksum."""
    path, digest = files[row.size]
    relay = None
    port = 69
    if row.relay:
        relay = server.popen(["taskset", "-c", row.client_cpus, sys.executable,
                              str(ROOT / "bench" / "udp_relay.py"), "--listen",
                              f"{addr}:{RELAY_PORT}", "--upstream", f"{addr}:69", *row.relay],
                             text=True)
        assert relay.stdout is not None
        assert relay.stdout.readline().startswith("ready")
        port = RELAY_PORT
    try:
        opts = [a for o in row.options for a in ("--option", o)]
        outs = [out_dir / f"o{i}" for i in range(row.clients)]
        start = time.monotonic()
        procs = [subprocess.Popen(["ip", "netns", "exec", client.name, "taskset", "-c",
                                   row.client_cpus, "atftp", *opts, "-g", "-r", path.name,
                                   "-l", str(o), addr, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for o in outs]
        for p in procs:
            p.wait(timeout=timeout)
        seconds = time.monotonic() - start
        for p, o in zip(procs, outs, strict=True):
            if p.returncode != 0:
                assert p.stderr is not None
                raise RuntimeError(f"atftp failed: {p.stderr.read().decode()[-300:]}")
            if _sha(o) != digest:
                raise RuntimeError(f"checksum mismatch for {o}")
            o.unlink()
        return seconds
    finally:
        if relay is not None:
            relay.kill()
            relay.wait(10)
            server.procs.remove(relay)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def start_serve(server: Netns, work: Path, root: Path) -> tuple[Serve, list[str]]:
    data = work / "data"
    data.mkdir()
    config = write_config(work / "provisioner.toml", data_dir=str(data), http_host=ADDRESS["ours"],
                          tftp_root=str(root), interfaces=["br0"], tftp_enabled=True,
                          api_token=TOKEN, tftp_max_blksize=65464)
    macs = populate(f"sqlite:///{data / 'provisioner.db'}", SYSTEMS,
                    lambda i: f"10.{100 + (i >> 16)}.{i >> 8 & 255}.{i & 255}",
                    pxe_transport="tftp")
    return Serve(server, config, work / "serve.log", f"http://{ADDRESS['ours']}:8080"), macs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller files, fewer clients")
    ap.add_argument("--servers", default="ours,standalone,tftpd-hpa")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (median reported)")
    ap.add_argument("--seeds", type=int, default=5, help="loss patterns (one run each)")
    ap.add_argument("--timeout", type=float, default=600, help="per row and server")
    ap.add_argument("--baseline", type=Path, help="also run our TFTP core from this checkout")
    ap.add_argument("--only", default="", help="only rows whose name contains this text")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)
    names = args.servers.split(",")
    if args.baseline is not None:
        global BASELINE
        BASELINE = args.baseline.resolve()
        names.append("baseline")
    table = [r for r in rows(args.quick, args.seeds) if args.only in r.name]
    runs: dict[tuple[str, str], list[float]] = {}
    failed: dict[tuple[str, str], str] = {}
    extra: dict[str, object] = {"load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="tftpbench") as tmp, lan("tb") as (server, client):
        work = Path(tmp)
        os.chmod(tmp, 0o755)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        veth_between(server, "rf0", client, "rf1")
        client.ip("addr", "add", f"{REF_CLIENT}/24", "dev", "rf1")
        for name in names:
            if name != "ours":
                server.ip("addr", "add", f"{ADDRESS[name]}/24", "dev", "rf0")
        root, out_dir = work / "root", work / "out"
        root.mkdir(mode=0o755)
        out_dir.mkdir()
        (root / "probe").write_bytes(b"p")
        (root / "pxelinux.cfg").mkdir()
        files: dict[int, tuple[Path, str]] = {}
        for size in sorted({r.size for r in table}):
            p = root / f"f{size}"
            p.write_bytes(os.urandom(size))
            files[size] = (p, _sha(p))
        pids: dict[str, int] = {}
        serve = None
        for name in names:
            if name == "ours":
                serve, macs = start_serve(server, work, root)
                pids[name] = serve.proc.pid
            else:
                pids[name] = server.popen(server_argv(name, root)).pid
            _wait_ready(client, ADDRESS[name])
        ks = None
        try:
            if serve is not None:
                KsLoad.warm(client, serve.http, macs, work)
                idle = KsLoad(client, serve.http, macs, work)
                time.sleep(20)
                extra["kickstart_idle"] = idle.stop()
                ks = KsLoad(client, serve.http, macs, work)
            for rep in range(args.repeat):  # interleaved, so load from elsewhere hits all alike
                for row in table:
                    if row.once and rep:
                        continue
                    for name in names:
                        key = (row.name, name)
                        if (row.window and name not in WINDOWED) or key in failed:
                            continue
                        for n, pid in pids.items():
                            pin_server(n, pid, row.server_cpus)
                        try:
                            secs = run_row(server, client, ADDRESS[name], row, files, out_dir,
                                           args.timeout)
                            runs.setdefault(key, []).append(secs)
                            _print_cell(row, name, secs, rep)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            failed[key] = f"failed: {exc}"[:40]
                            _print_cell(row, name, failed[key], rep)
            if ks is not None:
                extra["kickstart_loaded"] = ks.stop()
                ks = None
            if serve is not None:
                for pid in pids.values():
                    pin_tree(pid, "0,1")
                r = client.run([sys.executable, str(ROOT / "bench" / "visible.py"), "tftp",
                                serve.http, TOKEN, ADDRESS["ours"], "s17", system_mac(17)],
                               timeout=300, check=False, cwd=ROOT)
                extra["change_to_visible"] = r.stdout.strip() or r.stderr[-500:]
        finally:
            if ks is not None:
                ks.stop()
            if serve is not None:
                extra["serve_log_errors"] = [ln for ln in serve.log().splitlines()
                                             if " ERROR " in ln][:10]
                serve.stop()
            server.stop_procs()
    extra["load_end"] = os.getloadavg()
    results: dict[tuple[str, str], float | str] = {k: statistics.median(v) for k, v in runs.items()}
    results.update(failed)
    _print_table(table, names, results)
    _print_loss_summary(table, names, results)
    for key, value in extra.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"runs": {f"{k[0]}|{k[1]}": v for k, v in runs.items()},
                                         "failed": {f"{k[0]}|{k[1]}": v
                                                    for k, v in failed.items()},
                                         "extra": extra}, indent=1, default=str))
    return 0


def _fmt(row: Row, value: float | str | None) -> str:
    if value is None:
        return "no windowsize" if row.window else "-"
    if isinstance(value, str):
        return value
    return f"{row.size * row.clients / value / 1e6:7.1f} MB/s {value:6.2f}s"


def _print_cell(row: Row, name: str, value: float | str, rep: int) -> None:
    print(f"  #{rep + 1} {row.name:<40} {name:<10} {_fmt(row, value)}", flush=True)


def _ratio(results: dict, row: Row, name: str) -> float | None:
    ours, ref = results.get((row.name, name)), results.get((row.reference, "tftpd-hpa"))
    return ref / ours if isinstance(ours, float) and isinstance(ref, float) else None


def _print_table(table: list[Row], names: list[str], results: dict) -> None:
    print()
    mine = [n for n in WINDOWED if n in names] if "tftpd-hpa" in names else []
    print(f"{'row':<40}" + "".join(f"{n:>26}" for n in names)
          + "".join(f"{n + '/tftpd-hpa':>22}" for n in mine))
    for row in table:
        line = f"{row.name:<40}" + "".join(f"{_fmt(row, results.get((row.name, n))):>26}"
                                           for n in names)
        for name in mine:
            r = _ratio(results, row, name)
            line += f"{(f'{r:.2f}x' if r is not None else '-'):>22}"
        print(line)


def _print_loss_summary(table: list[Row], names: list[str], results: dict) -> None:
    for kind in ("lock-step", "windowsize 16"):
        for name in (n for n in WINDOWED if n in names):
            ratios = [r for row in table if row.once and row.name.endswith(kind)
                      if (r := _ratio(results, row, name)) is not None]
            if ratios:
                print(f"1% loss, {kind}, {name}/tftpd-hpa over {len(ratios)} seeds: median "
                      f"{statistics.median(ratios):.2f}x, worst {min(ratios):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
