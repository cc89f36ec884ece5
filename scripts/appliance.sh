#!/usr/bin/env bash
# README's first command: set up and run the appliance's main job on embedded defaults.
#
#   scripts/appliance.sh            the one-command lab: a private lab network in a network
#                                   namespace this script creates (nothing on the machine's own
#                                   network but a loopback port for the web UI), the appliance
#                                   serving DHCP/TFTP/DNS/HTTP on it with SQLite under ./data,
#                                   a local agent, and one QEMU guest (software emulation) that
#                                   network-boots, fetches its kickstart and reports back.
#                                   Stays in the foreground; Ctrl-C removes everything it made.
#   scripts/appliance.sh --serve    the appliance alone: SQLite under ./data, the sample distro,
#                                   profiles and system, HTTP on 127.0.0.1:8080; it answers no
#                                   DHCP/TFTP/DNS (no interface is served unless you configure one).
#
# Environment: PROVISIONER_DATA_DIR (./data), PROVISIONER_HTTP_HOST/PORT (127.0.0.1:8080),
# LAB_GUESTS (1), LAB_UI_PORT (8080).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=lab
[ "${1:-}" = "--serve" ] && mode=serve

export PROVISIONER_DATA_DIR="${PROVISIONER_DATA_DIR:-$PWD/data}"
mkdir -p "$PROVISIONER_DATA_DIR"

if [ "$mode" = serve ]; then
  bash scripts/setup.sh --runtime-only
  export PROVISIONER_HTTP_HOST="${PROVISIONER_HTTP_HOST:-127.0.0.1}"
  export PROVISIONER_HTTP_PORT="${PROVISIONER_HTTP_PORT:-8080}"
  .venv/bin/provisioner db upgrade
  .venv/bin/provisioner demo
  echo "appliance: http://$PROVISIONER_HTTP_HOST:$PROVISIONER_HTTP_PORT/ks/system/demo01" \
       "(API: /api/v1, OpenAPI: /api/openapi.json; stop with Ctrl-C)"
  exec .venv/bin/provisioner serve
fi

# The lab needs QEMU, libvirt's QEMU driver, iPXE and the boot loaders: the full set-up.
bash scripts/setup.sh
lab=(.venv/bin/provisioner --data-dir "$PROVISIONER_DATA_DIR/lab-run" lab)
"${lab[@]}" down >/dev/null 2>&1 || true
sleeper=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  echo "appliance: taking the lab down"
  "${lab[@]}" down || true
  exit "$rc"
}
trap cleanup EXIT INT TERM
"${lab[@]}" up --guests "${LAB_GUESTS:-1}" --ui-port "${LAB_UI_PORT:-8080}" --wait kickstart
"${lab[@]}" status
echo "appliance: the lab is up; Ctrl-C takes it down."
while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
