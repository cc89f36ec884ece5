"""The order tests' appliance (``tests/orders_env.py``) as the ``env`` fixture."""

from tests.orders_env import env  # noqa: F401  (a fixture)
