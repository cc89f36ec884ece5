"""validate_kickstart: pykickstart under the distro's version handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.render import validate
from provisioner.render.validate import KsIssue, handler_name, validate_kickstart

RHEL5_KS = """install
url --url=http://mirror.example/rhel5/
key --skip
lang en_US.UTF-8
keyboard us
rootpw --iscrypted !!
bootloader --location=mbr
autopart
%packages
@base
"""


@pytest.mark.parametrize(("os_version", "want"), [
    ("rhel5.4", "RHEL5"), ("rhel5", "RHEL5"), ("rhel9", "RHEL9"), ("rhel9.3", "RHEL9"),
    ("centos7", "RHEL7"), ("rocky9", "RHEL9"), ("almalinux8", "RHEL8"), ("fedora39", "F39"),
    ("rhel2", None), ("generic", None), ("debian12", None), ("", None),
], ids=lambda v: str(v))
def test_handler_for_os_version(os_version: str, want: str | None) -> None:
    assert handler_name(os_version) == want


def test_seed_era_kickstart_is_clean_for_rhel5() -> None:
    assert validate_kickstart(RHEL5_KS, "rhel5.4") == []


def test_same_text_fails_under_rhel9_handler() -> None:
    """The handler matters: `install` and `key` are gone from RHEL 9 kickstarts."""
    issues = validate_kickstart(RHEL5_KS, "rhel9")
    assert KsIssue("error", 1, "install has been removed.") in issues
    assert any(i.level == "error" and i.line == 3 and "key" in i.message for i in issues)
    assert any("%end" in i.message for i in issues)


def test_errors_keep_going_and_carry_lines() -> None:
    text = "text\nbogus --x\nrootpw --lock\nalsobogus\n%packages\n%end\n"
    issues = validate_kickstart(text, "rhel9")
    assert [(i.level, i.line) for i in issues] == [("error", 2), ("error", 4)]
    assert "Unknown command: bogus" in issues[0].message


def test_deprecated_option_is_a_warning() -> None:
    issues = validate_kickstart(RHEL5_KS.replace("autopart", "zerombr yes\nautopart"), "rhel5.4")
    assert len(issues) == 1
    assert issues[0].level == "warning" and issues[0].line == 8
    assert "zerombr" in issues[0].message


def test_unknown_os_version_is_an_error() -> None:
    assert validate_kickstart("text\n", "plan9") == [
        KsIssue("error", None, "no pykickstart handler for OS version 'plan9'")]


GOLDEN = sorted((Path(__file__).resolve().parents[1] / "golden").glob("*.ks/*.txt"))
REUSE_CASES = [(p.read_text(), v) for p in GOLDEN for v in ("rhel5.4", "rhel9", "rhel4.8")] + [
    (RHEL5_KS, "rhel5.4"), (RHEL5_KS, "rhel9"),
    ("text\nbogus --x\nrootpw --lock\nalsobogus\n%packages\n%end\n", "rhel9"),
    ("autopart\npart / --size=1\n%packages\n%end\n", "rhel9"),  # conflicting commands
    ("part / --size=1\nnetwork --device=eth0\nnetwork --device=eth1\n%packages\n%end\n", "rhel9"),
    ("network --device=eth0\n%pre\ntrue\n%end\n%packages\n@core\n%end\n", "rhel9"),
]


def test_a_reused_handler_answers_as_a_fresh_one() -> None:
    """The serving path reuses one handler per version (a new one costs ~17 ms of CPU): after
    any sequence of parses (conflicting commands, repeated network lines, sections), each text
    gets exactly the issues a fresh handler finds. Fails if the reset misses state: e.g. without
    it, `autopart` after a text with `part` is a conflict, and `%packages` would carry over."""
    assert len(GOLDEN) >= 10
    fresh = []
    for text, version in REUSE_CASES:
        validate._HANDLERS.clear()
        validate._validate.cache_clear()
        fresh.append(validate_kickstart(text, version))
    validate._validate.cache_clear()
    reused = [validate_kickstart(text, version) for text, version in REUSE_CASES]
    assert reused == fresh
    validate._validate.cache_clear()
    assert [validate_kickstart(t, v) for t, v in reversed(REUSE_CASES)] == fresh[::-1]
