"""Line edits: replace in place, drop duplicates, append when absent, keep everything else."""

from __future__ import annotations

import pytest

from agent.plan.steps import LineRule, Lines

RULE = LineRule("net.ipv4.ip_forward = 1", r"^\s*net\.ipv4\.ip_forward\s*=")


@pytest.mark.parametrize("before,after", [
    (None, "net.ipv4.ip_forward = 1\n"),
    ("", "net.ipv4.ip_forward = 1\n"),
    ("a = 1", "a = 1\nnet.ipv4.ip_forward = 1\n"),
    ("a\nnet.ipv4.ip_forward = 0\nb\n", "a\nnet.ipv4.ip_forward = 1\nb\n"),
    ("net.ipv4.ip_forward=0\nx\nnet.ipv4.ip_forward = 0\n", "net.ipv4.ip_forward = 1\nx\n"),
    ("# net.ipv4.ip_forward = 0\n", "# net.ipv4.ip_forward = 0\nnet.ipv4.ip_forward = 1\n"),
], ids=["no file", "empty file", "no trailing newline", "replace in place",
        "duplicates collapse", "comments stay"])
def test_lines(before, after):
    edit = Lines((RULE,))
    assert edit.apply(before) == after
    assert edit.apply(after) == after
