"""One TFTP read transfer as a sans-IO state machine: datagrams and ``now`` in, datagrams out.

Everything that affects a transfer's state lives here; the transport (``net/tftp.py``) only moves
bytes and calls :meth:`TftpSession.poll` when :attr:`TftpSession.deadline` passes.

Rules:

* The first datagram must be a request. An RRQ opens the content through the injected
  ``opener(path)``; a WRQ is refused (error 2, the server is read-only); anything else, or a
  malformed request, gets error 4. Content errors map once: ``NotFound`` -> 1, ``Forbidden`` ->
  2 (and a log line), anything else -> 0.
* Options (RFC 2347): ``blksize`` 8..65464 is clamped to ``SessionConfig.max_blksize`` (the path
  MTU and the configured cap, worked out by the transport); ``tsize`` is answered with the real
  size; ``timeout`` 1..255 s caps the retransmit interval; ``windowsize`` (RFC 7440) is clamped to
  ``max_windowsize``. Unknown or out-of-range options are left out of the OACK. With no accepted
  option the transfer starts at DATA 1 (RFC 1350 behaviour), else with an OACK that ACK 0 confirms.
* Blocks are numbered from 1 without bound inside the session; on the wire they roll over past
  65535 to 0. An ACK is mapped back to the absolute number nearest above the last acknowledged
  block, so a stale ACK from before a rollover can never be taken for progress.
* Sending: up to ``windowsize`` blocks are in flight. An ACK for block k frees everything up to k
  and the next window starts at k+1 (RFC 7440): when k is short of the last block sent, the client
  reported a gap, and the missing blocks are resent at once instead of after a timeout. Until
  the last block of that resend is acknowledged, further partial ACKs only advance the window (a
  "recovery point" as in TCP NewReno): duplicated or reordered DATA makes clients send more
  partial ACKs, and answering each with a resend would feed on itself; the retransmit timer
  still covers a resent block that is lost again.
* Duplicate ACKs (no progress) are ignored in lock-step (no sorcerer's apprentice, RFC 1123
  4.2.3.1). With a window they trigger one immediate resend of the window, and only when its first
  block was last sent more than about one round trip ago, so a burst of duplicates causes one
  resend, not one each.
* Retransmission: the timeout is adaptive (smoothed RTT + 4 x variance, Karn's rule: no samples
  from resent blocks), starts at ``initial_rto``, doubles on every timeout (back-off) up to
  ``max_rto`` (twice the negotiated ``timeout``), and the transfer gives up with error 0 after
  ``give_up`` seconds without progress. The ceiling must exceed the client's own timeout: atftp
  answers only the first duplicate of a block with an ACK and ignores the rest, each of which
  restarts its timer, so only a silence longer than its timeout makes it re-send a lost ACK.
* The transfer is DONE when the block shorter than ``blksize`` (possibly empty) is acknowledged.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from provisioner.content.base import ResponseData
from provisioner.content.netascii import NetasciiResponse
from provisioner.errors import Forbidden, Invalid, NotFound
from provisioner.proto.tftp.codec import (
    ACK,
    Ack,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    ReadRequest,
    WriteRequest,
    decode,
)

log = logging.getLogger("provisioner.tftp")

MIN_BLKSIZE, MAX_BLKSIZE, DEFAULT_BLKSIZE = 8, 65464, 512
_DATA_HEADER = struct.Struct("!HH")


class State(enum.Enum):
    IDLE = "idle"  # nothing received yet
    NEGOTIATING = "negotiating"  # OACK sent, waiting for ACK 0
    SENDING = "sending"  # DATA blocks in flight
    DONE = "done"  # last block acknowledged
    FAILED = "failed"  # error sent or received, or gave up


@dataclass(frozen=True)
class SessionConfig:
    """Limits for one transfer; the transport fills ``max_blksize`` from MTU and settings."""

    max_blksize: int = 1468
    max_windowsize: int = 64
    initial_rto: float = 1.0  # before any round trip has been measured
    min_rto: float = 0.02
    max_rto: float = 8.0  # back-off ceiling unless the client negotiated ``timeout``
    give_up: float = 40.0  # seconds without progress before the transfer is abandoned


@dataclass(frozen=True)
class TransferStats:
    """What one finished transfer did; handed to the transport's ``on_transfer_done``."""

    path: str
    outcome: str  # done | error (we refused) | aborted (peer sent ERROR) | timeout
    started: float
    finished: float
    bytes_sent: int = 0  # unique payload bytes acknowledged
    size: int | None = None
    blocks: int = 0
    retransmits: int = 0
    options: dict[str, str] = field(default_factory=dict)
    error: str = ""
    peer: tuple[str, int] | None = None

    @property
    def duration(self) -> float:
        return self.finished - self.started


Opener = Callable[[str], ResponseData]


class TftpSession:
    """The server side of one transfer; see the module docstring for the rules."""

    def __init__(self, opener: Opener, config: SessionConfig | None = None,
                 peer: tuple[str, int] | None = None) -> None:
        self.config = config or SessionConfig()
        self.state = State.IDLE
        self.peer = peer
        self._opener = opener
        self._content: ResponseData | None = None
        self.path = ""
        self.blksize = DEFAULT_BLKSIZE
        self.windowsize = 1
        self.options: dict[str, str] = {}
        self._max_rto = self.config.max_rto
        self._give_up = self.config.give_up
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._rto = self.config.initial_rto
        self._base = 1  # lowest unacknowledged block (absolute)
        self._next = 1  # next block never sent before (absolute)
        self._last: int | None = None  # absolute number of the final (short) block
        self._inflight: dict[int, bytes] = {}
        self._sent_at: dict[int, float] = {}
        self._resent: set[int] = set()
        self._recover = 0  # last block of the latest gap resend: no second one until it is acked
        self._oack = b""
        self._oack_at = 0.0
        self._progress_at = 0.0
        self._started = 0.0
        self._finished = 0.0
        self._last_len = 0  # payload bytes of the final block, once it is known
        self._packet: Callable[[int], bytes] = self._read_packet  # or content's ready packets
        self._retransmits = 0
        self._error = ""
        self._outcome = ""
        self.size: int | None = None
        self.deadline: float | None = None  # when poll() has work to do; None once finished

    # -- public API -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        """Feed one datagram from the peer; returns the datagrams to send back."""
        if self.state is State.SENDING and len(datagram) == 4 and datagram[1] == ACK \
                and datagram[0] == 0:  # fast path: the common case
            return self.ack((datagram[2] << 8) | datagram[3], now)
        try:
            packet = decode(datagram)
        except MalformedPacket as exc:
            if self.state is State.IDLE:
                self._started = now
                return self._fail(ErrorCode.ILLEGAL_OPERATION, f"illegal TFTP operation: {exc}",
                                  now)
            log.debug("tftp %s: ignoring malformed datagram: %s", self.path, exc)
            return []
        handler = TRANSITIONS.get((self.state, type(packet)))
        if handler is None:
            if self.state is State.IDLE:
                self._started = now
                return self._fail(ErrorCode.ILLEGAL_OPERATION, "expected a read request", now)
            return []  # stray DATA/OACK/RRQ mid-transfer, or anything after the end: ignore
        return handler(self, packet, now)

    def poll(self, now: float) -> list[bytes]:
        """Retransmit or give up if the deadline has passed; returns datagrams to send."""
        if self.deadline is None or now < self.deadline:
            return []
        if now - self._progress_at >= self._give_up:
            return self._fail(ErrorCode.NOT_DEFINED, "transfer timed out", now, outcome="timeout")
        self._rto = min(self._rto * 2, self._max_rto)
        if self.state is State.NEGOTIATING:
            self._oack_at = now
            self.deadline = now + self._rto
            return [self._oack]
        return self._resend_window(now)

    def stats(self) -> TransferStats:
        return TransferStats(
            path=self.path, outcome=self._outcome or self.state.value, started=self._started,
            finished=self._finished, bytes_sent=self._acked_bytes(), size=self.size,
            blocks=max(0, self._base - 1), retransmits=self._retransmits,
            options=dict(self.options), error=self._error, peer=self.peer)

    # -- transitions ------------------------------------------------------------------------

    def _start_read(self, req: ReadRequest, now: float) -> list[bytes]:
        self._started = self._progress_at = now
        self.path = req.filename
        try:
            content = self._opener(req.filename)
        except Forbidden as exc:
            log.warning("tftp: refused %r from %s: %s", req.filename, self._peer_text(), exc)
            return self._fail(ErrorCode.ACCESS_VIOLATION, f"access violation: {exc}", now)
        except (NotFound, FileNotFoundError) as exc:
            return self._fail(ErrorCode.FILE_NOT_FOUND, f"file not found: {exc}", now)
        except Invalid as exc:
            return self._fail(ErrorCode.NOT_DEFINED, str(exc), now)
        except Exception as exc:  # a bug or a render error: fail closed, never partial
            log.exception("tftp: serving %r failed", req.filename)
            return self._fail(ErrorCode.NOT_DEFINED, f"server error: {type(exc).__name__}", now)
        self._content = NetasciiResponse(content) if req.mode == "netascii" else content
        if req.mode != "netascii" or "tsize" in req.options:  # netascii sizing reads it all
            try:
                self.size = self._content.size()
            except Exception:  # noqa: BLE001 - a size we cannot know is simply not offered
                self.size = None
        self.options = self._negotiate(req.options)
        packets = getattr(self._content, "packets", None)  # ready-made packets (content/hot.py)
        if packets is not None:
            try:
                self._packet = packets(self.blksize) or self._read_packet
            except OSError:
                self._packet = self._read_packet
        if not self.options:
            self.state = State.SENDING
            return self._fill(now)
        self.state = State.NEGOTIATING
        self._oack = OptionAck(self.options).encode()
        self._oack_at = now
        self.deadline = now + self._rto
        return [self._oack]

    def _refuse_write(self, req: WriteRequest, now: float) -> list[bytes]:
        self._started = now
        self.path = req.filename
        log.info("tftp: refused write of %r from %s", req.filename, self._peer_text())
        return self._fail(ErrorCode.ACCESS_VIOLATION, "read-only server: writes are refused", now)

    def _on_oack_ack(self, ack: Ack, now: float) -> list[bytes]:
        if ack.block != 0:
            return []
        self._sample_rtt(now - self._oack_at)
        self.state = State.SENDING
        self._progress_at = now
        return self._fill(now)

    def _on_ack_packet(self, ack: Ack, now: float) -> list[bytes]:
        return self.ack(ack.block, now)

    def ack(self, wire_block: int, now: float) -> list[bytes]:
        """An ACK of ``wire_block`` while SENDING (the transport's fast path skips decoding)."""
        prev = self._base - 1
        acked = prev + ((wire_block - prev) & 0xFFFF)
        nxt = self._next
        if acked >= nxt:
            return []  # not a block we sent: stale or bogus
        if acked == prev:
            return self._on_duplicate_ack(now)
        sent_at, resent = self._sent_at, self._resent
        if not resent or acked not in resent:
            self._sample_rtt(now - sent_at[acked])
        self._progress_at = now
        if acked == nxt - 1:  # everything in flight acknowledged: the common case
            self._inflight.clear()
            sent_at.clear()
            if resent:
                resent.clear()
            self._base = nxt
            if acked == self._last:
                return self._finish(now)
            return self._fill(now)
        sent_at_first = sent_at.get(acked + 1, now)  # a partial ACK: some blocks still out
        inflight = self._inflight
        for block in range(self._base, acked + 1):
            del inflight[block]
            del sent_at[block]
            resent.discard(block)
        self._base = acked + 1
        if acked == self._last:
            return self._finish(now)
        if acked >= self._recover and \
                now - sent_at_first >= self._holdoff():  # a gap report, not a stale ACK
            self._recover = nxt - 1
            return self._resend_window(now) + self._fill(now)
        return self._fill(now)

    def _holdoff(self) -> float:
        """How long a block must have been out before an ACK short of it means it was lost."""
        srtt = self._srtt if self._srtt is not None else self._rto
        return max(srtt + 2 * self._rttvar, 0.002)

    def _on_duplicate_ack(self, now: float) -> list[bytes]:
        if self.windowsize == 1 or not self._inflight:
            return []
        if now - self._sent_at.get(self._base, now) < self._holdoff():
            return []
        return self._resend_window(now)

    def _on_peer_error(self, err: Error, now: float) -> list[bytes]:
        self._error = f"peer error {err.code}: {err.message}"
        self._end(State.FAILED, now, "aborted")
        return []

    # -- helpers ----------------------------------------------------------------------------

    def _negotiate(self, requested: dict[str, str]) -> dict[str, str]:
        accepted: dict[str, str] = {}
        for name, raw in requested.items():
            try:
                value = int(raw)
            except ValueError:
                continue
            if name == "blksize" and MIN_BLKSIZE <= value <= MAX_BLKSIZE:
                self.blksize = max(MIN_BLKSIZE, min(value, self.config.max_blksize))
                accepted[name] = str(self.blksize)
            elif name == "tsize" and self.size is not None and value >= 0:
                accepted[name] = str(self.size)
            elif name == "timeout" and 1 <= value <= 255:
                self._max_rto = 2.0 * value
                self._give_up = max(self._give_up, 6.0 * value)
                accepted[name] = str(value)
            elif name == "windowsize" and 1 <= value <= 65535:
                self.windowsize = min(value, self.config.max_windowsize)
                accepted[name] = str(self.windowsize)
        return accepted

    def _read_block(self, chunk: bytes) -> bytes:
        """Complete a short first read of a block: only ``b""`` or a final short read ends it."""
        assert self._content is not None
        blksize = self.blksize
        if 0 < len(chunk) < blksize:  # a short read is not the end unless read says so
            parts = [chunk]
            have = len(chunk)
            while have < blksize:
                more = self._content.read(blksize - have)
                if not more:
                    break
                parts.append(more)
                have += len(more)
            chunk = b"".join(parts)
        return chunk

    def _read_packet(self, block: int) -> bytes:
        """The DATA packet of ``block``, read from the content (blocks are asked in order)."""
        blksize = self.blksize
        payload = self._content.read(blksize)  # type: ignore[union-attr]  # SENDING: open
        if len(payload) < blksize:  # possibly a short read before the end
            payload = self._read_block(payload)
        return _DATA_HEADER.pack(3, block & 0xFFFF) + payload

    def _fill(self, now: float) -> list[bytes]:
        """Send blocks never sent before, as far as the window allows."""
        block, limit, last = self._next, self._base + self.windowsize, self._last
        if last is not None and limit > last + 1:
            limit = last + 1
        out: list[bytes] = []
        inflight, sent_at, packet, full = self._inflight, self._sent_at, self._packet, \
            self.blksize + 4
        try:
            while block < limit:
                pkt = packet(block)
                inflight[block] = pkt
                sent_at[block] = now
                out.append(pkt)
                block += 1
                if len(pkt) < full:  # the short block: the end of the file
                    self._last, self._last_len, limit = block - 1, len(pkt) - 4, block
        except OSError as exc:
            log.error("tftp: reading %r failed: %s", self.path, exc)
            self._next = block
            return out + self._fail(ErrorCode.NOT_DEFINED, "read error", now)
        self._next = block
        if inflight:
            self.deadline = sent_at[self._base] + self._rto
        return out

    def _acked_bytes(self) -> int:
        """Unique payload bytes acknowledged: every block but the last one is full."""
        acked = self._base - 1
        if self.state is State.DONE and self._last is not None:
            return (self._last - 1) * self.blksize + self._last_len
        return max(0, acked) * self.blksize

    def _resend_window(self, now: float) -> list[bytes]:
        out = []
        for block in range(self._base, self._next):
            self._sent_at[block] = now
            self._resent.add(block)
            out.append(self._inflight[block])
        self._retransmits += len(out)
        self.deadline = now + self._rto
        return out

    def _sample_rtt(self, rtt: float) -> None:
        if rtt < 0.0:
            rtt = 0.0
        srtt = self._srtt
        if srtt is None:
            srtt, var = rtt, rtt / 2
        else:
            var = 0.75 * self._rttvar + 0.25 * (srtt - rtt if srtt > rtt else rtt - srtt)
            srtt = 0.875 * srtt + 0.125 * rtt
        self._srtt, self._rttvar = srtt, var
        rto = srtt + 4 * var
        lo = self.config.min_rto
        self._rto = lo if rto < lo else (self._max_rto if rto > self._max_rto else rto)

    def _fail(self, code: int, message: str, now: float, outcome: str = "error") -> list[bytes]:
        self._error = message
        self._end(State.FAILED, now, outcome)
        return [Error(code, message).encode()]

    def _finish(self, now: float) -> list[bytes]:
        self._end(State.DONE, now, "done")
        return []

    def _end(self, state: State, now: float, outcome: str) -> None:
        self.state = state
        self._outcome = outcome
        self._finished = now
        self.deadline = None
        self._inflight.clear()
        if self._content is not None:
            self._content.close()
            self._content = None

    def _peer_text(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}" if self.peer else "peer"


# (state, packet type) -> transition; anything missing is ignored mid-transfer (or refused
# with error 4 as a first packet).
TRANSITIONS: dict[tuple[State, type], Callable[..., list[bytes]]] = {
    (State.IDLE, ReadRequest): TftpSession._start_read,
    (State.IDLE, WriteRequest): TftpSession._refuse_write,
    (State.NEGOTIATING, Ack): TftpSession._on_oack_ack,
    (State.NEGOTIATING, Error): TftpSession._on_peer_error,
    (State.SENDING, Ack): TftpSession._on_ack_packet,
    (State.SENDING, Error): TftpSession._on_peer_error,
}
