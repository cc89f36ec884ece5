#!/usr/bin/env bash
# Install everything the tests need (Debian + Python packages), then run the whole suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k dhcp`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check provisioner agent tests bench
exec .venv/bin/python -m pytest "$@"
