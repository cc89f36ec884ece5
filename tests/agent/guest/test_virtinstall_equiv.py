"""The agent against the real ``virt-install --dry-run --print-xml`` on generated command lines.

``equiv/`` does the work: Hypothesis draws >= 300 command lines (``generate``) across today's
and the seed's OS variants, all install methods, the option set and legacy spellings, and a
share of bad ones, on four fixture hosts whose capabilities and domain capabilities are
checked in (``data/hosts/*``: KVM x86-64, TCG x86-64, Xen x86-64, KVM aarch64; each file's
header says how it was made). virt-install (virtinst 4.1, batched, two processes, cached by
input hash) sees each host through its test-suite URI; the agent through a Host made from the
same files. Each case is classified (``compare``): equal, cosmetic, seed (a seed variant whose
documented departures are the whole difference), rejected (both refuse), by-design (only the
agent refuses, with a size limit or a seed rule, and turning that rule off gives
virt-install's XML), or meaningful/mismatch -- which fail this test.

``bench/virtinst_equiv.py`` runs the same harness and writes the counts to
``bench/results/virtinst_equiv.txt``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.agent.guest.equiv import harness
from tests.agent.guest.equiv.compare import Comparer, diff_kind
from tests.agent.guest.equiv.generate import Case

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("virt-install") or not Path("/usr/bin/python3").exists(),
                       reason="needs virtinst (Debian's virt-install) and the system python3"),
]
N = int(os.environ.get("VIRTINST_EQUIV_CASES", "320"))


@pytest.fixture(scope="module")
def report() -> harness.Report:
    return harness.run(N)


def test_at_least_300_generated_cases_on_every_fixture_host(report) -> None:
    assert len(report.outcomes) >= min(N, 300)
    assert set(report.per_host()) == {"kvm-x86_64", "tcg-x86_64", "xen-x86_64", "kvm-aarch64"}


def test_no_meaningful_difference_and_no_unmatched_refusal(report) -> None:
    assert not report.failures(), report.text()


def test_the_harness_sees_real_differences() -> None:
    """The classifier can fail: a changed default is meaningful, reordering is cosmetic."""
    a = "<domain><name>x</name><devices><disk><target bus='virtio'/></disk></devices></domain>"
    b = a.replace("virtio", "sata")
    c = "<domain><devices><disk><target bus='virtio'/></disk></devices><name>x</name></domain>"
    assert diff_kind(a, a)[0] == "equal"
    assert diff_kind(a, b)[0] == "meaningful"
    assert diff_kind(a, c)[0] == "cosmetic"


def test_an_agent_only_refusal_outside_the_rules_is_a_mismatch() -> None:
    comparer = Comparer({})
    try:
        case = Case("kvm-x86_64", ("--name", "g", "--osinfo", "rhel9.0", "--pxe", "--disk",
                                   "size=1,serial=abc", "--network", "bridge=br0"))
        out = comparer.classify(case, {"rc": 0, "out": "", "err": ""})
        assert out.kind == "mismatch" and "UNSUPPORTED_OPTION" in out.detail
        case = Case("kvm-x86_64", ("--name", "g", "--osinfo", "rhel9.0", "--pxe", "--disk",
                                   "size=1", "--network", "bridge=br0"))
        out = comparer.classify(case, {"rc": 1, "out": "", "err": "ERROR nope"})
        assert out.kind == "mismatch"
    finally:
        comparer.close()
