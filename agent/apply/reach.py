"""Connectivity check for network plans: the default route exists and targets answer ICMP echo.

``python -m agent.apply.reach ADDR... [--timeout S]`` exits 0 when every address answers
(raw ICMP socket, root; run through the system's runner so it executes inside the target
namespace). ``connectivity_check(...)`` builds the callable the applier uses.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence

from agent.apply.system import System


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo(addr: str, timeout: float = 2.0) -> bool:
    """One ICMP echo request to ``addr``; True when a matching reply arrives in time."""
    ident = os.getpid() & 0xFFFF
    payload = b"provisioner-agent"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.sendto(packet, (addr, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([s], [], [], left)
            if not ready:
                return False
            data, src = s.recvfrom(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and src[0] == addr:
                return True
    return False


def connectivity_check(targets: Sequence[str], *, require_default_route: bool = True,
                       attempts: int = 5, interval: float = 1.0,
                       sleep: Callable[[float], None] = time.sleep
                       ) -> Callable[[System], tuple[bool, str]]:
    """Callable for ``apply(connectivity=...)``: retried ``attempts`` times, ``interval`` apart."""

    def check(system: System) -> tuple[bool, str]:
        why = ""
        for i in range(attempts):
            if i:
                sleep(interval)
            if require_default_route and system.net is not None and not any(
                    r.dst == "default" for r in system.net.routes()):
                why = "no default route"
                continue
            if not targets:
                return True, "default route present"
            res = system.run([sys.executable, "-m", "agent.apply.reach", *targets,
                              "--timeout", "2"], timeout=30)
            if res.ok:
                return True, f"{', '.join(targets)} reachable"
            why = (res.stdout + res.stderr).strip() or f"{', '.join(targets)} unreachable"
        return False, why

    return check


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m agent.apply.reach")
    ap.add_argument("targets", nargs="+")
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args(argv)
    bad = [t for t in args.targets if not echo(t, args.timeout)]
    if bad:
        print("unreachable: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
