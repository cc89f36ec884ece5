"""Shared pytest options: ``--regen`` rewrites golden files instead of comparing them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent

# xdist groups (which tests share a worker under scripts/test.sh's -n 2): tests/parallel.py
pytest_plugins = ("tests.parallel",)

# Hypothesis: CI runs the suite once on a fresh machine, so a property test must not pass or fail
# by the luck of the draw. The default profile derives each test's examples from the test itself
# (derandomize), never replays failures saved in a .hypothesis database (this tree is shared by
# several people mid-edit) and has no per-example deadline (a loaded 2-core machine). Tests'
# own @settings still set max_examples etc. To hunt for new counterexamples locally:
# HYPOTHESIS_PROFILE=explore pytest ... (fresh random examples, --hypothesis-seed honoured).
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen", action="store_true", default=False,
                     help="rewrite golden files from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden(path, text)``: compare ``text`` to the file, or rewrite it under --regen."""
    regen = request.config.getoption("--regen")

    def check(path: Path | str, text: str) -> None:
        path = Path(path)
        if regen or not path.exists():
            if not regen:
                pytest.fail(f"golden file {path} is missing; run pytest --regen to create it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        assert text == path.read_text(), f"output differs from golden {path} (pytest --regen)"

    return check
