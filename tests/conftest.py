"""Shared pytest options: ``--regen`` rewrites golden files instead of comparing them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
