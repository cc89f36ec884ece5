"""The appliance's agent API, over the standard library's HTTP client.

Every call has a socket timeout. Transport failures (appliance down or restarting) raise
:class:`Unavailable`, which the work loop retries with backoff; an answer with an error status
raises :class:`ApiError` with the appliance's message (4xx is not retried).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any


class Unavailable(Exception):
    """The appliance could not be reached (refused, reset, timed out, 5xx)."""


class ApiError(Exception):
    """The appliance refused the call (4xx); ``status`` and ``code`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


@dataclass
class AgentClient:
    base_url: str  # e.g. http://10.0.0.1:8080
    host: str
    token: str
    timeout: float = 10.0

    def _post(self, path: str, body: dict[str, Any],
              timeout: float | None = None) -> dict[str, Any]:
        url = urllib.parse.urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"bad appliance URL {self.base_url!r}")
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.hostname, url.port, timeout=timeout or self.timeout)
        data = json.dumps({"host": self.host, **body}).encode()
        try:
            conn.request("POST", url.path.rstrip("/") + "/api/agent" + path, body=data,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            raw = resp.read(4 * 1024 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"{self.base_url}: {exc}") from None
        finally:
            conn.close()
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            doc = {}
        if resp.status >= 500:
            raise Unavailable(f"{self.base_url}: HTTP {resp.status}")
        if resp.status >= 400:
            err = doc.get("error") or {}
            raise ApiError(resp.status, err.get("code", "error"), err.get("message", raw[:200]))
        return doc

    def register(self, facts: dict[str, Any], capacity: dict[str, Any]) -> dict[str, Any]:
        return self._post("/register", {"facts": facts, "capacity": capacity})

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """Long-poll for one work item (leased to this host) or ``None``."""
        return self._post("/poll", {"timeout": timeout}, timeout=timeout + self.timeout)["work"]

    def event(self, kind: str, detail: dict[str, Any], *, work: str | None = None,
              system: str | None = None) -> None:
        self._post("/event", {"kind": kind, "detail": detail, "work": work, "system": system})

    def complete(self, work: str, result: dict[str, Any]) -> None:
        self._post("/complete", {"work": work, "result": result})

    def doctor(self, report: dict[str, Any]) -> None:
        """Send ``provisioner-agent doctor``'s report (the host page shows the last one)."""
        self._post("/doctor", {"report": report})

    def certificate(self, csr: str) -> dict[str, Any]:
        """The appliance signs this host's certificate request (work kind ``tls.rotate``)."""
        return self._post("/certificate", {"csr": csr})

    def fail(self, work: str, error: str, *, retry: bool = False) -> None:
        self._post("/fail", {"work": work, "error": error, "retry": retry})
