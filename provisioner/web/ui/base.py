"""The web UI's wiring: the blueprint, sessions, CSRF, log-in, roles and error pages.

Every POST carries the session's CSRF token (hidden ``csrf_token`` field); a POST without it,
or with a wrong one, is refused with 400 before any handler runs. Log-in is a user name and an
scrypt-hashed password (``core/users.py``); roles ``admin`` and ``user``.
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
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from provisioner.core.app import Core
from provisioner.core.event_text import describe
from provisioner.core.order_progress import STAGE_LABELS
from provisioner.core.ordering import Ordering
from provisioner.core.users import Users
from provisioner.errors import NotFound, ProvisionerError
from provisioner.models import User
from provisioner.web.app import current_core, http_status

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="../ui_templates",
               static_folder="../static", static_url_path="/static")




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
    return {"csrf_token": csrf_token, "me": g.get("ui_user"), "STAGE_LABELS": STAGE_LABELS,
            "describe": describe}


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
                               username=request.form.get("username", ""),
                               no_users=not _users().list()), 401
    return render_template("ui/login.html", error=None, next=nxt, username="",
                           no_users=not _users().list())


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("ui.login"), code=303)


# ---- orders --------------------------------------------------------------------------------


@bp.errorhandler(ProvisionerError)
def _domain_error(exc: ProvisionerError) -> tuple[str, int]:
    status = http_status(exc)
    return render_template("ui/error.html", code=status, message=str(exc), hint=exc.hint), status



# ---- deleting: a confirmation step that says what else goes ---------------------------------

def confirmed() -> bool:
    """A delete form posts twice: first to the confirmation page, then with ``confirm=yes``."""
    return request.form.get("confirm") == "yes"


def confirm_page(what: str, name: str, effects: list[str], back: str) -> tuple[str, int]:
    """The confirmation step (nothing is deleted yet): what goes with it, Delete or Keep."""
    return render_template("ui/confirm_delete.html", what=what, name=name, effects=effects,
                           action=request.path, back=back), 200
