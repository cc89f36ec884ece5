"""Test-only DHCP client built on our codec, run inside a client namespace by the tests.

    python -m tests.net.dhcp_probe one HEX [--ifname eth0]
        broadcast one request (from 0.0.0.0:68, broadcast flag set by the caller) and print the
        first reply's hex (or "TIMEOUT"); --dest/--port send it elsewhere (e.g. port 4011).
    python -m tests.net.dhcp_probe dora --server IP --giaddr IP --count N --out FILE [--prefix P]
        relay-style DISCOVER/REQUEST for N MACs (from giaddr:67, like perfdhcp), appending
        "mac ip" to FILE (fsync'ed) for every ACK; retries each step for up to 60 s (--wait) so
        it rides out a server restart; exits "NO OFFER for MAC" when one never comes.
    python -m tests.net.dhcp_probe reboot --server IP --giaddr IP --infile FILE
        INIT-REBOOT REQUEST for every "mac ip" in FILE; print "ACK mac ip" / "NAK mac ip".
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import socket
import sys
import time

from provisioner.proto.dhcp.codec import ACK, DISCOVER, NAK, OFFER, REQUEST, Packet, decode
from provisioner.proto.errors import PeerError


def _pkt(kind: int, mac: str, xid: int, giaddr: str, **opts: bytes) -> bytes:
    options = {53: bytes((kind,)), **{int(k[1:]): v for k, v in opts.items()}}
    return Packet(xid=xid, giaddr=ipaddress.IPv4Address(giaddr).packed, hops=1,
                  chaddr=bytes.fromhex(mac.replace(":", "")).ljust(16, b"\0"),
                  options=options).encode()


def _exchange(sock: socket.socket, data: bytes, dest: tuple[str, int], xid: int,
              want: tuple[int, ...], deadline: float) -> Packet | None:
    while time.monotonic() < deadline:
        sock.sendto(data, dest)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                raw, _ = sock.recvfrom(4096)
                reply = decode(raw)
            except (TimeoutError, PeerError):
                continue
            if reply.xid == xid and reply.msg_type in want:
                return reply
    return None


def relay_socket(giaddr: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((giaddr, 67))
    return sock


def dora(args: argparse.Namespace) -> None:
    sock = relay_socket(args.giaddr)
    dest = (args.server, 67)
    with open(args.out, "a") as out:
        for i in range(args.count):
            mac = f"{args.prefix}:{i >> 8:02x}:{i & 0xff:02x}"
            xid = random.getrandbits(32)
            deadline = time.monotonic() + args.wait
            offer = _exchange(sock, _pkt(DISCOVER, mac, xid, args.giaddr), dest, xid, (OFFER,),
                              deadline)
            if offer is None:
                sys.exit(f"NO OFFER for {mac}")
            req = _pkt(REQUEST, mac, xid, args.giaddr, o50=offer.yiaddr, o54=offer.options[54])
            ack = _exchange(sock, req, dest, xid, (ACK, NAK), deadline)
            if ack is None or ack.msg_type != ACK:
                continue  # NAK (e.g. the offer did not survive a restart): a later MAC moves on
            out.write(f"{mac} {ipaddress.IPv4Address(ack.yiaddr)}\n")
            out.flush()
            os.fsync(out.fileno())
    print("DONE", flush=True)


def reboot(args: argparse.Namespace) -> None:
    sock = relay_socket(args.giaddr)
    for line in open(args.infile):
        mac, ip = line.split()
        xid = random.getrandbits(32)
        reply = _exchange(sock, _pkt(REQUEST, mac, xid, args.giaddr,
                                     o50=ipaddress.IPv4Address(ip).packed),
                          (args.server, 67), xid, (ACK, NAK), time.monotonic() + 20)
        kind = "NONE" if reply is None else "ACK" if reply.msg_type == ACK else "NAK"
        got = ipaddress.IPv4Address(reply.yiaddr) if reply is not None else "-"
        print(kind, mac, ip, got, flush=True)


def one(args: argparse.Namespace) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.ifname.encode())
    host, _, port = args.bind.partition(":")
    sock.bind((host, int(port or 68)))
    data = bytes.fromhex(args.hex)
    xid = decode(data).xid
    reply = _exchange(sock, data, (args.dest, args.port), xid, (OFFER, ACK, NAK),
                      time.monotonic() + args.timeout)
    print(reply.encode().hex() if reply else "TIMEOUT", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["one", "dora", "reboot"])
    ap.add_argument("hex", nargs="?")
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--server")
    ap.add_argument("--giaddr")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--out")
    ap.add_argument("--infile")
    ap.add_argument("--prefix", default="02:00:00:00")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--wait", type=float, default=60, help="dora: seconds per client")
    ap.add_argument("--dest", default="255.255.255.255", help="one: where to send")
    ap.add_argument("--port", type=int, default=67, help="one: server port (4011 for PXE)")
    ap.add_argument("--bind", default=":68", help="one: local IP:PORT (a relay uses giaddr:67)")
    args = ap.parse_args()
    {"one": one, "dora": dora, "reboot": reboot}[args.mode](args)


if __name__ == "__main__":
    main()
