"""Agentless hosts and migration use-cases over the memory store and a fake libvirt side (the real
one is tests/integration/test_agentless.py): nothing recorded half-way, secrets encrypted at
rest, the inventory changed only on success."""

from __future__ import annotations

import datetime as dt

import pytest

from provisioner.core import orders
from provisioner.core.keyring import SSH_KEY, Keyring, host_token_name
from provisioner.errors import Conflict, Invalid, NotFound, StoreError
from provisioner.models import Order
from provisioner.remote import pki
from provisioner.remote.errors import ConnectError, MigrationRefused
from provisioner.remote.hosts import RemoteHosts
from provisioner.remote.migration import Options, Outcome
from provisioner.remote.preflight import Check
from provisioner.store.cipher import FernetCipher
from provisioner.store.memory import MemoryStore

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()
HOSTKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOJ9yQ8n5mlcOlx8XkzP8Uc2B7yJzgZ8K3m0n3f5m4qA"
FACTS = {"hostname": "hv5", "libvirt_version": "9.0.0"}
CAP = {"vcpus": 4, "ram_mb": 8192, "bridges": ["br0"], "domain_types": ["qemu"],
       "hypervisor": "kvm", "arch": "x86_64", "disk_free_gb": 50}


class FakeHypervisors:
    def __init__(self) -> None:
        self.fail: ConnectError | None = None
        self.calls: list[tuple] = []
        self.checks: list[Check] = [Check("shared_storage", "t", "s", "pass", "seen")]
        self.outcome = Outcome(True, "destination", 2.5, 120)

    def probe(self, uri, creds):
        self.calls.append(("probe", uri, creds.known_hosts))
        if self.fail:
            raise self.fail
        return dict(FACTS), dict(CAP)

    def scan_host_key(self, host, port):
        return HOSTKEY

    def connect_uri(self, uri, creds):
        return uri + "?pkipath=/run/x"

    def preflight(self, src, dst, guest, creds, *, copy_storage, force):
        self.calls.append(("preflight", src, dst, guest))
        return self.checks

    def migrate(self, src, dst, guest, opts, creds, on_progress):
        self.calls.append(("migrate", src, dst, guest, opts))
        return self.outcome


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):
    store, clock, fake = MemoryStore(), Clock(), FakeHypervisors()
    keyring = Keyring(store, FernetCipher.from_file(tmp_path / "secret.key"), clock)
    return store, clock, fake, RemoteHosts(store, keyring, fake, clock), tmp_path


def test_add_over_ssh_records_everything_and_keeps_the_token_encrypted(env):
    store, clock, fake, r, tmp = env
    h = r.add("hv5", "qemu+ssh://root@10.0.0.5/system", ssh_host_key=HOSTKEY + " root@hv5")
    assert h.agentless and h.uri == "qemu+ssh://root@10.0.0.5/system"
    assert h.ssh_host_key == HOSTKEY and h.capacity == CAP and h.facts == FACTS
    assert fake.calls[0][2][-1] == f"10.0.0.5 {HOSTKEY}"  # the new key is trusted for the probe
    token = r.loop_token("hv5")
    assert token and orders.authenticate(store, "hv5", token).name == "hv5"
    raw = store.get_secret(host_token_name("hv5"))
    assert raw and token not in raw
    key = store.get_secret(SSH_KEY)
    assert key and "PRIVATE KEY" not in key  # encrypted at rest
    assert "OPENSSH PRIVATE KEY" in Keyring(store, FernetCipher.from_file(tmp / "secret.key"),
                                            clock).get(SSH_KEY)
    other = tmp / "other.key"
    with pytest.raises(StoreError, match="does not decrypt"):
        Keyring(store, FernetCipher.from_file(other), clock).get(SSH_KEY)
    assert r.credentials().known_hosts == (f"10.0.0.5 {HOSTKEY}",)
    assert "Keyring(" in repr(r.keyring) and token not in repr(r.keyring)


@pytest.mark.parametrize("uri,key,err", [
    ("qemu+ssh://root@10.0.0.5/system", "", "SSH key"),
    ("qemu+ssh://root@10.0.0.5/system?command=/bin/sh", HOSTKEY, "not accepted"),
    ("qemu+tcp://10.0.0.5/system", "", "tcp"),
    ("qemu+ssh://evil;x/system", HOSTKEY, "host"),
    ("qemu:///system", "", "remote"),
    ("qemu+ssh://root@10.0.0.5/system", "not a key", "not an SSH public key"),
])
def test_bad_input_records_nothing(env, uri, key, err):
    store, _, fake, r, _ = env
    with pytest.raises(Invalid, match=err):
        r.add("hv5", uri, ssh_host_key=key)
    assert store.list_hosts() == [] and not fake.calls


def test_unreachable_host_records_nothing(env):
    store, _, fake, r, _ = env
    fake.fail = ConnectError("unreachable", "10.0.0.5", "cannot reach 10.0.0.5:16514")
    with pytest.raises(ConnectError, match="cannot reach"):
        r.add("hv5", "qemu+tls://10.0.0.5/system")
    assert store.list_hosts() == []
    assert not any(n.startswith("host-token/") for n in store.secret_names())


def test_duplicate_and_remove(env):
    store, _, _, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    with pytest.raises(Conflict):
        r.add("hv5", "qemu+tls://10.0.0.6/system")
    r.remove("hv5")
    assert store.list_hosts() == [] and r.loop_token("hv5") is None
    with pytest.raises(NotFound):
        r.remove("hv5")


def test_agent_registration_keeps_the_uri(env):
    store, clock, _, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    h = orders.register_host(store, "hv5", r.loop_token("hv5"), {"from": "agent"}, {"vcpus": 2},
                             now=clock())
    assert h.uri == "qemu+tls://10.0.0.5/system" and h.facts == {"from": "agent"}


def test_client_certificate_is_renewed_before_it_expires(env):
    _, clock, _, r, _ = env
    first = pki.info(r.credentials().client_cert)
    assert pki.info(r.credentials().client_cert).serial == first.serial  # kept while fine
    clock.t += 340 * 86400  # within 30 days of expiry
    renewed = pki.info(r.credentials().client_cert)
    assert renewed.serial != first.serial and renewed.not_after > first.not_after
    assert pki.issued_by(r.credentials().client_cert, r.ca_certificate())


def test_host_bundle_names(env):
    _, _, _, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    b = r.host_bundle("hv5", ["hv5.example.com"])
    assert set(pki.info(b["cert"]).names) == {"10.0.0.5", "hv5.example.com", "hv5"}
    assert pki.key_matches(b["cert"], b["key"]) and b["ca_cert"] == r.ca_certificate()
    with pytest.raises(Invalid):
        r.host_bundle("nobody")


def _placed(store, name="g1", host="hv5"):
    store.put_order(Order(id="o1", owner="u", name=name, profile="p", host=host,
                          state="placed", system=name))


def test_migrate_updates_the_inventory_only_on_success(env):
    store, _, fake, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    r.add("hv6", "qemu+tls://10.0.0.6/system")
    _placed(store)
    out = r.migrate("g1", "hv6", Options())
    assert out.ok and store.get_order("o1").host == "hv6"
    opts = fake.calls[-1][4]
    assert opts.data_address == "10.0.0.6" and opts.unsafe  # storage verified shared
    kinds = [e.kind for e in store.list_events("order:o1")]
    assert kinds == ["migration:started", "migration:done"]

    fake.outcome = Outcome(False, "source", 1.0, error="Lost connection to destination host")
    out = r.migrate("g1", "hv5", Options())
    assert not out.ok and store.get_order("o1").host == "hv6"  # the inventory says: source
    failed = store.list_events("order:o1")[-1]
    assert failed.kind == "migration:failed" and failed.detail["running_on"] == "hv6"


def test_preflight_failure_refuses_before_anything_moves(env):
    store, _, fake, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    r.add("hv6", "qemu+tls://10.0.0.6/system")
    _placed(store)
    fake.checks = [Check("same_bridges", "t", "s", "fail", "missing on the destination: br9",
                         "create the bridge")]
    with pytest.raises(MigrationRefused, match="br9"):
        r.migrate("g1", "hv6")
    assert not [c for c in fake.calls if c[0] == "migrate"]
    assert store.get_order("o1").host == "hv5" and store.list_events("order:o1") == []


def test_migrate_needs_known_agentless_hosts(env):
    store, clock, _, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    orders.create_host_token(store, "agent1", now=clock())
    _placed(store)
    with pytest.raises(Invalid, match="no libvirt URI"):
        r.check("g1", "agent1")
    with pytest.raises(NotFound):
        r.check("g1", "nowhere")
    with pytest.raises(NotFound):
        r.check("nobody", "hv5")
    with pytest.raises(Invalid, match="already runs"):
        r.check("g1", "hv5")


def test_loop_spec(env):
    store, _, _, r, _ = env
    r.add("hv5", "qemu+tls://10.0.0.5/system")
    uri, token, virt_type = r.loop_spec("hv5")
    assert uri == "qemu+tls://10.0.0.5/system?pkipath=/run/x" and token == r.loop_token("hv5")
    assert virt_type == "qemu"  # CAP offers no kvm domain type: TCG
    with pytest.raises(NotFound):
        r.loop_spec("nobody")
