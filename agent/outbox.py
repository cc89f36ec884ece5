"""Calls to the appliance that cannot be delivered (appliance restarting) wait in an outbox
(bounded: the oldest is dropped when full) and are sent, in order, once it answers again."""

from __future__ import annotations

import collections
import logging
from typing import Any

from agent.client import AgentClient, ApiError, Unavailable
from agent.loopconfig import LoopConfig

log = logging.getLogger(__name__)


class Outbox:
    """The delivery part of ``agent.loop.Agent``."""

    client: AgentClient
    config: LoopConfig
    outbox: collections.deque
    registered: bool

    def _send(self, op: str, **kw: Any) -> None:
        """Queue one call for the appliance and flush the queue in order."""
        if len(self.outbox) >= self.config.outbox_limit:
            dropped = self.outbox.popleft()
            log.warning("outbox full, dropping %s", dropped[0])
        self.outbox.append((op, kw))
        self.flush()

    def flush(self) -> bool:
        """Deliver queued calls; False when the appliance is unreachable (they stay queued)."""
        while self.outbox:
            op, kw = self.outbox[0]
            try:
                getattr(self.client, op)(**kw)
            except Unavailable as exc:
                log.info("appliance unavailable (%s); %d call(s) waiting", exc, len(self.outbox))
                return False
            except ApiError as exc:
                if exc.status == 401:
                    self.registered = False
                    return False
                log.warning("appliance refused %s: %s", op, exc)
            self.outbox.popleft()
        return True

    def event(self, kind: str, detail: dict[str, Any], *, work: str | None = None,
              system: str | None = None) -> None:
        self._send("event", kind=kind, detail=detail, work=work, system=system)
