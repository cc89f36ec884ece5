"""Names and values the domain model normalises at construction: MACs, arches, names, URLs.

Each normaliser returns the canonical spelling or raises :class:`~provisioner.errors.Invalid`
naming the field, so matching elsewhere is plain equality.
"""

from __future__ import annotations

import re

from provisioner.errors import Invalid

ARCHES = ("x86_64", "i386", "ia64", "aarch64", "ppc64le", "s390x")
_ARCH_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "i686": "i386", "i586": "i386",
                 "x86": "i386", "arm64": "aarch64", "itanium": "ia64"}
BREEDS = ("redhat", "debian", "suse", "windows", "generic")
HYPERVISORS = ("kvm", "xen")
VIRT_TYPES = ("hvm", "pv")
DISK_BUSES = ("virtio", "ide", "scsi", "xen", "sata")
SYSTEM_STATUSES = ("new", "installing", "installed", "failed", "discovered")

_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def normalize_duid(value: str) -> str:
    """A DHCPv6 DUID as lower-case hex without separators (``00:03:00:01:...`` accepted)."""
    raw = value.strip().lower().replace(":", "").replace("-", "")
    if not (6 <= len(raw) <= 260 and len(raw) % 2 == 0
            and all(c in "0123456789abcdef" for c in raw)):
        raise Invalid(f"bad DHCPv6 DUID {value!r} (hex, 3 to 130 bytes)", field="duid")
    return raw


def normalize_mac(value: str) -> str:
    """Return ``aa:bb:cc:dd:ee:ff``; accept ``-``/``:``/no separators, any case."""
    raw = value.strip().lower()
    if not _MAC_RE.match(raw):
        raise Invalid(f"bad MAC address {value!r}", field="mac")
    hexdigits = raw.replace(":", "").replace("-", "")
    mac = ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))
    if int(hexdigits[1], 16) & 1:
        raise Invalid(f"multicast MAC address {value!r}", field="mac")
    return mac


def normalize_arch(value: str) -> str:
    """Return the canonical arch name (``x86_64``, ``i386``, ``ia64``...)."""
    arch = _ARCH_ALIASES.get(value.strip().lower(), value.strip().lower())
    if arch not in ARCHES:
        raise Invalid(f"unknown arch {value!r}; one of {', '.join(ARCHES)}", field="arch")
    return arch


def check_name(value: str, what: str = "name") -> str:
    """Names are DNS-label-like: letters, digits, dot, dash, underscore; at most 63 chars."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise Invalid(f"bad {what} {value!r}: use letters, digits, '.', '-', '_'", field=what)
    return value


def check_url(value: str, what: str,
              schemes: tuple[str, ...] = ("http", "https", "ftp", "nfs")) -> str:
    """Accept a URL with one of ``schemes``, or an absolute local path."""
    if value.startswith("/"):
        return value
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme not in schemes:
        raise Invalid(f"bad {what} {value!r}: scheme must be one of {', '.join(schemes)}",
                      field=what)
    return value
