"""``scripts/test.sh``'s ``-n 2 --dist loadgroup`` really keeps a group on one worker.

pytest-xdist marks a grouped test by appending ``@group`` to its node id; pytest 9.2 made node
ids structured and that silently stopped working (pytest-xdist issue #1386: every test then
goes to any worker, and a module's shared fixture, e.g. a QEMU boot, is made once per worker).
pyproject.toml caps pytest below 9.2 until xdist is fixed; this test is what notices.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_a_module_group_runs_on_one_worker() -> None:
    # test_golden.py's tests share a module-scoped fixture: tests/parallel.py groups them
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider", "tests/render/test_golden.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ran = re.findall(r"^\[(gw\d)\] .*PASSED (\S+)", proc.stdout, re.M)
    assert len(ran) > 10, proc.stdout[-3000:]
    assert {worker for worker, _ in ran} == {ran[0][0]}, ran
    assert all(nodeid.endswith("@module-tests/render/test_golden.py") for _, nodeid in ran), ran
