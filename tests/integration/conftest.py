"""Fixtures shared by the integration tests (the two-host lab of issue 16)."""

from tests.integration.twohosts import two_hosts  # noqa: F401 - a fixture
