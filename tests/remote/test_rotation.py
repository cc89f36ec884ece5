"""Host TLS certificate rotation (remote/rotation.py, agent/tlsrotate.py) over the memory store
and a fake libvirt/SSH side; the push script runs in a real ``sh``. The real counterpart (real
libvirtd presenting the renewed certificate, over SSH and through a real agent) is
tests/integration/test_agentless.py::test_certificates_rotate_automatically."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from types import SimpleNamespace

import pytest

from agent.guest.errors import GuestError
from agent.plan.libvirt_tls import TlsWant
from agent.plan.steps import Content, FileStep
from agent.tlsrotate import new_request, rotate
from provisioner.errors import Invalid, NotFound
from provisioner.models import Host
from provisioner.models.events import host_subject
from provisioner.remote import pki, rotation
from provisioner.remote.errors import ConnectError
from tests.remote.test_hosts import HOSTKEY, T0, env  # noqa: F401 - the fixture

NOW = dt.datetime.fromtimestamp(T0, dt.UTC)


class Pushes:
    def __init__(self) -> None:
        self.scripts: list[tuple[str, str]] = []
        self.fail: ConnectError | None = None

    def __call__(self, uri, creds, script):
        if self.fail:
            raise self.fail
        self.scripts.append((uri, script))
        return ""


@pytest.fixture
def hosts(env):  # noqa: F811
    store, clock, fake, r, tmp = env
    fake.push_tls = Pushes()
    r.add("ssh1", "qemu+ssh://root@10.0.0.5/system", ssh_host_key=HOSTKEY)
    r.add("tls1", "qemu+tls://10.0.0.6/system")
    store.put_host(Host(name="agent1", facts={"hostname": "agent1"}))
    return store, clock, fake, r


def _issue(r, name: str, days: float, *names: str) -> str:
    r.host_bundle(name, names, days=days)
    return r.issued(name)


@pytest.mark.parametrize(("days", "want"), [
    (365, None), (31, None), (29, "expiring"), (0.5, "expiring"),
])
def test_the_margin_decides(hosts, days, want):
    _, _, _, r = hosts
    _issue(r, "agent1", days)
    plan = rotation.plan_rotations(r.store.list_hosts(), {"agent1": r.issued("agent1")},
                                   r.ca_certificate(), NOW)
    assert [(p.host, p.status) for p in plan] == ([] if want is None else [("agent1", want)])


def test_each_kind_of_host_rotates_its_own_way(hosts):
    _, _, _, r = hosts
    for name in ("agent1", "ssh1", "tls1"):
        _issue(r, name, 10)
    plan = rotation.plan_rotations(r.store.list_hosts(),
                                   {n: r.issued(n) for n in ("agent1", "ssh1", "tls1")},
                                   r.ca_certificate(), NOW)
    assert [(p.host, p.how) for p in plan] == [("agent1", "agent"), ("ssh1", "ssh"),
                                               ("tls1", "manual")]
    foreign = pki.issue_host(pki.create_ca(NOW), ["agent1"], NOW)
    plan = rotation.plan_rotations(r.store.list_hosts(), {"agent1": foreign.cert_pem},
                                   r.ca_certificate(), NOW)
    assert [p.status for p in plan] == ["wrong-ca"]


def test_rotate_queues_agent_work_once_per_certificate(hosts):
    store, _, _, r = hosts
    _issue(r, "agent1", 10, "agent1", "10.0.0.9")
    first = rotation.rotate(r)
    again = rotation.rotate(r)
    items = store.list_work(host="agent1")
    assert [o for _, o in first] == ["tls:rotation-queued"] == [o for _, o in again]
    assert len(items) == 1 and items[0].kind == "tls.rotate"
    assert items[0].payload == {"names": ["agent1", "10.0.0.9"]}  # names only, no secret
    assert "PRIVATE" not in repr(items[0])


def test_the_appliance_signs_only_the_hosts_own_names(hosts):
    _, _, _, r = hosts
    with pytest.raises(NotFound):
        r.sign_request("agent1", new_request(["agent1"])[1])  # nothing issued before
    before = _issue(r, "agent1", 10, "agent1", "10.0.0.9")
    with pytest.raises(Invalid, match="ssh1"):
        r.sign_request("agent1", new_request(["agent1", "ssh1"])[1])
    with pytest.raises(Invalid, match="not a PEM CSR"):
        r.sign_request("agent1", "-----BEGIN CERTIFICATE REQUEST-----\nxx\n")
    assert r.issued("agent1") == before  # refusals record nothing
    key, csr = new_request(["10.0.0.9", "agent1"])
    signed = r.sign_request("agent1", csr)
    assert pki.key_matches(signed["cert"], key) and r.issued("agent1") == signed["cert"]
    assert pki.issued_by(signed["cert"], r.ca_certificate())
    assert pki.info(signed["cert"]).not_after > NOW + dt.timedelta(days=300)


def test_ssh_push_records_the_new_certificate_only_when_the_host_took_it(hosts):
    store, _, fake, r = hosts
    old = _issue(r, "ssh1", 10)
    fake.push_tls.fail = ConnectError("refused", "10.0.0.5", "connection refused")
    assert [o for _, o in rotation.rotate(r)] == ["tls:rotation-failed"]
    assert r.issued("ssh1") == old
    fake.push_tls.fail = None
    assert [o for _, o in rotation.rotate(r)] == ["tls:rotated"]
    uri, script = fake.push_tls.scripts[-1]
    new = r.issued("ssh1")
    assert uri.startswith("qemu+ssh://") and new != old and new.strip() in script
    assert "server-update-tls" in script and rotation.rotate(r) == []
    kinds = [e.kind for e in store.list_events(host_subject("ssh1"))]
    assert kinds == ["tls:rotation-failed", "tls:rotated"]


def test_a_tls_only_host_gets_the_fix_in_its_timeline(hosts):
    store, _, _, r = hosts
    _issue(r, "tls1", 10)
    assert [o for _, o in rotation.rotate(r, dry_run=True)] == ["would rotate (manual)"]
    assert [o for _, o in rotation.rotate(r)] == ["tls:rotation-manual"]
    ev = store.list_events(host_subject("tls1"))[-1]
    assert "provisioner host cert tls1" in ev.detail["fix"]


def test_the_push_script_moves_files_in_only_when_all_were_written(tmp_path):
    ca = pki.create_ca(NOW)
    pair = pki.issue_host(ca, ["h1"], NOW)
    files = [(str(tmp_path / "CA/cacert.pem"), ca.cert_pem, False),
             (str(tmp_path / "libvirt/private/serverkey.pem"), pair.key_pem, True)]
    script = rotation.push_script(files, reload=("touch", str(tmp_path / "reloaded")))
    subprocess.run(["sh", "-s"], input=script, text=True, check=True, timeout=10)
    assert (tmp_path / "CA/cacert.pem").read_text() == ca.cert_pem
    assert (tmp_path / "libvirt/private/serverkey.pem").read_text() == pair.key_pem
    assert os.stat(tmp_path / "libvirt/private/serverkey.pem").st_mode & 0o777 == 0o600
    assert (tmp_path / "reloaded").exists()
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    bad = [(str(tmp_path / "CA/cacert.pem"), pair.cert_pem, False),
           (str(tmp_path / "ro/x/key.pem"), pair.key_pem, True)]
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "sh", "-s"], input=rotation.push_script(bad, reload=("true",)),
                         text=True, capture_output=True, timeout=10)
    assert res.returncode != 0 and (tmp_path / "CA/cacert.pem").read_text() == ca.cert_pem
    with pytest.raises(ValueError, match="not PEM"):
        rotation.push_script([("/x", "PROVISIONER_PEM_END\nrm -rf /\n", False)])


class Signer:
    def __init__(self, r) -> None:
        self.r = r

    def certificate(self, csr: str) -> dict:
        return self.r.sign_request("agent1", csr)


def test_the_agent_installs_its_own_new_key_with_the_signed_certificate(hosts):
    _, _, _, r = hosts
    _issue(r, "agent1", 10, "agent1")
    plans = []

    def apply_plan(plan):
        plans.append(plan)
        return SimpleNamespace(ok=True, changed=len(plan.steps), text=lambda: "")

    out = rotate(Signer(r), {"names": ["agent1"]}, TlsWant(service="reload"), apply_plan)
    files = {s.path: s.edit.text for s in plans[0].steps
             if isinstance(s, FileStep) and isinstance(s.edit, Content)}
    key, cert = files["/etc/pki/libvirt/private/serverkey.pem"], \
        files["/etc/pki/libvirt/servercert.pem"]
    assert pki.key_matches(cert, key) and cert == r.issued("agent1")
    assert files["/etc/pki/qemu/server-key.pem"] == key
    assert out["not_after"].startswith(str(NOW.year + 1)) and out["service"] == "reload"
    with pytest.raises(GuestError) as bad:
        rotate(Signer(r), {"names": []}, TlsWant(), apply_plan)
    assert bad.value.code == "ORDER_FIELD"


def test_serve_rotates_at_start_and_then_every_period(tmp_path):
    from provisioner.remote.loops import AgentLoops

    calls, now = [], [100.0]

    def boom():
        calls.append(now[0])
        raise RuntimeError("a bad host")  # logged; supervision goes on

    loops = AgentLoops(SimpleNamespace(agentless=list), "http://x", tmp_path, tmp_path,
                       clock=lambda: now[0], rotate=boom, rotate_every=3600)
    for t in (100.0, 101.0, 3699.0, 3700.0, 3701.0):
        now[0] = t
        loops._rotation()
    assert calls == [100.0, 3700.0]
