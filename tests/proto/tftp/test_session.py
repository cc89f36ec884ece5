"""TftpSession driven by scripted datagrams and a fake clock (no sockets, no sleeping)."""

from __future__ import annotations

import logging

import pytest

from provisioner.content.base import BytesResponse, Forbidden
from provisioner.errors import Invalid, NotFound
from provisioner.proto.tftp.codec import (
    Ack,
    Data,
    Error,
    ErrorCode,
    OptionAck,
    ReadRequest,
    WriteRequest,
    decode,
)
from provisioner.proto.tftp.session import SessionConfig, State, TftpSession


class Tracking(BytesResponse):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


def session(data: bytes = b"", config: SessionConfig | None = None) -> tuple[TftpSession, Tracking]:
    content = Tracking(data)
    return TftpSession(lambda path: content, config or SessionConfig()), content


def rrq(s: TftpSession, now: float = 0.0, mode: str = "octet", **options: str) -> list:
    return [decode(d) for d in s.receive(ReadRequest("f", mode, dict(options)).encode(), now)]


def ack(s: TftpSession, block: int, now: float) -> list:
    return [decode(d) for d in s.receive(Ack(block).encode(), now)]


def run_lockstep(s: TftpSession, first: list, start: float = 0.0, step: float = 0.001) -> bytes:
    """Acknowledge every DATA block as a well-behaved RFC 1350 client; returns the payload."""
    got, now, pending = [], start, first
    while pending:
        (pkt,) = pending
        now += step
        if isinstance(pkt, OptionAck):
            pending = ack(s, 0, now)
            continue
        assert isinstance(pkt, Data), pkt
        got.append(pkt.payload)
        pending = ack(s, pkt.block, now)
    return b"".join(got)


def test_plain_octet_transfer() -> None:
    s, content = session(b"x" * 1300)
    first = rrq(s)
    assert first == [Data(1, b"x" * 512)]
    assert run_lockstep(s, first) == b"x" * 1300
    assert s.state is State.DONE and content.closed
    st = s.stats()
    assert (st.outcome, st.bytes_sent, st.blocks, st.retransmits) == ("done", 1300, 3, 0)


def test_size_multiple_of_blksize_ends_with_empty_block() -> None:
    s, _ = session(b"y" * 1024)
    rrq(s)
    ack(s, 1, 0.1)
    assert ack(s, 2, 0.2) == [Data(3, b"")]
    assert ack(s, 3, 0.3) == [] and s.state is State.DONE


def test_empty_file() -> None:
    s, _ = session(b"")
    assert rrq(s) == [Data(1, b"")]
    ack(s, 1, 0.1)
    assert s.state is State.DONE


NEGOTIATION = [
    ("blksize and tsize", {"blksize": "1024", "tsize": "0"}, {"blksize": "1024", "tsize": "3000"}),
    ("blksize clamped to the cap", {"blksize": "65464"}, {"blksize": "1468"}),
    ("blksize below 8 ignored", {"blksize": "4"}, {}),
    ("blksize above 65464 ignored", {"blksize": "65465"}, {}),
    ("timeout accepted", {"timeout": "3"}, {"timeout": "3"}),
    ("timeout out of range ignored", {"timeout": "0"}, {}),
    ("windowsize clamped", {"windowsize": "500"}, {"windowsize": "64"}),
    ("unknown and non-numeric options ignored", {"multicast": "", "blksize": "big"}, {}),
]


@pytest.mark.parametrize("asked,granted", [c[1:] for c in NEGOTIATION],
                         ids=[c[0] for c in NEGOTIATION])
def test_option_negotiation(asked: dict, granted: dict) -> None:
    s, _ = session(b"z" * 3000)
    first = rrq(s, **asked)
    if granted:
        assert first == [OptionAck(granted)] and s.state is State.NEGOTIATING
        blksize = int(granted.get("blksize", 512))
        assert ack(s, 0, 0.01)[0] == Data(1, b"z" * min(blksize, 3000))
    else:
        assert first == [Data(1, b"z" * 512)]


def test_blksize_respects_path_mtu_cap() -> None:
    s, _ = session(b"a" * 100, SessionConfig(max_blksize=1432))
    assert rrq(s, blksize="9000") == [OptionAck({"blksize": "1432"})]


def test_block_numbers_roll_over_past_65535() -> None:
    data = bytes(range(256)) * ((70000 * 8) // 256 + 1)
    s, _ = session(data, SessionConfig(max_blksize=8))
    first = rrq(s, blksize="8")
    wire_blocks = []
    got, pending, now = [], first, 0.0
    pending = ack(s, 0, 0.0)
    while pending:
        (pkt,) = pending
        wire_blocks.append(pkt.block)
        got.append(pkt.payload)
        now += 1e-4
        pending = ack(s, pkt.block, now)
    assert b"".join(got) == data and s.state is State.DONE
    assert wire_blocks[65534:65538] == [65535, 0, 1, 2]


def test_duplicate_ack_in_lockstep_is_ignored() -> None:
    """No sorcerer's apprentice: a re-sent ACK must not double the DATA stream."""
    s, _ = session(b"q" * 2000)
    rrq(s)
    assert ack(s, 1, 0.01) == [Data(2, b"q" * 512)]
    assert ack(s, 1, 0.50) == []
    assert ack(s, 2, 0.51) == [Data(3, b"q" * 512)]


def test_stale_ack_after_rollover_is_not_progress() -> None:
    s, _ = session(b"w" * 5000)
    rrq(s)
    ack(s, 1, 0.01)
    assert ack(s, 9, 0.02) == []  # never sent: ignored
    assert ack(s, 65535, 0.03) == []  # "before" block 1: ignored
    assert s.stats().blocks == 1


def test_window_sends_windowsize_blocks_per_ack() -> None:
    s, _ = session(bytes(512 * 10), SessionConfig())
    rrq(s, windowsize="4")
    assert [p.block for p in ack(s, 0, 0.01)] == [1, 2, 3, 4]
    assert [p.block for p in ack(s, 4, 0.02)] == [5, 6, 7, 8]


def test_window_gap_is_resent_at_once() -> None:
    """An ACK short of the last block sent, once those blocks had time to arrive, means they
    were lost: resend them without waiting for the timer."""
    s, _ = session(bytes(512 * 10))
    rrq(s, windowsize="4")
    ack(s, 0, 0.01)  # round trip ~10 ms; blocks 1-4 out at 10 ms
    out = ack(s, 2, 0.05)
    assert [p.block for p in out] == [3, 4, 5, 6]
    assert s.stats().retransmits == 2


def test_early_partial_ack_only_slides_the_window() -> None:
    """A partial ACK sooner than a round trip after the blocks went out is a reaction to a
    duplicate or reordered packet, not a loss report: slide, do not resend (no cascade)."""
    s, _ = session(bytes(512 * 10))
    rrq(s, windowsize="4")
    ack(s, 0, 0.01)
    assert [p.block for p in ack(s, 2, 0.012)] == [5, 6]
    assert s.stats().retransmits == 0


def test_one_gap_resend_until_it_is_acknowledged() -> None:
    s, _ = session(bytes(512 * 20))
    rrq(s, windowsize="4")
    ack(s, 0, 0.01)
    assert [p.block for p in ack(s, 1, 0.05)] == [2, 3, 4, 5]  # gap: resend 2-4, send 5
    assert [p.block for p in ack(s, 2, 0.10)] == [6]  # still recovering: slide only
    assert [p.block for p in ack(s, 6, 0.12)] == [7, 8, 9, 10]


def test_window_duplicate_acks_cause_one_resend() -> None:
    s, _ = session(bytes(512 * 20))
    rrq(s, windowsize="4")
    ack(s, 0, 0.010)
    ack(s, 4, 0.020)  # rtt sample ~10 ms; blocks 5-8 out
    assert ack(s, 4, 0.021) == []  # duplicate too soon after sending: still in flight
    resent = ack(s, 4, 0.060)  # a round trip later, still stuck at 4: resend the window
    assert [p.block for p in resent] == [5, 6, 7, 8]
    assert ack(s, 4, 0.061) == []  # the burst of duplicates does not multiply it


def test_retransmit_backs_off_then_gives_up() -> None:
    s, _ = session(b"r" * 600, SessionConfig(initial_rto=0.5, max_rto=2.0, give_up=10.0))
    rrq(s, now=0.0)
    times = []
    now = 0.0
    while not s.finished and now < 60:
        now = s.deadline
        out = [decode(d) for d in s.poll(now)]
        times.append(round(now, 3))
        if s.finished:
            assert out == [Error(ErrorCode.NOT_DEFINED, "transfer timed out")]
        else:
            assert out == [Data(1, b"r" * 512)]
    assert times[:4] == [0.5, 1.5, 3.5, 5.5]  # 1 s, 2 s, then capped at max_rto
    assert s.stats().outcome == "timeout" and times[-1] >= 10.0


def test_poll_before_deadline_does_nothing() -> None:
    s, _ = session(b"r" * 600)
    rrq(s, now=0.0)
    assert s.poll(0.1) == []


def test_oack_is_retransmitted() -> None:
    s, _ = session(b"r" * 600)
    first = rrq(s, now=0.0, tsize="0")
    assert [decode(d) for d in s.poll(s.deadline)] == first


def test_negotiated_timeout_caps_the_interval() -> None:
    s, _ = session(b"r" * 600, SessionConfig(initial_rto=0.5, max_rto=8.0))
    rrq(s, now=0.0, timeout="1")
    times = [s.deadline]
    for _ in range(3):
        s.poll(s.deadline)
        times.append(s.deadline)
    assert times == pytest.approx([0.5, 1.5, 3.5, 5.5])  # ceiling 2 x timeout


def test_adaptive_timeout_follows_the_round_trip() -> None:
    s, _ = session(b"r" * 5000, SessionConfig(initial_rto=1.0, min_rto=0.02))
    rrq(s, now=0.0)
    now = 0.0
    for block in range(1, 6):
        now += 0.001
        ack(s, block, now)
    assert s.deadline - now < 0.05  # a lost ACK costs tens of ms, not a full second


def test_write_request_refused() -> None:
    s, _ = session()
    out = [decode(d) for d in s.receive(WriteRequest("x").encode(), 0.0)]
    assert out == [Error(ErrorCode.ACCESS_VIOLATION, "read-only server: writes are refused")]
    assert s.state is State.FAILED


@pytest.mark.parametrize("wire", [b"\x00\x01nul-terminated-not", b"\x00\x04\x00\x01"],
                         ids=["malformed request", "ack as first packet"])
def test_bad_first_packet_is_illegal_operation(wire: bytes) -> None:
    s, _ = session()
    (err,) = [decode(d) for d in s.receive(wire, 0.0)]
    assert err.code == ErrorCode.ILLEGAL_OPERATION and s.state is State.FAILED


def _raises(exc: Exception):
    def opener(path: str):
        raise exc
    return opener


CONTENT_ERRORS = [
    ("not found", NotFound("nope"), ErrorCode.FILE_NOT_FOUND),
    ("forbidden path", Forbidden("path contains '..'"), ErrorCode.ACCESS_VIOLATION),
    ("invalid name", Invalid("bad MAC"), ErrorCode.NOT_DEFINED),
    ("server bug", RuntimeError("boom"), ErrorCode.NOT_DEFINED),
]


@pytest.mark.parametrize("exc,code", [c[1:] for c in CONTENT_ERRORS],
                         ids=[c[0] for c in CONTENT_ERRORS])
def test_content_errors_map_to_codes(exc: Exception, code: int, caplog) -> None:
    s = TftpSession(_raises(exc), peer=("10.0.0.9", 2000))
    with caplog.at_level(logging.INFO, "provisioner.tftp"):
        (err,) = [decode(d) for d in s.receive(ReadRequest("f").encode(), 0.0)]
    assert err.code == code and s.stats().outcome == "error"
    if code == ErrorCode.ACCESS_VIOLATION:
        assert "refused 'f' from 10.0.0.9:2000" in caplog.text
    assert "boom" not in err.message  # internals never leak to the peer


def test_peer_error_aborts_quietly() -> None:
    """PXE ROMs probe tsize and then abort with an ERROR: no reply, content closed."""
    s, content = session(b"k" * 100)
    rrq(s, tsize="0")
    assert s.receive(Error(0, "TFTP Aborted").encode(), 0.1) == []
    assert s.stats().outcome == "aborted" and content.closed and s.deadline is None


def test_netascii_converts_line_ends_and_reports_converted_size() -> None:
    s, _ = session(b"a\nb\rc\n")
    assert rrq(s, mode="netascii", tsize="0") == [OptionAck({"tsize": "9"})]
    assert ack(s, 0, 0.01) == [Data(1, b"a\r\nb\r\0c\r\n")]


def test_packets_after_the_end_are_ignored() -> None:
    s, _ = session(b"")
    rrq(s)
    ack(s, 1, 0.1)
    assert s.receive(Ack(1).encode(), 0.2) == [] and s.poll(99.0) == []


# What real firmware and loaders ask for, and the window each one gets.
FIRMWARE = [
    ("OVMF (EDK2 MTFTP): windowsize 4", {"blksize": "1468", "windowsize": "4", "tsize": "0"},
     {"blksize": "1468", "windowsize": "4", "tsize": "20000"}, 1468, 4),
    ("shim/GRUB: blksize 512, no windowsize", {"blksize": "512", "tsize": "0"},
     {"blksize": "512", "tsize": "20000"}, 512, 1),
    ("iPXE: blksize 1432, lock-step", {"blksize": "1432"}, {"blksize": "1432"}, 1432, 1),
    ("PXELINUX: tsize and blksize 1456", {"tsize": "0", "blksize": "1456"},
     {"tsize": "20000", "blksize": "1456"}, 1456, 1),
]


@pytest.mark.parametrize("asked,granted,blksize,window", [c[1:] for c in FIRMWARE],
                         ids=[c[0] for c in FIRMWARE])
def test_firmware_gets_the_window_it_negotiated(asked: dict, granted: dict, blksize: int,
                                                window: int) -> None:
    data = bytes(range(256)) * 78 + b"tail" * 8  # 20,000 bytes
    s, _ = session(data)
    assert rrq(s, **asked) == [OptionAck(granted)]
    burst = ack(s, 0, 0.01)
    assert [p.block for p in burst] == list(range(1, window + 1))  # exactly the window
    assert all(len(p.payload) == blksize for p in burst)
    got, now, block = [p.payload for p in burst], 0.01, window
    while not s.finished:
        now += 0.001
        burst = ack(s, block, now)
        assert len(burst) <= window
        got += [p.payload for p in burst]
        block = burst[-1].block if burst else block
    assert b"".join(got) == data and s.state is State.DONE
    assert s.stats().bytes_sent == len(data) and s.stats().blocks == len(data) // blksize + 1
