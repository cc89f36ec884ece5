#!/usr/bin/env bash
# Install what the appliance, the agent and the test suite need on Debian 12, as root.
# Idempotent: a second run installs nothing new. Creates the virtualenv .venv in the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_RUNTIME=(python3-venv iproute2 pkg-config libvirt-dev gcc)
# Real clients and reference servers the tests and benchmarks run against, plus boot loaders.
DEB_TEST=(qemu-system-x86 qemu-utils ipxe-qemu ipxe pxelinux syslinux-common ovmf
  grub-efi-amd64-bin grub-common busybox-static cpio udhcpc isc-dhcp-client bind9-dnsutils
  tftp-hpa atftp curl dnsmasq-base kea-admin kea-dhcp4-server tftpd-hpa
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients virtinst libosinfo-bin
  libxml2-utils chromium chromium-driver vagrant vagrant-libvirt postgresql wrk iptables)

want=("${DEB_RUNTIME[@]}")
[ "${1:-}" = "--runtime-only" ] || want+=("${DEB_TEST[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras="test"
[ "${1:-}" = "--runtime-only" ] && extras="agent"
if ! .venv/bin/python -c "import provisioner, flask, sqlalchemy, libvirt" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[$extras]"
  touch .venv/.installed
fi
