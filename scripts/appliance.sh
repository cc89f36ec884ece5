#!/usr/bin/env bash
# Set up and start the appliance on embedded defaults, in the foreground (Ctrl-C stops it):
# SQLite under ./data (or $PROVISIONER_DATA_DIR), the sample inventory (`provisioner demo`,
# idempotent), HTTP on 127.0.0.1:8080 (or $PROVISIONER_HTTP_HOST/$PROVISIONER_HTTP_PORT).
# DHCP, TFTP and DNS stay off unless your settings file turns them on for named interfaces.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --runtime-only

export PROVISIONER_DATA_DIR="${PROVISIONER_DATA_DIR:-$PWD/data}"
export PROVISIONER_HTTP_HOST="${PROVISIONER_HTTP_HOST:-127.0.0.1}"
export PROVISIONER_HTTP_PORT="${PROVISIONER_HTTP_PORT:-8080}"
mkdir -p "$PROVISIONER_DATA_DIR"

.venv/bin/provisioner db upgrade
.venv/bin/provisioner demo
echo "appliance: http://$PROVISIONER_HTTP_HOST:$PROVISIONER_HTTP_PORT/ks/system/demo01" \
     "(API: /api/v1, OpenAPI: /api/openapi.json; stop with Ctrl-C)"
exec .venv/bin/provisioner serve
