"""The agent takes a list of appliance URLs and fails over (issue 19).

Two real appliance apps on loopback (``loophelpers.appliance``: the Flask app, agent API
included) over one store, as two appliances over one database would be; the agent's client is
given both. The in-memory store stands in for the shared PostgreSQL here (the two-appliance
tests with real PostgreSQL are in ``tests/multi/``).
"""

from __future__ import annotations

import contextlib

import pytest

from agent.client import AgentClient, Unavailable, appliance_urls
from tests.agent.loophelpers import appliance
from tests.fakes import MemoryStore


def test_calls_fail_over_in_order_and_stay_where_they_succeeded() -> None:
    store = MemoryStore()
    with contextlib.ExitStack() as first, appliance(store) as b:
        a = first.enter_context(appliance(store))
        token = a.host_token  # a re-keyed the host after b: the latest key counts
        client = AgentClient(f"{a.url}, {b.url}", "hv1", token, timeout=5)
        assert client.poll(0.1) is None and client.current == 0
        work = b.enqueue("guest.create", {"name": "g1"})
        first.close()  # appliance a goes away
        got = client.poll(0.2)
        assert got is not None and got["id"] == work.id  # from b, same queue
        assert client.current == 1
        assert client.poll(0.1) is None and client.current == 1  # no detour via the dead one
    with pytest.raises(Unavailable) as err:
        client.poll(0.1)
    assert a.url in str(err.value) and b.url in str(err.value)


def test_bad_urls_in_the_list_are_refused() -> None:
    assert appliance_urls("http://a:8080,http://b:8080") == ["http://a:8080", "http://b:8080"]
    with pytest.raises(ValueError, match="ftp://b"):
        appliance_urls("http://a:8080,ftp://b")
