"""Many simulated network-booting clients at once, one asyncio process (for bench/boot_storm.py).

    python bench/storm_client.py --server IP --giaddr IP --macs FILE --http URL
        --kernel PATH --initrd PATH --ks PATH_TEMPLATE [--timeout 300]

Every client does what a BIOS PXE boot does, in order, and the run prints one JSON line:

1. DHCP through a relay (like perfdhcp: from ``giaddr``:67, so the server answers by unicast):
   DISCOVER with PXEClient arch 0 -> OFFER -> REQUEST -> ACK, retransmitted after 4, 8, 16 and
   32 s as the PXE specification has ROMs do;
2. TFTP of the boot file the OFFER names, from its next-server (blksize 1456 and tsize, as PXE
   ROMs ask; lock-step; the last ACK re-sent after 1 s of silence, 5 times at most);
3. TFTP of ``pxelinux.cfg/01-<mac>``, and of ``pxelinux.cfg/default`` if that is not found;
4. HTTP GET of the kernel and the initrd (the whole body, its length checked against
   Content-Length), then of the kickstart (``--ks``, ``{mac}`` replaced), each on a new
   connection.

Output: ``{"clients", "ok", "failed", "errors": {...}, "all_done_s", "p50_s", "p99_s",
"bytes", "phase_p50_s", "times", "phases"}``; a client's time runs from ``--start`` (a wall
clock time shared by the shards ``bench/boot_storm.py`` starts) to its kickstart; ``phases``
has each client's time per phase (DHCP, TFTP, kernel+initrd, kickstart).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import socket
import struct
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.proto.dhcp.codec import ACK, DISCOVER, OFFER, REQUEST, Packet, decode  # noqa: E402
from provisioner.proto.errors import PeerError  # noqa: E402


class Failed(Exception):
    pass


class Relay(asyncio.DatagramProtocol):
    """One relay socket for every client; replies are matched by transaction id."""

    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Queue[Packet]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            pkt = decode(data)
        except PeerError:
            return
        q = self.waiting.get(pkt.xid)
        if q is not None:
            q.put_nowait(pkt)


async def dhcp(relay: Relay, server: str, giaddr: str, mac: str) -> Packet:
    xid = random.getrandbits(32)
    q: asyncio.Queue[Packet] = asyncio.Queue()
    relay.waiting[xid] = q
    chaddr = bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0")
    pxe = {60: b"PXEClient:Arch:00000:UNDI:002001", 93: b"\0\0", 94: b"\x01\x02\x01"}
    gi = ipaddress.IPv4Address(giaddr).packed

    async def exchange(kind: int, want: int, extra: dict[int, bytes]) -> Packet:
        data = Packet(xid=xid, giaddr=gi, hops=1, chaddr=chaddr,
                      options={53: bytes((kind,)), **pxe, **extra}).encode()
        for wait in (4.0, 8.0, 16.0, 32.0):  # PXE 2.1: the ROM's DHCP timeouts
            assert relay.transport is not None
            relay.transport.sendto(data, (server, 67))
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                try:
                    pkt = await asyncio.wait_for(q.get(), left)
                except TimeoutError:
                    break
                if pkt.msg_type == want:
                    return pkt
        raise Failed(f"dhcp: no {'OFFER' if want == OFFER else 'ACK'}")

    try:
        offer = await exchange(DISCOVER, OFFER, {})
        ack = await exchange(REQUEST, ACK, {50: offer.yiaddr, 54: offer.options[54]})
    finally:
        del relay.waiting[xid]
    return ack


class TftpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.q: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.q.put_nowait((data, addr))


async def tftp(server: str, path: str, blksize: int = 1456) -> int | None:
    """Bytes received; None when the server says the file is not there (error 1)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(TftpClient, family=socket.AF_INET)
    try:
        rrq = (b"\0\1" + path.encode() + b"\0octet\0blksize\0" + str(blksize).encode()
               + b"\0tsize\0" + b"0\0")
        last, dest, got, expect, size = rrq, (server, 69), 0, 1, blksize
        tries = 0
        transport.sendto(last, dest)
        while True:
            try:
                data, peer = await asyncio.wait_for(proto.q.get(), 1.0)
            except TimeoutError:
                tries += 1
                if tries > 5:
                    raise Failed(f"tftp {path}: timed out") from None
                transport.sendto(last, dest)
                continue
            op = data[1] if len(data) >= 4 else 0
            if op == 5:
                code = struct.unpack("!H", data[2:4])[0]
                if code == 1:
                    return None
                raise Failed(f"tftp {path}: error {code} {data[4:-1]!r}")
            if op == 6:  # OACK
                opts = data[2:].split(b"\0")
                d = dict(zip(opts[0::2], opts[1::2], strict=False))
                size = int(d.get(b"blksize", b"512"))
                dest, last, tries = peer, b"\0\4\0\0", 0
                transport.sendto(last, dest)
                continue
            if op != 3:
                continue
            block = struct.unpack("!H", data[2:4])[0]
            if expect == 1 and dest[1] == 69:
                dest, size = peer, 512  # no OACK: RFC 1350 defaults
            if block == expect & 0xFFFF:
                got += len(data) - 4
                last, tries = b"\0\4" + data[2:4], 0
                transport.sendto(last, dest)
                if len(data) - 4 < size:
                    return got
                expect += 1
            else:
                transport.sendto(last, dest)
    finally:
        transport.close()


async def http_get(url: str) -> int:
    u = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
    try:
        writer.write(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n"
                     .encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise Failed(f"http {u.path}: {status.decode()}")
        length = None
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        got = 0
        while chunk := await reader.read(1 << 20):
            got += len(chunk)
        if length is not None and got != length:
            raise Failed(f"http {u.path}: {got} of {length} bytes")
        return got
    finally:
        writer.close()


async def client(args: argparse.Namespace, relay: Relay, mac: str, t0: float,
                 phases: dict[str, list[float]]) -> tuple[float, int]:
    t = time.monotonic()
    ack = await dhcp(relay, args.server, args.giaddr, mac)
    phases["dhcp"].append(time.monotonic() - t)
    t = time.monotonic()
    boot_server = socket.inet_ntoa(ack.siaddr) if ack.siaddr != bytes(4) else args.server
    bootfile = ack.file.rstrip(b"\0").decode() or "pxelinux.0"
    total = await tftp(boot_server, bootfile) or 0
    if total == 0:
        raise Failed(f"tftp {bootfile}: not found")
    cfg = await tftp(boot_server, f"pxelinux.cfg/01-{mac.replace(':', '-')}")
    if cfg is None:
        cfg = await tftp(boot_server, "pxelinux.cfg/default")
        if cfg is None:
            raise Failed("tftp pxelinux.cfg: not found")
    total += cfg
    phases["tftp"].append(time.monotonic() - t)
    t = time.monotonic()
    for path in (args.kernel, args.initrd):
        total += await http_get(args.http.rstrip("/") + path)
    phases["http"].append(time.monotonic() - t)
    t = time.monotonic()
    total += await http_get(args.http.rstrip("/") + args.ks.format(mac=mac))
    phases["kickstart"].append(time.monotonic() - t)
    return time.monotonic() - t0, total


async def main_async(args: argparse.Namespace) -> dict:
    macs = Path(args.macs).read_text().split()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 << 20)
    sock.bind((args.giaddr, 67))
    _, relay = await loop.create_datagram_endpoint(Relay, sock=sock)
    if args.start:
        await asyncio.sleep(max(0.0, args.start - time.time()))
    t0 = time.monotonic()
    phases: dict[str, list[float]] = {"dhcp": [], "tftp": [], "http": [], "kickstart": []}

    async def one(mac: str) -> tuple[float, int] | str:
        try:
            return await asyncio.wait_for(client(args, relay, mac, t0, phases), args.timeout)
        except (Failed, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            return f"{type(exc).__name__}: {exc}"[:80]

    results = await asyncio.gather(*(one(m) for m in macs))
    done = sorted(r[0] for r in results if isinstance(r, tuple))
    errors: dict[str, int] = {}
    for r in results:
        if isinstance(r, str):
            errors[r] = errors.get(r, 0) + 1

    def pct(p: float) -> float | None:
        return round(done[min(len(done) - 1, int(p * len(done)))], 3) if done else None

    return {"clients": len(macs), "ok": len(done), "failed": len(macs) - len(done),
            "errors": errors, "all_done_s": round(done[-1], 3) if done else None,
            "p50_s": pct(0.5), "p99_s": pct(0.99),
            "bytes": sum(r[1] for r in results if isinstance(r, tuple)),
            "phase_p50_s": {k: round(sorted(v)[len(v) // 2], 3) for k, v in phases.items() if v},
            "times": [round(t, 3) for t in done],
            "phases": {k: [round(t, 3) for t in v] for k, v in phases.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--giaddr", required=True)
    ap.add_argument("--macs", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--ks", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--start", type=float, default=0.0, help="wall-clock start (time.time())")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
