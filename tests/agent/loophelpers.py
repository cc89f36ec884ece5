"""Shared pieces of the work-loop tests: an appliance served on loopback in a thread, and an
agent wired to it over a libvirt connection."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from werkzeug.serving import make_server

from agent.client import AgentClient
from agent.facts.model import HostFacts
from agent.guest.virt import Virt
from agent.loop import Agent, LoopConfig
from provisioner.core import orders
from provisioner.core.app import Core
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests.fakes import FakeRenderer, MemoryStore

ADMIN = "admin-token"


@dataclass
class Appliance:
    core: Core
    url: str
    host_token: str

    def enqueue(self, kind: str, payload: dict, key: str | None = None):
        return orders.enqueue(self.core.store, "hv1", kind, payload, key=key,
                              now=self.core.clock())

    def kinds(self, system: str) -> list[str]:
        return [e.kind for e in self.core.store.list_events(f"system:{system}")]


@contextlib.contextmanager
def appliance(store=None, middleware=None) -> Iterator[Appliance]:
    """The real Flask app (agent API included) on 127.0.0.1, a fresh port, in a thread.

    ``middleware(wsgi_app) -> wsgi_app`` lets a test stand between the agent and the API.
    """
    core = Core(store or MemoryStore(), FakeRenderer(), Settings(api_token=ADMIN))
    token = orders.create_host_token(core.store, "hv1", now=core.clock())
    app = create_app(core)
    if middleware is not None:
        app.wsgi_app = middleware(app.wsgi_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield Appliance(core, f"http://127.0.0.1:{server.server_port}", token)
    finally:
        server.shutdown()
        t.join(timeout=10)


def make_agent(url: str, token: str, virt: Virt, facts: HostFacts, state_dir: str,
               **cfg) -> Agent:
    client = AgentClient(url, "hv1", token, timeout=5)
    return Agent(client, virt, facts, virt.caps(), LoopConfig(state_dir=state_dir,
                                                               poll_timeout=1, **cfg))
