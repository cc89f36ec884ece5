"""Inside the Vagrant lab's appliance VM: seed the store once, and wait for the service.

Run by the Vagrantfile's provisioning script with the box's own Python (the VM has no route
out, and everything it needs is in the box):

* ``python -m provisioner.lab.vagrant.vm_setup seed --system pxe1=MAC ...``: the TFTP root from the
  distribution's boot loader packages, distro ``lab`` (the lab's boot kit, baked into the box
  under the assets directory), profile ``lab-guest``, one system per PXE client, user ``admin``
  with a generated password written to ``--admin-password-out``. Idempotent: what exists stays.
  One process instead of one CLI call per item (each Python start costs seconds under TCG).
* ``python -m provisioner.lab.vagrant.vm_setup wait --url URL``: until the service answers, or the
  tail of its journal and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from provisioner import bootloaders
from provisioner.core.users import Users
from provisioner.errors import Conflict, NotFound
from provisioner.main import build_core
from provisioner.models import Distro, Interface, Profile, System, VmDefaults
from provisioner.settings import load

DISTRO, PROFILE = "lab", "lab-guest"
KERNEL_OPTIONS = "console=ttyS0,115200 panic=5"


def _systems(pairs: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        name, sep, mac = pair.partition("=")
        if not sep or not name or not mac:
            raise SystemExit(f"--system takes NAME=MAC, got {pair!r}")
        out.append((name, mac))
    return out


def seed(config: str | None, systems: list[tuple[str, str]], password_out: Path) -> list[str]:
    """Make what is missing; returns what was made."""
    settings = load(config)
    report = bootloaders.install(Path(settings.tftp_root))
    missing = [str(m) for m in report.missing if m.required]
    if missing:
        raise SystemExit(f"boot loaders missing from the box: {'; '.join(missing)}")
    kit = Path(settings.assets_path) / DISTRO
    if not (kit / "kernel").is_file() or not (kit / "initrd").is_file():
        raise SystemExit(f"the box has no boot kit in {kit} (kernel, initrd)")
    made: list[str] = []
    core = build_core(settings)
    try:
        items = [
            # the lab installer never reads the tree, but a kickstart without its install
            # source is invalid for the release and is not served
            ("distro", DISTRO, core.get_distro, lambda: core.add_distro(Distro(
                name=DISTRO, os_version="rhel9", breed="redhat", kernel_options=KERNEL_OPTIONS,
                tree_url=f"{core.default_server()}/lab-tree/"))),
            ("profile", PROFILE, core.get_profile, lambda: core.add_profile(Profile(
                name=PROFILE, distro=DISTRO, vm=VmDefaults(ram_mb=512, vcpus=1, disk_gb=1,
                                                           disk_bus="virtio")))),
        ]
        items += [("system", name, core.get_system, _add_system(core, name, mac))
                  for name, mac in systems]
        for kind, name, get, add in items:
            try:
                get(name)
            except NotFound:
                add()
                made.append(f"{kind} {name}")
        if not password_out.exists():
            password = secrets.token_urlsafe(12)
            with contextlib.suppress(Conflict):
                Users(core.store).create("admin", password, "admin")
                fd = os.open(password_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(password + "\n")
                made.append("user admin")
    finally:
        core.store.close()
    return made


def _add_system(core: Any, name: str, mac: str) -> Callable[[], Any]:
    return lambda: core.add_system(System(name=name, profile=PROFILE, hostname=name,
                                          interfaces=(Interface(mac=mac),)))


def wait(url: str, timeout: float, unit: str = "provisioner.service") -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status < 500:
                    print(f"appliance: {url} answers")
                    return 0
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return 0
        except OSError:
            pass
        time.sleep(1)
    tail = subprocess.run(["journalctl", "-u", unit, "-n", "30", "--no-pager"],
                          capture_output=True, text=True, timeout=30).stdout
    print(f"appliance: {url} did not answer within {timeout:.0f} s; {unit}:\n{tail}",
          file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m provisioner.lab.vagrant.vm_setup")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed", help="TFTP root, distro, profile, PXE clients, admin user")
    s.add_argument("--config", default=os.environ.get("PROVISIONER_CONFIG"))
    s.add_argument("--system", action="append", default=[], metavar="NAME=MAC")
    s.add_argument("--admin-password-out", type=Path, required=True)
    w = sub.add_parser("wait", help="until the appliance answers on URL")
    w.add_argument("--url", required=True)
    w.add_argument("--timeout", type=float, default=120)
    args = p.parse_args(argv)
    if args.cmd == "seed":
        made = seed(args.config, _systems(args.system), args.admin_password_out)
        print("appliance: seeded " + (", ".join(made) if made else "nothing (all there)"))
        return 0
    return wait(args.url, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
