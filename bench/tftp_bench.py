"""TFTP throughput: our server against tftpd-hpa and dnsmasq, same run, same namespaces.

    sudo .venv/bin/python bench/tftp_bench.py [--quick] [--servers ours,tftpd-hpa,dnsmasq]
        [--baseline DIR]   # also "baseline": our server from another checkout (before/after)
        [--only TEXT]      # only the rows whose name contains TEXT

Two network namespaces joined by a veth pair (MTU 1500): the servers in one, ``atftp`` in the
other, every download is checked against the source
file's SHA-256. Processes are pinned with ``taskset`` (lock-step TFTP speed depends on whether
server and client share a vCPU). Delay and loss come from ``bench/udp_relay.py`` (``tc netem`` is
not available here): 1 ms added to the server->client direction, loss on client->server packets.

Rows (``--quick`` uses smaller files and fewer clients):

* one client, 50 MiB, blksize 1468, server and client on the same vCPU / on different vCPUs
* 50 clients x 10 MiB at once, blksize 1468 (aggregate)
* 1 ms added round trip, 10 MiB, lock-step; and with windowsize 16 (only servers that negotiate it)
* 1 ms and 1% loss of the client's packets, 10 MiB, lock-step; and windowsize 16

All servers run at once, each on its own address (pinned to vCPU 0), and the cells are measured
interleaved ``--repeat`` times, so load from elsewhere on the machine hits every server alike;
the table shows the median. Prints MB/s (and seconds) per server and the speed ratio
ours / tftpd-hpa (windowsize rows are compared with tftpd-hpa's lock-step row).
"""

from __future__ import annotations

import argparse
import hashlib
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

from tests.netns import Netns, lan  # noqa: E402

CLIENT = "10.77.0.2"
ADDRESS = {"ours": "10.77.0.1", "tftpd-hpa": "10.77.0.3", "dnsmasq": "10.77.0.4",
           "baseline": "10.77.0.5"}
BASELINE: Path | None = None  # --baseline: a checkout (e.g. ``git worktree``) of an older commit
RELAY_PORT = 6969
MiB = 1 << 20


def server_argv(name: str, root: Path) -> list[str]:
    addr = ADDRESS[name]
    if name == "ours":
        return [sys.executable, str(ROOT / "bench" / "tftp_serve.py"), str(root), f"{addr}:69"]
    if name == "baseline" and BASELINE is not None:
        return [sys.executable, str(BASELINE / "bench" / "tftp_serve.py"), str(root), f"{addr}:69"]
    if name == "tftpd-hpa":
        return ["in.tftpd", "-L", "-u", "root", "-a", f"{addr}:69", "-s", str(root)]
    if name == "dnsmasq":
        return ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--pid-file",
                "--user=root", "--enable-tftp", f"--tftp-root={root}", "--tftp-max=500",
                f"--listen-address={addr}", "--bind-interfaces", "--log-facility=-"]
    raise ValueError(name)


@dataclass
class Row:
    name: str
    size: int  # bytes per client
    clients: int = 1
    options: tuple[str, ...] = ("blksize 1468",)
    client_cpu: int = 0
    relay: tuple[str, ...] = ()  # udp_relay.py link arguments; empty = direct
    window: bool = False  # only meaningful for servers that negotiate windowsize


def rows(quick: bool) -> list[Row]:
    big, each, n, slow = (10 * MiB, 2 * MiB, 10, 2 * MiB) if quick else (50 * MiB, 10 * MiB, 50,
                                                                          10 * MiB)
    delay = ("--delay-down", "0.001")
    loss = (*delay, "--loss-up", "0.01", "--seed", "7")
    return [
        Row(f"1 client {big // MiB} MiB, same vCPU", big),
        Row(f"1 client {big // MiB} MiB, split vCPUs", big, client_cpu=1),
        Row(f"{n} clients x {each // MiB} MiB", each, clients=n, client_cpu=1),
        Row(f"1 ms RTT, {slow // MiB} MiB lock-step", slow, client_cpu=1, relay=delay),
        Row(f"1 ms RTT, {slow // MiB} MiB windowsize 16", slow, client_cpu=1, relay=delay,
            options=("blksize 1468", "windowsize 16"), window=True),
        Row(f"1 ms + 1% loss, {slow // MiB} MiB lock-step", slow, client_cpu=1, relay=loss),
        Row(f"1 ms + 1% loss, {slow // MiB} MiB windowsize 16", slow, client_cpu=1, relay=loss,
            options=("blksize 1468", "windowsize 16"), window=True),
    ]


def _wait_ready(client: Netns, addr: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.run(["atftp", "-g", "-r", "probe", "-l", "/dev/null", addr, str(port)],
                       check=False, timeout=20)
        if r.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer")


def run_row(server: Netns, client: Netns, addr: str, row: Row,
            files: dict[int, tuple[Path, str]], out_dir: Path, timeout: float) -> float:
    """Seconds for the row's transfers (all clients), after checking every checksum."""
    path, digest = files[row.size]
    relay = None
    port = 69
    if row.relay:
        relay = server.popen(["taskset", "-c", str(row.client_cpu), sys.executable,
                              str(ROOT / "bench" / "udp_relay.py"), "--listen",
                              f"{addr}:{RELAY_PORT}", "--upstream", f"{addr}:69",
                              *row.relay], text=True)
        assert relay.stdout.readline().startswith("ready")
        port = RELAY_PORT
    try:
        opts = [a for o in row.options for a in ("--option", o)]
        outs = [out_dir / f"o{i}" for i in range(row.clients)]
        start = time.monotonic()
        procs = [subprocess.Popen(["ip", "netns", "exec", client.name, "taskset", "-c",
                                   str(row.client_cpu), "atftp", *opts, "-g", "-r", path.name,
                                   "-l", str(o), addr, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for o in outs]
        for p in procs:
            p.wait(timeout=timeout)
        seconds = time.monotonic() - start
        for p, o in zip(procs, outs, strict=True):
            if p.returncode != 0:
                raise RuntimeError(f"atftp failed: {p.stderr.read().decode()[-500:]}")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller files, fewer clients")
    ap.add_argument("--servers", default="ours,tftpd-hpa,dnsmasq")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (median reported)")
    ap.add_argument("--timeout", type=float, default=600, help="per row and server")
    ap.add_argument("--baseline", type=Path, help="also run our server from this checkout")
    ap.add_argument("--only", default="", help="only rows whose name contains this text")
    args = ap.parse_args(argv)
    names = args.servers.split(",")
    if args.baseline is not None:
        global BASELINE
        BASELINE = args.baseline.resolve()
        names.append("baseline")
    table = [r for r in rows(args.quick) if args.only in r.name]
    runs: dict[tuple[str, str], list[float]] = {}
    failed: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="tftpbench") as tmp, lan("tb") as (server, client):
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        for name in names:
            if ADDRESS[name] != "10.77.0.1":
                server.ip("addr", "add", f"{ADDRESS[name]}/24", "dev", "br0")
        root = Path(tmp) / "root"
        out_dir = Path(tmp) / "out"
        root.mkdir()
        out_dir.mkdir()
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        (root / "probe").write_bytes(b"p")
        files: dict[int, tuple[Path, str]] = {}
        for size in sorted({r.size for r in table}):
            p = root / f"f{size}"
            p.write_bytes(os.urandom(size))
            files[size] = (p, _sha(p))
        for name in names:  # all servers up at once, each on its own address, pinned to CPU 0
            server.popen(["taskset", "-c", "0", *server_argv(name, root)])
            _wait_ready(client, ADDRESS[name], 69)
        try:
            for rep in range(args.repeat):  # interleaved, so load from elsewhere hits all alike
                for row in table:
                    for name in names:
                        key = (row.name, name)
                        if (row.window and name not in ("ours", "baseline")) or key in failed:
                            continue
                        try:
                            secs = run_row(server, client, ADDRESS[name], row, files, out_dir,
                                           args.timeout)
                            runs.setdefault(key, []).append(secs)
                            _print_cell(row, name, secs, rep)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            failed[key] = f"failed: {exc}"[:40]
                            _print_cell(row, name, failed[key], rep)
        finally:
            server.stop_procs()
    results: dict[tuple[str, str], float | str] = {k: statistics.median(v) for k, v in runs.items()}
    results.update(failed)
    for row in table:
        if row.window:
            for name in names:
                results.setdefault((row.name, name), "no windowsize")
    _print_table(table, names, results)
    return 0


def _fmt(row: Row, value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{row.size * row.clients / value / 1e6:7.1f} MB/s {value:6.2f}s"


def _print_cell(row: Row, name: str, value: float | str, rep: int) -> None:
    print(f"  #{rep + 1} {row.name:<36} {name:<10} {_fmt(row, value)}", flush=True)


def _print_table(table: list[Row], names: list[str], results: dict) -> None:
    print()
    header = f"{'row':<36}" + "".join(f"{n:>26}" for n in names)
    mine = [n for n in ("ours", "baseline") if n in names] if "tftpd-hpa" in names else []
    print(header + "".join(f"{n + '/tftpd-hpa':>20}" for n in mine))
    for row in table:
        cells = [results.get((row.name, n), "-") for n in names]
        line = f"{row.name:<36}" + "".join(f"{_fmt(row, c):>26}" for c in cells)
        ref = results.get((row.name, "tftpd-hpa"))
        if row.window:
            ref = results.get((row.name.replace("windowsize 16", "lock-step"), "tftpd-hpa"))
        for name in mine:
            ours = results.get((row.name, name))
            ratio = f"{ref / ours:.2f}x" if isinstance(ours, float) and isinstance(ref, float) \
                else "-"
            line += f"{ratio:>20}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
