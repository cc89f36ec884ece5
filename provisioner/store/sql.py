"""SQLAlchemy Store: SQLite (WAL) by default, PostgreSQL by URL, with the same portable SQL.

Only SQLAlchemy Core expressions are used (no raw SQL, no dialect-specific upserts); the only
SQLite-specific code is the connection PRAGMAs, issued when the dialect is SQLite. Every method
is one short transaction; unique-key clashes become :class:`Conflict`, other database failures
:class:`StoreError`. The inventory, its change counter and the timelines are here; the other
records in ``sql_fleet.py``; connections and transactions in ``sqlbase.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from provisioner.models import Change, Distro, Event, Interface, Profile, System, VmDefaults
from provisioner.store import schema as t
from provisioner.store.changes import CHANNEL, KEEP, PRUNE_EVERY
from provisioner.store.power import SqlPower, forget_power_sql
from provisioner.store.secrets import SqlSecrets
from provisioner.store.sql_fleet import FleetTables
from provisioner.store.sqlbase import make_engine

# Hot-path statements, built once: constructing a select() per call costs more than running it.
_DISTRO = select(t.distros).where(t.distros.c.name == bindparam("key"))
_PROFILE = select(t.profiles).where(t.profiles.c.name == bindparam("key"))
_SYSTEM = select(t.systems).where(t.systems.c.name == bindparam("key"))
_SYSTEM_BY_TOKEN = select(t.systems).where(t.systems.c.token == bindparam("key"))
_SYSTEM_BY_MAC = select(t.systems).where(t.systems.c.name == select(t.interfaces.c.system).where(
    t.interfaces.c.mac == bindparam("key")).scalar_subquery())
_SYSTEM_BY_IP = select(t.systems).where(t.systems.c.name == select(t.interfaces.c.system).where(
    t.interfaces.c.ip == bindparam("key")).scalar_subquery())
_SYSTEM_BY_DUID = select(t.systems).where(t.systems.c.name == select(t.interfaces.c.system).where(
    t.interfaces.c.duid == bindparam("key")).scalar_subquery())
_INTERFACES = (select(t.interfaces).where(t.interfaces.c.system == bindparam("key"))
               .order_by(t.interfaces.c.position))
_ADD_EVENT = insert(t.events)
_REVISION = select(t.inventory_revision.c.revision).where(
    t.inventory_revision.c.id == bindparam("key"))
_BUMP = (update(t.inventory_revision).where(t.inventory_revision.c.id == 1)
         .values(revision=t.inventory_revision.c.revision + 1)
         .returning(t.inventory_revision.c.revision))
_CHANGES = (select(t.inventory_changes).where(t.inventory_changes.c.revision > bindparam("key"))
            .order_by(t.inventory_changes.c.revision))
_ADDRESSES = (select(t.systems.c.name, t.systems.c.hostname, t.interfaces.c.name, t.interfaces.c.ip)
              .join(t.interfaces, t.interfaces.c.system == t.systems.c.name)
              .where(t.interfaces.c.ip.is_not(None))
              .order_by(t.systems.c.name, t.interfaces.c.position))
_ADDRESSES6 = (select(t.systems.c.name, t.systems.c.hostname, t.interfaces.c.name,
                      t.interfaces.c.ipv6)
               .join(t.interfaces, t.interfaces.c.system == t.systems.c.name)
               .where(t.interfaces.c.ipv6.is_not(None))
               .order_by(t.systems.c.name, t.interfaces.c.position))


def _vm(raw: dict[str, Any]) -> VmDefaults:
    return VmDefaults(**raw)


def _vm_json(vm: VmDefaults) -> dict[str, Any]:
    return {k: v for k, v in asdict(vm).items() if v is not None}


class SqlStore(SqlSecrets, SqlPower, FleetTables):
    """A :class:`~provisioner.core.ports.Store` over a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, {
            "distro": _DISTRO, "profile": _PROFILE, "system": _SYSTEM,
            "system_by_token": _SYSTEM_BY_TOKEN, "system_by_mac": _SYSTEM_BY_MAC,
            "system_by_ip": _SYSTEM_BY_IP, "system_by_duid": _SYSTEM_BY_DUID,
            "interfaces": _INTERFACES, "revision": _REVISION})

    @classmethod
    def open(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    # the inventory change counter (store/changes.py)
    def _changed(self, conn: Connection, entity: str, name: str) -> None:
        """Bump the revision and log the change, inside the caller's write transaction."""
        n = conn.execute(_BUMP).scalar_one()
        conn.execute(insert(t.inventory_changes).values(revision=n, entity=entity, name=name))
        if n % PRUNE_EVERY == 0:
            conn.execute(delete(t.inventory_changes).where(
                t.inventory_changes.c.revision <= n - KEEP))
        if self._notify:  # delivered to listeners when (and only if) this transaction commits
            conn.execute(select(func.pg_notify(CHANNEL, str(n))))

    def revision(self) -> int:
        with self._read() as conn:
            rows = self._hot["revision"].rows(conn, 1)  # type: ignore[arg-type]
        return int(rows[0]["revision"]) if rows else 0

    def changes_since(self, revision: int) -> tuple[int, list[Change]] | None:
        with self._read() as conn:
            current = self._hot["revision"].rows(conn, 1)  # type: ignore[arg-type]
            rows = conn.execute(_CHANGES, {"key": revision}).all()
        now = int(current[0]["revision"]) if current else 0
        if now < revision or now > revision and (not rows or rows[0][0] != revision + 1):
            return None  # the log no longer reaches back (or the database went backwards)
        return now, [Change(r[0], r[1], r[2]) for r in rows if r[0] <= now]

    # distros
    def get_distro(self, name: str) -> Distro | None:
        with self._read() as conn:
            rows = self._hot["distro"].rows(conn, name)
        return Distro(**rows[0]) if rows else None

    def put_distro(self, distro: Distro) -> None:
        with self._tx() as conn:
            self._upsert(conn, t.distros, "name", asdict(distro))
            self._changed(conn, "distro", distro.name)

    def delete_distro(self, name: str) -> bool:
        return self._delete(t.distros, "name", name, "distro")

    def list_distros(self) -> list[Distro]:
        with self._read() as conn:
            rows = conn.execute(select(t.distros).order_by(t.distros.c.name)).mappings().all()
        return [Distro(**r) for r in rows]

    # profiles
    @staticmethod
    def _profile(row: Any) -> Profile:
        return Profile(name=row["name"], distro=row["distro"], parent=row["parent"],
                       kickstart=row["kickstart"], kernel_options=row["kernel_options"],
                       metadata=dict(row["meta"]), vm=_vm(row["vm"]))

    def get_profile(self, name: str) -> Profile | None:
        with self._read() as conn:
            rows = self._hot["profile"].rows(conn, name)
        return self._profile(rows[0]) if rows else None

    def put_profile(self, profile: Profile) -> None:
        row = {"name": profile.name, "distro": profile.distro, "parent": profile.parent,
               "kickstart": profile.kickstart, "kernel_options": profile.kernel_options,
               "meta": dict(profile.metadata), "vm": _vm_json(profile.vm)}
        with self._tx() as conn:
            self._upsert(conn, t.profiles, "name", row)
            self._changed(conn, "profile", profile.name)

    def delete_profile(self, name: str) -> bool:
        return self._delete(t.profiles, "name", name, "profile")

    def list_profiles(self, *, distro: str | None = None,
                      parent: str | None = None) -> list[Profile]:
        query = select(t.profiles).order_by(t.profiles.c.name)
        if distro is not None:
            query = query.where(t.profiles.c.distro == distro)
        if parent is not None:
            query = query.where(t.profiles.c.parent == parent)
        with self._read() as conn:
            return [self._profile(r) for r in conn.execute(query).mappings().all()]

    # systems
    @staticmethod
    def _system(row: Any, ifaces: list[Any]) -> System:
        return System(
            name=row["name"], profile=row["profile"], hostname=row["hostname"],
            interfaces=tuple(Interface(mac=i["mac"], ip=i["ip"], name=i["name"],
                                       bridge=i["bridge"], netmask=i["netmask"],
                                       gateway=i["gateway"], ipv6=i["ipv6"],
                                       duid=i["duid"]) for i in ifaces),
            netboot_enabled=bool(row["netboot_enabled"]), kernel_options=row["kernel_options"],
            metadata=dict(row["meta"]), vm=_vm(row["vm"]), status=row["status"],
            token=row["token"] or "")

    def _load_system(self, query: str, key: str) -> System | None:
        """Two indexed queries in one transaction: the system row, then its interfaces."""
        with self._read() as conn:
            rows = self._hot[query].rows(conn, key)
            if not rows:
                return None
            ifaces = self._hot["interfaces"].rows(conn, rows[0]["name"])
        return self._system(rows[0], ifaces)

    def get_system(self, name: str) -> System | None:
        return self._load_system("system", name)

    def system_by_mac(self, mac: str) -> System | None:
        return self._load_system("system_by_mac", mac)

    def system_by_ip(self, ip: str) -> System | None:
        return self._load_system("system_by_ip", ip)

    def system_by_duid(self, duid: str) -> System | None:
        return self._load_system("system_by_duid", duid)

    def system_by_token(self, token: str) -> System | None:
        return self._load_system("system_by_token", token)

    def list_addresses(self) -> list[tuple[str, str | None, str, str]]:
        with self._read() as conn:
            return [(row[0], row[1], row[2], row[3]) for q in (_ADDRESSES, _ADDRESSES6)
                    for row in conn.execute(q).all()]

    def put_system(self, system: System) -> None:
        row = {"name": system.name, "profile": system.profile, "hostname": system.hostname,
               "netboot_enabled": system.netboot_enabled, "kernel_options": system.kernel_options,
               "meta": dict(system.metadata), "vm": _vm_json(system.vm), "status": system.status,
               "token": system.token or None}
        with self._tx() as conn:
            self._upsert(conn, t.systems, "name", row)
            conn.execute(delete(t.interfaces).where(t.interfaces.c.system == system.name))
            for pos, iface in enumerate(system.interfaces):
                conn.execute(insert(t.interfaces).values(
                    system=system.name, position=pos, name=iface.name, mac=iface.mac, ip=iface.ip,
                    bridge=iface.bridge, netmask=iface.netmask, gateway=iface.gateway,
                    ipv6=iface.ipv6, duid=iface.duid))
            self._changed(conn, "system", system.name)

    def delete_system(self, name: str) -> bool:
        with self._tx() as conn:
            conn.execute(delete(t.interfaces).where(t.interfaces.c.system == name))
            gone = conn.execute(delete(t.systems).where(t.systems.c.name == name)).rowcount > 0
            if gone:
                forget_power_sql(conn, name)
                self._changed(conn, "system", name)
            return gone

    def list_systems(self, *, profile: str | None = None) -> list[System]:
        query = select(t.systems).order_by(t.systems.c.name)
        iq = select(t.interfaces).order_by(t.interfaces.c.system, t.interfaces.c.position)
        if profile is not None:
            query = query.where(t.systems.c.profile == profile)
            iq = iq.where(t.interfaces.c.system.in_(
                select(t.systems.c.name).where(t.systems.c.profile == profile)))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            by_system: dict[str, list[Any]] = {}
            for i in conn.execute(iq).mappings():
                by_system.setdefault(i["system"], []).append(i)
        return [self._system(r, by_system.get(r["name"], [])) for r in rows]

    # timeline
    def add_event(self, event: Event) -> Event:
        with self._tx() as conn:
            res = conn.execute(_ADD_EVENT, {"subject": event.subject, "kind": event.kind,
                                            "detail": dict(event.detail), "at": event.at})
            key = res.inserted_primary_key
            assert key is not None, "INSERT returned no primary key"
            new_id = key[0]
        return Event(event.subject, event.kind, dict(event.detail), event.at, new_id)

    def add_events(self, events: list[Event]) -> None:
        rows = [{"subject": e.subject, "kind": e.kind, "detail": dict(e.detail), "at": e.at}
                for e in events]
        if rows:
            with self._tx() as conn:
                conn.execute(_ADD_EVENT, rows)

    def list_events(self, subject: str, limit: int | None = None) -> list[Event]:
        query = select(t.events).where(t.events.c.subject == subject).order_by(t.events.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Event(r["subject"], r["kind"], dict(r["detail"]), r["at"], r["id"])
                for r in reversed(rows)]

    def latest_events(self, limit: int) -> list[Event]:
        if limit <= 0:
            return []
        query = select(t.events).order_by(t.events.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Event(r["subject"], r["kind"], dict(r["detail"]), r["at"], r["id"])
                for r in reversed(rows)]
