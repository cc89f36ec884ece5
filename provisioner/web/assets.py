"""Big boot files over HTTP: ``/assets/<distro>/<kernel|initrd>`` and ``/tftpboot/<path>``.

Both routes stream files with ``Range``, ``HEAD`` and conditional requests (``ETag``,
``If-Modified-Since``) through werkzeug's ``send_file`` (waitress streams the file; nothing is
read into memory). A distro whose kernel/initrd is a URL gets a redirect to it. ``/tftpboot``
serves the TFTP root through the same ``TftpContent`` resolver as TFTP (jail, per-MAC configs),
so UEFI HTTP boot and iPXE can fetch loaders over HTTP; hostile paths get 403.

Timeline: when the client address maps to a system (``core.peers``, the one
:class:`~provisioner.core.peers.PeerDirectory`: learned MACs, DHCP leases, reservations), each
served asset is an ``http-asset`` event with path, bytes, range and seconds, recorded when the
response has been fully sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Response, redirect, request, send_file
from flask.typing import ResponseReturnValue

from provisioner.content.base import BytesResponse, FileResponse
from provisioner.content.providers import TftpContent, asset_file
from provisioner.models import EventKind, system_subject
from provisioner.web.app import client_addr, current_core, server_url

log = logging.getLogger(__name__)
bp = Blueprint("assets", __name__)


class _Counted:
    """The response body, counting bytes as the server sends them; ``done(n)`` when closed."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body, self.done, self.sent = body, done, 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.sent)


class _ClosingFile:
    """The open file inside the server's file wrapper, calling back when the server closes it.

    Putting it *inside* the wrapper keeps waitress's fast path for ``wsgi.file_wrapper`` bodies
    (large reads, no per-chunk WSGI iteration), which wrapping the body iterable would lose."""

    def __init__(self, file: Any, on_close: Callable[[], None]) -> None:
        self._file = file
        self._on_close: Callable[[], None] | None = on_close
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(n)
        self.read_bytes += len(data)
        return bytes(data)

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            callback, self._on_close = self._on_close, None
            if callback is not None:
                callback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _record(resp: Response, path: str) -> Response:
    ip = client_addr()
    if request.method != "GET" or not ip or resp.status_code not in (200, 206):
        return resp
    core, started = current_core(), time.monotonic()
    system = core.peers.system_for(ip)
    if system is None:
        return resp
    detail: dict[str, Any] = {"path": path, "client": ip, "status": resp.status_code,
                              "length": resp.content_length}
    if request.range is not None:
        detail["range"] = request.headers.get("Range")

    def done(sent: int) -> None:
        detail["bytes"] = sent
        detail["seconds"] = round(time.monotonic() - started, 3)
        core.record_event(system_subject(system), EventKind.HTTP_ASSET, detail)

    # send_file's body is passed straight through to the server (no Response.close callbacks):
    # the event is recorded once the server has sent (or given up on) the body. A whole file
    # is the server's file wrapper (waitress: ReadOnlyFileBasedBuffer, whose ``remain`` says
    # what was not sent); a range is an iterator, wrapped as a whole.
    body: Any = resp.response
    length = resp.content_length
    if getattr(body, "file", None) is not None and request.range is None:
        def closed() -> None:
            remain = getattr(body, "remain", None)
            done(length - remain if remain is not None and length is not None
                 else proxy.read_bytes)

        proxy = _ClosingFile(body.file, closed)
        body.file = proxy
        return resp
    resp.response = _Counted(body, done)
    return resp


def _send(path: Any, name: str) -> Response:
    resp = send_file(path, conditional=True, etag=True, max_age=0,
                     mimetype="application/octet-stream", download_name=name)
    resp.headers["Accept-Ranges"] = "bytes"
    return resp


@bp.route("/assets/<distro>/<any(kernel, initrd):which>", methods=["GET", "HEAD"])
def asset(distro: str, which: str) -> ResponseReturnValue:
    core = current_core()
    d = core.get_distro(distro)
    value = getattr(d, which)
    if value.startswith(("http://", "https://")):
        return redirect(value, 302)
    path = asset_file(value, d.name, which, core.settings.assets_path,
                      core.settings.asset_roots)
    return _record(_send(path, which), request.path)


@bp.route("/tftpboot/<path:path>", methods=["GET", "HEAD"])
def tftpboot(path: str) -> Response:
    core = current_core()
    content = TftpContent(core.settings.tftp_root,
                          lambda kind, mac, server, client: core.boot_config(
                              kind, mac, server, client=client or None),
                          server_url(),
                          asset=lambda name, which: asset_file(
                              getattr(core.get_distro(name), which), name, which,
                              core.settings.assets_path, core.settings.asset_roots))
    data = content.resolve(path, (client_addr() or "", 0))
    if isinstance(data, FileResponse):
        data.close()
        return _record(_send(data.path, data.path.name), request.path)
    assert isinstance(data, BytesResponse)
    body = data.read(1 << 24)
    data.close()
    return Response(body, mimetype="text/plain")


# ---- OpenAPI (merged into /api/openapi.json by web/openapi.py) -------------------------------

_FILE = {"description": "the file (206 with a Range header; 304 when conditional)",
         "content": {"application/octet-stream": {"schema": {"type": "string",
                                                             "format": "binary"}}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/assets/{distro}/{which}": {
        "parameters": [
            {"name": "distro", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "which", "in": "path", "required": True,
             "schema": {"type": "string", "enum": ["kernel", "initrd"]}}],
        "get": {"summary": "a distro's kernel or initrd (Range, HEAD, ETag)",
                "responses": {"200": _FILE, "302": {"description": "the distro names a URL"},
                              "403": {"description": "the distro names a file outside "
                                                     "assets_dir and asset_roots"},
                              "404": {"description": "no such distro or file"}}}},
    "/tftpboot/{path}": {
        "parameters": [{"name": "path", "in": "path", "required": True,
                        "schema": {"type": "string"}, "description": "path under the TFTP root"}],
        "get": {"summary": "the TFTP root over HTTP (per-MAC boot configs rendered per request)",
                "responses": {"200": _FILE, "403": {"description": "hostile path"},
                              "404": {"description": "no such file"}}}},
}
