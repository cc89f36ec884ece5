"""One IPMI 2.0 request through ``pyghmi``, run as a child process by ``power/ipmi.py``.

Reads ``{"address", "port", "username", "password", "op", "device", "persist", "uefi",
"wait"}`` as JSON on stdin (never the command line: the password would show in ``ps``), does
it and prints ``{"ok": true, "result": ...}`` or ``{"ok": false, "kind": ..., "error": ...}``.
A process because pyghmi has no overall deadline (an unknown user name waits forever on some
BMCs) and keeps sessions in process-wide state: the parent kills the child at its deadline
and nothing of a stuck session survives.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pyghmi.ipmi import command

#: pyghmi's messages -> our kinds (first match wins)
CAUSES = (("Incorrect password", "auth"), ("Unauthorized name", "auth"),
          ("insufficient privilege", "auth"), ("Invalid user", "auth"),
          ("timeout", "unreachable"), ("None", "unreachable"))
BOOT = {"pxe": "network", "disk": "hd"}


def _kind(message: str) -> str:
    return next((kind for text, kind in CAUSES if text.lower() in message.lower()), "failed")


def run(req: dict[str, Any]) -> Any:
    ipmi = command.Command(bmc=req["address"], userid=req["username"],
                           password=req["password"], port=int(req.get("port") or 623),
                           keepalive=False)
    try:
        op = req["op"]
        if op == "status":
            return ipmi.get_power()["powerstate"]
        if op in ("on", "off", "reset"):
            wait = req.get("wait") or False
            return ipmi.set_power(op, wait=wait).get("powerstate")
        if op == "boot":
            uefi = req.get("uefi")
            return ipmi.set_bootdev(BOOT[req["device"]], persist=bool(req.get("persist")),
                                    uefiboot=bool(uefi))
        raise ValueError(f"unknown op {op!r}")
    finally:
        try:
            ipmi.ipmi_session.logout()
        except Exception:  # the session may be gone already
            pass


def main() -> int:
    try:
        req = json.loads(sys.stdin.read())
        result = run(req)
        out: dict[str, Any] = {"ok": True, "result": result}
    except Exception as exc:  # every pyghmi failure, including its raw struct errors
        message = str(exc) or type(exc).__name__
        kind = _kind(message) if type(exc).__module__.startswith("pyghmi") else "failed"
        if isinstance(exc, KeyError | ValueError | json.JSONDecodeError):
            kind = "failed"
        out = {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {message}"}
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
