"""The guide's command lines, built from values (seed D1 §3.8, §4.4, §4.5; oracles §9.5): what
the appliance shows an admin as the manual equivalent of what it does, and the NFS export line
the shared-storage fix asks for."""

from __future__ import annotations

import shlex

from provisioner.remote.uri import UriError, check_host, migration_target

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+")


def _guest(name: str) -> str:
    if not name or set(name) - _NAME_OK or name.startswith("-"):
        raise UriError(f"guest name {name!r}: letters, digits, '.', '_', '-', '+'")
    return name


def virsh_migrate(guest: str, destination: str, *, live: bool = True) -> str:
    """``virsh migrate [--live] GuestName DestinationURI`` (a bare host name is normalised to
    ``qemu+ssh://HOST/system``, as ``uri.migration_target``)."""
    uri = migration_target(destination)
    return " ".join(["virsh", "migrate", *(["--live"] if live else []), _guest(guest),
                     shlex.quote(str(uri))])


def xm_migrate(domain: str, destination_host: str, *, live: bool = True) -> str:
    """``xm migrate [--live] <domain> <destination host>``, run on the source (seed §3.8)."""
    return " ".join(["xm", "migrate", *(["--live"] if live else []), _guest(domain),
                     check_host(destination_host)])


def virsh_save(guest: str, path: str) -> str:
    return f"virsh save {_guest(guest)} {shlex.quote(path)}"


def virsh_restore(path: str) -> str:
    return f"virsh restore {shlex.quote(path)}"


def nfs_export(path: str, clients: str) -> tuple[str, list[str]]:
    """An ``/etc/exports`` line in the seed's form, and warnings (``*``: any host; exporting
    ``/var/lib/xen`` is refused, seed §3.4)."""
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise UriError(f"export path {path!r}: an absolute path without spaces")
    if path.rstrip("/") == "/var/lib/xen" or path.startswith("/var/lib/xen/"):
        raise UriError("never export /var/lib/xen: xend uses it (seed §3.4); export "
                       "/var/lib/libvirt/images")
    if not clients or any(c.isspace() or c in "()" for c in clients):
        raise UriError(f"client spec {clients!r}: a host, domain pattern or '*'")
    warnings = ["'*' lets any host mount the images"] if clients == "*" else []
    return f"{path} {clients}(rw,no_root_squash,async)", warnings
