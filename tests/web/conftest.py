"""A Flask test client over a Core with the canonical inventory (fake renderer, memory store)."""

from __future__ import annotations

import pytest

from provisioner.core.app import Core
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests import fixtures as fx
from tests.fakes import FakeRenderer, MemoryStore

TOKEN = "test-bootstrap-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def core() -> Core:
    c = Core(MemoryStore(), FakeRenderer(), Settings(api_token=TOKEN), clock=lambda: 7.0,
             new_token=lambda: "generated-token")
    fx.fill(c)
    return c


@pytest.fixture
def client(core):
    return create_app(core).test_client()
