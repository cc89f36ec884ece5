"""One network worker process: a single role (``net/roles.py``) on its own asyncio loop.

    python -m provisioner.net.worker ROLE INDEX      # spec as JSON on stdin

Started only by the supervisor (``net/supervisor.py``), which writes the spec to stdin:
``{"settings": {...}, "link_fd": N, "parent": PID, "log_level": 20}``. The worker

1. opens the store (no migration: the HTTP process did that) behind an in-memory inventory
   cache (``store/cache.py``) and builds a ``Core`` over it whose timeline recorder is the
   event link to the supervisor (``net/eventlink.py``); the role calls
   ``ctx.before_request()`` (the cache's refresh: one revision read) before answering each
   request, so the very next request after a committed change sees it;
2. reads the served interfaces' addresses and awaits ``role.start(ctx)``; a failure there (a
   port in use, an interface gone) exits with :data:`EXIT_START_FAILED` after logging why;
3. sends ``{"t": "ready"}`` on the link and serves until SIGTERM, or until its parent is
   gone (``PR_SET_PDEATHSIG`` plus a once-a-second ``getppid`` check), then closes its sockets,
   flushes queued events (at most 1 s) and exits 0.

Logs go to stderr (inherited from ``provisioner serve``), each line tagged ``<role>-<index>``.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import logging
import os
import resource
import signal
import socket
import sys
from typing import Any, cast

EXIT_START_FAILED = 3
PR_SET_PDEATHSIG = 1

log = logging.getLogger("provisioner.worker")


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the getppid check still covers it
        pass


def _raise_open_files_limit(want: int = 65536) -> None:
    """Every TFTP transfer holds a socket: lift the soft descriptor limit (often 1024) toward
    the hard one, so ``tftp_max_transfers`` and not EMFILE is what bounds a worker."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-files limit: %s", exc)


def build_context(role: str, index: int, spec: dict[str, Any], link: socket.socket) -> Any:
    """Settings, store, Core (events over ``link``) and served addresses for one worker."""
    from provisioner.core.app import Core
    from provisioner.core.ports import Store
    from provisioner.net.dhcp import JOURNAL
    from provisioner.net.eventlink import LinkRecorder
    from provisioner.net.leasedb import SharedLeaseFollower, shared_leases_enabled
    from provisioner.net.leasefile import LeaseFollower
    from provisioner.net.roles import WorkerContext
    from provisioner.render.configs import Renderer
    from provisioner.settings import load
    from provisioner.store import open_store
    from provisioner.store.cache import CachedStore

    settings = load(environ={}, **spec["settings"])
    recorder = LinkRecorder(link)
    cache = CachedStore(open_store(settings.db_url, migrate=False))
    leases: Any = (SharedLeaseFollower(settings.db_url)
                   if shared_leases_enabled(settings.db_url)
                   else LeaseFollower(os.path.join(settings.data_dir, JOURNAL)))
    leases6 = None
    if settings.dhcp6_enabled:
        from provisioner.net.dhcp6 import JOURNAL as JOURNAL6
        from provisioner.net.dhcp6 import lease_dict
        from provisioner.proto.dhcp6 import leases as leases6_mod

        leases6 = LeaseFollower(os.path.join(settings.data_dir, JOURNAL6),
                                decode=leases6_mod.decode_record, row=lease_dict)
    followers = [f for f in (leases, leases6) if f is not None]
    core = Core(cast(Store, cache), Renderer(settings.templates_dir), settings, recorder=recorder,
                leases=lambda _now: [row for f in followers for row in f.leases()])
    addrs: list[Any] = []
    ifaces6: list[Any] = []
    if settings.interfaces:
        from provisioner.net.ifaces import served_addresses
        from provisioner.net.ifaces6 import served_ifaces6

        if role != "ra" and role != "dhcp6":
            addrs = served_addresses(settings.interfaces, require_ipv4=settings.dhcp_enabled)
        ifaces6 = served_ifaces6(settings.interfaces)
    gc.freeze()  # the inventory snapshot (10,000s of objects) is never garbage: no GC scans it
    return WorkerContext(settings, core, addrs, leases, index=index,
                         before_request=_refresher(cache), inventory=cache, ifaces6=ifaces6,
                         leases6=leases6)


def _refresher(cache: Any) -> Any:
    """``cache.refresh`` that keeps serving the last snapshot if the store cannot answer."""
    from provisioner.errors import StoreError

    failures = 0

    def refresh() -> None:
        nonlocal failures
        try:
            if cache.refresh():
                gc.freeze()  # the new snapshot is long-lived: keep it out of GC passes
            failures = 0
        except StoreError as exc:
            failures += 1
            if failures in (1, 100) or failures % 10_000 == 0:
                log.error("inventory refresh failed %d time(s), serving revision %d: %s",
                          failures, cache.revision, exc)

    return refresh


async def serve(role_name: str, index: int, ctx: Any, parent: int) -> int:
    """Run an asyncio role (DHCP, DNS) until SIGTERM or the parent is gone."""
    from provisioner.net.roles import ROLES

    try:
        service = await ROLES[role_name].start(ctx)
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor by the exit code
        log.error("cannot start: %s", exc, exc_info=not isinstance(exc, OSError))
        return EXIT_START_FAILED
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    _ready(ctx, role_name, index)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            if os.getppid() != parent:
                log.error("the supervisor (pid %d) is gone: stopping", parent)
                break
    _shutdown(role_name, service, ctx)
    return 0


def serve_fast(role_name: str, index: int, ctx: Any, parent: int) -> int:
    """Run a role on ``net/evloop.FastLoop`` (TFTP: less loop overhead per block)."""
    from provisioner.net.evloop import FastLoop
    from provisioner.net.roles import ROLES

    loop = ctx.loop = FastLoop()
    try:
        service = ROLES[role_name].start(ctx)
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor by the exit code
        log.error("cannot start: %s", exc, exc_info=not isinstance(exc, OSError))
        return EXIT_START_FAILED
    loop.add_signal_handler(signal.SIGTERM, loop.stop)

    def check_parent() -> None:
        if os.getppid() != parent:
            log.error("the supervisor (pid %d) is gone: stopping", parent)
            loop.stop()
        else:
            loop.call_later(1.0, check_parent)

    loop.call_later(1.0, check_parent)
    _ready(ctx, role_name, index)
    loop.run_forever()
    _shutdown(role_name, service, ctx)
    loop.close()
    return 0


def _ready(ctx: Any, role_name: str, index: int) -> None:
    ctx.core.events.send_control({"t": "ready", "role": role_name, "index": index,
                                  "pid": os.getpid()})


def _shutdown(role_name: str, service: Any, ctx: Any) -> None:
    try:
        service.close()
    except Exception:  # noqa: BLE001
        log.exception("closing the %s service failed", role_name)
    recorder = ctx.core.events
    recorder.flush(timeout=1.0)
    recorder.close(timeout=1.0)
    ctx.core.store.close()
    ctx.leases.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m provisioner.net.worker ROLE INDEX  (spec on stdin)",
              file=sys.stderr)
        return 2
    role, index = argv[0], int(argv[1])
    # Ctrl-C in a terminal reaches the whole process group: the supervisor stops its workers
    # itself (SIGTERM), so a worker never dies of SIGINT and is never restarted for it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _raise_open_files_limit()
    spec = json.loads(sys.stdin.read())
    logging.basicConfig(level=int(spec.get("log_level", logging.INFO)),
                        format=f"%(asctime)s %(levelname)s %(name)s [{role}-{index}]: %(message)s")
    for quiet in ("pyroute2", "alembic"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    parent = int(spec.get("parent") or os.getppid())
    try:  # synchronous set-up (pyroute2's IPRoute must not run inside an event loop)
        ctx = build_context(role, index, spec, socket.socket(fileno=spec["link_fd"]))
    except Exception as exc:  # noqa: BLE001 - reported to the supervisor by the exit code
        log.error("cannot start: %s", exc, exc_info=not isinstance(exc, (OSError, ValueError)))
        return EXIT_START_FAILED
    from provisioner.net.roles import ROLES

    if ROLES[role].fast_loop:
        return serve_fast(role, index, ctx, parent)
    return asyncio.run(serve(role, index, ctx, parent))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
