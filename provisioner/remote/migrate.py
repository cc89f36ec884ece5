"""Live (and offline) migration between two hosts the appliance is connected to (seed ch.18-19).

libvirt's *managed* migration: the appliance holds both connections (``dom.migrate3(dconn,
...)``): prepare on the destination, perform on the source, finish on the destination, confirm
on the source. The hosts need no credentials for each other (the appliance's SSH key or client
certificate is enough), the memory stream goes QEMU to QEMU (encrypted with TLS when
``tls_stream``), and the guest stays on the source until the destination has it running
(seed §4.5: "the guest keeps running on the source until migration has fully finished").

Progress is sampled from the source's job statistics while the migration runs, and the same
watcher aborts the job (``abortJob``) when the destination's connection dies (closed, or silent
for the keepalive period) or ``opts.deadline_s`` passes: the source's libvirt alone would go on
sending to a destination QEMU whose libvirtd is gone, for as long as the transfer takes. The result
(:class:`Outcome`) says where the guest runs afterwards, from libvirt itself: the caller records
the move in the inventory only when ``outcome.ok``. After a failure the source is checked and a
guest libvirt left paused there is resumed, so a failed migration leaves the guest running on
the source.

The pure parts (flags, parameters, the host-passthrough refusal) are functions of their inputs.
Seed terms: the guide's *offline* migration suspends the guest, moves it and resumes it (no
``--live``); libvirt's ``VIR_MIGRATE_OFFLINE`` (definition only) is used for a guest that is
not running.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libvirt

from provisioner.remote.errors import MigrationRefused
from provisioner.remote.libvirt_conn import KEEPALIVE
from provisioner.remote.migration import Options, Outcome, Progress, refusal


def flags_for(opts: Options, *, active: bool) -> int:
    if not active:
        return (libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST
                | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    flags = libvirt.VIR_MIGRATE_LIVE if opts.live else 0
    if opts.persist:
        flags |= libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    if opts.copy_storage:
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
    if opts.tls_stream:
        flags |= libvirt.VIR_MIGRATE_TLS
    if opts.unsafe:
        flags |= libvirt.VIR_MIGRATE_UNSAFE
    if opts.p2p_uri:
        flags |= libvirt.VIR_MIGRATE_PEER2PEER
    if opts.tunnelled:
        flags |= libvirt.VIR_MIGRATE_TUNNELLED
    return flags


def params_for(opts: Options) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if opts.data_address and not opts.tunnelled:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = f"tcp://{opts.data_address}"
    if opts.bandwidth_mib:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(opts.bandwidth_mib)
    return params


def progress_from(stats: dict[str, Any]) -> Progress:
    def n(key: str) -> int:
        return int(stats.get(key) or 0)

    down = stats.get(libvirt.VIR_DOMAIN_JOB_DOWNTIME)
    return Progress(n(libvirt.VIR_DOMAIN_JOB_TIME_ELAPSED), n(libvirt.VIR_DOMAIN_JOB_DATA_TOTAL),
                    n(libvirt.VIR_DOMAIN_JOB_DATA_PROCESSED),
                    n(libvirt.VIR_DOMAIN_JOB_DATA_REMAINING),
                    n(libvirt.VIR_DOMAIN_JOB_MEMORY_REMAINING),
                    None if down is None else int(down))


def _state(conn: Any, name: str) -> str | None:
    try:
        state, _ = conn.lookupByName(name).state()
    except libvirt.libvirtError:
        return None
    return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
            libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}.get(state, str(state))


@dataclass
class Watch:
    """What the watcher thread saw: progress samples, and why it aborted the job (if it did)."""

    samples: list[Progress] = field(default_factory=list)
    aborted: str | None = None


def abort_reason(dst_alive: bool, elapsed: float, deadline: float | None) -> str | None:
    """Why a running migration must be aborted now (None: let it run). The source's libvirt
    does not notice a destination whose libvirtd died (QEMU talks to QEMU), so the appliance,
    which holds the destination's connection (keepalive), decides for it."""
    if not dst_alive:
        return ("the connection to the destination's libvirt was lost (closed, or silent "
                f"for {KEEPALIVE[0] * KEEPALIVE[1]} s of keepalive)")
    if deadline is not None and elapsed > deadline:
        return f"not finished within the deadline of {deadline:g} s"
    return None


def _alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except libvirt.libvirtError:
        return False


def _watch(dom: Any, dst: Any, w: Watch, on_progress: Callable[[Progress], None] | None,
           stop: threading.Event, poll: float, deadline: float | None,
           clock: Callable[[], float]) -> None:
    t0 = clock()
    while not stop.wait(poll):
        why = abort_reason(_alive(dst), clock() - t0, deadline)
        if why is not None and w.aborted is None:
            w.aborted = why
            with contextlib.suppress(libvirt.libvirtError):
                dom.abortJob()
        try:
            stats = dom.jobStats()
        except libvirt.libvirtError:
            continue
        if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            continue
        p = progress_from(stats)
        w.samples.append(p)
        if on_progress:
            on_progress(p)


def _completed_downtime(*doms: Any) -> int | None:
    for dom in doms:
        try:
            stats = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except (libvirt.libvirtError, AttributeError):
            continue
        if stats.get(libvirt.VIR_DOMAIN_JOB_DOWNTIME) is not None:
            return int(stats[libvirt.VIR_DOMAIN_JOB_DOWNTIME])
    return None


def _after_failure(src: Any, dst: Any, name: str) -> str:
    """Where the guest is after a failed migration; resume it on the source if libvirt left it
    paused there and the destination does not run it."""
    s = _state(src, name)
    d = _state(dst, name) if dst is not None else None
    if d == "running":
        return "destination"
    if s == "paused":
        try:
            src.lookupByName(name).resume()
            s = _state(src, name)
        except libvirt.libvirtError:
            pass
    if s == "running":
        return "source"
    return "unknown" if s is None else "nowhere"


def _perform(dom: Any, dst: Any, opts: Options, active: bool) -> Any:
    """Managed (the appliance drives both sides) or peer-to-peer (the source's libvirtd
    drives, ``migrateToURI3``); the destination's domain object either way."""
    if opts.p2p_uri:
        dom.migrateToURI3(opts.p2p_uri, params_for(opts), flags_for(opts, active=active))
        try:
            return dst.lookupByName(dom.name())
        except libvirt.libvirtError:
            return None  # the outcome comes from the destination's state below
    return dom.migrate3(dst, params_for(opts), flags_for(opts, active=active))


def migrate(src: Any, dst: Any, name: str, opts: Options, *,
            on_progress: Callable[[Progress], None] | None = None, poll: float = 0.25,
            clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Move guest ``name`` from the ``src`` connection to the ``dst`` connection."""
    try:
        dom = src.lookupByName(name)
    except libvirt.libvirtError:
        raise MigrationRefused(f"guest {name!r} is not defined on the source host") from None
    why = refusal(dom.XMLDesc(0), opts)
    if why:
        raise MigrationRefused(why)
    active = bool(dom.isActive())
    w, stop = Watch(), threading.Event()
    watcher = threading.Thread(target=_watch, name=f"migrate {name} watch",
                               args=(dom, dst, w, on_progress, stop, poll, opts.deadline_s,
                                     clock), daemon=True)
    t0 = clock()
    if active:
        watcher.start()
    try:
        new = _perform(dom, dst, opts, active)
    except libvirt.libvirtError as exc:
        stop.set()
        where = _after_failure(src, dst if _alive(dst) else None, name)
        error = " ".join(str(exc).split())
        if w.aborted:
            error = f"{w.aborted}: migration aborted ({error})"
        return Outcome(False, where, clock() - t0, error=error, samples=tuple(w.samples))
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(5)
    total = clock() - t0
    state = _state(dst, name)
    want = "running" if active else "shutoff"
    if state != want or (active and _state(src, name) == "running") or \
            (not active and _state(src, name) is not None):
        return Outcome(False, _after_failure(src, dst, name), total,
                       error=f"libvirt reported success but the destination shows {state!r}",
                       samples=tuple(w.samples))
    return Outcome(True, "destination", total, _completed_downtime(new, dom),
                   samples=tuple(w.samples))
