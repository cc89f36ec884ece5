"""The order pages: the list, the form, the review step, an order's progress, cancel, delete.

The form is validated by ``core/ordering.py`` field by field; the review step ("Ready to begin
installation", as virt-manager's wizard) shows the values, the chosen host and the warnings,
with Back and Finish buttons. ``static/ui.js`` refreshes an order's timeline from
``/ui/orders/<id>.json``.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from provisioner.core.order_form import FIELDS, LABELS, Draft, OrderRejected
from provisioner.core.order_progress import STAGES
from provisioner.errors import Invalid
from provisioner.web.ui.base import (
    STAGE_LABELS,
    _core,
    _me,
    _ordering,
    bp,
    confirm_page,
    confirmed,
)


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
    if not confirmed():
        return confirm_page("order", _ordering().get(order_id, _me()).name,
                            _core().order_removal(order_id, _me()),
                            url_for("ui.order_page", order_id=order_id))
    _ordering().delete(order_id, _me())
    flash("Order deleted: the agent removes the guest and its disk.", "info")
    return redirect(url_for("ui.orders"), code=303)


# ---- inventory pages -----------------------------------------------------------------------
