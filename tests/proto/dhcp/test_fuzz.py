"""Malformed packets from a fuzzer never crash the core nor corrupt the lease table/journal."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.proto.dhcp.codec import DISCOVER, REQUEST
from provisioner.proto.dhcp.leases import LeaseTable, decode_record, encode_record

from .helpers import BIOS_PXE, META, SERVER, make_core, request

DATA = Path(__file__).parent / "data"
SEEDS = [bytes.fromhex(p.read_text()) for p in sorted(DATA.glob("*.hex"))] + [
    request(DISCOVER, "02:00:00:00:00:01", opts=BIOS_PXE),
    request(REQUEST, "02:00:00:00:00:01", requested="10.1.1.10", server_id=SERVER),
    request(REQUEST, "02:00:00:00:00:02", ciaddr="10.1.1.11"),
]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "option"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=64))
        else:  # a random option at the start of the options area (overload, lengths...)
            data[240:240] = bytes([draw(st.sampled_from([50, 52, 53, 54, 60, 77, 82, 93, 255])),
                                   draw(st.integers(0, 255))]) + draw(st.binary(max_size=8))
    return bytes(data)


def check_consistent(table: LeaseTable) -> None:
    for mac, lease in table.by_mac.items():
        assert lease.mac == mac and table.by_ip.get(lease.ip) is lease
    bound: dict[int, str] = {}
    for lease in table.by_ip.values():
        assert 0 <= lease.ip < 2**32
        if lease.state == "bound":
            assert bound.setdefault(lease.ip, lease.mac) == lease.mac
    for lease in table.drain():
        assert decode_record(encode_record(lease)) == lease


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), st.binary(max_size=600)), min_size=1, max_size=12))
def test_fuzzed_packets_never_crash_or_corrupt(packets: list[bytes]) -> None:
    core, _ = make_core(policy="menu")
    for i, data in enumerate(packets):
        core.handle(data, META, 1000.0 + i)  # returns a Reply or None; must not raise
        check_consistent(core.leases)


@given(st.text(max_size=80))
def test_journal_decoder_rejects_garbage_lines(line: str) -> None:
    lease = decode_record(line)
    assert lease is None or encode_record(lease) == line or lease.hostname is not None
