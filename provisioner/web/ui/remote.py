"""UI pages of agentless hosts and migration (admins): add a host by its libvirt URI from the
hosts page, and check / run a migration from an order's page. Each handler makes one call to
the use-cases (``remote/hosts.py``)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from provisioner.errors import Invalid, NotFound, ProvisionerError
from provisioner.remote.migration import Options
from provisioner.web.app import current_core, current_remote
from provisioner.web.ui.base import _me, admin_only, bp


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
            out = remote.migrate(order.name, to, opts)
            flash(out.summary(), "info" if out.ok else "error")
            return redirect(url_for("ui.order_page", order_id=order_id), code=303)
        if to:
            checks = remote.check(order.name, to)
    except (Invalid, NotFound, ProvisionerError) as exc:
        flash(str(exc), "error")
    return render_template("ui/migrate.html", order=order, targets=targets, to=to,
                           checks=checks)
