"""The system page: a machine's inventory record, its power (settings, polled state with when
it was last seen, TLS warnings), power buttons, the Reinstall button with its live progress,
and its timeline.

Admins see every system and change power settings; a user sees the systems of their own orders
and may power-control and reinstall those (``core/power.py`` decides). The BMC password field
is write-only: left empty it keeps the stored one, and the page never shows it.
``/ui/systems/<name>.json`` feeds ``static/system.js``, which refreshes the state, the
reinstall's stage and the timeline in place; without JavaScript the page reloads itself while a
reinstall runs.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for

from provisioner.core.event_text import describe
from provisioner.core.power import Actor
from provisioner.errors import ProvisionerError
from provisioner.models import BOOT_DEVICES, POWER_ACTIONS, POWER_DRIVERS
from provisioner.web.app import current_core, current_power, current_reinstall
from provisioner.web.ui.base import _me, admin_only, bp

TEXT_FIELDS = ("driver", "address", "username", "system_id", "auth", "boot_mode")


def _actor() -> Actor:
    me = _me()
    return Actor(me.name, me.role == "admin")


def _visible(name: str) -> None:
    """The page exists for admins and for the owner of the order that made this guest."""
    current_core().get_system(name)
    if not current_power().may_control(name, _actor()):
        abort(403, description="this system is not one of your guests")


def _view(name: str) -> dict[str, Any]:
    core, power = current_core(), current_power()
    config = power.power_store.get_power_config(name)
    progress = current_reinstall().latest(name)
    system = core.get_system(name)
    return {
        "system": system,
        "settings": power.settings(name) if config else None,
        "status": power.status(name) if config else None,
        "reinstall": progress.as_dict() if progress else None,
        "events": core.timeline(name, 50),
    }


@bp.route("/systems/<name>")
def system_page(name: str) -> Any:
    _visible(name)
    return render_template("ui/system.html", v=_view(name), drivers=POWER_DRIVERS,
                           actions=POWER_ACTIONS, boots=[b for b in BOOT_DEVICES if b != "disk"])


@bp.route("/systems/<name>.json")
def system_json(name: str) -> Any:
    _visible(name)
    v = _view(name)
    s = v["system"]
    return jsonify({"name": s.name, "status": s.status, "netboot": s.netboot_enabled,
                    "power": v["status"].as_dict() if v["status"] else None,
                    "reinstall": v["reinstall"],
                    "events": [{"at": e.at, "kind": e.kind, "detail": e.detail,
                                "text": describe(e.kind, e.detail)}
                               for e in v["events"]]})


def _back(name: str) -> Any:
    return redirect(url_for("ui.system_page", name=name), code=303)


@bp.route("/systems/<name>/power/<action>", methods=["POST"])
def system_power(name: str, action: str) -> Any:
    _visible(name)
    try:
        if action == "status":
            current_power().check_control(name, _actor())
            st = current_power().refresh(name)
        else:
            st = current_power().act(name, action, _actor())
        flash(f"{name}: {action} done; the controller says {st.state}"
              + (f" ({st.error})" if st.error else ""), "info" if not st.error else "error")
    except ProvisionerError as exc:
        flash(f"{name}: {action} failed: {exc}", "error")
    return _back(name)


@bp.route("/systems/<name>/reinstall", methods=["POST"])
def system_reinstall(name: str) -> Any:
    _visible(name)
    boot = request.form.get("boot", "pxe")
    try:
        current_reinstall().start([name], _actor(), boot=boot,
                                  timeout=float(current_core().settings.reinstall_timeout))
        flash(f"Reinstalling {name}: the progress shows below.", "info")
    except ProvisionerError as exc:
        flash(f"{name} not reinstalled: {exc}", "error")
    return _back(name)


@bp.route("/systems/<name>/power-settings", methods=["POST"])
@admin_only
def system_power_settings(name: str) -> Any:
    f = request.form
    data: dict[str, Any] = {k: f[k] for k in TEXT_FIELDS if k in f}
    if "driver" in data and data["driver"] == "redfish":
        data["verify_tls"] = f.get("verify_tls") == "on"
    data["ca_bundle"] = f.get("ca_bundle", "")
    for key, kind in (("port", int), ("timeout", float)):
        raw = f.get(key, "").strip()
        if raw:
            try:
                data[key] = kind(raw)
            except ValueError:
                flash(f"Power settings not saved: {key} must be a number", "error")
                return _back(name)
    if f.get("password"):
        data["password"] = f["password"]
    try:
        config = current_power().configure(name, data, _actor())
        flash("Power settings saved." + "".join(f" Warning: {w}." for w in config.warnings()),
              "info")
    except ProvisionerError as exc:
        flash(f"Power settings not saved: {exc}", "error")
    return _back(name)


@bp.route("/systems/<name>/power-settings/delete", methods=["POST"])
@admin_only
def system_power_forget(name: str) -> Any:
    try:
        current_power().remove(name, _actor())
        flash("Power settings and the BMC password removed.", "info")
    except ProvisionerError as exc:
        flash(str(exc), "error")
    return _back(name)
