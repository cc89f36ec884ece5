"""remote/migrate.py over fake libvirt objects (no daemon): the watcher that bounds a migration.

The source's libvirt keeps sending to a destination QEMU whose libvirtd died; only the
appliance, holding the destination's connection, can tell. These fakes make ``migrate3`` block
until the job is aborted (as a real Perform phase does), so a watcher that fails to abort makes
the test fail on its own bound instead of hanging. The real counterpart (a libvirtd SIGKILLed
mid-migration) is in tests/integration/test_remote_hosts.py and test_agentless.py.
"""

from __future__ import annotations

import threading
import time

import libvirt
import pytest

from provisioner.remote import migrate as mig
from provisioner.remote import migration
from provisioner.remote.migration import Options

XML = "<domain type='qemu'><name>g1</name><memory>1024</memory></domain>"
NEVER = 5.0  # a fake migration that is never aborted gives up after this


class Dom:
    def __init__(self, conn: Conn, *, blocks: bool = True) -> None:
        self.conn, self.blocks = conn, blocks
        self.aborted = threading.Event()
        self.running = True

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802 - libvirt's name
        return XML

    def isActive(self) -> bool:  # noqa: N802
        return self.running

    def state(self) -> list[int]:
        return [libvirt.VIR_DOMAIN_RUNNING if self.running else libvirt.VIR_DOMAIN_SHUTOFF, 0]

    def jobStats(self, _flags: int = 0) -> dict:  # noqa: N802
        return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED,
                libvirt.VIR_DOMAIN_JOB_DATA_PROCESSED: 1 << 20}

    def abortJob(self) -> None:  # noqa: N802
        self.aborted.set()

    def migrate3(self, dst: Conn, _params: dict, _flags: int) -> Dom:
        if self.blocks and not self.aborted.wait(NEVER):
            raise AssertionError("the watcher never aborted the migration")
        if self.aborted.is_set():
            raise libvirt.libvirtError("operation aborted: migration out job: canceled by client")
        self.conn.doms.pop("g1")
        dst.doms["g1"] = moved = Dom(dst, blocks=False)
        return moved


class Conn:
    def __init__(self) -> None:
        self.doms: dict[str, Dom] = {}
        self.alive = True

    def lookupByName(self, name: str) -> Dom:  # noqa: N802
        if name not in self.doms:
            raise libvirt.libvirtError(f"Domain not found: no domain with matching name '{name}'")
        return self.doms[name]

    def isAlive(self) -> int:  # noqa: N802
        return int(self.alive)


def _pair() -> tuple[Conn, Conn, Dom]:
    src, dst = Conn(), Conn()
    src.doms["g1"] = dom = Dom(src)
    return src, dst, dom


@pytest.mark.parametrize(("alive", "elapsed", "deadline", "word"), [
    (True, 10.0, None, None),
    (True, 10.0, 30.0, None),
    (True, 31.0, 30.0, "deadline of 30 s"),
    (False, 0.0, None, "connection to the destination's libvirt was lost"),
    (False, 99.0, 30.0, "connection to the destination's libvirt was lost"),
])
def test_abort_reason_table(alive, elapsed, deadline, word):
    why = mig.abort_reason(alive, elapsed, deadline)
    assert (why is None) == (word is None)
    assert word is None or word in why


def test_a_destination_lost_mid_migration_is_aborted_at_once():
    src, dst, dom = _pair()
    seen = []

    def lose_destination(p) -> None:
        seen.append(p)
        dst.alive = False  # its libvirtd died: the connection closed

    t0 = time.monotonic()
    out = mig.migrate(src, dst, "g1", Options(), on_progress=lose_destination, poll=0.02)
    assert dom.aborted.is_set() and time.monotonic() - t0 < NEVER / 2
    assert not out.ok and out.running_on == "source", out
    assert "connection to the destination's libvirt was lost" in out.error
    assert "canceled by client" in out.error and seen


def test_a_migration_past_its_deadline_is_aborted():
    src, dst, dom = _pair()
    out = mig.migrate(src, dst, "g1", Options(deadline_s=0.2), poll=0.02)
    assert dom.aborted.is_set()
    assert not out.ok and out.running_on == "source"
    assert "deadline of 0.2 s" in out.error


def test_a_healthy_migration_is_not_aborted():
    src, dst, dom = _pair()
    dom.blocks = False
    out = mig.migrate(src, dst, "g1", Options(deadline_s=60), poll=0.02)
    assert out.ok and not dom.aborted.is_set() and "g1" in dst.doms


def test_offline_move_fails_if_the_source_still_defines_the_guest():
    src, dst, dom = _pair()
    dom.blocks, dom.running = False, False

    def copy_only(dst_conn, _params, flags):  # a libvirt that "moved" without undefining
        assert flags & libvirt.VIR_MIGRATE_OFFLINE and flags & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        dst_conn.doms["g1"] = Dom(dst_conn, blocks=False)
        dst_conn.doms["g1"].running = False
        return dst_conn.doms["g1"]

    dom.migrate3 = copy_only
    out = mig.migrate(src, dst, "g1", Options(live=False))
    assert not out.ok and "libvirt reported success" in out.error


TLS_B = "qemu+tls://10.0.0.2/system"


@pytest.mark.parametrize(("opts", "want", "not_want"), [
    (Options(), libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST,
     libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_TUNNELLED),
    (Options(p2p=True, p2p_uri=TLS_B), libvirt.VIR_MIGRATE_PEER2PEER,
     libvirt.VIR_MIGRATE_TUNNELLED),
    (Options(p2p=True, p2p_uri=TLS_B, tunnelled=True),
     libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_TUNNELLED, 0),
    (Options(live=False), libvirt.VIR_MIGRATE_UNDEFINE_SOURCE, libvirt.VIR_MIGRATE_LIVE),
])
def test_flags(opts, want, not_want):
    flags = mig.flags_for(opts, active=True)
    assert flags & want == want and not flags & not_want


def test_a_tunnelled_migration_names_no_data_socket():
    assert mig.params_for(Options(data_address="10.0.0.2")) == {
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://10.0.0.2"}
    assert mig.params_for(Options(data_address="10.0.0.2", tunnelled=True, p2p_uri=TLS_B)) == {}


@pytest.mark.parametrize(("opts", "word"), [
    (Options(p2p=True, p2p_uri=TLS_B), None),
    (Options(p2p=True), "needs the destination host's libvirt URI"),
    (Options(tunnelled=True), "needs the destination host's libvirt URI"),
    (Options(p2p=True, p2p_uri="qemu+ssh://root@10.0.0.2/system"), "not qemu+ssh"),
    (Options(p2p=True, p2p_uri=TLS_B, tunnelled=True, copy_storage=True), "tunnelled"),
])
def test_peer_to_peer_refusals(opts, word):
    why = migration.refusal(XML, opts)
    assert (why is None) == (word is None) and (word is None or word in why), why
