"""Helpers for tests of ``provisioner serve``'s worker processes (``net/supervisor.py``)."""

from __future__ import annotations

import re
from pathlib import Path


def workers_of(pid: int) -> dict[str, int]:
    """``{"tftp-0": pid, ...}``: the live network workers whose parent is ``pid``."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if ppid != pid or state == "Z" or b"provisioner.net.worker" not in argv:
            continue
        i = argv.index(b"provisioner.net.worker")
        out[f"{argv[i + 1].decode()}-{argv[i + 2].decode()}"] = int(entry.name)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def restarted(log: str, name: str) -> bool:
    return bool(re.search(rf"network worker {re.escape(name)} \(pid \d+\) killed by SIGKILL", log)
                and f"network worker {name} is back" in log)


GARBAGE_SENDER = r"""
import os, random, socket, sys
host, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
prefixes = [b"", b"\x01\x01\x06\x00", b"\x00\x01", b"\x00\x02", b"\x00\x04", b"\x00\x05",
            b"\x12\x34\x01\x00\x00\x01"]
sent = 0
for i in range(count):
    port = (67, 69, 53)[i % 3]
    body = rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 600))
    try:
        s.sendto(body, (host, port))
        sent += 1
    except OSError:
        pass
print("SENT", sent)
"""


def flood(ns, host: str, count: int, seed: int = 12) -> int:  # noqa: ANN001 - a Netns
    """Send ``count`` random datagrams round-robin to ports 67, 69 and 53 of ``host``."""
    import sys

    r = ns.run([sys.executable, "-c", GARBAGE_SENDER, host, str(count), str(seed)], timeout=300)
    return int(r.stdout.split()[-1])
