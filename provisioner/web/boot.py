"""Installer- and firmware-facing endpoints: kickstarts, per-MAC boot configs, callbacks.

Every handler parses the URL, makes one core call and returns the complete text. Errors are
mapped in ``web/app.py`` (404 unknown system/MAC, 400 bad input, 500 render error, never a
partial body).
"""

from __future__ import annotations

from flask import Blueprint, Response

from provisioner.web.app import client_addr, current_core, server_url, text

bp = Blueprint("boot", __name__)


@bp.get("/ks/system/<name>")
def ks_by_system(name: str) -> Response:
    return text(current_core().kickstart_for(system=name, server=server_url(),
                                             client=client_addr()))


@bp.get("/ks/mac/<mac>")
def ks_by_mac(mac: str) -> Response:
    return text(current_core().kickstart_for(mac=mac, server=server_url(), client=client_addr()))


@bp.get("/ks/token/<token>")
def ks_by_token(token: str) -> Response:
    return text(current_core().kickstart_for(token=token, server=server_url(),
                                             client=client_addr()))


@bp.get("/boot/<any(pxelinux, grub, ipxe):kind>/<mac>")
def boot_config(kind: str, mac: str) -> Response:
    return text(current_core().boot_config(kind, mac, server_url(), client=client_addr()))


@bp.route("/cb/<token>/<any(started, done, failed):event>", methods=["GET", "POST"])
def callback(token: str, event: str) -> Response:
    system = current_core().callback(token, event, client=client_addr())
    return text(f"ok {system.name} {system.status}\n")
