"""Order use-cases: field-level validation, placement, work for the agent, state, ownership."""

from __future__ import annotations

import dataclasses

import pytest

import provisioner.core.ordering as ordering_mod
from agent.guest.ids import random_mac
from provisioner.core.order_form import OrderRejected
from provisioner.core.order_progress import Step, derive_state, stage_of
from provisioner.core.ordering import Ordering
from provisioner.core.rules import check
from provisioner.errors import Invalid, NotFound
from provisioner.models import Event, Host, Interface, Profile, System, VmDefaults, WorkItem
from provisioner.platform.tables import guest_mac
from tests.orders_env import GOOD, KVM_FACTS, Clock, Env, seed, store_enqueue

# (scenario, form changes, field, exact message)  - errors
ERRORS = [
    ("name missing", {"name": ""}, "name", "Name is required"),
    ("name with a space", {"name": "web 01"}, "name",
     "'web 01' is not a valid name: use letters, digits and '-' only (no spaces or punctuation), "
     "at most 63 characters, not starting or ending with '-'"),
    ("name with punctuation (seed T15)", {"name": "rhel5.PV"}, "name",
     "'rhel5.PV' is not a valid name: use letters, digits and '-' only (no spaces or "
     "punctuation), at most 63 characters, not starting or ending with '-'"),
    ("name taken by a system", {"name": "taken"}, "name", "a machine named taken already exists"),
    ("profile unknown", {"profile": "nope"}, "profile", "there is no profile named 'nope'"),
    ("vCPUs not a number", {"vcpus": "two"}, "vcpus", "vCPUs must be a whole number, not 'two'"),
    ("vCPUs zero", {"vcpus": "0"}, "vcpus", "vCPUs must be between 1 and 256"),
    ("memory negative", {"ram_mb": "-5"}, "ram_mb",
     "Memory (MiB) must be a whole number, not '-5'"),
    ("memory beyond the host", {"ram_mb": "20000"}, "ram_mb",
     "20000 MiB does not fit on host1: it has 16384 MiB, of which 2048 MiB stay with the host, "
     "so at most 14336 MiB"),
    ("seed 4.2: more than 10 vCPUs per core", {"vcpus": "41"}, "vcpus",
     "host1 has 4 physical cores: KVM supports at most 40 vCPUs (10 per core); 0 are in use, "
     "so at most 40 more"),
    ("disk beyond free space", {"disk_gb": "200"}, "disk_gb",
     "200 GiB does not fit on host1: 100.0 GiB free for images"),
    ("bridge not on the host", {"network": "br9"}, "network",
     "bridge br9 is not on host1 (bridges: br0)"),
    ("seed V8: PXE on NAT", {"network": "default"}, "network",
     "default is NAT: a PXE install needs a bridge (e.g. br0)"),
    ("host unknown", {"host": "nohost"}, "host", "no registered host named nohost"),
    ("seed V11, issue 15: RAM below the seed's 512 MiB is an error", {"ram_mb": "256"},
     "ram_mb", "256 MiB of RAM is below the minimum of 512 MiB: most operating systems need "
     "at least that to be responsive"),
    ("issue 15: 1 MiB of RAM is refused, not warned about", {"ram_mb": "1"}, "ram_mb",
     "1 MiB of RAM is below the minimum of 512 MiB: most operating systems need at least that "
     "to be responsive"),
    ("seed V15/4.1: profile's hypervisor not on host", {"profile": "xenpv", "host": "host1"},
     "host", "the profile needs XEN but host1 runs KVM; a guest stays on the hypervisor it "
     "was made for"),
    ("seed V5: PV cannot install by PXE", {"profile": "xenpv"}, "profile",
     "PV requires an HTTP/FTP/NFS install tree; install_method pxe cannot boot a "
     "para-virtualized guest"),
]

WARNINGS = [
    ("seed V12: more vCPUs than logical CPUs", {"vcpus": "9"}, "vcpus",
     "9 vCPUs is more than the 8 logical CPUs of host1: context switching will slow both guest "
     "and host"),
    ("seed 2-3: guest OS not in the KVM support matrix", {"profile": "old3"}, "profile",
     "rhel3 x86_64 as a hvm guest on a x86_64 kvm host is not in the support matrix: untested "
     "and not supported by Red Hat"),
]


@pytest.fixture
def taken(env: Env) -> Env:
    env.store.put_system(System(name="taken", profile="web"))
    return env


@pytest.mark.parametrize("changes,field,message", [r[1:] for r in ERRORS],
                         ids=[r[0] for r in ERRORS])
def test_each_rule_gives_its_message_on_its_field(taken: Env, changes, field, message) -> None:
    draft = taken.ordering.validate({**GOOD, **changes}, "alice")
    assert not draft.ok
    assert message in draft.errors.get(field, []), draft.errors


@pytest.mark.parametrize("changes,field,message", [r[1:] for r in WARNINGS],
                         ids=[r[0] for r in WARNINGS])
def test_warnings_do_not_block(env: Env, changes, field, message) -> None:
    draft = env.ordering.validate({**GOOD, **changes}, "alice")
    assert draft.ok and draft.host == "host1", draft.errors
    assert message in draft.warnings.get(field, [])


def test_seed_rules_see_the_hosts_capabilities(env: Env) -> None:
    facts = {**KVM_FACTS, "cpu": {**KVM_FACTS["cpu"], "flags": ["pae", "nx"]}}
    env.store.put_host(Host(name="host1", facts=facts, last_seen=env.clock()))
    draft = env.ordering.validate({**GOOD, "profile": "kvm5", "host": "host1"}, "alice")
    assert "FV_REQUIRES_VT" in draft.codes and "KVM_REQUIRES_64BIT_CPU" in draft.codes
    assert all(draft.errors["host"])


def test_host_without_vt_but_with_qemu_emulation_only_warns(env: Env) -> None:
    facts = {**KVM_FACTS, "hypervisor": None,
             "cpu": {**KVM_FACTS["cpu"], "flags": ["lm", "nx", "pae"]}}
    env.store.put_host(Host(name="host1", facts=facts, last_seen=env.clock(),
                            capacity={"domain_types": ["kvm", "qemu"]}))
    draft = env.ordering.validate({**GOOD, "host": "host1"}, "alice")
    assert draft.ok and "FV_REQUIRES_VT" not in draft.codes
    assert draft.warnings["host"] == ["host1 has no usable hardware virtualization: the guest "
                                      "runs under QEMU software emulation (much slower)"]


def test_errors_of_the_hosts_doctor_report_warn_on_review(env: Env) -> None:
    """Issue 14: the host's last doctor report's errors show on the review step (warnings:
    the order still goes through); warnings and info notes of the report do not."""
    finding = {"id": "E1", "severity": "error", "title": "xend is not running", "seed": "30.10",
               "cause": "c", "fix": "service xend start",
               "plan": "provisioner-agent plan service --start xend", "evidence": []}
    env.store.put_host(Host(name="host1", facts=KVM_FACTS, last_seen=env.clock(),
                            capacity={"domain_types": ["kvm", "qemu"]}))
    env.core.agents.doctor("host1", {"status": "findings", "findings": [
        finding, {**finding, "id": "H9", "severity": "warning", "title": "ntpd"},
        {**finding, "id": "E11", "severity": "info", "title": "microcode"}]})
    draft = env.ordering.validate({**GOOD, "host": "host1"}, "alice")
    assert draft.ok and draft.codes.count("HOST_DOCTOR_E1") == 1
    assert draft.warnings["host"] == [
        "host1's last doctor report: xend is not running (E1); on the host: "
        "provisioner-agent plan service --start xend"]


def test_profile_defaults_fill_empty_fields(env: Env) -> None:
    draft = env.ordering.validate({"name": "web02", "profile": "web"}, "alice")
    assert draft.ok
    assert (draft.values["vcpus"], draft.values["ram_mb"], draft.values["disk_gb"],
            draft.values["network"]) == (1, 1024, 10, "br0")


def test_no_host_registered(env: Env) -> None:
    env.store.delete_host("host1")
    draft = env.ordering.validate(GOOD, "alice")
    assert draft.errors["host"] == ["no host is registered: start the agent on a hypervisor "
                                    "host first"]


def test_capacity_counts_orders_already_placed(env: Env) -> None:
    alice = env.users["alice"]
    for i in range(3):
        env.ordering.submit({**GOOD, "name": f"big{i}", "ram_mb": "4096"}, alice)
    draft = env.ordering.validate({**GOOD, "ram_mb": "4096"}, "alice")
    assert draft.warnings["ram_mb"] == ["host1 has 2048 MiB free for guests: 16384 MiB of guests "
                                        "overcommits its RAM and guests will swap"]


def test_submit_creates_order_system_and_agent_work(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"], key="k1")
    assert (order.state, order.host, order.owner, order.system) == ("placed", "host1", "alice",
                                                                    "web01")
    system = env.store.get_system("web01")
    assert system.netboot_enabled and system.token and system.status == "new"
    assert system.interfaces[0].mac.startswith("52:54:00:")
    assert system.interfaces[0].bridge == "br0" and system.vm.ram_mb == 2048
    [item] = env.store.list_work(host="host1")
    assert item.kind == "guest.create" and item.state == "queued"
    assert item.payload == {
        "order": order.id, "name": "web01", "vcpus": 2, "ram_mb": 2048, "disk_gb": 10,
        "bridge": "br0", "mac": system.interfaces[0].mac, "hypervisor": "kvm",
        "virt_type": "hvm", "disk_bus": "virtio", "os_version": "rhel9", "arch": "x86_64",
        "boot": ["network", "hd"], "system": "web01"}
    kinds = [e.kind for e in env.store.list_events(f"order:{order.id}")]
    assert kinds == ["queued", "placed", "work-queued"]
    assert env.ordering.progress(order).state == "placed"


def test_submit_twice_with_the_same_key_is_one_order(env: Env) -> None:
    a = env.ordering.submit(GOOD, env.users["alice"], key="same")
    b = env.ordering.submit(GOOD, env.users["alice"], key="same")
    assert a.id == b.id and len(env.store.list_orders()) == 1


def test_submit_rejected_keeps_every_message(env: Env) -> None:
    with pytest.raises(OrderRejected) as exc:
        env.ordering.submit({**GOOD, "name": "", "vcpus": "x"}, env.users["alice"])
    assert set(exc.value.draft.errors) == {"name", "vcpus"}
    assert env.store.list_orders() == [] and env.store.list_systems() == []


STAGE_OF = [
    ("order queued", "queued", "queued"), ("order placed", "placed", "placed"),
    ("agent defined the guest", "guest.defined", "defined"),
    ("dhcp ack", "dhcp-ack", "dhcp"), ("dhcp offer", "dhcp:offer", "dhcp"),
    ("tftp transfer", "tftp", "tftp"), ("boot config served", "boot-config", "tftp"),
    ("kickstart fetched", "kickstart", "kickstart"),
    ("install started callback", "callback:started", "installing"),
    ("install done callback", "callback:done", "installed"),
    ("install failed callback", "callback:failed", "failed"),
    ("agent started the installed guest", "guest.install-finished", "booted"),
    ("order cancelled", "cancelled", "cancelled"),
    ("unrelated event", "render-error", None), ("system created", "created", None),
]


@pytest.mark.parametrize("kind,stage", [r[1:] for r in STAGE_OF], ids=[r[0] for r in STAGE_OF])
def test_stage_of(kind: str, stage: str | None) -> None:
    assert stage_of(kind) == stage


DERIVE = [
    ("nothing yet", [], "queued"),
    ("placed", [("queued", 1), ("placed", 2)], "placed"),
    ("through kickstart", [("queued", 1), ("placed", 2), ("dhcp-ack", 5), ("boot-config", 6),
                           ("kickstart", 9)], "kickstart"),
    ("missed dhcp event still implies it", [("placed", 2), ("kickstart", 9)], "kickstart"),
    ("installed", [("placed", 2), ("kickstart", 9), ("callback:started", 10),
                   ("callback:done", 50)], "installed"),
    ("failed wins", [("placed", 2), ("kickstart", 9), ("callback:failed", 20)], "failed"),
    ("cancelled wins", [("placed", 2), ("cancelled", 3)], "cancelled"),
]


@pytest.mark.parametrize("events,state", [r[1:] for r in DERIVE], ids=[r[0] for r in DERIVE])
def test_derive_state(events, state) -> None:
    assert derive_state(events)[0] == state


def test_derive_state_fills_implied_steps_with_the_later_time() -> None:
    _, steps, _ = derive_state([("placed", 2.0), ("kickstart", 9.0)])
    assert steps[:6] == (Step("queued", 2.0), Step("placed", 2.0), Step("defined", 9.0),
                         Step("dhcp", 9.0), Step("tftp", 9.0), Step("kickstart", 9.0))
    assert steps[6:] == (Step("installing", None), Step("installed", None), Step("booted", None))


def test_booted_from_disk_is_shown_after_installed_only() -> None:
    events = [("placed", 2.0), ("callback:done", 40.0), ("guest.install-finished", 45.0)]
    state, steps, _ = derive_state(events)
    assert state == "installed" and steps[-1] == Step("booted", 45.0)
    state, steps, _ = derive_state([("placed", 2.0), ("guest.install-finished", 45.0)])
    assert state == "placed" and steps[-1] == Step("booted", None)


def test_derive_state_from_agent_work() -> None:
    done = WorkItem(id="w", host="h", kind="guest.create", state="done", updated=7.0)
    assert derive_state([("placed", 2.0)], [done])[0] == "defined"
    failed = WorkItem(id="w", host="h", kind="guest.create", state="failed", updated=7.0,
                      result={"error": "no space left"})
    assert derive_state([("placed", 2.0)], [failed])[::2] == ("failed", "no space left")


def test_progress_follows_the_system_timeline(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"])
    sub = "system:web01"
    env.store.add_event(Event(sub, "dhcp-ack", {"ip": "10.79.0.100"}, env.clock() + 5))
    env.store.add_event(Event(sub, "boot-config", {"kind": "pxelinux"}, env.clock() + 6))
    env.store.add_event(Event(sub, "kickstart", {"client": "10.79.0.100"}, env.clock() + 20))
    p = env.ordering.progress(order)
    assert (p.state, p.address, p.fqdn) == ("kickstart", "10.79.0.100", "web01.lab.example")
    env.core.callback(env.store.get_system("web01").token, "done")
    p = env.ordering.progress(order)
    assert p.state == "installed" and all(s.at is not None for s in p.steps[:-1])
    assert p.steps[-1] == Step("booted", None)
    assert not env.store.get_system("web01").netboot_enabled


def test_progress_prefers_the_reserved_address(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"])
    s = env.store.get_system("web01")
    env.store.put_system(System(**{**s.__dict__, "interfaces": (
        Interface(mac=s.interfaces[0].mac, ip="10.79.0.50", bridge="br0"),)}))
    assert env.ordering.progress(order).address == "10.79.0.50"


def test_users_see_only_their_orders_admins_all(env: Env) -> None:
    a = env.ordering.submit(GOOD, env.users["alice"])
    b = env.ordering.submit({**GOOD, "name": "web02"}, env.users["bob"])
    assert [o.id for o in env.ordering.visible(env.users["alice"])] == [a.id]
    assert {o.id for o in env.ordering.visible(env.users["root"])} == {a.id, b.id}
    with pytest.raises(NotFound):
        env.ordering.get(b.id, env.users["alice"])
    with pytest.raises(NotFound):
        env.ordering.cancel(b.id, env.users["alice"])
    with pytest.raises(NotFound):
        env.ordering.delete(b.id, env.users["alice"])
    assert env.ordering.get(b.id, env.users["root"]).id == b.id


def test_cancel_before_the_agent_took_it_drops_the_work(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"])
    env.ordering.cancel(order.id, env.users["alice"])
    assert env.store.list_work(host="host1") == []
    assert env.ordering.progress(env.store.get_order(order.id)).state == "cancelled"
    assert not env.store.get_system("web01").netboot_enabled


def test_cancel_after_the_agent_took_it_tears_the_guest_down(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"])
    assert env.store.lease_work("host1", env.clock(), 60).kind == "guest.create"
    env.ordering.cancel(order.id, env.users["root"])
    kinds = sorted(w.kind for w in env.store.list_work(host="host1"))
    assert kinds == ["guest.create", "guest.destroy"]
    events = [e.kind for e in env.store.list_events(f"order:{order.id}")]
    assert events[-1] == "cancelled"


def test_installed_order_cannot_be_cancelled_only_deleted(env: Env) -> None:
    order = env.ordering.submit(GOOD, env.users["alice"])
    env.store.lease_work("host1", env.clock(), 60)
    env.core.callback(env.store.get_system("web01").token, "done")
    with pytest.raises(Invalid):
        env.ordering.cancel(order.id, env.users["alice"])
    env.ordering.delete(order.id, env.users["alice"])
    assert env.store.get_order(order.id) is None and env.store.get_system("web01") is None
    delete = [w for w in env.store.list_work(host="host1") if w.kind == "guest.delete"]
    assert delete[0].payload == {"order": order.id, "name": "web01", "undefine": True,
                                 "remove_storage": True}
    # the name is free again
    assert env.ordering.validate(GOOD, "alice").ok


def test_an_order_survives_an_appliance_restart(tmp_path) -> None:
    from provisioner.core.users import Users
    from provisioner.store import open_store

    url = f"sqlite:///{tmp_path / 'p.db'}"
    clock = Clock()
    store = open_store(url)
    seed(store, clock)
    alice = Users(store).create("alice", "alice-password")
    order = Ordering(store, rules_check=check, enqueue=store_enqueue(store, clock),
                     clock=clock).submit(GOOD, alice)
    store.close()

    store = open_store(url)  # a new process: nothing in memory
    try:
        again = Ordering(store, rules_check=check, enqueue=store_enqueue(store, clock),
                         clock=clock)
        got = again.get(order.id, alice)
        assert got == order and again.progress(got).state == "placed"
        assert [w.kind for w in store.list_work(host="host1")] == ["guest.create"]
        assert store.get_system("web01").netboot_enabled
    finally:
        store.close()


def test_every_seed_rule_lands_on_a_form_field(env: Env) -> None:
    """Whatever field a rule names (disks, guest_os, tree_url...), its message reaches the form."""
    from provisioner.core import rules as seed_rules
    from provisioner.core.order_form import FIELDS
    from provisioner.core.rules import RuleIssue

    every = [RuleIssue(r["level"], r["field"], f"{r['code']}: {r['message']}", r["code"])
             for r in seed_rules.rules()]
    assert len(every) > 30
    ordering = Ordering(env.store, rules_check=lambda values, host: every, clock=env.clock,
                        enqueue=store_enqueue(env.store, env.clock))
    draft = ordering.validate({**GOOD, "host": "host1"}, "alice")
    shown = {m: f for bucket in (draft.errors, draft.warnings) for f, ms in bucket.items()
             for m in ms}
    for issue in every:
        assert issue.message in shown, issue.code
        assert shown[issue.message] in FIELDS
        bucket = draft.errors if issue.level == "error" else draft.warnings
        assert issue.message in bucket[shown[issue.message]]


def test_limits_the_agent_reported_are_field_errors_before_anything_is_queued(env: Env) -> None:
    """Issue 13: vCPUs over libvirt's per-guest maximum, disk over the storage pool's free
    space, RAM of 0: each a field error naming the limit and where it comes from."""
    env.store.put_host(Host(name="host1", facts=KVM_FACTS, last_seen=env.clock(), capacity={
        "domain_types": ["kvm", "qemu"], "max_vcpus": {"kvm": 12},
        "pools": {"default": 30 * 2**30}}))
    draft = env.ordering.validate({**GOOD, "vcpus": "16", "disk_gb": "40", "ram_mb": "0"},
                                  "alice")
    assert draft.errors["ram_mb"] == ["Memory (MiB) must be between 1 and 4194304"]
    draft = env.ordering.validate({**GOOD, "vcpus": "16", "disk_gb": "40"}, "alice")
    assert draft.errors["vcpus"] == [
        "16 vCPUs: host1 allows at most 12 per guest (its libvirt domain capabilities for kvm)"]
    assert draft.errors["disk_gb"] == [
        "40 GiB does not fit on host1: 30.0 GiB free in storage pool 'default'"]
    with pytest.raises(OrderRejected) as exc:
        env.ordering.submit({**GOOD, "vcpus": "16"}, env.users["alice"])
    assert "VCPU_OVER_HOST_MAX" in exc.value.draft.codes
    assert env.store.list_orders() == [] and env.store.list_work(host="host1") == []


def test_host_minimums_are_field_errors_each_said_once(env: Env) -> None:
    """Issue 15 items 6-7: a host below the seed's minimums (2048 MiB RAM, 6 GiB disk) is an
    error on the Host field, each minimum once, with no "host1: host1" and no repeat of what
    the Memory field already says."""
    small = {**KVM_FACTS, "mem_kib": 1024 * 1024, "image_dir_free_bytes": 2 * 2**30}
    env.store.put_host(Host(name="host1", facts=small, last_seen=env.clock()))
    for host in ("host1", "any"):
        draft = env.ordering.validate({**GOOD, "ram_mb": "512", "disk_gb": "1", "host": host},
                                      "alice")
        msgs = draft.errors["host"]
        assert any("1024 MiB of RAM, below the minimum system requirement of 2048 MiB" in m
                   for m in msgs), msgs
        assert any("2.0 GiB free for images, below the minimum system requirement of 6 GiB" in m
                   for m in msgs), msgs
        assert "host1: host1" not in " ".join(msgs)
        assert not any("512 MiB does not fit" in m for m in msgs), msgs
        assert draft.errors["ram_mb"] == ["512 MiB does not fit on host1: it has 1024 MiB, of "
                                          "which 2048 MiB stay with the host, so at most 0 MiB"]


def test_a_host_without_hypervisor_is_said_once_on_the_host_field(env: Env) -> None:
    """The scheduler's NO_HYPERVISOR and the seed rule HYPERVISOR_NOT_INSTALLED are one fact."""
    facts = {**KVM_FACTS, "hypervisor": None,
             "kernel": {**KVM_FACTS["kernel"], "kvm_modules": []}}
    env.store.put_host(Host(name="host1", facts=facts, last_seen=env.clock()))
    draft = env.ordering.validate({**GOOD, "host": "host1"}, "alice")
    assert draft.errors["host"] == ["host1 runs no hypervisor (no KVM modules, not a Xen kernel)"]


def test_units_are_mib_and_gib_only(env: Env) -> None:
    """One unit per quantity, as libvirt: memory in MiB, disks in GiB; never MB or GB."""
    import re

    env.store.put_host(Host(name="host1", facts={**KVM_FACTS, "mem_kib": 1024 * 1024,
                                                 "image_dir_free_bytes": 2 * 2**30},
                            last_seen=env.clock()))
    texts = []
    for changes in ({"ram_mb": "1"}, {"ram_mb": "99999", "disk_gb": "500"}, {"host": "host1"}):
        d = env.ordering.validate({**GOOD, **changes}, "alice")
        texts += [m for ms in (*d.errors.values(), *d.warnings.values()) for m in ms]
    assert texts and not [t for t in texts if re.search(r"\b[MG]B\b", t)], texts


def test_review_says_what_the_host_really_runs(env: Env) -> None:
    """Issue 15 item 7: a TCG host is "QEMU (TCG, software emulation)", not "KVM"."""
    from provisioner.core.order_form import hypervisor_label

    assert env.ordering.validate(GOOD, "alice").runs == "KVM"
    facts = {**KVM_FACTS, "hypervisor": None,
             "cpu": {**KVM_FACTS["cpu"], "flags": ["lm", "nx", "pae"]}}
    tcg = Host(name="host1", facts=facts, last_seen=env.clock(),
               capacity={"domain_types": ["qemu"]})
    env.store.put_host(tcg)
    assert env.ordering.validate(GOOD, "alice").runs == "QEMU (TCG, software emulation)"
    assert hypervisor_label(tcg) == "QEMU (TCG, software emulation)"
    assert hypervisor_label(Host(name="x", facts={**KVM_FACTS, "hypervisor": "xen"})) == "Xen"
    assert hypervisor_label(Host(name="y")) == "none"

# ---- issue 14 fix 5: Xen guests get Xen MACs, by the one rule the agent uses ---------------------

XEN_FACTS = {**KVM_FACTS, "hostname": "xen1", "hypervisor": "xen",
             "kernel": {"arch": "x86_64", "is_xen": True, "kvm_modules": []},
             "distro": {"id": "rhel", "family": "rhel", "version": "5.4"}}


def test_xen_order_gets_xen_mac(env: Env) -> None:
    """Seed 28.8 / E T11: a Xen guest's MAC is 00:16:3e:[00-7f]:xx:xx (52:54:00 before)."""
    env.store.put_host(Host(name="xen1", facts=XEN_FACTS, capacity={}, last_seen=env.clock()))
    env.store.put_profile(Profile(name="xenfv", distro="rhel5", vm=VmDefaults(
        hypervisor="xen", virt_type="hvm", bridge="br0")))
    order = env.ordering.submit({**GOOD, "profile": "xenfv", "host": "xen1"}, env.users["alice"])
    mac = env.store.get_system(order.system).interfaces[0].mac
    octets = [int(x, 16) for x in mac.split(":")]
    assert mac.startswith("00:16:3e:") and octets[3] <= 0x7F
    [item] = env.store.list_work(host="xen1")
    assert item.payload["mac"] == mac and item.payload["hypervisor"] == "xen"
    # the same rule as the agent's generator: same octets in, same MAC out
    nums = iter(octets[3:])
    assert random_mac("xen", lambda lo, hi: next(nums)) == mac == guest_mac("xen", (
        octets[3], octets[4], octets[5]))


def test_order_mac_skips_one_already_taken(env: Env, monkeypatch) -> None:
    monkeypatch.setattr(ordering_mod.uuid, "uuid4", lambda: type("U", (), {"hex": "ff" * 16})())
    env.store.put_system(System(name="other", profile="web",
                                interfaces=(Interface(mac="52:54:00:7f:ff:ff"),)))
    order = env.ordering.submit(GOOD, env.users["alice"])
    mac = env.store.get_system(order.system).interfaces[0].mac
    assert mac != "52:54:00:7f:ff:ff" and mac.startswith("52:54:00:")


def _reporting_host(name: str, fixture: str) -> Host:
    """A KVM host whose capacity holds the CPU models the agent reports from a real fixture
    host's domain capabilities (``agent/loop.py`` ``_limits`` through ``agent/guest/cpumap``)."""
    from agent.guest.cpumap import index_order, read_index, usable_models
    from agent.guest.domcaps import parse_domcaps
    from tests.agent.guest.cases import HOSTS

    dc = parse_domcaps((HOSTS / fixture / "domcaps.xml").read_text())
    models = usable_models(dc, index_order(read_index() or "", "x86_64"))
    return Host(name=name, facts={**KVM_FACTS, "hostname": name}, last_seen=NOW_SEEN,
                capacity={"cpu_models": {"kvm": models}, "cpu_vendor": "Intel"})


NOW_SEEN = 1_800_000_000.0


def test_a_migratable_order_gets_the_model_every_host_shares(env: Env) -> None:
    """Issue 13: the form's Live-migratable box; the appliance picks the newest CPU model the
    KVM hosts (this machine's KVM and TCG domain capabilities) both list as usable, puts it
    in the work item, and the agent's virt-install options and XML carry it."""
    from agent.guest.build import build
    from agent.guest.ids import Ids
    from agent.loop import LoopConfig
    from agent.workitems import order_argv
    from tests.agent.guest.cases import fixture_host

    env.store.put_host(_reporting_host("host1", "kvm-x86_64"))
    env.store.put_host(_reporting_host("host2", "tcg-x86_64"))
    draft = env.ordering.validate({**GOOD, "migratable": "on"}, "alice")
    assert draft.ok, draft.errors
    assert draft.values["cpu_model"] == "pentium3"  # TCG alone would get Westmere
    assert draft.values["cpu_hosts"] == ["host1", "host2"]
    order = env.ordering.submit({**GOOD, "migratable": "on"}, env.users["alice"])
    [item] = env.store.list_work(host=order.host)
    assert (item.payload["migratable"], item.payload["cpu_model"]) == (True, "pentium3")
    argv = order_argv(item.payload, LoopConfig(state_dir="/x"))
    assert argv[argv.index("--cpu") + 1] == "pentium3"
    xml = build(argv, fixture_host("kvm-x86_64"), Ids()).final.get_xml()
    assert "<cpu mode=\"custom\"" in xml and ">pentium3</model>" in xml, xml
    plain = env.ordering.validate({**GOOD, "name": "web02"}, "alice")
    assert plain.ok and not plain.values["migratable"] and plain.values["cpu_model"] is None


def test_a_migratable_order_without_a_shared_model_is_refused_on_its_field(env: Env) -> None:
    env.store.put_host(_reporting_host("host1", "kvm-x86_64"))
    other = _reporting_host("host2", "tcg-x86_64")
    env.store.put_host(dataclasses.replace(other, capacity={
        "cpu_models": {"kvm": [{"name": "EPYC", "vendor": "AMD"}]}, "cpu_vendor": "AMD"}))
    draft = env.ordering.validate({**GOOD, "migratable": "on"}, "alice")
    assert draft.errors["migratable"] == [
        "no named CPU model is usable on every host the guest could migrate between: host1 "
        "(4 usable), host2 (1 usable); order it without migration or add hosts with a common "
        "CPU generation"]
    with pytest.raises(OrderRejected):
        env.ordering.submit({**GOOD, "migratable": "on"}, env.users["alice"])
    assert env.store.list_work(host="host1") == env.store.list_work(host="host2") == []
    bad = env.ordering.validate({**GOOD, "cpu_model": "Westmere"}, "alice")  # implies migratable
    assert bad.errors["cpu_model"] == [
        "CPU model Westmere is not usable on host1, host2 (libvirt domain capabilities); leave "
        "it empty to get the newest model all hosts share"]
    odd = env.ordering.validate({**GOOD, "migratable": "maybe", "cpu_model": "a b"}, "alice")
    assert odd.errors["migratable"] == ["Live-migratable must be on or off, not 'maybe'"]
    assert odd.errors["cpu_model"] == [
        "'a b' is not a CPU model name (like Skylake-Server or qemu64)"]
