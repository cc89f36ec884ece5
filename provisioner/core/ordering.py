"""VM orders as use-cases: validate a form, place, create, follow, cancel and delete.

The web UI (``web/ui.py``) calls only this module for orders. A form is validated field by
field: plain field rules, then the seed's platform rules (``core.rules.check``) for the chosen
profile on the chosen host, then the host's capacity (``core.scheduler``). Every problem is a
:class:`~provisioner.core.scheduler.Issue` naming the form field it belongs to, so the page can
print it next to that field. Errors block the order; warnings are shown on the review step.

An accepted order becomes: an :class:`~provisioner.models.Order` record, a
:class:`~provisioner.models.System` (MAC, bridge, VM values, one-shot netboot) so DHCP, TFTP and
the kickstart know the guest, and a work item for the host's agent (``guest.create``). Cancel and
delete queue ``guest.destroy`` (delete also removes the records).

The order's state is not stored as truth: it is derived per request from the timelines
(``order:<id>`` and ``system:<name>``) and the agent's work items, in this order::

    queued -> placed -> defined -> dhcp -> tftp -> kickstart -> installing -> installed
                                                       (or failed / cancelled at any point)

and, shown after "installed" without being a state, "booted": the agent started the installed
guest from its disk.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioner.core import scheduler
from provisioner.core.events import record, system_subject
from provisioner.core.inventory import Inventory
from provisioner.core.ports import Store
from provisioner.core.scheduler import Issue
from provisioner.core.select import profile_chain, resolve
from provisioner.errors import Invalid, NotFound, ProvisionerError
from provisioner.models import Host, Interface, Order, System, User, VmDefaults, WorkItem
from provisioner.platform.tables import mac_prefix

FIELDS = ("name", "profile", "vcpus", "ram_mb", "disk_gb", "network", "host")
LABELS = {"name": "Name", "profile": "OS profile", "vcpus": "vCPUs", "ram_mb": "Memory (MiB)",
          "disk_gb": "Disk (GB)", "network": "Network (bridge)", "host": "Host"}
STAGES = ("queued", "placed", "defined", "dhcp", "tftp", "kickstart", "installing", "installed")
#: Shown after "installed" but not a state of the order: the agent started the installed guest
#: from its disk (its final definition).
AFTER = ("booted",)
TERMINAL = ("installed", "failed", "cancelled")
ACTIVE_STATES = ("queued", "placed", "defined", "dhcp", "tftp", "kickstart", "installing")
HOST_CODES = ("HYPERVISOR_NOT_INSTALLED", "KVM_HOST_ARCH", "KVM_HOST_TOO_OLD", "FV_REQUIRES_VT",
              "KVM_REQUIRES_64BIT_CPU", "PV_NEEDS_KERNEL_XEN", "PV_REQUIRES_PAE",
              "PXE_HOST_TOO_OLD", "GUEST_ARCH_ON_HOST")
MAX_VCPUS, MAX_RAM_MB, MAX_DISK_GB = 256, 4 * 2**20, 64 * 1024
_GUEST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

# (stage, event-kind patterns) checked in this order; a pattern matches a kind's prefix.
EVENT_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("booted", ("guest.install-finished", "booted")),
    ("failed", ("callback:failed", "failed", "guest.failed", "agent:failed")),
    ("cancelled", ("cancelled",)),
    ("installed", ("callback:done", "installed")),
    ("installing", ("callback:started", "installing")),
    ("kickstart", ("kickstart", "ks")),
    ("tftp", ("tftp", "boot-config", "boot_config", "bootfile")),
    ("dhcp", ("dhcp",)),
    ("defined", ("defined", "guest.defined", "guest.started", "started", "agent:defined",
                 "domain")),
    ("placed", ("placed",)),
    ("queued", ("queued",)),
)

RulesCheck = Callable[[dict[str, Any], Any], Sequence[Any]]
Enqueue = Callable[[str, str, dict[str, Any], str], WorkItem]


class OrderRejected(Invalid):
    """The form has errors; ``draft`` carries every field's messages."""

    def __init__(self, draft: Draft) -> None:
        first = next(iter(draft.errors.items()))
        super().__init__(f"{LABELS.get(first[0], first[0])}: {first[1][0]}", field=first[0])
        self.draft = draft


@dataclass
class Draft:
    """A validated (or rejected) form: normalised values and per-field messages."""

    form: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)
    host: str | None = None  # where the scheduler placed it
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, issue: Issue) -> None:
        fld = issue.field if issue.field in FIELDS else "host"
        if (fld, issue.code) in self._seen:
            return  # the same finding from the scheduler and the seed rules
        self._seen.add((fld, issue.code))
        bucket = self.errors if issue.severity == "error" else self.warnings
        msgs = bucket.setdefault(fld, [])
        if issue.message not in msgs:
            msgs.append(issue.message)
        self.codes.append(issue.code)


@dataclass(frozen=True)
class Step:
    stage: str
    at: float | None  # when it was reached; None: not yet


@dataclass(frozen=True)
class Progress:
    """An order as the order page shows it."""

    order: Order
    state: str
    steps: tuple[Step, ...]
    events: tuple[Any, ...]
    address: str | None
    fqdn: str | None
    detail: str = ""  # why it failed, when it did

    def as_dict(self) -> dict[str, Any]:
        o = self.order
        return {"id": o.id, "name": o.name, "owner": o.owner, "profile": o.profile,
                "host": o.host, "vcpus": o.vcpus, "ram_mb": o.ram_mb, "disk_gb": o.disk_gb,
                "network": o.network, "state": self.state, "address": self.address,
                "fqdn": self.fqdn, "detail": self.detail, "created": o.created,
                "steps": [{"stage": s.stage, "at": s.at} for s in self.steps],
                "events": [{"subject": e.subject, "kind": e.kind, "at": e.at,
                            "detail": e.detail} for e in self.events]}


def stage_of(kind: str) -> str | None:
    """The order stage an event kind marks, or None for events that mark none."""
    k = kind.lower()
    for stage, patterns in EVENT_STAGES:
        if any(k == p or k.startswith(p + ":") or k.startswith(p + "-") or k.startswith(p + ".")
               or k.startswith(p + "_") for p in patterns):
            return stage
    return None


def derive_state(kinds: Sequence[tuple[str, float]],
                 work: Sequence[WorkItem] = ()) -> tuple[str, tuple[Step, ...], str]:
    """(state, steps, failure detail) from ``(kind, at)`` events and the order's work items."""
    reached: dict[str, float] = {}
    detail = ""
    for kind, at in kinds:
        stage = stage_of(kind)
        if stage is not None and stage not in reached:
            reached[stage] = at
    for item in work:
        if item.kind == "guest.create" and item.state == "done":
            reached.setdefault("defined", item.updated)
        if item.kind == "guest.create" and item.state == "failed":
            reached.setdefault("failed", item.updated)
            detail = str(item.result.get("error") or item.result.get("message") or "")
    # a later stage implies the earlier ones (e.g. a missed DHCP event)
    steps = []
    last = -1
    for i, stage in enumerate(STAGES):
        if stage in reached:
            last = i
    for i, stage in enumerate(STAGES):
        when = reached.get(stage)
        if when is None and i < last:
            later = [reached[s] for s in STAGES[i + 1:] if s in reached]
            when = min(later) if later else None
        steps.append(Step(stage, when))
    installed = "installed" in reached
    steps += [Step(stage, reached.get(stage) if installed else None) for stage in AFTER]
    for terminal in ("cancelled", "failed"):
        if terminal in reached:
            return terminal, tuple(steps), detail
    return (STAGES[last] if last >= 0 else "queued"), tuple(steps), detail


def _int(form: Mapping[str, str], name: str, lo: int, hi: int, draft: Draft,
         default: int | None) -> int | None:
    raw = (form.get(name) or "").strip()
    label = LABELS[name]
    if not raw:
        if default is None:
            draft.add(Issue(name, "REQUIRED", f"{label} is required"))
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        draft.add(Issue(name, "NOT_A_NUMBER", f"{label} must be a whole number, not {raw!r}"))
        return None
    value = int(raw)
    if not lo <= value <= hi:
        draft.add(Issue(name, "OUT_OF_RANGE", f"{label} must be between {lo} and {hi}"))
        return None
    return value


def _mac(order_id: str) -> str:
    raw = bytes.fromhex(order_id.replace("-", "")[:6])
    return ":".join(f"{b:02x}" for b in (*mac_prefix("kvm"), *raw))


class Ordering:
    """Order use-cases over the store. ``rules_check`` and ``enqueue`` are injected seams."""

    def __init__(self, store: Store, *, rules_check: RulesCheck | None = None,
                 enqueue: Enqueue | None = None, clock: Callable[[], float],
                 domain: str = "lab.example", new_token: Callable[[], str] | None = None) -> None:
        self.store = store
        self.rules_check = rules_check
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
        out = {k: values[k].value for k in ("vcpus", "ram_mb", "disk_gb", "bridge",
                                              "hypervisor", "virt_type", "disk_bus",
                                              "os_version", "arch", "breed", "kickstart",
                                              "tree_url")}
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
        events = list(self.store.list_events(f"order:{order.id}"))
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
        address = None
        if system is not None:
            address = next((i.ip for i in system.interfaces if i.ip), None)
        if address is None:
            for e in reversed(events):
                ip = e.detail.get("ip") or e.detail.get("yiaddr") or e.detail.get("address")
                if ip and stage_of(e.kind) in ("dhcp", "tftp", "kickstart", "installing",
                                               "installed"):
                    address = str(ip)
                    break
        hostname = (system.hostname if system and system.hostname else order.name)
        fqdn = f"{hostname}.{self.domain}" if self.domain else hostname
        return Progress(order, state, steps, tuple(events), address, fqdn, detail)

    # ---- validation ----------------------------------------------------------------------
    def validate(self, form: Mapping[str, str], owner: str) -> Draft:
        """Check every field; place the order when the fields are sound."""
        f = {k: str(form.get(k, "") or "").strip() for k in FIELDS}
        draft = Draft(form=f)
        name = f["name"]
        if not name:
            draft.add(Issue("name", "REQUIRED", "Name is required"))
        elif not _GUEST_NAME.match(name):
            draft.add(Issue("name", "BAD_NAME",
                            f"{name!r} is not a valid name: use letters, digits and '-' only "
                            "(no spaces or punctuation), at most 63 characters, not starting "
                            "or ending with '-'"))
        elif self.store.get_system(name) is not None or any(
                o.name == name and self._active(o) for o in self.store.list_orders()):
            draft.add(Issue("name", "NAME_TAKEN", f"a machine named {name} already exists"))

        prof = f["profile"]
        defaults: dict[str, Any] = {}
        if not prof:
            draft.add(Issue("profile", "REQUIRED", "choose an OS profile"))
        elif self.store.get_profile(prof) is None:
            draft.add(Issue("profile", "NO_SUCH_PROFILE", f"there is no profile named {prof!r}"))
        else:
            defaults = self.defaults(prof)
            if not defaults:
                draft.add(Issue("profile", "PROFILE_BROKEN",
                                f"profile {prof} has no distro (broken inheritance)"))

        vcpus = _int(f, "vcpus", 1, MAX_VCPUS, draft, defaults.get("vcpus"))
        ram = _int(f, "ram_mb", 1, MAX_RAM_MB, draft, defaults.get("ram_mb"))
        disk = _int(f, "disk_gb", 1, MAX_DISK_GB, draft, defaults.get("disk_gb"))
        network = f["network"] or str(defaults.get("bridge") or "")
        if network and not re.fullmatch(r"[A-Za-z0-9:_.-]{1,32}", network):
            draft.add(Issue("network", "BAD_NETWORK", f"{network!r} is not a bridge name"))
        host = f["host"] or "any"
        draft.values = {"name": name, "profile": prof, "vcpus": vcpus, "ram_mb": ram,
                        "disk_gb": disk, "network": network, "host": host,
                        **{k: defaults.get(k) for k in ("hypervisor", "virt_type", "disk_bus",
                                                        "os_version", "arch", "breed",
                                                        "distro", "kickstart", "tree_url")}}
        if draft.errors and not all(k == "name" for k in draft.errors):
            return draft
        if vcpus is None or ram is None or disk is None:
            return draft

        # capacity: the scheduler, over every registered host (or the chosen one)
        now = self.clock()
        views = self.host_views()
        req = scheduler.Request(vcpus=vcpus, ram_mb=ram, disk_gb=disk, network=network,
                                hypervisor=defaults.get("hypervisor"),
                                host=None if host == "any" else host)
        placement = scheduler.place(req, views, now)
        for issue in (*placement.errors, *placement.warnings):
            draft.add(issue)
        draft.host = placement.host

        # the seed's platform rules for this guest on the chosen (or requested) host
        target = placement.host or (host if host != "any" else None)
        hrec = self.store.get_host(target) if target else None
        for issue in self._rules(draft.values, hrec):
            draft.add(issue)
        if hrec is not None and self.emulated(hrec):
            draft.add(Issue("host", "EMULATED", f"{hrec.name} has no usable hardware "
                            "virtualization: the guest runs under QEMU software emulation "
                            "(much slower)", "warning"))
        return draft

    def _rules(self, values: dict[str, Any], host: Host | None) -> list[Issue]:
        """The seed's platform rules through ``rules_check(values, host_info)``.

        Only the host's capabilities go in (arch, release, CPU flags, hypervisor): capacity
        (RAM, vCPUs, disk) is the scheduler's, so no finding is reported twice.
        """
        if self.rules_check is None:
            return []
        rule_values = {**values, "install_method": "pxe", "bridge": values.get("network") or None,
                       "kickstart": values.get("kickstart")}
        rule_values.pop("host", None)
        out = []
        for ri in self.rules_check(rule_values, self.host_info(host) if host else None):
            code = str(getattr(ri, "code", "") or "RULE")
            fld = str(getattr(ri, "field", "") or "profile")
            if code in HOST_CODES or fld == "host":
                fld = "host"
            elif fld == "bridge":
                fld = "network"
            elif fld not in FIELDS:
                fld = "profile"  # the profile decides OS, arch, virt type, disks, install
            level = str(getattr(ri, "level", getattr(ri, "severity", "error")))
            out.append(Issue(fld, code, str(getattr(ri, "message", ri)),
                             "error" if level == "error" else "warning"))
        return out

    @staticmethod
    def emulated(host: Host) -> bool:
        """Guests on this host run under QEMU software emulation: libvirt offers the ``qemu``
        domain type and either no ``kvm`` or a CPU without VT/AMD-V flags. The seed's "full
        virtualization needs VT" then becomes a warning (TCG needs none), not an error."""
        types = set((host.capacity or {}).get("domain_types") or ())
        flags = set(((host.facts or {}).get("cpu") or {}).get("flags") or ())
        no_vt = bool(flags) and not flags & {"vmx", "svm"}
        return "qemu" in types and ("kvm" not in types or no_vt)

    @staticmethod
    def host_info(host: Host) -> Any:
        """The host's capabilities as ``core.rules.HostInfo`` (capacity left out on purpose)."""
        from provisioner.core.rules import HostInfo

        facts = host.facts or {}
        cpu = facts.get("cpu") or {}
        kernel = facts.get("kernel") or {}
        distro = facts.get("distro") or {}
        view = scheduler.host_view(host.name, facts, host.capacity)
        flags = cpu.get("flags")
        if Ordering.emulated(host):
            flags = None  # TCG needs no VT; the review step says it is emulated instead
        return HostInfo(
            arch=view.arch,
            release=str(distro.get("version")) if distro.get("family") == "rhel" else None,
            cpu_flags=frozenset(flags) if flags else None,
            running_xen=bool(kernel.get("is_xen")) if kernel else None,
            hypervisors=(view.hypervisor,) if view.hypervisor else None)

    def _active(self, order: Order) -> bool:
        return order.state not in ("cancelled", "deleted")

    def host_views(self) -> list[scheduler.HostView]:
        usage = scheduler.Usage()
        for o in self.store.list_orders():
            if o.host and self._active(o) and o.state != "failed":
                usage.add(o.host, o.vcpus, o.ram_mb, o.disk_gb)
        return [scheduler.host_view(h.name, h.facts, h.capacity, h.last_seen,
                                    usage.per_host.get(h.name, ()))
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
        v = draft.values
        now = self.clock()
        oid = uuid.uuid4().hex[:12]
        order = Order(id=oid, owner=owner.name, name=v["name"], profile=v["profile"],
                      vcpus=v["vcpus"], ram_mb=v["ram_mb"], disk_gb=v["disk_gb"],
                      network=v["network"], host=None, state="queued", system=v["name"],
                      created=now, updated=now)
        self.store.put_order(order)
        subject = f"order:{oid}"
        record(self.store, subject, "queued", {"by": owner.name, "key": key or ""}, now)
        mac = _mac(oid)
        system = System(name=v["name"], profile=v["profile"], hostname=v["name"],
                        interfaces=(Interface(mac=mac, bridge=v["network"] or None),),
                        netboot_enabled=True, metadata={"order": oid},
                        vm=VmDefaults(ram_mb=v["ram_mb"], vcpus=v["vcpus"], disk_gb=v["disk_gb"],
                                      bridge=v["network"] or None),
                        status="new", token=self.new_token())
        try:
            system = Inventory(self.store, self.new_token).add_system(system)
            record(self.store, system_subject(system.name), "created",
                   {"profile": system.profile, "order": oid}, self.clock())
        except ProvisionerError as exc:
            self._fail(order, f"could not register the system: {exc}")
            raise
        order = dataclasses.replace(order, host=draft.host, state="placed", updated=self.clock())
        self.store.put_order(order)
        record(self.store, subject, "placed", {"host": draft.host,
                                                "warnings": sum(draft.warnings.values(), [])},
               self.clock())
        payload = {"order": oid, "name": v["name"], "vcpus": v["vcpus"], "ram_mb": v["ram_mb"],
                   "disk_gb": v["disk_gb"], "bridge": v["network"], "mac": mac,
                   "hypervisor": v.get("hypervisor") or "kvm",
                   "virt_type": v.get("virt_type") or "hvm",
                   "disk_bus": v.get("disk_bus") or "virtio", "os_version": v.get("os_version"),
                   "arch": v.get("arch") or "x86_64", "boot": ["network", "hd"],
                   "system": v["name"]}
        if self.enqueue is not None:
            try:
                item = self.enqueue(draft.host, "guest.create", payload, f"order:{oid}:create")
            except ProvisionerError as exc:
                self._fail(order, f"could not queue work for {draft.host}: {exc}")
                raise
            record(self.store, subject, "work-queued", {"work": item.id, "kind": item.kind},
                   self.clock())
        return order

    def _key_of(self, order: Order) -> str | None:
        for e in self.store.list_events(f"order:{order.id}", None):
            if e.kind == "queued":
                return e.detail.get("key") or None
        return None

    def _fail(self, order: Order, why: str) -> None:
        self.store.put_order(dataclasses.replace(order, state="failed", updated=self.clock()))
        record(self.store, f"order:{order.id}", "failed", {"error": why}, self.clock())

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
        record(self.store, f"order:{order.id}", "cancelled", {"by": user.name}, self.clock())
        return order

    def delete(self, order_id: str, user: User) -> None:
        """Remove the order, its system and (through the agent) its guest and disk."""
        order = self.get(order_id, user)
        self._teardown(order, undefine=True)
        if order.system and self.store.get_system(order.system) is not None:
            self.store.delete_system(order.system)
        record(self.store, f"order:{order.id}", "deleted", {"by": user.name}, self.clock())
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
                record(self.store, f"order:{order.id}", "work-dropped", {"work": item.id},
                       self.clock())
        if all(w.state == "queued" for w in mine):
            return  # the agent never saw it: nothing to tear down
        kind = "guest.delete" if undefine else "guest.destroy"
        self.enqueue(order.host, kind, {"order": order.id, "name": order.name,
                                        "undefine": undefine, "remove_storage": undefine},
                     f"order:{order.id}:{kind}")
