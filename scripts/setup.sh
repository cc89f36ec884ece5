#!/usr/bin/env bash
# Install what the appliance, the agent and the test suite need on Debian 12, as root.
# Idempotent: a second run installs nothing new. Creates the virtualenv .venv in the checkout
# with the distribution's Python (/usr/bin/python3 on Debian; PYTHON=... to choose another).
#
#   scripts/setup.sh                     runtime + test packages, .venv with the [test] extra
#   scripts/setup.sh --runtime-only      runtime packages, .venv with the [agent] extra
#   scripts/setup.sh --print-packages runtime|test|all
#                                        print a Debian package list, one a line, and exit
#
# The runtime list is kept true by tests/install/test_hermetic_install.py: it builds a minimal
# Debian root holding only these packages and installs the project in it without network.
set -euo pipefail
cd "$(dirname "$0")/.."

# What `pip install '.[agent]'` and the appliance need on a minimal Debian: a Python with venv and
# headers, and a C toolchain + libvirt headers to build libvirt-python (PyPI has no wheel for it).
# osinfo-db: libosinfo's OS database, which the agent reads directly (agent/guest/osinfo/db.py).
DEB_RUNTIME=(python3 python3-venv python3-dev iproute2 pkg-config libvirt-dev gcc osinfo-db)
# Real clients and reference servers the tests and benchmarks run against, plus boot loaders,
# and mmdebstrap for the hermetic install test. python3-gi + gir1.2-libosinfo-1.0: libosinfo
# itself, the oracle for the agent's osinfo-db reader (virtinst already depends on both).
# The Vagrant lab (`provisioner lab box build`, `lab vagrant up`) uses vagrant +
# vagrant-libvirt, libvirtd/virsh, dnsmasq-base, iptables, mmdebstrap, e2fsprogs (mkfs.ext4 -d),
# qemu-utils (qemu-img) and busybox-static (boot kit).
DEB_TEST=(qemu-system-x86 qemu-utils ipxe-qemu ipxe pxelinux syslinux-common ovmf
  qemu-system-arm qemu-efi-aarch64 sbsigntool kea-dhcp6-server ndisc6
  grub-efi-amd64-bin grub-common busybox-static cpio udhcpc isc-dhcp-client bind9-dnsutils
  tftp-hpa atftp curl dnsmasq-base kea-admin kea-dhcp4-server tftpd-hpa nginx
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients virtinst libosinfo-bin
  libxml2-utils chromium chromium-driver vagrant vagrant-libvirt postgresql wrk iptables
  mmdebstrap debian-archive-keyring util-linux openssh-server openssh-client
  iputils-ping python3-gi gir1.2-libosinfo-1.0 e2fsprogs)

if [ "${1:-}" = "--print-packages" ]; then
  case "${2:-all}" in
    runtime) printf '%s\n' "${DEB_RUNTIME[@]}" ;;
    test) printf '%s\n' "${DEB_TEST[@]}" ;;
    all) printf '%s\n' "${DEB_RUNTIME[@]}" "${DEB_TEST[@]}" ;;
    *) echo "setup: --print-packages takes runtime, test or all" >&2; exit 2 ;;
  esac
  exit 0
fi

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

# The distribution's Python, so what CI installs is what users install (a pyenv or other Python
# on PATH may carry headers or packages a stock Debian does not have).
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -f /etc/debian_version ] && [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3
else PY=python3
fi
ident='import sys; print(sys.base_prefix, sys.version.split()[0])'
want_py=$("$PY" -c "$ident") || { echo "setup: cannot run Python '$PY'" >&2; exit 1; }
if [ -e .venv ]; then
  have_py=$(.venv/bin/python -c "$ident" 2>/dev/null || echo "a broken interpreter")
  if [ "$have_py" != "$want_py" ]; then
    echo "setup: .venv was made by $have_py, not by $PY ($want_py): recreating it"
    rm -rf .venv
  fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras="test"
[ "${1:-}" = "--runtime-only" ] && extras="agent"
if ! .venv/bin/python -c "import provisioner, flask, sqlalchemy, libvirt" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ] || ! grep -qxE "test|$extras" .venv/.installed; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[$extras]"
  echo "$extras" > .venv/.installed
fi
