"""An appliance for the order and web UI tests: one inventory, one host, three users.

``env`` is a fixture; the conftest of each directory that uses it (``tests/core``,
``tests/web/ui``) imports it from here.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner.core.app import Core
from provisioner.core.ordering import Ordering
from provisioner.core.ports import Store
from provisioner.core.rules import check
from provisioner.core.users import Users
from provisioner.models import Distro, Host, Profile, VmDefaults, WorkItem
from provisioner.net.dhcp import read_leases
from provisioner.settings import Settings
from provisioner.store.memory import MemoryStore
from tests.fakes import FakeRenderer

NOW = 1_800_000_000.0
KVM_FACTS: dict[str, Any] = {
    "hostname": "host1", "mem_kib": 16 * 2**20, "image_dir_free_bytes": 100 * 2**30,
    "hypervisor": "kvm",
    "cpu": {"vendor": "GenuineIntel", "cores": 4, "threads": 8,
            "flags": ["lm", "nx", "pae", "vmx", "constant_tsc"]},
    "kernel": {"arch": "x86_64", "is_xen": False, "kvm_modules": ["kvm", "kvm_intel"]},
    "distro": {"id": "debian", "family": "debian", "version": "12"},
    "network": {"bridges": [{"name": "br0", "ports": ["eth0"]}]},
}


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


def store_enqueue(store: Store, clock: Clock):
    """Queue work straight into the store (what the agent work queue persists)."""
    def enqueue(host: str, kind: str, payload: dict[str, Any], key: str) -> WorkItem:
        existing = store.work_by_key(key)
        if existing is not None:
            return existing
        item = WorkItem(id=uuid.uuid4().hex[:12], host=host, kind=kind, payload=payload,
                        idempotency_key=key, created=clock(), updated=clock())
        store.put_work(item)
        return item
    return enqueue


def seed(store: Store, clock: Clock) -> None:
    store.put_distro(Distro(name="rhel9", os_version="rhel9", tree_url="http://mirror.example/9"))
    store.put_distro(Distro(name="rhel5", os_version="rhel5.4",
                            tree_url="http://mirror.example/5.4"))
    store.put_profile(Profile(name="web", distro="rhel9",
                              vm=VmDefaults(ram_mb=1024, vcpus=1, disk_gb=10, bridge="br0")))
    store.put_profile(Profile(name="xenpv", distro="rhel5",
                              vm=VmDefaults(hypervisor="xen", virt_type="pv", bridge="br0")))
    store.put_profile(Profile(name="kvm5", distro="rhel5", vm=VmDefaults(bridge="br0")))
    store.put_distro(Distro(name="rhel3", os_version="rhel3.9",
                            tree_url="http://mirror.example/3.9"))
    store.put_profile(Profile(name="old3", distro="rhel3", vm=VmDefaults(bridge="br0")))
    store.put_host(Host(name="host1", facts=KVM_FACTS, capacity={}, last_seen=clock()))


@dataclass
class Env:
    store: MemoryStore
    clock: Clock
    core: Core
    ordering: Ordering
    users: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def env(tmp_path) -> Env:
    store = MemoryStore()
    clock = Clock()
    seed(store, clock)
    settings = Settings(data_dir=str(tmp_path))
    core = Core(store, FakeRenderer(), settings, clock=clock,
                leases=functools.partial(read_leases, settings))
    ordering = Ordering(store, rules_check=check, enqueue=store_enqueue(store, clock),
                        clock=clock, domain="lab.example")
    users = Users(store)
    made = {"alice": users.create("alice", "alice-password"),
            "bob": users.create("bob", "bob-password"),
            "root": users.create("root", "root-password", "admin")}
    return Env(store, clock, core, ordering, made)


GOOD = {"name": "web01", "profile": "web", "vcpus": "2", "ram_mb": "2048", "disk_gb": "10",
        "network": "br0", "host": "any"}
