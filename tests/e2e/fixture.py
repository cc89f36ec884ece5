"""The tiny boot fixture: a Debian kernel and a busybox initrd that acts like an installer.

Built once per machine and cached (``$PROVISIONER_TEST_CACHE``, default
``/var/cache/provisioner-tests``): ``apt-get download`` of the current Debian kernel package
(``apt-cache depends linux-image-amd64`` names it), ``dpkg -x``, then ``vmlinuz`` and ``e1000.ko``
(the Debian kernel has e1000 as a module), and an initrd of ``busybox-static`` whose ``/init``:

1. loads e1000, gets an address with ``udhcpc`` (option 60 ``udhcp ...``: never a boot file),
2. fetches the kickstart named by ``inst.ks=``/``ks=`` on the kernel command line,
3. calls the install-done callback: ``cb=`` from the command line, else the ``/cb/<token>/done``
   URL found in the kickstart (what a real installer's ``%post`` does),
4. prints markers (``FIXTURE-INIT``, ``DHCP-BOUND <ip>``, ``KICKSTART-FETCHED``,
   ``CALLBACK-DONE``, ``BOOT-DONE``) on the serial console and powers off.

Run ``python -m tests.e2e.fixture`` to build it ahead of time (prints the paths).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("PROVISIONER_TEST_CACHE", "/var/cache/provisioner-tests"))
BUSYBOX = Path("/bin/busybox")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo FIXTURE-INIT
insmod /lib/modules/e1000.ko
sleep 1
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 10 -T 2 -s /etc/udhcpc.script || echo DHCP-FAILED
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s|^$1=||p" | head -n 1; }
KS=$(arg inst.ks)
[ -n "$KS" ] || KS=$(arg ks)
CB=$(arg cb)
if [ -n "$KS" ] && wget -q -O /tmp/ks.cfg "$KS"; then
  echo "KICKSTART-FETCHED $(wc -c < /tmp/ks.cfg) bytes from $KS"
  [ -n "$CB" ] || CB=$(grep -o 'http://[^ "]*/cb/[^ "/]*/done' /tmp/ks.cfg | head -n 1)
  if [ -n "$CB" ]; then
    wget -q -O /tmp/cb.out "$CB" && echo "CALLBACK-DONE $CB" || echo "CALLBACK-FAILED $CB"
  fi
else
  echo "KICKSTART-FAILED $KS"
fi
echo BOOT-DONE
poweroff -f
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "DHCP-BOUND $ip"
    ;;
esac
exit 0
"""


@dataclass(frozen=True)
class Fixture:
    kernel: Path
    initrd: Path
    version: str


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 900) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


def kernel_package() -> str:
    """``linux-image-6.1.0-<N>-amd64``: what ``linux-image-amd64`` depends on right now."""
    override = os.environ.get("PROVISIONER_TEST_KERNEL_PKG")
    if override:
        return override
    out = _run(["apt-cache", "depends", "linux-image-amd64"], timeout=120)
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)", out)
    if not m:
        raise RuntimeError(f"cannot find the current kernel package in:\n{out}")
    return m.group(1)


def _kernel_files(pkg: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        t = Path(tmp)
        _run(["apt-get", "download", pkg], cwd=t)
        (deb,) = t.glob("*.deb")
        _run(["dpkg-deb", "-x", str(deb), str(t / "x")])
        (vmlinuz,) = (t / "x" / "boot").glob("vmlinuz-*")
        (ko,) = (t / "x" / "lib" / "modules").glob("*/kernel/drivers/net/ethernet/intel/e1000/e1000.ko*")
        if ko.suffix != ".ko":
            raise RuntimeError(f"compressed module {ko.name}: the fixture expects a plain .ko")
        stage = Path(tempfile.mkdtemp(dir=CACHE))
        stage.chmod(0o755)
        shutil.copyfile(vmlinuz, stage / "vmlinuz")
        shutil.copyfile(ko, stage / "e1000.ko")
        os.replace(stage, dest)  # atomic: a half-built cache entry is never seen


def _initrd(ko: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = Path(tmp) / "root"
        for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "lib/modules"):
            (root / d).mkdir(parents=True)
        shutil.copyfile(BUSYBOX, root / "bin" / "busybox")
        (root / "bin" / "busybox").chmod(0o755)
        shutil.copyfile(ko, root / "lib" / "modules" / "e1000.ko")
        (root / "init").write_text(INIT)
        (root / "init").chmod(0o755)
        (root / "etc" / "udhcpc.script").write_text(UDHCPC_SCRIPT)
        (root / "etc" / "udhcpc.script").chmod(0o755)
        files = subprocess.run(["find", "."], cwd=root, check=True, capture_output=True,
                               timeout=60).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files,
                              check=True, capture_output=True, timeout=120).stdout
        gz = subprocess.run(["gzip", "-1", "-n"], input=cpio, check=True, capture_output=True,
                            timeout=120).stdout
        tmp_out = out.with_suffix(".tmp")
        tmp_out.write_bytes(gz)
        os.replace(tmp_out, out)


def build() -> Fixture:
    """The cached fixture, building whatever part is missing (downloads ~70 MB once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    pkg = kernel_package()
    kdir = CACHE / pkg
    if not (kdir / "vmlinuz").is_file():
        _kernel_files(pkg, kdir)
    key = hashlib.sha256((INIT + UDHCPC_SCRIPT).encode() + BUSYBOX.read_bytes()).hexdigest()[:12]
    initrd = kdir / f"initrd-{key}.img"
    if not initrd.is_file():
        _initrd(kdir / "e1000.ko", initrd)
    return Fixture(kdir / "vmlinuz", initrd, pkg)


if __name__ == "__main__":
    fx = build()
    print(fx.kernel, fx.initrd, fx.version, file=sys.stdout)
