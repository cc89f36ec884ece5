"""The admin pages: distros, profiles, systems, hosts, DHCP leases, users and API tokens.

Each write is one core call through :func:`_admin_write`, which turns a refused write into a
flashed message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from provisioner.core.doctor_reports import last_report
from provisioner.core.order_form import hypervisor_label
from provisioner.core.users import ROLES
from provisioner.errors import Conflict, Invalid, NotFound
from provisioner.models import Distro, Interface, Profile, System, VmDefaults
from provisioner.web.ui.base import (
    _core,
    _me,
    _ordering,
    _users,
    admin_only,
    bp,
    confirm_page,
    confirmed,
)


def _opt_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Invalid(f"{name} must be a whole number", field=name)
    return int(raw)


def _opt(name: str) -> str | None:
    return request.form.get(name, "").strip() or None


def _admin_write(action: Callable[[], Any], ok: str, endpoint: str) -> Any:
    try:
        action()
    except (Invalid, Conflict, NotFound) as exc:
        field = getattr(exc, "field", None)
        flash(f"{field}: {exc}" if field else str(exc), "error")
        return redirect(url_for(endpoint), code=303)
    flash(ok, "info")
    return redirect(url_for(endpoint), code=303)


@bp.route("/distros", methods=["GET", "POST"])
def distros() -> Any:
    if request.method == "POST":
        if _me().role != "admin":
            abort(403)

        def add() -> None:
            _core().add_distro(Distro(
                name=request.form.get("name", "").strip(),
                arch=request.form.get("arch", "x86_64").strip() or "x86_64",
                os_version=request.form.get("os_version", "rhel9").strip() or "rhel9",
                breed=request.form.get("breed", "redhat").strip() or "redhat",
                kernel=request.form.get("kernel", "").strip(),
                initrd=request.form.get("initrd", "").strip(),
                tree_url=request.form.get("tree_url", "").strip(),
                kernel_options=request.form.get("kernel_options", "").strip()))
        return _admin_write(add, "Distro added.", "ui.distros")
    return render_template("ui/distros.html", distros=_core().list_distros())


@bp.route("/distros/<name>/delete", methods=["POST"])
@admin_only
def distro_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("distro", name, _core().distro_removal(name), url_for("ui.distros"))
    return _admin_write(lambda: _core().remove_distro(name), f"Distro {name} removed.",
                        "ui.distros")


@bp.route("/profiles", methods=["GET", "POST"])
def profiles() -> Any:
    if request.method == "POST":
        if _me().role != "admin":
            abort(403)

        def add() -> None:
            vm = VmDefaults(ram_mb=_opt_int("ram_mb"), vcpus=_opt_int("vcpus"),
                            disk_gb=_opt_int("disk_gb"), bridge=_opt("bridge"),
                            hypervisor=_opt("hypervisor"))
            _core().add_profile(Profile(
                name=request.form.get("name", "").strip(), distro=_opt("distro"),
                parent=_opt("parent"), kickstart=_opt("kickstart"),
                kernel_options=_opt("kernel_options"), vm=vm))
        return _admin_write(add, "Profile added.", "ui.profiles")
    core = _core()
    return render_template("ui/profiles.html", profiles=core.list_profiles(),
                           distros=core.list_distros())


@bp.route("/profiles/<name>/delete", methods=["POST"])
@admin_only
def profile_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("profile", name, _core().profile_removal(name),
                            url_for("ui.profiles"))
    return _admin_write(lambda: _core().remove_profile(name), f"Profile {name} removed.",
                        "ui.profiles")


@bp.route("/systems", methods=["GET", "POST"])
@admin_only
def systems() -> Any:
    if request.method == "POST":
        def add() -> None:
            ifaces: tuple[Interface, ...] = ()
            if _opt("mac"):
                ifaces = (Interface(mac=request.form["mac"], ip=_opt("ip"), bridge=_opt("bridge")),)
            _core().add_system(System(
                name=request.form.get("name", "").strip(),
                profile=request.form.get("profile", "").strip(), hostname=_opt("hostname"),
                interfaces=ifaces, netboot_enabled=bool(request.form.get("netboot"))))
        return _admin_write(add, "System added.", "ui.systems")
    core = _core()
    return render_template("ui/systems.html", systems=core.list_systems(),
                           profiles=core.list_profiles())


@bp.route("/systems/<name>/netboot", methods=["POST"])
@admin_only
def system_netboot(name: str) -> Any:
    enable = request.form.get("enable") == "1"
    return _admin_write(lambda: _core().update_system(name, {"netboot_enabled": enable}),
                        f"Netboot {'enabled' if enable else 'disabled'} for {name}.",
                        "ui.systems")


@bp.route("/systems/<name>/delete", methods=["POST"])
@admin_only
def system_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("system", name, _core().system_removal(name), url_for("ui.systems"))
    return _admin_write(lambda: _core().remove_system(name), f"System {name} removed.",
                        "ui.systems")


@bp.route("/hosts", methods=["GET", "POST"])
@admin_only
def hosts() -> Any:
    """Registered hosts; a POST makes a host token (shown once) for a new host's agent."""
    created = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            created = (name, _core().agents.create_host_token(name))
        except Invalid as exc:
            flash(str(exc), "error")
            return redirect(url_for("ui.hosts"), code=303)
    o = _ordering()
    views = {v.name: v for v in o.host_views()}
    hosts = o.hosts()
    return render_template("ui/hosts.html", hosts=hosts, views=views,
                           labels={h.name: hypervisor_label(h) for h in hosts},
                           doctor={h.name: last_report(h.facts) for h in hosts},
                           now=_core().clock(), created=created)


@bp.route("/hosts/<name>/delete", methods=["POST"])
@admin_only
def host_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("host", name, _core().host_removal(name), url_for("ui.hosts"))
    return _admin_write(lambda: _core().agents.forget_host(name), f"Host {name} forgotten.",
                        "ui.hosts")


@bp.route("/leases")
@admin_only
def leases() -> Any:
    return render_template("ui/leases.html", leases=_core().leases(), now=_core().clock())


@bp.route("/users", methods=["GET", "POST"])
@admin_only
def users() -> Any:
    if request.method == "POST":
        return _admin_write(lambda: _users().create(request.form.get("name", "").strip(),
                                                    request.form.get("password", ""),
                                                    request.form.get("role", "user")),
                            "User added.", "ui.users")
    return render_template("ui/users.html", users=_users().list(), roles=ROLES)


@bp.route("/users/<name>/role", methods=["POST"])
@admin_only
def user_role(name: str) -> Any:
    return _admin_write(lambda: _users().set_role(name, request.form.get("role", "")),
                        f"Role of {name} changed.", "ui.users")


@bp.route("/users/<name>/delete", methods=["POST"])
@admin_only
def user_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("user", name, _core().user_removal(name), url_for("ui.users"))
    return _admin_write(lambda: _users().delete(name), f"User {name} removed.", "ui.users")


@bp.route("/tokens", methods=["GET", "POST"])
@admin_only
def tokens() -> Any:
    created = None
    if request.method == "POST":
        try:
            created = _core().create_token(request.form.get("name", "").strip())
        except (Invalid, Conflict) as exc:
            flash(str(exc), "error")
            return redirect(url_for("ui.tokens"), code=303)
    return render_template("ui/tokens.html", tokens=_core().list_tokens(), created=created)


@bp.route("/tokens/<name>/delete", methods=["POST"])
@admin_only
def token_delete(name: str) -> Any:
    if not confirmed():
        return confirm_page("API token", name, _core().token_removal(name),
                            url_for("ui.tokens"))
    return _admin_write(lambda: _core().revoke_token(name), f"Token {name} revoked.",
                        "ui.tokens")


