"""The agents' use-cases bound to one store and clock: what ``web/agent_api.py`` and the UI call.

The rules live in ``core/orders.py`` (functions over the Store, ``now`` passed in, table-tested
there); this object only supplies the store, the clock and the admin-token check, so handlers
make one call each and never see the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.core import doctor_reports, orders
from provisioner.core.ports import Store
from provisioner.errors import NotFound
from provisioner.models import Event, Host, WorkItem

LEASE_SECONDS = orders.LEASE_SECONDS
KINDS = orders.KINDS


class Agents:
    """Hosts, their tokens and the work queue, as the transports see them."""

    def __init__(self, store: Store, clock: Callable[[], float],
                 check_admin: Callable[[str], bool]) -> None:
        self.store = store
        self.clock = clock
        self.check_admin = check_admin

    # hosts
    def hosts(self) -> list[Host]:
        return self.store.list_hosts()

    def create_host_token(self, name: str) -> str:
        """Create (or re-key) a host; its plain token is returned once."""
        return orders.create_host_token(self.store, name, now=self.clock())

    def forget_host(self, name: str) -> None:
        if not self.store.delete_host(name):
            raise NotFound(f"no host {name}")

    def authenticate(self, name: str, token: str) -> Host:
        return orders.authenticate(self.store, name, token)

    def register(self, name: str, token: str, facts: Any, capacity: Any) -> Host:
        return orders.register_host(self.store, name, token, facts, capacity, now=self.clock(),
                                    check_admin=self.check_admin)

    def doctor(self, host: str, report: Any) -> dict[str, Any]:
        """Keep the host's last ``provisioner-agent doctor`` report (the host page shows it)."""
        return doctor_reports.store_report(self.store, host, report, self.clock())

    def last_doctor(self, host: str) -> dict[str, Any] | None:
        """The host's last doctor report as stored (None: none sent yet)."""
        rec = self.store.get_host(host)
        if rec is None:
            raise NotFound(f"no host {host}")
        return doctor_reports.last_report(rec.facts)

    # the queue
    def enqueue(self, host: str, kind: str, payload: Any, key: str | None = None) -> WorkItem:
        return orders.enqueue(self.store, host, kind, payload, key=key, now=self.clock())

    def get_work(self, work_id: str) -> WorkItem:
        item = self.store.get_work(work_id)
        if item is None:
            raise NotFound(f"no work {work_id!r}")
        return item

    def poll(self, host: str, timeout: float) -> tuple[WorkItem | None, dict[str, Any] | None]:
        """The next work item for ``host`` (waiting up to ``timeout``), and its payload."""
        item = orders.wait_for_work(self.store, host, timeout=timeout, clock=self.clock)
        return item, (orders.handed_out(self.store, item) if item is not None else None)

    def complete(self, host: str, work_id: str, result: Any) -> WorkItem:
        return orders.complete(self.store, host, work_id, result, now=self.clock())

    def fail(self, host: str, work_id: str, error: str, *, retry: bool) -> WorkItem:
        return orders.fail(self.store, host, work_id, error, now=self.clock(), retry=retry)

    def event(self, host: str, kind: object, detail: object, *, work_id: str | None,
              system: str | None) -> Event | None:
        return orders.agent_event(self.store, host, kind, detail, now=self.clock(),
                                  work_id=work_id, system=system)
