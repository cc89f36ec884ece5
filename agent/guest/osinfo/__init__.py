"""libosinfo as the agent's OS knowledge: ``db`` reads osinfo-db, ``view`` answers
virt-install's questions about one OS, :func:`resolve` turns an ``--osinfo`` name into a view.

The seed's variants (RHEL 3-5, Windows XP/2003/2008) are in osinfo-db too; the seed adds two
old spellings (``rhel4``, ``rhel5``: Example 6.3) and, when no osinfo-db is installed, its own
table (``agent.guest.osdb``) so those guests can still be planned.
"""

from __future__ import annotations

import functools

from agent.guest.errors import GuestError
from agent.guest.osinfo.db import OsinfoDB, load
from agent.guest.osinfo.view import GENERIC, OsInfo

__all__ = ["GENERIC", "OsInfo", "OsinfoDB", "default_db", "load", "resolve"]


@functools.cache
def default_db() -> OsinfoDB:
    """The host's osinfo-db, read once per process (edges call this; cores take a db)."""
    return load()


def resolve(name: str, db: OsinfoDB | None) -> tuple[OsInfo, str]:
    """``(view, why)`` for a short id, a full libosinfo id or ``generic``.

    Unknown names are refused the way virt-install refuses them, with where to look.
    """
    from agent.guest import osdb  # the seed's table

    if name == "generic":
        return GENERIC, "generic: no OS name given or required (virt-install's generic OS)"
    key = osdb.ALIASES.get(name, name)
    alias = f" ({name} is the seed's spelling of {key})" if key != name else ""
    if db is not None and len(db):
        rec = db.by_id.get(key) if "://" in key else db.lookup(key)
        if rec is not None:
            return OsInfo.of(db, rec), f"{key}: libosinfo {rec.id}{alias}"
    seed = osdb.KNOWN.get(key)
    if seed is not None:
        return osdb.as_osinfo(seed), f"{key}: the seed's table (no osinfo-db here){alias}"
    where = f"osinfo-db ({len(db)} OSes)" if db is not None and len(db) else \
        "the seed's table (osinfo-db is not installed)"
    raise GuestError(f"unknown OS name {name!r}: not in {where}; `osinfo-query os` lists the "
                     "names, or use --osinfo detect=on,require=off for a generic guest",
                     "UNKNOWN_OS_VARIANT")
