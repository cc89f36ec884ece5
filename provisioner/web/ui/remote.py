"""UI pages of agentless hosts and migration (admins): add a host by its libvirt URI from the
hosts page, and check / run a migration from an order's page. Each handler makes one call to
the use-cases (``remote/hosts.py``).

A migration started from the UI runs in a thread of its own (it takes seconds to minutes): the
request returns at once to the order's page, whose timeline shows migration:started, a
migration:progress a second and the outcome as they are recorded (``static/ui.js`` keeps
polling while one is in flight). One migration per guest at a time."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from provisioner.errors import Invalid, NotFound, ProvisionerError
from provisioner.remote.migration import Options
from provisioner.web.app import current_core, current_remote
from provisioner.web.ui.base import _me, admin_only, bp

log = logging.getLogger("provisioner.web")
_RUNNING: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def _run(remote: Any, guest: str, to: str, opts: Options) -> None:
    try:  # the outcome, a refused pre-flight included, is in the order's timeline
        remote.migrate(guest, to, opts, record_refusal=True)
    except ProvisionerError as exc:
        log.warning("migration of %s to %s: %s", guest, to, exc)
    except Exception:  # noqa: BLE001 - a thread nobody joins: log it
        log.exception("migration of %s to %s failed", guest, to)


def start_migration(remote: Any, guest: str, to: str, opts: Options) -> bool:
    """Start moving ``guest`` in the background; False when it is already moving."""
    with _LOCK:
        running = _RUNNING.get(guest)
        if running is not None and running.is_alive():
            return False
        t = threading.Thread(target=_run, args=(remote, guest, to, opts),
                             name=f"migrate {guest}", daemon=True)
        _RUNNING[guest] = t
        t.start()
    return True


def wait_migrations(timeout: float) -> bool:
    """Join the UI's migrations (tests, shutdown); True when none is left running."""
    with _LOCK:
        threads = list(_RUNNING.values())
    for t in threads:
        t.join(timeout)
    return not any(t.is_alive() for t in threads)


@bp.app_context_processor
def _remote_ctx() -> dict[str, Any]:
    def ssh_key() -> str:
        try:
            return str(current_remote().public_key())
        except ProvisionerError:
            return ""
    return {"appliance_ssh_key": ssh_key}


@bp.route("/hosts/agentless", methods=["POST"])
@admin_only
def agentless_add() -> Any:
    f = request.form
    name, uri = f.get("name", "").strip(), f.get("uri", "").strip()
    try:
        remote = current_remote()
        key = f.get("ssh_host_key", "").strip()
        if not key and f.get("scan") == "on":
            key = remote.scan(uri)
        h = remote.add(name, uri, ssh_host_key=key)
    except ProvisionerError as exc:  # bad input or an unreachable host: nothing was recorded
        flash(f"Host {name or '?'} not added: {exc}", "error")
        return redirect(url_for("ui.hosts"), code=303)
    flash(f"Host {h.name} added ({h.uri}); its agent loop starts within seconds.", "info")
    return redirect(url_for("ui.hosts"), code=303)


def _order(order_id: str) -> Any:
    return current_core().ordering.get(order_id, _me())


@bp.route("/orders/<order_id>/migrate", methods=["GET", "POST"])
@admin_only
def migrate(order_id: str) -> Any:
    order = _order(order_id)
    remote = current_remote()
    targets = [h.name for h in remote.agentless() if h.name != order.host]
    to = (request.form if request.method == "POST" else request.args).get("to", "")
    checks = None
    try:
        if to and to not in targets:
            raise NotFound(f"no agentless host {to!r} to move to")
        if request.method == "POST":
            opts = Options(live=request.form.get("offline") != "on",
                           copy_storage=request.form.get("copy_storage") == "on",
                           force=request.form.get("force") == "on")
            if start_migration(remote, order.name, to, opts):
                flash(f"Migration of {order.name} to {to} started: its progress and outcome "
                      "appear in the timeline below.", "info")
            else:
                flash(f"{order.name} is already being migrated.", "error")
            return redirect(url_for("ui.order_page", order_id=order_id), code=303)
        if to:
            checks = remote.check(order.name, to)
    except (Invalid, NotFound, ProvisionerError) as exc:
        flash(str(exc), "error")
    return render_template("ui/migrate.html", order=order, targets=targets, to=to,
                           checks=checks)
