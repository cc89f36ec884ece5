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
#                                   The first start makes the web UI's admin and prints its
#                                   password once (stored hashed).
#
# Run it as root (a fresh machine or container has no sudo); `sudo scripts/appliance.sh` works too.
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
  # The first admin of the web UI: made once, stored hashed; its password is shown only now.
  made=$(.venv/bin/provisioner user add admin --role admin --if-missing)
  password=$(sed -n 's/^password of admin: //p' <<<"$made")
  url="http://$PROVISIONER_HTTP_HOST:$PROVISIONER_HTTP_PORT"
  echo "appliance: web UI $url/ui/ (data in $PROVISIONER_DATA_DIR; stop with Ctrl-C)"
  if [ -n "$password" ]; then
    echo "appliance: log in as admin with password $password"
    echo "appliance: (shown only now, stored hashed; a new one: .venv/bin/provisioner user passwd admin)"
  else
    echo "appliance: log in as admin (its password was shown when it was made;" \
         "a new one: .venv/bin/provisioner user passwd admin)"
  fi
  echo "appliance: API $url/api/v1 (OpenAPI: $url/api/openapi.json)," \
       "a rendered kickstart: $url/ks/system/demo01"
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
