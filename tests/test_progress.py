"""The progress display of long commands (issue 15 item 5): live block on a terminal, plain
lines elsewhere, with a clock and stream under the test's control."""

from __future__ import annotations

import io

from provisioner.progress import UP, Display, Row, bar, elapsed


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_on_stage_changes_and_throttled_counters() -> None:
    out, clock = io.StringIO(), Clock()
    d = Display(out, clock=clock, plain_every=10)
    assert d.live is False
    d.show([Row("g1", "dhcp", "g1 DHCP 0:03"), Row("g2", "queued", "g2 queued 0:03")])
    clock.now = 1
    d.show([Row("g1", "dhcp", "g1 DHCP 0:04"), Row("g2", "queued", "g2 queued 0:04")])
    clock.now = 2
    d.show([Row("g1", "tftp", "g1 TFTP 0:05"), Row("g2", "queued", "g2 queued 0:05")])
    clock.now = 13
    d.show([Row("g1", "tftp", "g1 TFTP 0:16"), Row("g2", "queued", "g2 queued 0:16")])
    d.close()
    assert out.getvalue().splitlines() == [
        "g1 DHCP 0:03", "g2 queued 0:03",  # first sight
        "g1 TFTP 0:05",  # a stage change at once
        "g1 TFTP 0:16", "g2 queued 0:16"]  # same stage: after 10 s at most once


def test_a_terminal_gets_one_block_redrawn_in_place() -> None:
    out, clock = Tty(), Clock()
    d = Display(out, clock=clock, interval=0.5)
    assert d.live is True
    d.show([Row("a", "x", "line a"), Row("b", "x", "line b")])
    clock.now = 0.1
    d.show([Row("a", "y", "line a2"), Row("b", "x", "line b2")])  # too soon: not drawn
    clock.now = 1
    d.show([Row("a", "y", "line a3"), Row("b", "x", "line b3")])
    d.close()
    text = out.getvalue()
    assert "line a2" not in text
    assert text.count(UP.format(n=2)) == 2  # the second draw and the final one moved up
    assert text.endswith("\x1b[2K\rline a3\n\x1b[2K\rline b3\n")


def test_formats() -> None:
    assert [elapsed(s) for s in (0, 7.9, 161, 3723)] == ["0:00", "0:07", "2:41", "1:02:03"]
    assert bar(0, 10, 10) == "[..........]   0%"
    assert bar(35, 100, 20) == "[#######.............]  35%"
    assert bar(5, 0, 4) == "[####] 100%"
