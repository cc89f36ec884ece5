"""The web UI: ordering VMs and the admin pages, server-rendered, usable without JavaScript.

Every page is a plain HTML form round-trip; ``static/ui.js`` only refreshes the order page's
timeline from ``/ui/orders/<id>.json``. Rules:

* log-in with a user name and an scrypt-hashed password (``core/users.py``); roles ``admin`` and
  ``user``. Users see and cancel their own orders; admins see everything and manage the
  inventory, hosts, users and API tokens.
* every POST carries the session's CSRF token (hidden ``csrf_token`` field); a POST without it,
  or with a wrong one, is refused with 400 before any handler runs.
* the order form is validated by ``core/ordering.py`` field by field; the review step ("Ready to
  begin installation", as virt-manager's wizard) shows the values, the chosen host and the
  warnings, with Back and Finish buttons.

Handlers parse the form, make one use-case call, and render; they hold no business rules.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from provisioner.core.app import Core
from provisioner.core.order_form import FIELDS, LABELS, Draft, OrderRejected
from provisioner.core.order_progress import STAGES
from provisioner.core.ordering import Ordering
from provisioner.core.users import ROLES, Users
from provisioner.errors import Conflict, Invalid, NotFound, ProvisionerError
from provisioner.models import Distro, Interface, Profile, System, User, VmDefaults
from provisioner.web.app import current_core, http_status

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="ui_templates",
               static_folder="static", static_url_path="/static")

STAGE_LABELS = {"queued": "Queued", "placed": "Placed on a host", "defined": "Guest defined",
                "dhcp": "DHCP", "tftp": "Boot loader (TFTP/HTTP)", "kickstart": "Kickstart fetched",
                "installing": "Installing", "installed": "Installed",
                "booted": "Booted from its disk",
                "failed": "Failed", "cancelled": "Cancelled"}


# ---- wiring ------------------------------------------------------------------------------

@bp.record_once
def _setup(state: Any) -> None:
    """On registration: a session secret kept in the data dir, cookie policy, ``/`` -> UI."""
    app: Flask = state.app
    if not app.secret_key:
        app.secret_key = _secret(app)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not any(r.rule == "/" for r in app.url_map.iter_rules()):
        app.add_url_rule("/", "ui_root", lambda: redirect(url_for("ui.orders")))


def _secret(app: Flask) -> bytes:
    """A per-installation secret (sessions survive restarts); random if it cannot be kept."""
    core = app.extensions.get("provisioner.core")
    if core is None:
        return secrets.token_bytes(32)
    path = Path(core.settings.data_dir) / "ui-session.key"
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except OSError:
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
    except FileExistsError:  # another process wrote it first: use theirs
        return path.read_bytes()
    except OSError:
        pass  # read-only data dir: sessions end with the process
    return key


def _core() -> Core:
    return current_core()


def _ordering() -> Ordering:
    return _core().ordering


def _users() -> Users:
    return _core().users


# ---- session, CSRF, authorisation ----------------------------------------------------------

def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


@bp.context_processor
def _inject() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "me": g.get("ui_user"), "STAGE_LABELS": STAGE_LABELS}


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.form.get("csrf_token", "")
        want = session.get("csrf", "")
        if not sent or not want or not hmac.compare_digest(sent, want):
            abort(400, description="missing or wrong CSRF token: reload the form and try again")
    name = session.get("user")
    user = _users().find(name) if name else None
    g.ui_user = user
    if user is None and request.endpoint not in ("ui.login", "ui.static"):
        if request.path.endswith(".json"):
            abort(401)
        return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
    return None


def admin_only(fn: Callable) -> Callable:
    @wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        if g.ui_user is None or g.ui_user.role != "admin":
            abort(403, description="this page is for administrators")
        return fn(*a, **kw)
    wrapper.admin_only = True  # type: ignore[attr-defined]  # (tests list these routes)
    return wrapper


def _me() -> User:
    return g.ui_user


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[str, int]:
    return render_template("ui/error.html", code=404, message=str(exc)), 404


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
def _http_error(exc: Any) -> tuple[str, int]:
    return render_template("ui/error.html", code=exc.code, message=exc.description), exc.code


# ---- log-in --------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    nxt = request.values.get("next", "")
    if not nxt.startswith("/ui/"):  # only back into the UI, never to another site
        nxt = url_for("ui.orders")
    if request.method == "POST":
        user = _users().authenticate(request.form.get("username", ""),
                                     request.form.get("password", ""))
        if user is not None:
            session.clear()
            session["user"] = user.name
            csrf_token()
            return redirect(nxt, code=303)
        return render_template("ui/login.html", error="wrong user name or password", next=nxt,
                               username=request.form.get("username", "")), 401
    return render_template("ui/login.html", error=None, next=nxt, username="")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("ui.login"), code=303)


# ---- orders --------------------------------------------------------------------------------

@bp.route("/")
def orders() -> Any:
    o = _ordering()
    work: dict[str, list] = {}
    rows = [(order, o.progress(order, work)) for order in o.visible(_me())]
    return render_template("ui/orders.html", rows=rows)


def _form_page(draft: Draft | None, status: int = 200) -> tuple[str, int]:
    o = _ordering()
    form = draft.form if draft else {k: request.values.get(k, "") for k in FIELDS}
    profiles = _core().list_profiles()
    if not form.get("profile") and profiles:
        form["profile"] = profiles[0].name
    defaults = o.defaults(form["profile"]) if form.get("profile") else {}
    return render_template("ui/order_form.html", form=form, draft=draft, labels=LABELS,
                           profiles=profiles, hosts=o.hosts(), networks=o.networks(),
                           defaults=defaults), status


@bp.route("/orders/new", methods=["GET", "POST"])
def order_new() -> Any:
    """The form; a POST here is the review page's Back button (values come back)."""
    if request.method == "POST":
        draft = Draft(form={k: request.form.get(k, "") for k in FIELDS})
        return _form_page(draft)
    return _form_page(None)


@bp.route("/orders/review", methods=["POST"])
def order_review() -> Any:
    form = {k: request.form.get(k, "") for k in FIELDS}
    draft = _ordering().validate(form, _me().name)
    if not draft.ok:
        return _form_page(draft, 422)
    return render_template("ui/order_review.html", draft=draft, labels=LABELS,
                           key=secrets.token_urlsafe(16))


@bp.route("/orders", methods=["POST"])
def order_submit() -> Any:
    form = {k: request.form.get(k, "") for k in FIELDS}
    try:
        order = _ordering().submit(form, _me(), key=request.form.get("key") or None)
    except OrderRejected as exc:
        return _form_page(exc.draft, 422)
    return redirect(url_for("ui.order_page", order_id=order.id), code=303)


@bp.route("/orders/<order_id>")
def order_page(order_id: str) -> Any:
    o = _ordering()
    progress = o.progress(o.get(order_id, _me()))
    return render_template("ui/order.html", p=progress, stages=STAGES)


@bp.route("/orders/<order_id>.json")
def order_json(order_id: str) -> Any:
    o = _ordering()
    data = o.progress(o.get(order_id, _me())).as_dict()
    data["labels"] = STAGE_LABELS
    return jsonify(data)


@bp.route("/orders/<order_id>/cancel", methods=["POST"])
def order_cancel(order_id: str) -> Any:
    try:
        _ordering().cancel(order_id, _me())
        flash("Order cancelled: the agent tears the guest down.", "info")
    except Invalid as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.order_page", order_id=order_id), code=303)


@bp.route("/orders/<order_id>/delete", methods=["POST"])
def order_delete(order_id: str) -> Any:
    _ordering().delete(order_id, _me())
    flash("Order deleted: the agent removes the guest and its disk.", "info")
    return redirect(url_for("ui.orders"), code=303)


# ---- inventory pages -----------------------------------------------------------------------

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
    return render_template("ui/hosts.html", hosts=o.hosts(), views=views,
                           now=_core().clock(), created=created)


@bp.route("/hosts/<name>/delete", methods=["POST"])
@admin_only
def host_delete(name: str) -> Any:
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
    return _admin_write(lambda: _core().revoke_token(name), f"Token {name} revoked.",
                        "ui.tokens")


@bp.errorhandler(ProvisionerError)
def _domain_error(exc: ProvisionerError) -> tuple[str, int]:
    status = http_status(exc)
    return render_template("ui/error.html", code=status, message=str(exc), hint=exc.hint), status
