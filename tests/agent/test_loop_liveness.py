"""Issue 15 item 3: a host whose agent keeps long-polling is never "stale".

The real agent work loop (``agent/loop.py``, libvirt's test driver for the guests) polls the
real appliance app over HTTP on loopback. The appliance's stale threshold is the setting
``host_stale_after`` (2 s here instead of 120 s, so the test waits past it in seconds; the code
path is the production one: ``/api/agent/poll`` -> ``core/orders.wait_for_work`` ->
``Store.touch_host`` -> the scheduler's ``HostView.stale`` and the Hosts page). The test runs
the agent for several thresholds, looks at the host all along, then stops the agent and sees the
host turn stale: the threshold is real and the test can fail.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from agent.client import AgentClient
from agent.facts.model import HostFacts
from agent.loop import Agent, LoopConfig
from provisioner.core import orders
from provisioner.core.app import Core
from provisioner.settings import Settings
from provisioner.store import open_store
from provisioner.web.app import create_app
from tests.fakes import FakeRenderer

libvirt = pytest.importorskip("libvirt")

STALE_AFTER = 2  # seconds (the setting host_stale_after)
POLL = 1.0  # the agent's long-poll timeout: shorter than the threshold, as 25 s is to 120 s


@contextlib.contextmanager
def _appliance(tmp_path: Path) -> Iterator[tuple[Core, str, str]]:
    settings = Settings(data_dir=str(tmp_path), host_stale_after=STALE_AFTER)
    store = open_store(settings.db_url)
    core = Core(store, FakeRenderer(), settings)
    token = orders.create_host_token(core.store, "hv1", now=core.clock())
    core.users.create("root", "root-password", "admin")
    server = make_server("127.0.0.1", 0, create_app(core), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield core, f"http://127.0.0.1:{server.server_port}", token
    finally:
        server.shutdown()
        thread.join(timeout=10)
        core.close()


def _hosts_page(app_core: Core) -> str:
    client = create_app(app_core).test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     client.get("/ui/login").get_data(as_text=True)).group(1)
    client.post("/ui/login", data={"username": "root", "password": "root-password",
                                   "csrf_token": csrf})
    return client.get("/ui/hosts").get_data(as_text=True)


def _stale(core: Core) -> bool:
    (view,) = core.ordering.host_views()
    return view.stale(core.clock())


def test_a_polling_agent_keeps_its_host_fresh_past_the_threshold(tmp_path: Path) -> None:
    from agent.guest.virt import Virt

    with _appliance(tmp_path) as (core, url, token):
        virt = Virt("test:///default", image_dir=str(tmp_path / "images"))
        facts = HostFacts(image_dir=str(tmp_path / "images"))
        agent = Agent(AgentClient(url, "hv1", token, timeout=5), virt, facts, virt.caps(),
                      LoopConfig(state_dir=str(tmp_path / "state"), poll_timeout=POLL))
        stop = threading.Event()
        loop = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        loop.start()
        try:
            deadline = time.monotonic() + 3 * STALE_AFTER
            seen_stale = []
            while time.monotonic() < deadline:  # bounded: 6 s
                assert loop.is_alive()
                seen_stale.append(_stale(core))
                time.sleep(0.2)
            assert agent.registered
            assert not any(seen_stale), f"stale at {seen_stale.index(True) * 0.2:.1f} s"
            page = _hosts_page(core)
            assert "hv1" in page and ">stale<" not in page
            draft = core.ordering.validate({"name": "g1", "profile": "", "host": "hv1"}, "root")
            assert "HOST_STALE" not in draft.codes
        finally:
            stop.set()
            loop.join(timeout=POLL + 10)
        assert not loop.is_alive()
        # the agent stopped: past the threshold the host is stale, on the page too
        time.sleep(STALE_AFTER + 0.5)
        assert _stale(core)
        assert ">stale<" in _hosts_page(core)
