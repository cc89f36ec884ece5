"""Change-to-visible latency: change a system through the API, then ask the protocol until the
answer shows it. Run inside the client namespace by the benchmarks.

    python bench/visible.py tftp BASE_URL TOKEN TFTP_SERVER SYSTEM MAC [--count 20]
    python bench/visible.py dhcp BASE_URL TOKEN DHCP_SERVER SYSTEM MAC --giaddr IP
        --ips IP1,IP2 [--count 20]

``tftp``: toggles the system's ``netboot_enabled`` and fetches ``pxelinux.cfg/01-<mac>`` until it
shows (or stops showing) ``LOCALBOOT``. ``dhcp``: moves the system's reserved address between two
IPs and sends relay-style DISCOVERs until the OFFER carries the new one. The latency is from the
moment the API answered (the write committed) to the first answer showing the change; the
report also counts how often the very first request after the API answer already saw it.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import struct
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.proto.dhcp.codec import DISCOVER, OFFER  # noqa: E402
from tests.net.dhcp_probe import _exchange, _pkt, relay_socket  # noqa: E402


def patch(base: str, token: str, system: str, body: dict) -> None:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    conn.request("PATCH", f"/api/v1/systems/{system}", json.dumps(body),
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"PATCH {system}: HTTP {resp.status}")


def tftp_get(server: str, path: str, timeout: float = 2.0) -> bytes:
    """A minimal lock-step RRQ (small files only)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(b"\0\1" + path.encode() + b"\0octet\0", (server, 69))
        out, expect = b"", 1
        while True:
            data, peer = s.recvfrom(65536)
            op, block = struct.unpack("!HH", data[:4])
            if op == 5:
                return b""
            if op == 3 and block == expect:
                out += data[4:]
                s.sendto(struct.pack("!HH", 4, block), peer)
                if len(data) - 4 < 512:
                    return out
                expect += 1
    except TimeoutError:
        return b""
    finally:
        s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["tftp", "dhcp"])
    ap.add_argument("base_url")
    ap.add_argument("token")
    ap.add_argument("server")
    ap.add_argument("system")
    ap.add_argument("mac")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--giaddr")
    ap.add_argument("--ips", default="")
    args = ap.parse_args()
    lat, first = [], 0
    sock = relay_socket(args.giaddr) if args.mode == "dhcp" else None
    ips = args.ips.split(",")
    for i in range(args.count):
        if args.mode == "tftp":
            netboot = i % 2 == 1
            patch(args.base_url, args.token, args.system, {"netboot_enabled": netboot})

            def seen(netboot: bool = netboot) -> bool:
                text = tftp_get(args.server, f"pxelinux.cfg/01-{args.mac.replace(':', '-')}")
                return bool(text) and ((b"LOCALBOOT" in text) != netboot)
        else:
            want = ips[i % 2]
            patch(args.base_url, args.token, args.system,
                  {"interfaces": [{"mac": args.mac, "ip": want}]})

            def seen(want: str = want) -> bool:
                xid = random.getrandbits(32)
                assert sock is not None
                reply = _exchange(sock, _pkt(DISCOVER, args.mac, xid, args.giaddr),
                                  (args.server, 67), xid, (OFFER,), time.monotonic() + 2)
                return reply is not None and socket.inet_ntoa(reply.yiaddr) == want
        t0 = time.perf_counter()
        tries = 0
        while True:
            tries += 1
            if seen():
                break
            if time.perf_counter() - t0 > 10:
                raise SystemExit(f"change {i} not visible after 10 s")
        lat.append(time.perf_counter() - t0)
        first += tries == 1
        time.sleep(0.05 + random.random() * 0.05)
    lat.sort()
    print(json.dumps({"mode": args.mode, "changes": len(lat), "first_request_saw_it": first,
                      "p50_ms": round(1000 * lat[len(lat) // 2], 2),
                      "max_ms": round(1000 * lat[-1], 2)}), flush=True)


if __name__ == "__main__":
    main()
