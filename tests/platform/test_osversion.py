"""The one parser of OS version strings and release numbers (provisioner.platform.osversion)."""

from __future__ import annotations

import pytest

from provisioner.platform.osversion import (
    OsVersion,
    parse_os_version,
    parse_release,
    release_lt,
    release_numbers,
    release_tuple,
)


@pytest.mark.parametrize(("text", "want"), [
    ("rhel5.4", OsVersion("rhel", 5, 4)),
    ("rhel9", OsVersion("rhel", 9, None)),
    ("centos5", OsVersion("centos", 5, None)),
    ("fedora39", OsVersion("fedora", 39, None)),
    ("rhel5.4.1", OsVersion("rhel", 5, 4)),
    ("rhel5.4-server", OsVersion("rhel", 5, 4)),
    ("5.4", OsVersion("", 5, 4)),
    ("12", OsVersion("", 12, None)),
    ("windows", None),
    ("", None),
    (None, None),
    ("RHEL5", None),
    (" rhel5", None),
], ids=["rhel5.4", "rhel9", "centos5", "fedora39", "three numbers", "suffix", "bare release",
        "bare major", "no number", "empty", "none", "upper case", "leading space"])
def test_parse_os_version(text, want) -> None:
    assert parse_os_version(text) == want


def test_os_version_release_and_numbers() -> None:
    assert OsVersion("rhel", 5, 4).release == "5.4"
    assert OsVersion("rhel", 5).release == "5"
    assert OsVersion("rhel", 5).numbers == (5, 0)


@pytest.mark.parametrize(("text", "want"), [
    ("5.4", (5, 4)), ("5", (5, 0)), (" 5.11 ", (5, 11)), ("2003", (2003, 0)),
    ("rhel5", None), ("xp", None), ("", None)],
    ids=["5.4", "major only", "spaces", "windows 2003", "has a family", "windows xp", "empty"])
def test_parse_release(text: str, want) -> None:
    assert parse_release(text) == want


@pytest.mark.parametrize(("text", "numbers", "strict"), [
    ("9.3", (9, 3), (9, 3)), ("12", (12,), (12,)), ("5.4beta", (5,), None),
    ("bookworm", (), None), ("5.4.1", (5, 4, 1), (5, 4, 1))],
    ids=["9.3", "12", "suffix", "codename", "three"])
def test_release_numbers_and_tuple(text: str, numbers, strict) -> None:
    assert release_numbers(text) == numbers
    assert release_tuple(text) == strict


@pytest.mark.parametrize(("a", "b", "want"), [
    ("5.3", "5.4", True), ("5.10", "5.9", False), ("4.8", "5.0", True), ("5", "5.4", None),
    ("6", "5.4", False), (None, "5.4", None), ("junk", "5.4", None)],
    ids=["minor", "5.10 after 5.9", "major", "unknown minor", "next major", "none", "junk"])
def test_release_lt(a, b, want) -> None:
    assert release_lt(a, b) is want
