"""A deliberately broken Redfish service, for the faults no real BMC here can show.

Mocks only where no real thing can run: sushy-tools' emulator is a well-behaved BMC, and real
BMCs that reject a boot override or lack properties are not available in a test. This is a
minimal Redfish tree over real HTTP (http.server), spoken to by the real sushy client through
the real driver; each ComputerSystem id is one fault:

* ``good``: complete (PowerState, Boot with allowable targets, the Reset action);
* ``reject``: answers the Boot PATCH with HTTP 400 and a Redfish error message;
* ``noboot``: no ``Boot`` object; ``nopower``: no ``PowerState``; ``noreset``: no Reset action;
* ``hang``: accepts the connection and never answers (a stuck BMC).

Basic auth with ``--user``/``--password``; everything else is 401.

    python -m tests.power.brokenbmc --listen 10.79.0.1 --port 8100 --user u --password p
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SYSTEMS = ("good", "reject", "noboot", "nopower", "noreset", "hang")
POWER: dict[str, str] = {s: "On" for s in SYSTEMS}
PATCHES: dict[str, Any] = {}  # each system's last PATCH body, at .../<id>/LastPatch (tests)
RESETS = ["On", "ForceOff", "ForceRestart"]


def system(sid: str) -> dict[str, Any]:
    base = f"/redfish/v1/Systems/{sid}"
    doc: dict[str, Any] = {
        "@odata.id": base, "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem", "Id": sid,
        "Name": sid, "PowerState": POWER[sid],
        "Boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None",
                 "BootSourceOverrideMode": "Legacy",
                 "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Hdd", "Cd"]},
        "Actions": {"#ComputerSystem.Reset": {
            "target": f"{base}/Actions/ComputerSystem.Reset",
            "ResetType@Redfish.AllowableValues": RESETS}}}
    if sid == "noboot":
        del doc["Boot"]
    if sid == "nopower":
        del doc["PowerState"]
    if sid == "noreset":
        del doc["Actions"]
    return doc


def tree(path: str) -> dict[str, Any] | None:
    path = path.rstrip("/")
    if path == "/redfish/v1":
        return {"@odata.id": "/redfish/v1/", "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
                "Id": "RootService", "RedfishVersion": "1.6.0",
                "Systems": {"@odata.id": "/redfish/v1/Systems"}}
    if path == "/redfish/v1/Systems":
        return {"@odata.id": "/redfish/v1/Systems",
                "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
                "Members": [{"@odata.id": f"/redfish/v1/Systems/{s}"} for s in SYSTEMS],
                "Members@odata.count": len(SYSTEMS)}
    sid = path.removeprefix("/redfish/v1/Systems/")
    if sid.endswith("/LastPatch"):
        return {"body": PATCHES.get(sid.removesuffix("/LastPatch"))}
    return system(sid) if sid in SYSTEMS else None


class Handler(BaseHTTPRequestHandler):
    auth = ""

    def log_message(self, fmt: str, *args: Any) -> None:
        print(f"{self.command} {self.path} " + fmt % args, flush=True)

    def _send(self, code: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.path.rstrip("/") == "/redfish/v1":
            return True
        if self.headers.get("Authorization") == self.auth:
            return True
        self._send(401, {"error": {"code": "Base.1.8.GeneralError", "message": "unauthorized"}})
        return False

    def _hang(self) -> bool:
        if "/Systems/hang" in self.path:
            time.sleep(3600)
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._authorized() or self._hang():
            return
        doc = tree(self.path)
        self._send(200, doc) if doc is not None else self._send(404, {"error": {
            "code": "Base.1.8.ResourceMissingAtURI", "message": f"no {self.path}"}})

    def do_PATCH(self) -> None:  # noqa: N802
        if not self._authorized() or self._hang():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        PATCHES[self.path.rstrip("/").rsplit("/", 1)[-1]] = body
        if self.path.rstrip("/").endswith("/reject"):
            self._send(400, {"error": {
                "code": "Base.1.8.PropertyValueNotInList",
                "message": "The value Pxe for the property BootSourceOverrideTarget is not in "
                           "the list of acceptable values.",
                "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyValueNotInList"}]}})
            return
        self._send(204)

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized() or self._hang():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        sid = self.path.split("/Systems/", 1)[-1].split("/", 1)[0]
        if sid not in SYSTEMS or "Reset" not in self.path:
            self._send(404)
            return
        POWER[sid] = "Off" if body.get("ResetType") == "ForceOff" else "On"
        self._send(204)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    args = ap.parse_args()
    Handler.auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    server = ThreadingHTTPServer((args.listen, args.port), Handler)
    server.daemon_threads = True
    print(f"broken BMC on {args.listen}:{args.port}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
