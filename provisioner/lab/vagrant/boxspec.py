"""What a Vagrant lab box is made of, as data: distributions, roles, packages, hooks, box files.

A box is vagrant-libvirt's format: a tar with ``box.img`` (qcow2), ``metadata.json`` and a
``Vagrantfile``. It is built from the distribution's own packages with ``mmdebstrap`` (see
:mod:`provisioner.lab.vagrant.boxbuild`); this module only decides *what* goes in, so the decisions
are testable without building anything:

* :data:`DISTROS` and :data:`ROLES` (``appliance``: the provisioner, its boot loaders and the
  lab's boot kit; ``host``: a hypervisor host with libvirt and the agent);
* :func:`mmdebstrap_argv`: the one command that makes the root file system, with the customize
  hooks that turn it into a Vagrant box (user ``vagrant`` with Vagrant's insecure public key,
  which Vagrant replaces on first boot; sudo; DHCP on the management NIC; an SSH host key made
  on first boot; the project installed offline from a wheelhouse into ``/opt/provisioner/venv``);
* :func:`cache_key`: a content hash over every input, so a box is rebuilt exactly when one of
  them changes;
* the box's own files (:func:`metadata_json`, :func:`box_vagrantfile`, :func:`box_info`).

The box boots its kernel directly (libvirt ``<kernel>``/``<initrd>``, files shipped in the box)
instead of through a boot loader on the disk: the image is then a bare ext4 file system that
``mkfs.ext4 -d`` fills without a loop device or a mount.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

VENV = "/opt/provisioner/venv"
KIT_DIR = "/var/lib/provisioner/assets/lab"  # the lab distro's kernel + initrd (assets dir)
BOX_INFO = "provisioner-box.json"  # our own file inside the box: what it was built from
CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"


@dataclass(frozen=True)
class Distro:
    key: str
    suite: str
    mirrors: tuple[str, ...]
    kernel: str  # the kernel package: the cloud flavour has virtio built for VMs, half the size


DISTROS = {
    "debian-12": Distro(
        "debian-12", "bookworm",
        ("deb http://deb.debian.org/debian bookworm main",
         "deb http://deb.debian.org/debian bookworm-updates main",
         "deb http://deb.debian.org/debian-security bookworm-security main"),
        "linux-image-cloud-amd64"),
}


@dataclass(frozen=True)
class Role:
    name: str
    packages: tuple[str, ...]
    extras: tuple[str, ...]  # the project's extras installed into the venv
    disk_gb: int
    kit: bool  # carries the lab's boot kit (kernel + installer initrd for the PXE clients)
    units: tuple[str, ...] = ()  # systemd units from packaging/systemd, installed and enabled


#: Every box: a booting systemd system Vagrant can reach over SSH, and the project's Python.
BASE_PACKAGES = ("systemd-sysv", "udev", "dbus", "openssh-server", "sudo", "iproute2",
                 "netbase", "python3", "python3-venv",
                 "libvirt0")  # libvirt-python's C library (a dependency of the appliance too)

ROLES = {
    # boot loaders for `provisioner bootloaders install` come from the distribution's packages
    "appliance": Role("appliance", ("pxelinux", "syslinux-common", "ipxe"), (), 4, True,
                      ("provisioner.service",)),
    # bridge-utils: the agent's bridge plan persists br0 for ifupdown and installs it with
    # apt-get when absent, which a VM with no route out cannot do
    "host": Role("host", ("libvirt-daemon-system", "qemu-system-x86", "qemu-utils",
                          "ipxe-qemu", "bridge-utils"), ("agent",), 16, False),
}

#: Timers and services a throw-away lab VM does not need (each costs seconds of emulated CPU).
MASKED_UNITS = ("e2scrub_reap.service", "e2scrub_all.timer", "apt-daily.timer",
                "apt-daily-upgrade.timer", "fstrim.timer", "systemd-networkd-wait-online.service")

#: Faster dpkg, no documentation in the image (cannot make a missing package pass).
DPKG_OPTIONS = ("force-unsafe-io", "path-exclude=/usr/share/doc/*",
                "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
                "path-exclude=/usr/share/info/*")


@dataclass(frozen=True)
class Upload:
    """A file put into the image: ``dest`` path inside, content, mode."""

    dest: str
    content: bytes
    mode: int = 0o644
    early: bool = False  # before the packages (a hook the kernel's initramfs build must see)


@dataclass(frozen=True)
class Recipe:
    distro: Distro
    role: Role
    uploads: tuple[Upload, ...]
    pins: tuple[str, ...]  # the wheelhouse: name==version of every dependency
    project: str  # digest of the project's source files (the wheel built from them)
    extra: dict[str, str] = field(default_factory=dict)  # more named inputs (tool versions)

    @property
    def name(self) -> str:
        return box_name(self.distro.key, self.role.name)

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.distro.kernel, *BASE_PACKAGES, *self.role.packages)


def box_name(distro: str, role: str) -> str:
    """The local box name ``vagrant box add`` registers (``provisioner-appliance-debian-12``)."""
    return f"provisioner-{role}-{distro}"


def cache_key(recipe: Recipe) -> str:
    """sha256 over every input of the build, in a fixed order (first 16 hex digits)."""
    h = hashlib.sha256()

    def put(tag: str, data: bytes) -> None:
        h.update(f"{tag}:{len(data)}:".encode())
        h.update(data)

    put("distro", json.dumps([recipe.distro.suite, *recipe.distro.mirrors]).encode())
    put("packages", "\n".join(recipe.packages).encode())
    put("role", json.dumps([recipe.role.name, recipe.role.extras, recipe.role.disk_gb,
                            recipe.role.units]).encode())
    put("masked", "\n".join(MASKED_UNITS).encode())
    put("dpkg", "\n".join(DPKG_OPTIONS).encode())
    put("cmdline", CMDLINE.encode())
    for up in sorted(recipe.uploads, key=lambda u: u.dest):
        put(f"upload {up.dest} {up.mode:o}", up.content)
    put("pins", "\n".join(recipe.pins).encode())
    put("project", recipe.project.encode())
    for k, v in sorted(recipe.extra.items()):
        put(f"extra {k}", v.encode())
    put("hooks", "\n".join(setup_hooks(recipe, "STAGING", "DEBS")
                           + customize_hooks(recipe, "WHEELHOUSE", "STAGING")).encode())
    return h.hexdigest()[:16]


def _chroot(cmd: str) -> str:
    """A command run in the image with a clean environment (no PIP_* of the builder)."""
    return ('chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root '
            f"LANG=C.UTF-8 {cmd}")


def _upload_hooks(recipe: Recipe, staging: str, early: bool) -> list[str]:
    hooks = []
    for i, up in enumerate(recipe.uploads):
        if up.early == early:
            dest = shlex.quote(up.dest)
            hooks += [f'mkdir -p "$1/$(dirname {dest})"', f"upload {staging}/{i} {up.dest}",
                      f'chmod {up.mode:o} "$1"/{dest}']
    return hooks


def setup_hooks(recipe: Recipe, staging: str, debcache: str) -> list[str]:
    """Before packages: the package cache seed and the early uploads (initramfs settings)."""
    q = shlex.quote(debcache)
    return [
        'mkdir -p "$1/var/cache/apt/archives"',
        f'cp -al {q}/. "$1/var/cache/apt/archives/" 2>/dev/null || '
        f'cp -a {q}/. "$1/var/cache/apt/archives/"',
        *_upload_hooks(recipe, staging, early=True),
    ]


def customize_hooks(recipe: Recipe, wheelhouse: str, staging: str) -> list[str]:
    """After packages: the Vagrant conventions, the uploads, the project, then clean-up.

    ``staging`` holds the upload files, named by their index in ``recipe.uploads``.
    """
    extras = f"[{','.join(recipe.role.extras)}]" if recipe.role.extras else ""
    hooks = [_chroot("useradd -m -s /bin/bash -G sudo vagrant"),
             *_upload_hooks(recipe, staging, early=False),
             _chroot("chown -R vagrant:vagrant /home/vagrant/.ssh"),
             'chmod 700 "$1/home/vagrant/.ssh"']
    hooks += [
        _chroot("systemctl enable systemd-networkd ssh ssh-hostkeys.service "
                + " ".join(recipe.role.units)),
        _chroot("systemctl mask " + " ".join(MASKED_UNITS)),
        'echo "/dev/vda / ext4 rw,relatime 0 1" > "$1/etc/fstab"',
        f"copy-in {wheelhouse} /tmp",
        # offline for real: the installs run in a network namespace with no interface but lo
        "unshare --net " + _chroot(f"/usr/bin/python3 -m venv {VENV}"),
        "unshare --net " + _chroot(f"{VENV}/bin/pip install -q --no-index --find-links "
                                   f"/tmp/{wheelhouse.rsplit('/', 1)[-1]} 'provisioner{extras}'"),
        _chroot(f"{VENV}/bin/provisioner --help") + " >/dev/null",
        f'rm -rf "$1/tmp/{wheelhouse.rsplit("/", 1)[-1]}"',
        'rm -f "$1"/etc/ssh/ssh_host_* && : > "$1/etc/machine-id"',
        'rm -f "$1"/var/lib/dbus/machine-id "$1"/var/cache/apt/*.bin',
    ]
    return hooks


def _keep_debs(debcache: str) -> str:
    """Save the build's packages for the next build (hard links; they may be the seed's own)."""
    q = shlex.quote(debcache)
    return ('for f in "$1"/var/cache/apt/archives/*.deb; do [ -e "$f" ] || continue; '
            f'[ -e {q}/"${{f##*/}}" ] || cp -l "$f" {q}/ 2>/dev/null || cp "$f" {q}/; done')


def mmdebstrap_argv(recipe: Recipe, target: str, wheelhouse: str, staging: str,
                    debcache: str) -> list[str]:
    """The ``mmdebstrap`` command making the box's root file system in directory ``target``.

    Packages downloaded for the build stay in ``debcache`` for the next one (``sync-out``)
    and are removed from the image.
    """
    argv = ["mmdebstrap", "--mode=root", "--variant=minbase", "--skip=download/empty",
            "--skip=essential/unlink", f"--include={','.join(recipe.packages)}"]
    argv += [f"--dpkgopt={o}" for o in DPKG_OPTIONS]
    argv += [f"--setup-hook={h}" for h in setup_hooks(recipe, staging, debcache)]
    argv += [f"--customize-hook={_keep_debs(debcache)}",
             '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb']
    argv += [f"--customize-hook={h}" for h in customize_hooks(recipe, wheelhouse, staging)]
    return [*argv, recipe.distro.suite, target, *recipe.distro.mirrors]


def metadata_json(disk_gb: int) -> str:
    return json.dumps({"provider": "libvirt", "format": "qcow2", "virtual_size": disk_gb}) + "\n"


def box_vagrantfile() -> str:
    """The box's own Vagrantfile: boot the kernel and initrd shipped next to the disk image."""
    return (
        "# Made by `provisioner lab box build`: the kernel boots directly (no boot loader on\n"
        "# the disk image), from the files next to this Vagrantfile.\n"
        'Vagrant.configure("2") do |config|\n'
        "  config.vm.provider :libvirt do |lv|\n"
        '    lv.kernel = File.expand_path("vmlinuz", __dir__)\n'
        '    lv.initrd = File.expand_path("initrd.img", __dir__)\n'
        f'    lv.cmd_line = "{CMDLINE}"\n'
        "  end\n"
        "end\n"
    )


def box_info(recipe: Recipe, key: str) -> str:
    """``provisioner-box.json``: which build this box is (read back after ``box add``)."""
    return json.dumps({"name": recipe.name, "key": key, "distro": recipe.distro.key,
                       "role": recipe.role.name, "packages": list(recipe.packages),
                       "pins": list(recipe.pins)}, indent=1) + "\n"


def box_members() -> tuple[str, ...]:
    return ("metadata.json", "Vagrantfile", BOX_INFO, "vmlinuz", "initrd.img", "box.img")


def unknown(kind: str, value: str, known: Iterable[str]) -> str:
    return f"unknown {kind} {value!r}; one of: {', '.join(sorted(known))}"
