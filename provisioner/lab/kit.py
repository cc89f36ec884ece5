"""The lab's boot kit: a Debian kernel and a tiny busybox initrd that acts as an installer.

The "installer" does what an anaconda run does for the appliance, and nothing more: it brings
the NIC up with DHCP, fetches the kickstart named by ``inst.ks=``/``ks=`` on the kernel command
line, calls the ``/cb/<token>/started`` URL it finds in that kickstart, writes the kickstart to
the first disk after a boot sector that prints :data:`BOOTED_FROM_DISK` on COM1 (the
"install": the guest's next boot from that disk says so), calls ``.../done`` and powers off.
So a lab guest walks the same timeline as a real install (DHCP, TFTP, kickstart, installing,
installed) in about 30 s of software emulation instead of tens of minutes.

Inputs: a ``linux-image-*-<arch>`` package (found in the cache directory or APT's archive cache,
else fetched with ``apt-get download``, the ordinary Debian client; :mod:`provisioner.apt`) and
the static busybox of that architecture (this machine's ``/bin/busybox`` from ``busybox-static``,
or the arm64 ``busybox-static`` package). The kit runs under Secure Boot as it is: Debian's
kernel and modules are signed, and the installer prints the firmware's Secure Boot state. The
built kit is cached by content (kernel package + init script), so only the first ``lab up`` on a
machine pays for it.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import lzma
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provisioner import apt

APT_ARCHIVES = Path("/var/cache/apt/archives")
BUSYBOX = Path("/bin/busybox")
#: Modules the initrd loads (with their dependencies): the NICs QEMU offers, virtio disks, and
#: efivarfs (to read the firmware's Secure Boot variable).
WANTED_MODULES = ("e1000", "e1000e", "virtio_net", "virtio_blk", "virtio_pci", "efivarfs")

INIT = r"""#!/bin/busybox sh
# provisioner lab installer: DHCP, kickstart, callbacks, "install", power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "LAB: $*"; echo "LAB: $*" > /dev/kmsg 2>/dev/null; }
fail() { say "FAILED: $*"; sleep 2; poweroff -f; }
# HTTP GET with nc (busybox 1.35's static wget segfaults under this kernel, seen); body to stdout
get() {
  u=${1#http://}; hp=${u%%/*}; path=/${u#*/}; host=${hp%:*}; port=${hp##*:}
  case "$hp" in *\]) host=$hp; port=80 ;; esac
  [ "$port" = "$hp" ] && port=80
  host=${host#[}; host=${host%]}
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hp" \
    | timeout 30 nc "$host" "$port" > /tmp/resp || return 1
  head -n 1 /tmp/resp | grep -q ' 200 ' || return 1
  tr -d '\r' < /tmp/resp | sed '1,/^$/d'
}
say "installer started"
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done
IF=""
for i in $(seq 1 50); do
  IF=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  [ -n "$IF" ] && break
  sleep 0.2
done
[ -n "$IF" ] || fail "no network interface"
ip link set lo up
ip link set "$IF" up
if [ -d /sys/firmware/efi ]; then
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  SB=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  [ -f $SB ] && say "secureboot $(od -An -tu1 $SB | tr -s ' ' '\n' | grep . | tail -n 1)"
fi
KS=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^inst\.ks=//p; s/^ks=//p' | head -n 1)
[ -n "$KS" ] || fail "no ks= on the kernel command line"
case "$KS" in
  http://\[*)  # IPv6: the router advertisement's prefix (SLAAC) gives the address
    A=""
    for i in $(seq 1 100); do
      S=$(ip -6 addr show dev "$IF" scope global)
      A=$(echo "$S" | sed -n 's/.*inet6 \([^ ]*\).*/\1/p' | head -n 1)
      [ -n "$A" ] && ! echo "$S" | grep -q tentative && break
      sleep 0.2
    done
    [ -n "$A" ] || fail "no IPv6 address from router advertisements"
    say "lease $A on $IF" ;;
  *) udhcpc -i "$IF" -n -q -t 10 -T 3 -s /etc/udhcpc.script || fail "no DHCP lease" ;;
esac
ok=""
for i in 1 2 3 4 5; do
  if get "$KS" > /tmp/ks.cfg; then ok=1; break; fi
  say "kickstart fetch failed: $(head -n 1 /tmp/resp 2>/dev/null)"
  sleep 2
done
[ -n "$ok" ] || fail "cannot fetch $KS"
say "kickstart fetched from $KS ($(wc -c < /tmp/ks.cfg) bytes)"
CB=$(grep -o "http://[^\"' ]*/cb/[^/\"' ]*/started" /tmp/ks.cfg | head -n 1)
[ -n "$CB" ] && get "$CB" > /dev/null && say "callback started"
DISK=$(ls /sys/block | grep -E '^(vd|sd|hd)[a-z]$' | head -n 1)
if [ -n "$DISK" ]; then
  # the "installed system": a boot sector that says so on COM1, then the kickstart
  dd if=/lib/boot-sector.bin of="/dev/$DISK" bs=512 count=1 conv=fsync 2>/dev/null \
    && dd if=/tmp/ks.cfg of="/dev/$DISK" bs=512 seek=1 conv=fsync 2>/dev/null \
    && say "installed to /dev/$DISK"
fi
[ -n "$CB" ] && get "${CB%/started}/done" > /dev/null && say "callback done"
say "LAB-DONE"
sync
poweroff -f
"""

#: What the installed disk's boot sector prints on COM1 when a guest boots from it.
BOOTED_FROM_DISK = "LAB: booted from disk"


def boot_sector(message: str = BOOTED_FROM_DISK) -> bytes:
    """The lab's "installed system": a 512-byte MBR (x86 real mode, loaded at 0:7C00) that
    writes ``message`` to COM1 (port 0x3F8) and halts, so a test sees on the serial console
    that the firmware booted the disk. Hand-assembled::

        xor ax,ax / mov ds,ax / mov si,msg / mov dx,0x3f8 / cld
        next: lodsb / test al,al / jz halt / out dx,al / jmp next
        halt: cli / hlt / jmp halt
        msg: db message, 13, 10, 0
    """
    text = message.encode() + b"\r\n\x00"
    msg = 0x7C00 + 23
    code = bytes([0x31, 0xC0, 0x8E, 0xD8, 0xBE, msg & 0xFF, msg >> 8, 0xBA, 0xF8, 0x03, 0xFC,
                  0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,
                  0xFA, 0xF4, 0xEB, 0xFC])
    sector = code + text
    if len(sector) > 510:
        raise ValueError("boot sector message too long")
    return sector + b"\x00" * (510 - len(sector)) + b"\x55\xaa"


#: What ``INIT`` prints on the console (as ``LAB: ...`` lines), in the order a good install does.
MARK_LEASE = "LAB: lease "  # followed by ``<ip>/<prefix> on <interface>``
MARK_KICKSTART = "LAB: kickstart fetched"
MARK_STARTED = "LAB: callback started"
MARK_INSTALLED = "LAB: installed to"
MARK_DONE_CALLBACK = "LAB: callback done"
MARK_DONE = "LAB: LAB-DONE"
MARK_FAILED = "LAB: FAILED"
MARK_SECUREBOOT = "LAB: secureboot "  # followed by 1 (on) or 0, from the EFI variable

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then ip route add default via "${router%% *}" dev "$interface"; fi
    echo "LAB: lease $ip/${mask:-24} on $interface"
    ;;
esac
exit 0
"""


@dataclass(frozen=True)
class Kit:
    kernel: Path
    initrd: Path
    kernel_version: str


def _cached_kernel_deb(cache: Path, arch: str) -> Path | None:
    pattern = _deb_pattern(arch)
    for where in (cache, APT_ARCHIVES):
        found = sorted(p for p in where.glob(f"linux-image-*-{arch}_*_{arch}.deb")
                       if pattern.match(p.name)) if where.is_dir() else []
        if found:
            return found[-1]
    return None


def find_kernel_deb(cache: Path, *, download: bool = True, arch: str = "amd64") -> Path:
    """A generic (not cloud) Debian kernel package: cached, in APT's cache, or fetched.

    Fetching holds a lock in the cache, so concurrent labs or test workers download it once and
    none of them sees a half-written package."""
    found = _cached_kernel_deb(cache, arch)
    if found is not None:
        return found
    if not download:
        raise FileNotFoundError(f"no linux-image-*-{arch} package in the cache")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _cached_kernel_deb(cache, arch) is None:
            name = apt.depends(cache, f"linux-image-{arch}", arch,
                               rf"linux-image-[0-9][^\s]*-{arch}")
            apt.download(cache, name, arch)
    return find_kernel_deb(cache, download=False, arch=arch)


def _deb_pattern(arch: str) -> re.Pattern[str]:
    return re.compile(rf"^linux-image-(\d+\.\d+\.\d+-\d+)-{arch}_[^_]+_{arch}\.deb$")


def busybox_for(cache: Path, arch: str) -> bytes:
    """The static busybox of ``arch``: this machine's for its own, else from the package."""
    if arch == apt.host_arch():
        if not BUSYBOX.is_file():
            raise FileNotFoundError(f"{BUSYBOX} is missing: apt-get install busybox-static")
        return BUSYBOX.read_bytes()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        deb = apt.cached(cache, "busybox-static", arch) or apt.download(cache, "busybox-static",
                                                                        arch)
    with tempfile.TemporaryDirectory(prefix="busybox-", dir=cache) as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True, timeout=120,
                       capture_output=True)
        return (Path(tmp) / "bin" / "busybox").read_bytes()


def _depends(ko: bytes) -> list[str]:
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", ko)
    return [d for d in m.group(1).decode().split(",") if d] if m else []


def _read_ko(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.suffix == ".xz" else data


def module_order(moddir: Path, wanted: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of ``wanted`` and their dependencies, dependencies first."""
    index: dict[str, Path] = {}
    for p in moddir.rglob("*.ko*"):
        name = p.name.split(".ko")[0].replace("-", "_")
        index.setdefault(name, p)
    order: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str, depth: int = 0) -> None:
        name = name.replace("-", "_")
        if name in seen or name not in index or depth > 32:
            return
        seen.add(name)
        data = _read_ko(index[name])
        for dep in _depends(data):
            visit(dep, depth + 1)
        order.append((name, data))

    for name in wanted:
        visit(name)
    return order


def _cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A ``newc`` cpio archive of ``(path, mode, data)`` entries (directories have no data)."""
    out = io.BytesIO()

    def put(name: str, mode: int, data: bytes, ino: int) -> None:
        nb = name.encode() + b"\x00"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.write(hdr.encode() + nb)
        out.write(b"\x00" * (-(110 + len(nb)) % 4))
        out.write(data)
        out.write(b"\x00" * (-len(data) % 4))

    for ino, (name, mode, data) in enumerate(entries, start=1):
        put(name, mode, data, ino)
    put("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def build_initrd(modules: list[tuple[str, bytes]], busybox: bytes) -> bytes:
    dirs = ["bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "sbin", "usr",
            "usr/bin", "usr/sbin"]
    entries: list[tuple[str, int, bytes]] = [(d, 0o040755, b"") for d in dirs]
    entries += [("init", 0o100755, INIT.encode()), ("bin/busybox", 0o100755, busybox),
                ("lib/boot-sector.bin", 0o100644, boot_sector()),
                ("bin/sh", 0o120777, b"busybox"),
                ("etc/udhcpc.script", 0o100755, UDHCPC_SCRIPT.encode())]
    for name, data in modules:
        entries.append((f"lib/modules/{name}.ko", 0o100644, data))
    order = "".join(f"{name}.ko\n" for name, _ in modules)
    entries.append(("lib/modules/order", 0o100644, order.encode()))
    return gzip.compress(_cpio_newc(entries), compresslevel=6, mtime=0)


def ensure_kit(cache: Path, *, download: bool = True, arch: str = "amd64") -> Kit:
    """The kernel and initrd of ``arch``, built once per kernel package and init script."""
    deb = find_kernel_deb(cache, download=download, arch=arch)
    busybox = busybox_for(cache, arch)
    key = hashlib.sha256(deb.name.encode() + INIT.encode() + UDHCPC_SCRIPT.encode()
                         + ",".join(WANTED_MODULES).encode()
                         + boot_sector() + hashlib.sha256(busybox).digest()).hexdigest()[:16]
    out = cache / f"kit-{key}"
    kernel, initrd = out / "vmlinuz", out / "initrd.img"
    m = _deb_pattern(arch).match(deb.name)
    if m is None:
        raise FileNotFoundError(f"{deb} is not a linux-image-*-{arch} package")
    version = f"{m.group(1)}-{arch}"
    if kernel.is_file() and initrd.is_file():
        return Kit(kernel, initrd, version)
    with tempfile.TemporaryDirectory(prefix="labkit-", dir=cache) as tmp:
        root = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=300,
                       capture_output=True)
        vmlinuz = next((root / "boot").glob("vmlinuz-*"))
        moddir = next((root / "lib" / "modules").iterdir())
        modules = module_order(moddir, WANTED_MODULES)
        if not any(n == "virtio_net" for n, _ in modules):
            raise FileNotFoundError(f"{deb.name} has no virtio_net module")
        staging = Path(tmp) / "kit"
        staging.mkdir()
        shutil.copyfile(vmlinuz, staging / "vmlinuz")
        (staging / "initrd.img").write_bytes(build_initrd(modules, busybox))
        try:
            staging.rename(out)
        except OSError:  # another lab built the same kit meanwhile: theirs is as good
            if not (kernel.is_file() and initrd.is_file()):
                raise
    return Kit(kernel, initrd, version)
