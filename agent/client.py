"""The appliance's agent API, over the standard library's HTTP client.

Every call has a socket timeout. Transport failures (appliance down or restarting) raise
:class:`Unavailable`, which the work loop retries with backoff; an answer with an error status
raises :class:`ApiError` with the appliance's message (4xx is not retried).

Several appliances over one database (README "Running two appliances"): ``base_url`` may list
them, comma-separated. A call goes to the appliance that answered last; when it is unreachable
(or answers 5xx, e.g. degraded) the same call goes to the next one at once, in order, and
:class:`Unavailable` is raised only when none answers. Any appliance may take any call: they
share the work queue, the leases and the tokens.
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


def appliance_urls(base_url: str) -> list[str]:
    """The appliances ``base_url`` lists (comma-separated); ValueError for a bad one."""
    urls = [u.strip() for u in base_url.split(",") if u.strip()]
    for u in urls or [base_url]:
        parts = urllib.parse.urlsplit(u)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"bad appliance URL {u!r}")
    return urls


@dataclass
class AgentClient:
    base_url: str  # e.g. http://10.0.0.1:8080, or several: http://a:8080,http://b:8080
    host: str
    token: str
    timeout: float = 10.0
    current: int = 0  # index in appliance_urls(base_url) of the one that answered last

    def _post(self, path: str, body: dict[str, Any],
              timeout: float | None = None) -> dict[str, Any]:
        urls = appliance_urls(self.base_url)
        failed: list[str] = []
        for i in range(len(urls)):
            at = (self.current + i) % len(urls)
            try:
                doc = self._post_to(urls[at], path, body, timeout)
            except Unavailable as exc:
                failed.append(str(exc))
                continue
            self.current = at
            return doc
        raise Unavailable("; ".join(failed))

    def _post_to(self, base: str, path: str, body: dict[str, Any],
                 timeout: float | None) -> dict[str, Any]:
        url = urllib.parse.urlsplit(base)
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(url.hostname or "", url.port, timeout=timeout or self.timeout)
        data = json.dumps({"host": self.host, **body}).encode()
        try:
            conn.request("POST", url.path.rstrip("/") + "/api/agent" + path, body=data,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {self.token}"})
            resp = conn.getresponse()
            raw = resp.read(4 * 1024 * 1024)
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"{base}: {exc}") from None
        finally:
            conn.close()
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            doc = {}
        if resp.status >= 500:
            raise Unavailable(f"{base}: HTTP {resp.status}")
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
