#!/usr/bin/env bash
# Install everything the tests need (Debian + Python packages), then run the whole suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k dhcp`.
# Before pytest: ruff (lint, line length), lint-imports (the layering contracts in
# pyproject.toml) and mypy (strict on the pure cores); any failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check provisioner agent tests bench
.venv/bin/lint-imports
.venv/bin/mypy
# Both cores: pytest-xdist, two workers (TEST_WORKERS=N to change; `-n 0` in the arguments runs
# in one process). tests/parallel.py says which tests share a worker (--dist loadgroup).
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadgroup "$@"
