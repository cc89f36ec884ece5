"""``provisioner lab box build``: make a vagrant-libvirt box from the distribution's packages.

Steps (each named in the error when it fails; the log is kept in ``<cache>/boxes/logs``):

1. *inputs*: the tools (``mmdebstrap``, ``mkfs.ext4``, ``qemu-img``), the project checkout,
   Vagrant's insecure public key, the boot kit (appliance role), the pinned dependency set; their
   content hash is the cache key (:func:`provisioner.lab.vagrant.boxspec.cache_key`). A box
   with that key in the cache is used as it is;
2. *wheelhouse*: the project's wheel and its pinned dependencies (``pip wheel``);
3. *root file system*: ``mmdebstrap`` into a directory, customize hooks install the project
   offline (no network in that step) and apply the Vagrant box conventions;
4. *disk image*: ``mkfs.ext4 -d`` (no loop device, no mount), ``qemu-img convert`` to qcow2;
5. *box*: ``metadata.json``, the box ``Vagrantfile``, kernel, initrd, image in one tar, renamed
   into place only when complete.

A failed build removes its work directory (after making sure nothing is still mounted in it)
and leaves no box behind. :func:`add` registers a built box with ``vagrant box add`` under its
local name unless that exact build is already registered.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner.lab.kit import ensure_kit
from provisioner.lab.state import DEFAULT_CACHE
from provisioner.lab.vagrant import boxspec, wheelhouse

#: Where Vagrant packages keep the insecure key pair's public half (Debian's, then HashiCorp's).
VAGRANT_KEY_GLOBS = ("/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
                     "/usr/lib/ruby/vendor_ruby/vagrant/keys/vagrant.pub",
                     "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub")
TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils",
         "unshare": "util-linux", "tar": "tar"}
PROJECT_PARTS = ("provisioner", "agent", "templates", "tftpboot", "pyproject.toml", "README.md")


class BoxError(Exception):
    """A box build step failed; the message names the step, the cause and the log."""


@dataclass(frozen=True)
class Built:
    name: str
    key: str
    path: Path
    reused: bool


def checkout_root() -> Path:
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "pyproject.toml").is_file()), here.parent)
    if not (root / "pyproject.toml").is_file() or not (root / "packaging" / "box").is_dir():
        raise BoxError(f"box build needs the project's source checkout (looked in {root})")
    return root


def _check_tools() -> None:
    if os.geteuid() != 0:
        raise BoxError("box build needs root (mmdebstrap --mode=root, chroot)")
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise BoxError(f"missing tools: apt-get install {' '.join(sorted(set(missing)))}")


def vagrant_public_key() -> bytes:
    for pattern in VAGRANT_KEY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            return Path(path).read_bytes()
    raise BoxError("Vagrant's insecure public key was not found: apt-get install vagrant")


def project_files(root: Path) -> list[Path]:
    """The files the project's wheel is built from (as git sees them, else a directory walk)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "-co",
                              "--exclude-standard", "--", *PROJECT_PARTS], capture_output=True,
                             check=True, timeout=60).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(root)) for part in PROJECT_PARTS
                 for p in ([root / part] if (root / part).is_file()
                           else (root / part).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    return sorted(root / n for n in names if (root / n).is_file())


def project_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in project_files(root):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _uploads(root: Path, role: boxspec.Role, cache: Path) -> tuple[boxspec.Upload, ...]:
    box = root / "packaging" / "box"
    ups = [
        boxspec.Upload("/etc/initramfs-tools/conf.d/vagrant-box.conf",
                       (box / "initramfs.conf").read_bytes(), early=True),
        boxspec.Upload("/etc/initramfs-tools/hooks/vagrant-box",
                       (box / "initramfs-hook").read_bytes(), 0o755, early=True),
        boxspec.Upload("/home/vagrant/.ssh/authorized_keys", vagrant_public_key(), 0o600),
        boxspec.Upload("/etc/sudoers.d/vagrant", (box / "sudoers").read_bytes(), 0o440),
        boxspec.Upload("/etc/systemd/network/10-eth0.network",
                       (box / "eth0.network").read_bytes()),
        boxspec.Upload("/etc/ssh/sshd_config.d/vagrant-box.conf",
                       (box / "sshd-box.conf").read_bytes()),
        boxspec.Upload("/etc/systemd/system/ssh-hostkeys.service",
                       (box / "ssh-hostkeys.service").read_bytes()),
    ]
    ups += [boxspec.Upload(f"/etc/systemd/system/{u}",
                           (root / "packaging" / "systemd" / u).read_bytes())
            for u in role.units]
    if role.kit:  # the lab's appliance: the PXE clients' boot kit and the RA sender
        kit = ensure_kit(cache)
        ups += [boxspec.Upload("/etc/systemd/system/lab-router-adverts.service",
                               (box / "lab-router-adverts.service").read_bytes()),
                boxspec.Upload(f"{boxspec.KIT_DIR}/kernel", kit.kernel.read_bytes()),
                boxspec.Upload(f"{boxspec.KIT_DIR}/initrd", kit.initrd.read_bytes())]
    return tuple(ups)


def _tool_versions() -> dict[str, str]:
    out = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, timeout=30)
    return {"mmdebstrap": out.stdout.strip()}


def recipe(distro: str, role: str, cache: Path) -> boxspec.Recipe:
    if distro not in boxspec.DISTROS:
        raise BoxError(boxspec.unknown("distro", distro, boxspec.DISTROS))
    if role not in boxspec.ROLES:
        raise BoxError(boxspec.unknown("role", role, boxspec.ROLES))
    r = boxspec.ROLES[role]
    root = checkout_root()
    absent = wheelhouse.missing(
        wheelhouse.project_requirements(root / "pyproject.toml", r.extras), r.extras,
        wheelhouse.installed)
    if absent:
        raise BoxError(f"the checkout needs {', '.join(absent)}, not installed in this Python "
                       f"({sys.executable}): run scripts/setup.sh first (the box gets the "
                       "dependencies installed here)")
    found = wheelhouse.closure("provisioner", r.extras, wheelhouse.installed)
    return boxspec.Recipe(boxspec.DISTROS[distro], r, _uploads(root, r, cache),
                          tuple(wheelhouse.pins(found)), project_digest(root),
                          _tool_versions())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def _remove_workdir(work: Path) -> None:
    """Remove a build directory, never following a mount that is still there into it."""
    for point in _mounts_under(work):
        subprocess.run(["umount", "--lazy", point], capture_output=True, timeout=60)
    left = _mounts_under(work)
    if left:
        raise BoxError(f"{work} still has mounts ({', '.join(left)}); not removing it")
    shutil.rmtree(work, ignore_errors=True)


def _run(step: str, cmd: list[str], log: Path, timeout: float) -> None:
    with log.open("a") as out:
        out.write(f"\n== {step}\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BoxError(f"{step}: timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise BoxError(f"{step}: {cmd[0]} exited with {proc.returncode}: {_tail(log)}")


def _tail(log: Path, lines: int = 6) -> str:
    with contextlib.suppress(OSError):
        text = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        return " | ".join(text[-lines:])
    return ""


def _image(rootfs: Path, work: Path, disk_gb: int, log: Path) -> Path:
    raw, img = work / "box.raw", work / "box.img"
    with raw.open("wb") as fh:
        fh.truncate(disk_gb << 30)
    _run("disk image", ["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs), str(raw)],
         log, 600)
    _run("disk image", ["qemu-img", "convert", "-O", "qcow2", str(raw), str(img)], log, 600)
    raw.unlink()
    return img


def _pack(rec: boxspec.Recipe, key: str, rootfs: Path, work: Path, img: Path) -> Path:
    boxdir = work / "box"
    boxdir.mkdir()
    img.rename(boxdir / "box.img")
    for name in ("vmlinuz", "initrd.img"):
        found = sorted((rootfs / "boot").glob(f"{name}-*"))
        if not found:
            raise BoxError(f"box: the image has no /boot/{name}-* (kernel package missing?)")
        shutil.copyfile(found[-1], boxdir / name)
    (boxdir / "metadata.json").write_text(boxspec.metadata_json(rec.role.disk_gb))
    (boxdir / "Vagrantfile").write_text(boxspec.box_vagrantfile())
    (boxdir / boxspec.BOX_INFO).write_text(boxspec.box_info(rec, key))
    partial = work / "box.tar"
    subprocess.run(["tar", "-C", str(boxdir), "-cf", str(partial), *boxspec.box_members()],
                   check=True, capture_output=True, timeout=600)
    return partial


def build(distro: str = "debian-12", role: str = "appliance", cache: Path = DEFAULT_CACHE,
          say: Callable[[str], None] = print, force: bool = False) -> Built:
    """The box for ``distro``/``role``: from the cache when its inputs are unchanged."""
    _check_tools()
    boxes = cache / "boxes"
    step = "inputs"
    try:
        rec = recipe(distro, role, cache)
    except (OSError, subprocess.SubprocessError, LookupError) as exc:
        raise BoxError(f"box build failed at step 'inputs': {exc}") from exc
    key = boxspec.cache_key(rec)
    out = boxes / f"{rec.name}-{key}.box"
    with _locked(boxes / "build.lock"):
        if out.is_file() and not force:
            os.utime(out)  # in use now: another checkout's build must not prune it
            say(f"box: {rec.name} {key} is in the cache ({out})")
            return Built(rec.name, key, out, True)
        log = boxes / "logs" / f"{rec.name}-{key}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"box build {rec.name} {key} at {time.ctime()}\n")
        work = boxes / f"work-{key}-{os.getpid()}"
        t0 = time.monotonic()
        try:
            work.mkdir(parents=True)
            step = "wheelhouse"
            say(f"box: building {rec.name} ({key}); log {log}")
            wh = work / "wheelhouse"
            wheelhouse.build(wh, checkout_root(), list(rec.pins), log)
            step = "root file system"
            say(f"box: root file system (mmdebstrap {rec.distro.suite}, "
                f"{len(rec.packages)} packages + project)")
            _rootfs(rec, work, wh, cache, log)
            step = "disk image"
            say("box: disk image (mkfs.ext4 -d, qemu-img convert)")
            img = _image(work / "rootfs", work, rec.role.disk_gb, log)
            step = "box"
            partial = _pack(rec, key, work / "rootfs", work, img)
            partial.rename(out)
            _prune(boxes, rec.name, keep=out)
        except BoxError as exc:
            raise BoxError(f"box build failed at step '{step}': {exc}; log: {log}") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise BoxError(f"box build failed at step '{step}': {exc}; "
                           f"log: {log} ({_tail(log, 3)})") from exc
        finally:
            _remove_workdir(work)
        say(f"box: {out.name} built in {time.monotonic() - t0:.0f} s "
            f"({out.stat().st_size >> 20} MiB)")
        return Built(rec.name, key, out, False)


def _rootfs(rec: boxspec.Recipe, work: Path, wh: Path, cache: Path, log: Path) -> None:
    staging = work / "uploads"
    staging.mkdir()
    for i, up in enumerate(rec.uploads):
        (staging / str(i)).write_bytes(up.content)
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    argv = boxspec.mmdebstrap_argv(rec, str(work / "rootfs"), str(wh), str(staging), str(debs))
    _run("root file system", argv, log, 1800)


PRUNE_GRACE = 3600.0


def _prune(boxes: Path, name: str, keep: Path, now: float | None = None) -> None:
    """Older builds of the same box go (one box per name is kept in the cache), except those
    built or reused within the last hour: another checkout's lab may be about to add it."""
    now = time.time() if now is None else now
    for old in boxes.glob(f"{name}-*.box"):
        if old != keep and now - old.stat().st_mtime > PRUNE_GRACE:
            old.unlink(missing_ok=True)


# -- vagrant box add -----------------------------------------------------------------------


def vagrant_home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def added_key(name: str, home: Path) -> str | None:
    """The cache key of the box registered as ``name`` (None: none, or not one of ours)."""
    for info in sorted((home / "boxes" / name).glob(f"*/libvirt/{boxspec.BOX_INFO}")):
        with contextlib.suppress(OSError, ValueError):
            return str(json.loads(info.read_text())["key"])
    return None


def add(built: Built, environ: dict[str, str], say: Callable[[str], None] = print) -> bool:
    """``vagrant box add`` the build under its name; False when it was registered already."""
    home = vagrant_home(environ)
    if added_key(built.name, home) == built.key:
        return False
    if shutil.which("vagrant") is None:
        raise BoxError("vagrant is not installed: apt-get install vagrant vagrant-libvirt")
    say(f"box: vagrant box add {built.name}")
    proc = subprocess.run(["vagrant", "box", "add", "--force", "--name", built.name,
                           str(built.path)], env=environ, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0 or added_key(built.name, home) != built.key:
        raise BoxError(f"vagrant box add {built.name} failed ({proc.returncode}): "
                       f"{(proc.stderr or proc.stdout).strip()[-800:]}")
    return True
