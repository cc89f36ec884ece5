"""10^5 random and mutated DHCPv6 messages never crash the core nor corrupt its bindings.

Deterministic (seeded) so a failure reproduces: structured messages built from the option codes
the server reads (IA_NA with addresses in and out of the pool, DUIDs of every length, vendor
class, architectures, user class, relays nested up to past the hop limit, Rapid Commit, ...),
then byte-level mutations (flip, cut, insert, truncate), plus raw random datagrams and the
captured real clients' messages mutated. After every message the lease table must be
consistent, and every reply must decode and be addressed to the sender.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.leases import LeaseTable
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.codec import Message, RelayMessage, decode
from provisioner.proto.dhcp6.core import Meta6
from provisioner.proto.dhcp6.leases import decode_record, encode_record
from tests.proto.dhcp6.helpers import DATA, MAC, META, SERVER_DUID, core

PACKETS = 100_000
CODES = [o.CLIENTID, o.SERVERID, o.IA_NA, o.IA_TA, o.IA_PD, o.ORO, o.ELAPSED_TIME,
         o.RAPID_COMMIT, o.USER_CLASS, o.VENDOR_CLASS, o.CLIENT_ARCH, o.NII, o.CLIENT_FQDN,
         o.RELAY_MSG, o.INTERFACE_ID, o.CLIENT_LINKLAYER, o.STATUS_CODE, 0, 65535]
SEEDS = [bytes.fromhex(p.read_text().split()[1]) for p in sorted(DATA.glob("*.hex"))]


def _addr(rng: random.Random) -> int:
    return rng.choice([int(ipaddress.IPv6Address("fd00:77::100")) + rng.randrange(300),
                       int(ipaddress.IPv6Address("fd00:77::42")), rng.getrandbits(128), 0])


def _value(rng: random.Random, code: int) -> bytes:
    if code in (o.CLIENTID, o.SERVERID):
        return rng.choice([SERVER_DUID, o.duid_ll(MAC), rng.randbytes(rng.randrange(0, 140))])
    if code in (o.IA_NA, o.IA_TA, o.IA_PD) and rng.random() < 0.3:  # odd sub-options
        subs = [(rng.choice([o.IAADDR, o.STATUS_CODE, o.IAPREFIX, 99]),
                 rng.randbytes(rng.randrange(0, 30))) for _ in range(rng.randrange(3))]
        return rng.randbytes(rng.choice([0, 4, 12])) + codec.encode_options(subs)
    if code == o.IA_NA:
        addrs = [o.IaAddress(_addr(rng), rng.getrandbits(32), rng.getrandbits(32))
                 for _ in range(rng.randrange(4))]
        return o.build_ia_na(rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32), addrs)
    if code == o.VENDOR_CLASS:
        return o.build_vendor_class(rng.choice(["PXEClient:Arch:00007:UNDI:003016",
                                                "HTTPClient:Arch:00016", "PXEClient:Arch:",
                                                "HTTPClient:Arch:00019", "x" * 300]))
    if code == o.CLIENT_ARCH:
        return rng.getrandbits(16).to_bytes(2, "big") * rng.randrange(0, 3) + rng.randbytes(
            rng.randrange(2))
    if code == o.USER_CLASS:
        return rng.choice([b"\x00\x04iPXE", b"\x00\x09iPXE", rng.randbytes(rng.randrange(8))])
    if code == o.RELAY_MSG:
        return _message(rng, depth=1)
    return rng.randbytes(rng.randrange(0, 40))


def _message(rng: random.Random, depth: int = 0) -> bytes:
    opts = tuple((c, _value(rng, c)) for c in rng.choices(CODES, k=rng.randrange(0, 9))
                 if depth < 3 or c != o.RELAY_MSG)
    kind = rng.randrange(0, 16)
    if kind in (codec.RELAY_FORW, codec.RELAY_REPL) and depth < 40:
        inner = _message(rng, depth + 1)
        return RelayMessage(kind, rng.randrange(0, 40), rng.randbytes(16),
                            rng.randbytes(16), ((o.RELAY_MSG, inner), *opts[:2])).encode()
    return Message(kind, rng.randbytes(3), opts).encode()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(0, 6)):
        pos = rng.randrange(0, len(buf) + 1)
        op = rng.randrange(4)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.getrandbits(8)
        elif op == 1:
            del buf[pos:pos + rng.randrange(1, 32)]
        elif op == 2:
            buf[pos:pos] = rng.randbytes(rng.randrange(1, 16))
        else:
            del buf[pos:]
    return bytes(buf)


def packets(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        pick = rng.random()
        if pick < 0.1:
            yield rng.randbytes(rng.randrange(0, 600))
        elif pick < 0.3 and SEEDS:
            yield _mutate(rng, rng.choice(SEEDS))
        else:
            data = _message(rng)
            yield data if rng.random() < 0.4 else _mutate(rng, data)


def check_consistent(table: LeaseTable) -> None:
    for key, lease in table.by_mac.items():
        assert lease.mac == key and table.by_ip.get(lease.ip) is lease
    bound: dict[int, str] = {}
    for lease in table.by_ip.values():
        if lease.state == "bound":
            assert bound.setdefault(lease.ip, lease.mac) == lease.mac
    for lease in table.drain():
        assert decode_record(encode_record(lease)) == lease


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzzed_messages_never_crash_or_corrupt(seed: int) -> None:
    c, _ = core(DhcpRecord(MAC, "db1", ipv6="fd00:77::42"), unknown_policy="menu",
                installed={"ipxe.efi": False})
    relay_meta = Meta6("br0", "fd00:77::fe", 547, multicast=False)
    replies = 0
    for i, data in enumerate(packets(seed, PACKETS // 2)):
        meta = relay_meta if data[:1] == b"\x0c" else META
        reply = c.handle(data, meta, 1000.0 + i // 100)  # a reply or None; never raises
        if reply is not None:
            replies += 1
            assert reply.dest_ip == meta.src_ip
            decode(reply.data)
        if i % 1000 == 0:
            check_consistent(c.leases)
    check_consistent(c.leases)
    assert replies > 1000  # the generator reaches the handlers, not only the decoder


@pytest.mark.parametrize("line", ["", "\n", "fd00::1\tk\t1\tbound\t\n", "x" * 300 + "\n",
                                  "fd00::1\tab0001/1\tinf\tbound\th\n",
                                  "fd00::1\tab000102/1\tnan\tgone\t\n"])
def test_journal_decoder_rejects_garbage_lines(line: str) -> None:
    lease = decode_record(line)
    assert lease is None or encode_record(lease) == line
