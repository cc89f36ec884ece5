"""Old spellings, rewritten into today's options before any parser runs (virt-install's
``convert_old_*``): each legacy flag becomes the option text its one parser reads.

* ``-r/--ram N``          -> ``--memory N`` (ignored when --memory is given)
* ``-f/--file``, ``-s/--file-size``, ``--nonsparse``, ``--nodisks`` -> ``--disk``
* ``-b/--bridge``, ``-m/--mac``, ``--nonetworks``, ``bridge:X``/``network:X`` -> ``--network``;
  no network option at all means ``--network default`` (one NIC on the default source)
* ``--vnc``, ``--vncport``, ``--vnclisten``, ``-k/--keymap``, ``--nographics`` -> ``--graphics``
* ``-c PATH`` -> ``--cdrom PATH``; ``--accelerate`` and ``--os-type`` are accepted and do nothing
  (virt-install 4.x: KVM is preferred anyway; --os-type "is deprecated and does nothing")
"""

from __future__ import annotations

import argparse

from agent.guest.errors import GuestError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("-c", dest="cdrom_short", help=argparse.SUPPRESS)
    add("-r", "--ram", type=int, dest="oldmemory", help="RAM in MiB (legacy: --memory)")
    add("-f", "--file", dest="file_paths", action="append", help="disk path (legacy: --disk)")
    add("-s", "--file-size", dest="disksize", type=float, action="append",
        help="disk size in GiB (legacy: --disk size=)")
    add("--nonsparse", action="store_false", default=True, dest="sparse",
        help="preallocate --file disks (legacy)")
    add("--nodisks", action="store_true", help=argparse.SUPPRESS)
    add("--nonetworks", action="store_true", help=argparse.SUPPRESS)
    add("-b", "--bridge", action="append", help="bridge (legacy: --network bridge=)")
    add("-m", "--mac", action="append", help="MAC address (legacy: --network mac=)")
    add("--vnc", action="store_true", help="VNC display (legacy: --graphics vnc)")
    add("--vncport", type=int, help=argparse.SUPPRESS)
    add("--vnclisten", help=argparse.SUPPRESS)
    add("-k", "--keymap", help=argparse.SUPPRESS)
    add("--nographics", action="store_true", help="no display (legacy: --graphics none)")
    add("--accelerate", action="store_true", help="use KVM (legacy; the default)")
    add("--os-type", dest="old_os_type", help="linux|windows (legacy; does nothing)")


def convert(ns: argparse.Namespace) -> list[str]:
    """Rewrite the legacy fields of ``ns`` in place; return notes for the printed plan."""
    notes: list[str] = []
    if ns.cdrom_short:
        if ns.cdrom:
            raise GuestError("-c and --cdrom are the same option; give one", "BAD_OPTION")
        if "://" in ns.cdrom_short:
            raise GuestError("-c was given what looks like a libvirt URI: use --connect "
                             "(or --cdrom for install media)", "BAD_OPTION")
        ns.cdrom = ns.cdrom_short
    if ns.oldmemory is not None and not ns.memory:
        ns.memory = [str(ns.oldmemory)]
    if ns.old_os_type:
        notes.append(f"--os-type {ns.old_os_type}: deprecated, does nothing (as in virt-install)")
    _disks(ns)
    _networks(ns)
    _graphics(ns)
    return notes


def _disks(ns: argparse.Namespace) -> None:
    if ns.nodisks and (ns.file_paths or ns.disk or ns.disksize):
        raise GuestError("--nodisks cannot be combined with --disk/--file", "BAD_OPTION")
    if (ns.file_paths or ns.disksize or not ns.sparse) and ns.disk:
        raise GuestError("--file, --file-size and --nonsparse cannot be mixed with --disk; use "
                         "--disk PATH[,size=GiB][,sparse=no]", "BAD_OPTION")
    if ns.disk:
        return
    if ns.nodisks:
        ns.disk = ["none"]
        return
    paths, sizes = list(ns.file_paths or []), list(ns.disksize or [])
    count = max(len(paths), len(sizes))
    paths += [None] * (count - len(paths))
    sizes += [None] * (count - len(sizes))
    disks = []
    for path, size in zip(paths, sizes, strict=True):
        parts = [f"path={path}"] if path else []
        if size:
            parts.append(f"size={size}")
        if not ns.sparse:
            parts.append("sparse=no")
        disks.append(",".join(parts))
    ns.disk = disks


def _networks(ns: argparse.Namespace) -> None:
    if ns.nonetworks:
        ns.network = ["none"]
    if ns.bridge and ns.network:
        raise GuestError("--bridge and --network cannot be combined", "BAD_OPTION")
    nets = [f"bridge:{b}" for b in ns.bridge] if ns.bridge else list(ns.network or [])
    macs = list(ns.mac or [])
    nets += [None] * (max(len(macs), 1) - len(nets))
    out = []
    for i, net in enumerate(nets):
        net = net or "default"
        if i < len(macs) and macs[i]:
            net += f",mac={macs[i]}"
        for prefix in ("network", "bridge"):  # the seed's bridge:NAME spelling
            if net.startswith(prefix + ":"):
                net = prefix + "=" + net[len(prefix) + 1:]
        out.append(net)
    ns.network = out


def _graphics(ns: argparse.Namespace) -> None:
    old = (ns.vnc, ns.nographics)
    if ns.graphics and (ns.vnc or ns.keymap or ns.vncport or ns.vnclisten):
        raise GuestError("--graphics cannot be mixed with --vnc/--vncport/--vnclisten/--keymap",
                         "BAD_OPTION")
    if sum(bool(g) for g in (*old, ns.graphics)) > 1:
        raise GuestError("give only one of --vnc, --graphics or --nographics", "BAD_OPTION")
    if ns.graphics or not any(old):
        return
    text = "vnc" if ns.vnc else "none"
    if ns.vnclisten:
        text += f",listen={ns.vnclisten}"
    if ns.vncport:
        text += f",port={ns.vncport}"
    if ns.keymap:
        text += f",keymap={ns.keymap}"
    ns.graphics = [text]
