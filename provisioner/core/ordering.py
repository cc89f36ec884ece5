"""VM orders as use-cases: validate a form, place, create, follow, cancel and delete.

The web UI (``web/ui/orders.py``) calls only this module for orders (``core.ordering``). A form
is validated field by field (``core/order_form.py``): plain field rules, then the host's
capacity (``core.scheduler``), then the seed's platform rules (``core.rules.check``) for the
chosen profile on the chosen host.

An accepted order becomes: an :class:`~provisioner.models.Order` record, a
:class:`~provisioner.models.System` (MAC, bridge, VM values, one-shot netboot) so DHCP, TFTP and
the kickstart know the guest, and a work item for the host's agent (``guest.create``). Cancel and
delete queue ``guest.destroy`` (delete also removes the records). The order's state is derived
per request from its timelines and work items (``core/order_progress.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from provisioner.core import cpu_models, scheduler
from provisioner.core.doctor_reports import order_warnings
from provisioner.core.events import record
from provisioner.core.inventory import Inventory
from provisioner.core.order_form import (
    FIELDS,
    Draft,
    OrderRejected,
    emulated,
    emulated_issue,
    form_values,
    host_info,
    hypervisor_label,
    name_issue,
    rule_issues,
    rule_values,
)
from provisioner.core.order_progress import (
    AFTER,
    TERMINAL,
    Progress,
    Step,
    address_of,
    derive_state,
)
from provisioner.core.ports import Store
from provisioner.core.scheduler import Issue
from provisioner.core.select import profile_chain, resolve
from provisioner.errors import Conflict, Invalid, NotFound, ProvisionerError
from provisioner.models import (
    EventKind,
    Host,
    Interface,
    Order,
    System,
    User,
    VmDefaults,
    WorkItem,
    order_subject,
    system_subject,
)
from provisioner.platform.tables import guest_mac, table

RulesCheck = Callable[[dict[str, Any], Any], Sequence[Any]]
Enqueue = Callable[[str, str, dict[str, Any], str], WorkItem]
#: the resolved profile values the order form starts from
DEFAULT_KEYS = ("vcpus", "ram_mb", "disk_gb", "bridge", "hypervisor", "virt_type", "disk_bus",
                "os_version", "arch", "breed", "kickstart", "tree_url")


MAC_HYPERVISORS = tuple(table("macs")["prefix"])


def _mac(order_id: str, hypervisor: str, taken: Callable[[str], bool]) -> str:
    """The guest's MAC by the one rule the agent uses (``platform.tables.guest_mac``): the
    hypervisor's prefix (Xen ``00:16:3e``, KVM ``52:54:00``), octets from the order id; the
    next digest of the id while a system already has it."""
    if hypervisor not in MAC_HYPERVISORS:
        raise Invalid(f"no MAC rule for hypervisor {hypervisor!r} (one of "
                      f"{', '.join(MAC_HYPERVISORS)})", field="hypervisor")
    for i in range(64):
        seed = order_id if i == 0 else hashlib.sha256(f"{order_id}/{i}".encode()).hexdigest()
        raw = bytes.fromhex(seed.replace("-", "")[:6])
        mac = guest_mac(hypervisor, (raw[0], raw[1], raw[2]))
        if not taken(mac):
            return mac
    raise Conflict("no free MAC address for this order (64 candidates taken)")


def _work_payload(oid: str, mac: str, v: Mapping[str, Any]) -> dict[str, Any]:
    """What the agent's ``guest.create`` gets for an accepted order."""
    return {"order": oid, "name": v["name"], "vcpus": v["vcpus"], "ram_mb": v["ram_mb"],
            "disk_gb": v["disk_gb"], "bridge": v["network"], "mac": mac,
            "hypervisor": v.get("hypervisor") or "kvm", "virt_type": v.get("virt_type") or "hvm",
            "disk_bus": v.get("disk_bus") or "virtio", "os_version": v.get("os_version"),
            "arch": v.get("arch") or "x86_64", "boot": ["network", "hd"], "system": v["name"],
            **({"migratable": True, "cpu_model": v["cpu_model"]} if v.get("migratable") else {})}


def _system(v: Mapping[str, Any], mac: str, oid: str, token: str) -> System:
    """The inventory record of an order's guest (so DHCP, TFTP and the kickstart know it)."""
    bridge = v["network"] or None
    return System(name=v["name"], profile=v["profile"], hostname=v["name"],
                  interfaces=(Interface(mac=mac, bridge=bridge),), netboot_enabled=True,
                  metadata={"order": oid},
                  vm=VmDefaults(ram_mb=v["ram_mb"], vcpus=v["vcpus"], disk_gb=v["disk_gb"],
                                bridge=bridge),
                  status="new", token=token)


class Ordering:
    """Order use-cases over the store. ``rules_check``, ``kickstart_check`` and ``enqueue`` are
    injected seams; ``kickstart_check(profile)`` gives the error messages of the profile's
    kickstart for its release (``Core.validate``'s pykickstart/render findings: the same
    check ``provisioner validate`` runs and the serving path refuses on)."""

    def __init__(self, store: Store, *, rules_check: RulesCheck | None = None,
                 enqueue: Enqueue | None = None, clock: Callable[[], float],
                 domain: str = "lab.example", new_token: Callable[[], str] | None = None,
                 stale_after: float = scheduler.STALE_AFTER_S,
                 kickstart_check: Callable[[str], Sequence[str]] | None = None) -> None:
        self.store = store
        self.stale_after = stale_after
        self.rules_check = rules_check
        self.kickstart_check = kickstart_check
        self.enqueue = enqueue
        self.clock = clock
        self.domain = domain
        self.new_token = new_token or (lambda: secrets.token_urlsafe(16))

    # ---- reading -------------------------------------------------------------------------
    def hosts(self) -> list[Host]:
        return self.store.list_hosts()

    def networks(self) -> list[str]:
        """Every bridge some host reports (the form's network choices)."""
        seen: dict[str, None] = {}
        for h in self.store.list_hosts():
            for b in scheduler.host_view(h.name, h.facts, h.capacity).bridges:
                seen.setdefault(b, None)
        return list(seen)

    def defaults(self, profile: str) -> dict[str, Any]:
        """The VM values a profile (and its parents) ask for; settings defaults otherwise."""
        try:
            chain = profile_chain(profile, self.store.get_profile)
        except (NotFound, Invalid):
            return {}
        distro_name = next((p.distro for p in reversed(chain) if p.distro), None)
        distro = self.store.get_distro(distro_name) if distro_name else None
        if distro is None:
            return {}
        values = resolve(distro, chain)
        out = {k: values[k].value for k in DEFAULT_KEYS}
        out["distro"] = distro.name
        return out

    def visible(self, user: User) -> list[Order]:
        orders = self.store.list_orders(owner=None if user.role == "admin" else user.name)
        return sorted(orders, key=lambda o: o.created, reverse=True)

    def get(self, order_id: str, user: User) -> Order:
        """The order, if ``user`` may see it; someone else's order is simply not found."""
        order = self.store.get_order(order_id) if isinstance(order_id, str) else None
        if order is None or (user.role != "admin" and order.owner != user.name):
            raise NotFound(f"no order {order_id}")
        return order

    def progress(self, order: Order,
                 work_of_host: dict[str, list[WorkItem]] | None = None) -> Progress:
        """The order as its page shows it, derived now from the timelines and the work queue.

        ``work_of_host`` caches each host's work items across calls (a list of many orders).
        """
        events = list(self.store.list_events(order_subject(order.id)))
        system = self.store.get_system(order.system) if order.system else None
        if order.system:
            events += self.store.list_events(system_subject(order.system))
        events.sort(key=lambda e: (e.at, e.id or 0))
        work: list[WorkItem] = []
        if order.host:
            cache = work_of_host if work_of_host is not None else {}
            if order.host not in cache:
                cache[order.host] = self.store.list_work(host=order.host)
            work = [w for w in cache[order.host] if w.payload.get("order") == order.id]
        state, steps, detail = derive_state([(e.kind, e.at) for e in events], work)
        if system is not None and system.status == "installed" and state not in TERMINAL:
            state = "installed"
            steps = tuple(Step(s.stage, s.at if s.at is not None or s.stage in AFTER
                               else order.updated) for s in steps)
        address = address_of(system, events)
        hostname = (system.hostname if system and system.hostname else order.name)
        fqdn = f"{hostname}.{self.domain}" if self.domain else hostname
        return Progress(order, state, steps, tuple(events), address, fqdn, detail)

    # ---- validation ----------------------------------------------------------------------
    def validate(self, form: Mapping[str, str], owner: str) -> Draft:
        """Check every field; place the order when the fields are sound."""
        f = {k: str(form.get(k, "") or "").strip() for k in FIELDS}
        draft = Draft(form=f)
        issue = name_issue(f["name"]) or self._name_taken(f["name"])
        if issue is not None:
            draft.add(issue)
        defaults = self._profile_defaults(f["profile"], draft)
        form_values(f, defaults, draft)
        if draft.errors and not all(k == "name" for k in draft.errors):
            return draft
        if None in (draft.values["vcpus"], draft.values["ram_mb"], draft.values["disk_gb"]):
            return draft
        self._place(draft)
        return draft

    def _name_taken(self, name: str) -> Issue | None:
        if self.store.get_system(name) is not None or any(
                o.name == name and self._active(o) for o in self.store.list_orders()):
            return Issue("name", "NAME_TAKEN", f"a machine named {name} already exists")
        return None

    def _profile_defaults(self, prof: str, draft: Draft) -> dict[str, Any]:
        """The chosen profile's VM values; an issue on the profile field when there are none."""
        if not prof:
            draft.add(Issue("profile", "REQUIRED", "choose an OS profile"))
            return {}
        if self.store.get_profile(prof) is None:
            draft.add(Issue("profile", "NO_SUCH_PROFILE", f"there is no profile named {prof!r}"))
            return {}
        defaults = self.defaults(prof)
        if not defaults:
            draft.add(Issue("profile", "PROFILE_BROKEN",
                            f"profile {prof} has no distro (broken inheritance)"))
        return defaults

    def _place(self, draft: Draft) -> None:
        """Capacity (the scheduler over every host, or the chosen one), then the platform rules
        for this guest on the host it was placed on (or the one requested)."""
        v, host = draft.values, draft.values["host"]
        req = scheduler.Request(vcpus=v["vcpus"], ram_mb=v["ram_mb"], disk_gb=v["disk_gb"],
                                network=v["network"], hypervisor=v.get("hypervisor"),
                                host=None if host == "any" else host)
        placement = scheduler.place(req, self.host_views(), self.clock())
        for issue in (*placement.errors, *placement.warnings):
            draft.add(issue)
        draft.host = placement.host
        if v.get("migratable") and placement.host:
            self._cpu_model(draft, placement.host)
        target = placement.host or (host if host != "any" else None)
        hrec = self.store.get_host(target) if target else None
        for issue in self._rules(v, hrec):
            draft.add(issue)
        if hrec is not None:
            for issue in order_warnings(hrec):
                draft.add(issue)
            draft.runs = hypervisor_label(hrec)
            if emulated(hrec):
                draft.add(emulated_issue(hrec))
        if self.kickstart_check is not None:
            for message in self.kickstart_check(v["profile"]):
                draft.add(Issue("profile", "KICKSTART_INVALID", message))

    def _cpu_model(self, draft: Draft, placed: str) -> None:
        """A migratable guest's CPU model, shared by every host with the placed host's
        hypervisor and architecture (``core/cpu_models.py``), or a field error."""
        views = {h.name: h for h in self.host_views()}
        here = views[placed]
        names = sorted(n for n, h in views.items()
                       if h.hypervisor == here.hypervisor and h.arch == here.arch)
        records = {h.name: h for h in self.hosts()}
        hosts = [cpu_models.host_models(n, records[n].capacity or {}, here.hypervisor)
                 for n in names if n in records]
        chosen = cpu_models.choose(hosts, draft.values.get("cpu_model"))
        if isinstance(chosen, Issue):
            draft.add(chosen)
        else:
            draft.values["cpu_model"] = chosen
            draft.values["cpu_hosts"] = names

    def _rules(self, values: dict[str, Any], host: Host | None) -> list[Issue]:
        """The seed's platform rules through ``rules_check(values, host_info)``.

        Only the host's capabilities go in (arch, release, CPU flags, hypervisor): capacity
        (RAM, vCPUs, disk) is the scheduler's, so no finding is reported twice.
        """
        if self.rules_check is None:
            return []
        return rule_issues(self.rules_check(rule_values(values),
                                            host_info(host) if host else None))

    def _active(self, order: Order) -> bool:
        return order.state not in ("cancelled", "deleted")

    def host_views(self) -> list[scheduler.HostView]:
        usage = scheduler.Usage()
        for o in self.store.list_orders():
            if o.host and self._active(o) and o.state != "failed":
                usage.add(o.host, o.vcpus, o.ram_mb, o.disk_gb)
        return [scheduler.host_view(h.name, h.facts, h.capacity, h.last_seen,
                                    usage.per_host.get(h.name, ()), self.stale_after)
                for h in self.store.list_hosts()]

    # ---- writes --------------------------------------------------------------------------
    def submit(self, form: Mapping[str, str], owner: User, key: str | None = None) -> Order:
        """Validate again, then create the order, its system and the agent's work.

        ``key`` makes a double submission (reload, double click) return the first order.
        """
        if key:
            for o in self.store.list_orders(owner=owner.name):
                if getattr(o, "id", None) and self._key_of(o) == key:
                    return o
        draft = self.validate(form, owner.name)
        if not draft.ok or draft.host is None:
            if draft.ok:
                draft.add(Issue("host", "NO_HOST_FITS", "no host can take this order"))
            raise OrderRejected(draft)
        v, now, oid = draft.values, self.clock(), uuid.uuid4().hex[:12]
        order = Order(id=oid, owner=owner.name, name=v["name"], profile=v["profile"],
                      vcpus=v["vcpus"], ram_mb=v["ram_mb"], disk_gb=v["disk_gb"],
                      network=v["network"], host=None, state="queued", system=v["name"],
                      created=now, updated=now)
        self.store.put_order(order)
        self._event(order, EventKind.ORDER_QUEUED, {"by": owner.name, "key": key or ""}, now)
        mac = _mac(oid, v.get("hypervisor") or "kvm",
                   lambda m: self.store.system_by_mac(m) is not None)
        self._register(order, _system(v, mac, oid, self.new_token()))
        order = dataclasses.replace(order, host=draft.host, state="placed", updated=self.clock())
        self.store.put_order(order)
        self._event(order, EventKind.ORDER_PLACED,
                    {"host": draft.host, "warnings": sum(draft.warnings.values(), [])})
        self._queue_create(order, draft.host, _work_payload(oid, mac, v))
        return order

    def _event(self, order: Order, kind: EventKind, detail: dict[str, Any],
               at: float | None = None) -> None:
        record(self.store, order_subject(order.id), kind, detail,
               self.clock() if at is None else at)

    def _register(self, order: Order, system: System) -> None:
        """Add the order's guest to the inventory; the order fails if that is refused."""
        try:
            system = Inventory(self.store, self.new_token).add_system(system)
            record(self.store, system_subject(system.name), EventKind.SYSTEM_CREATED,
                   {"profile": system.profile, "order": order.id}, self.clock())
        except ProvisionerError as exc:
            self._fail(order, f"could not register the system: {exc}")
            raise

    def _queue_create(self, order: Order, host: str, payload: dict[str, Any]) -> None:
        """The agent's ``guest.create``; the order fails if the queue refuses it."""
        if self.enqueue is None:
            return
        try:
            item = self.enqueue(host, "guest.create", payload, f"order:{order.id}:create")
        except ProvisionerError as exc:
            self._fail(order, f"could not queue work for {host}: {exc}")
            raise
        self._event(order, EventKind.WORK_QUEUED, {"work": item.id, "kind": item.kind})

    def _key_of(self, order: Order) -> str | None:
        for e in self.store.list_events(order_subject(order.id), None):
            if e.kind == EventKind.ORDER_QUEUED:
                return e.detail.get("key") or None
        return None

    def _fail(self, order: Order, why: str) -> None:
        self.store.put_order(dataclasses.replace(order, state="failed", updated=self.clock()))
        self._event(order, EventKind.ORDER_FAILED, {"error": why})

    def cancel(self, order_id: str, user: User) -> Order:
        """Stop an order: the agent tears the guest down, netboot is switched off."""
        order = self.get(order_id, user)
        if order.state == "cancelled":
            return order
        progress = self.progress(order)
        if progress.state == "installed":
            raise Invalid("this order is already installed; delete it to remove the guest",
                          field="state")
        self._teardown(order, undefine=False)
        system = self.store.get_system(order.system) if order.system else None
        if system is not None:
            self.store.put_system(dataclasses.replace(system, netboot_enabled=False))
        order = dataclasses.replace(order, state="cancelled", updated=self.clock())
        self.store.put_order(order)
        self._event(order, EventKind.ORDER_CANCELLED, {"by": user.name})
        return order

    def delete(self, order_id: str, user: User) -> None:
        """Remove the order, its system and (through the agent) its guest and disk."""
        order = self.get(order_id, user)
        self._teardown(order, undefine=True)
        if order.system and self.store.get_system(order.system) is not None:
            self.store.delete_system(order.system)
        self._event(order, EventKind.ORDER_DELETED, {"by": user.name})
        self.store.delete_order(order.id)

    def _teardown(self, order: Order, *, undefine: bool) -> None:
        if not order.host or self.enqueue is None:
            return
        mine = [w for w in self.store.list_work(host=order.host)
                if w.payload.get("order") == order.id and w.kind == "guest.create"]
        for item in mine:
            if item.state == "queued":
                # never started: drop it rather than create and then destroy
                self.store.delete_work(item.id)
                self._event(order, EventKind.WORK_DROPPED, {"work": item.id})
        if all(w.state == "queued" for w in mine):
            return  # the agent never saw it: nothing to tear down
        kind = "guest.delete" if undefine else "guest.destroy"
        self.enqueue(order.host, kind, {"order": order.id, "name": order.name,
                                        "undefine": undefine, "remove_storage": undefine},
                     f"order:{order.id}:{kind}")
