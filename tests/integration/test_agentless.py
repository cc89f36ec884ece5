"""Agentless hosts end to end, with the real commands: ``provisioner host ...`` and
``provisioner migrate ...`` and ``provisioner serve`` run in the lab's client namespace against
the two real libvirt daemons of tests/integration/twohosts.py.

* the appliance makes its own SSH key and CA; an admin authorises the key on host A (the guide's
  ``authorized_keys`` step) and installs an appliance-issued certificate on host B with the
  agent's ``tls`` plan (``provisioner host cert`` -> ``provisioner-agent apply tls``);
* bad input and faults (unreachable host, changed SSH host key, a certificate from another CA,
  a URI with ``command=``) each end in one named error within the timeout and record nothing;
* ``serve`` runs one agent loop per agentless host (``provisioner-agent run --remote``); an
  order made through the web UI (HTTP forms, session, CSRF) is placed on host A and the loop
  defines and starts the guest there over ``qemu+ssh://``;
* ``migrate check`` names the failing condition (the disk is on A's own storage), ``migrate
  --copy-storage`` moves the guest to B over ``qemu+tls://`` and the order follows; a migration
  whose destination's libvirtd is killed mid-way leaves the guest running on the source, and
  the inventory says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import libvirt
import pytest

from provisioner.remote import pki
from provisioner.remote.libvirt_conn import KEEPALIVE, server_certificate
from tests import procs
from tests.integration.holder import in_netns
from tests.integration.twohosts import AGENT, TwoHosts, _install_tls, domain_state
from tests.procs import wait_until

# private libvirt daemons (tests/integration/holder.py), not the machine's: no "libvirtd"
# mark, which tests/parallel.py reads as the one machine-wide daemon
pytestmark = [pytest.mark.netns, pytest.mark.qemu, pytest.mark.slow]
PROVISIONER = str(Path(sys.executable).parent / "provisioner")
HTTP = "http://10.91.0.10:18080"
GUEST = "web-ag1"
LOST_BOUND = KEEPALIVE[0] * (KEEPALIVE[1] + 1) + 10  # s from losing the destination to the outcome


class Appliance:
    def __init__(self, lab: TwoHosts, workdir: Path) -> None:
        self.lab, self.dir = lab, workdir
        self.cfg = workdir / "provisioner.toml"
        self.cfg.write_text(
            "[appliance]\n"
            f'data_dir = "{workdir / "data"}"\nruntime_dir = "{workdir / "run"}"\n'
            'http_host = "10.91.0.10"\nhttp_port = 18080\nremote_timeout = 8\n'
            'agentless_virt_type = "qemu"\n')
        self.serve: subprocess.Popen | None = None

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.lab.client.run([PROVISIONER, "--config", str(self.cfg), *args],
                                   check=False, timeout=timeout)

    def ok(self, *args: str) -> str:
        res = self.cli(*args)
        assert res.returncode == 0, f"{args}: {res.stdout}{res.stderr}"
        return res.stdout


class Ui:
    """A browser's HTTP conversation (cookies, CSRF) from the client namespace."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[str, str]:
        with in_netns_of_test(), self.opener.open(HTTP + path, timeout=30) as r:
            return r.read().decode(), r.geturl()

    def post(self, path: str, form: dict[str, str]) -> tuple[str, str]:
        data = urllib.parse.urlencode(form).encode()
        with in_netns_of_test(), self.opener.open(HTTP + path, data, timeout=120) as r:
            return r.read().decode(), r.geturl()

    def csrf(self, path: str) -> str:
        page, _ = self.get(path)
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert m, f"no CSRF token on {path}"
        return m.group(1)


_CLIENT: list = []


def in_netns_of_test():
    return in_netns(_CLIENT[0])


def _running(host, name: str = GUEST) -> bool:
    conn = host.libvirtd.open()
    try:
        return conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def app(two_hosts, tmp_path_factory):
    lab = two_hosts
    _CLIENT[:] = [lab.client]
    a = Appliance(lab, tmp_path_factory.mktemp("appliance"))
    pw = a.dir / "pw"
    pw.write_text("root-password-1\n")
    a.ok("user", "add", "root", "--role", "admin", "--password-file", str(pw))
    a.ok("demo")
    yield a
    if a.serve is not None:
        procs.stop(a.serve, grace=20, group=False)


def test_faults_name_the_cause_and_record_nothing(app):
    lab = app.lab
    key = app.ok("host", "key").strip()
    assert key.startswith("ssh-ed25519 ")
    for h in (lab.a, lab.b):  # the guide's authorized_keys step, on both hosts
        with open(h.holder.workdir / "sshd" / "authorized_keys", "a") as fh:
            fh.write(key + "\n")
    cases = [
        (["--uri", "qemu+tls://10.91.0.99/system"], "cannot reach 10.91.0.99:16514"),
        (["--uri", "qemu+ssh://root@10.91.0.2/system", "--ssh-host-key",
          lab.a.sshd.host_pub], "SSH key is not the one recorded"),
        (["--uri", "qemu+tls://10.91.0.2/system"], "not issued by the appliance's CA"),
        (["--uri", "qemu+ssh://root@10.91.0.2/system?command=/bin/sh", "--scan"],
         "not accepted here"),
        (["--uri", "qemu+tcp://10.91.0.2/system"], "tcp only with the lab setting"),
    ]
    for args, message in cases:
        t0 = time.monotonic()
        res = app.cli("host", "add", "hx", *args)
        assert res.returncode == 2 and message in res.stderr, (args, res.stderr)
        assert time.monotonic() - t0 < 8 + 6, "not within the connection timeout"
    assert app.ok("host", "list").strip() == ""


def test_add_hosts_over_ssh_and_tls(app):
    lab = app.lab
    out = app.ok("host", "add", "a", "--uri", "qemu+ssh://root@10.91.0.1/system", "--scan")
    assert "added a (qemu+ssh://root@10.91.0.1/system): hosta" in out and "br0" in out
    bundle = app.dir / "b-bundle.json"
    app.ok("host", "cert", "b", "--name", lab.b.addr, "--name", "hostb", "--out", str(bundle))
    assert bundle.stat().st_mode & 0o777 == 0o600
    plan = _install_tls(lab.b.holder, *_bundle_pairs(bundle), lab.b.addr)
    assert "secret replaced" in plan and "PRIVATE KEY" not in plan
    lab.b.libvirtd.restart()
    out = app.ok("host", "add", "b", "--uri", "qemu+tls://10.91.0.2/system")
    assert "added b" in out and "hostb" in out
    listing = app.ok("host", "list")
    assert re.search(r"^a\s+agentless\s+qemu\+ssh", listing, re.M)
    assert re.search(r"^b\s+agentless\s+qemu\+tls", listing, re.M)
    secrets = (app.dir / "data" / "provisioner.db").read_bytes()
    assert b"OPENSSH PRIVATE KEY" not in secrets and b"BEGIN PRIVATE KEY" not in secrets


def _bundle_pairs(path: Path):
    from provisioner.remote.pki import KeyPair

    b = json.loads(path.read_text())
    return KeyPair(b["ca_cert"], ""), KeyPair(b["cert"], b["key"])


def test_order_from_the_ui_lands_on_an_agentless_host(app):
    lab = app.lab
    log = open(app.dir / "serve.log", "w")  # noqa: SIM115 - closed with the process
    app.serve = lab.client.popen([PROVISIONER, "--config", str(app.cfg), "serve"],
                                 stdout=log, stderr=subprocess.STDOUT)
    ui = Ui()

    def up() -> bool:
        with contextlib.suppress(OSError):
            return bool(ui.get("/ui/login")[0])
        return False

    wait_until(up, 30, "the appliance's HTTP")
    ui.post("/ui/login", {"username": "root", "password": "root-password-1",
                          "csrf_token": ui.csrf("/ui/login")})
    hosts_page, _ = ui.get("/ui/hosts")
    assert "agentless <code>qemu+ssh://root@10.91.0.1/system</code>" in hosts_page
    token = ui.csrf("/ui/orders/new")
    form = {"name": GUEST, "profile": "rhel9-guest", "vcpus": "1", "ram_mb": "1024",
            "disk_gb": "1", "network": "br0", "host": "a", "csrf_token": token}
    review, _ = ui.post("/ui/orders/review", form)
    key = re.search(r'name="key" value="([^"]+)"', review)
    assert key, review[-2000:]
    _, where = ui.post("/ui/orders", {**form, "key": key.group(1)})
    oid = where.rstrip("/").rsplit("/", 1)[1]
    app.order = oid
    wait_until(lambda: _running(lab.a), 120, "the agent loop starting the guest on host A")
    prog = json.loads(ui.get(f"/ui/orders/{oid}.json")[0])
    assert prog["host"] == "a"
    conn = lab.a.libvirtd.open()
    try:  # the loop made the disk as a storage volume on the host, not a local file
        vol = conn.storageVolLookupByPath(f"/var/lib/libvirt/images/{GUEST}.qcow2")
        assert vol.info()[1] == 2**30
    finally:
        conn.close()


def test_migrate_check_then_migrate_and_the_inventory_follows(app):
    lab = app.lab
    res = app.cli("migrate", "check", GUEST, "--to", "b")
    assert res.returncode == 1, res.stdout + res.stderr
    assert re.search(r"\[FAIL\s*\] shared_storage: /var/lib/libvirt/images", res.stdout)
    assert "fix: mount the shared storage" in res.stdout and "NOT READY" in res.stdout
    assert f"the guide's equivalent: virsh migrate --live {GUEST} qemu+tls://10.91.0.2/system" \
        in res.stdout
    assert "/var/lib/libvirt/images 10.91.0.2(rw,no_root_squash,async)" in res.stdout
    refused = app.cli("migrate", GUEST, "--to", "b")
    assert refused.returncode == 2 and "pre-flight failed" in refused.stderr
    assert _running(lab.a)

    res = app.cli("migrate", "check", GUEST, "--to", "b", "--copy-storage")
    assert res.returncode == 0, res.stdout
    out = app.ok("migrate", GUEST, "--to", "b", "--copy-storage")
    assert "running on the destination" in out and "memory remaining" in out
    assert _running(lab.b) and not _running(lab.a)
    prog = json.loads(Ui_logged_in().get(f"/ui/orders/{app.order}.json")[0])
    assert prog["host"] == "b"
    kinds = {e["kind"] for e in prog["events"] if e["kind"].startswith("migration:")}
    # the CLI printed progress, so the timeline has it too (at most one a second)
    assert kinds == {"migration:started", "migration:progress", "migration:done"}


def Ui_logged_in() -> Ui:  # noqa: N802 - reads like the object it returns
    ui = Ui()
    ui.post("/ui/login", {"username": "root", "password": "root-password-1",
                          "csrf_token": ui.csrf("/ui/login")})
    return ui


def test_destination_killed_mid_migration_inventory_says_source(app):
    lab = app.lab
    proc = lab.client.popen([PROVISIONER, "--config", str(app.cfg), "migrate", GUEST, "--to",
                             "a", "--copy-storage", "--bandwidth", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, killed = [], 0.0
    for line in proc.stdout:
        lines.append(line)
        if "MiB sent" in line:
            lab.a.libvirtd.kill()  # the destination host's libvirt is lost
            killed = time.monotonic()
            break
    rest, _ = proc.communicate(timeout=LOST_BOUND + 60)
    ended = time.monotonic()
    text = "".join(lines) + rest
    assert killed, text
    assert proc.returncode == 1, text
    assert "the guest is running on the source" in text
    # bounded: the appliance notices the destination's connection is gone and aborts the job
    # (before, the source went on sending at 2 MiB/s to the orphaned QEMU until the end)
    assert ended - killed < LOST_BOUND, (ended - killed, text)
    assert _running(lab.b)
    prog = json.loads(Ui_logged_in().get(f"/ui/orders/{app.order}.json")[0])
    assert prog["host"] == "b"  # unchanged: libvirt never reported success
    lab.a.libvirtd.start()
    wait_until(lambda: not _running(lab.a), 30, "A dropping the half-received guest")


def test_offline_migration_with_the_cli_and_the_inventory_follows(app):
    """`migrate --offline` (the seed's offline migration: paused, moved, resumed) B -> A, disks
    copied; the order follows, the timeline says it was not live."""
    lab = app.lab
    states: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            states.append(domain_state(lab.b, GUEST))

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        out = app.ok("migrate", GUEST, "--to", "a", "--offline", "--copy-storage",
                     "--bandwidth", "16", "--deadline", "300")
    finally:
        done.set()
        t.join(5)
    assert "running on the destination" in out, out
    assert "paused" in states, states  # suspended on the source while it moved
    assert _running(lab.a) and not _running(lab.b)
    prog = json.loads(Ui_logged_in().get(f"/ui/orders/{app.order}.json")[0])
    assert prog["host"] == "a"
    last = max(i for i, e in enumerate(prog["events"]) if e["kind"] == "migration:started")
    assert prog["events"][last]["detail"] == {"from": "b", "to": "a", "live": False}
    assert "migration:done" in [e["kind"] for e in prog["events"][last:]]


def _apply_tls(h, bundle: Path) -> str:
    """The agent's ``tls`` plan on a host with ``--service reload`` (virt-admin
    server-update-tls: the running libvirtd takes the new files, no restart)."""
    res = h.holder.run([AGENT, "apply", "tls", "--root", "/", "--state-dir",
                        str(h.holder.workdir / "agent-state"), "--bundle", str(bundle),
                        "--service", "reload", "--listen-addr", h.addr], check=False,
                       timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _presented(h, client_pki: Path) -> pki.CertInfo:
    """The certificate libvirtd presents on its TLS port now (from the client namespace). A
    failed connection says whether the host's libvirtd still runs, and the end of its log (a
    CI run once met a refused connection while the agent's renewal was being installed)."""
    try:
        with in_netns_of_test():
            return pki.info(server_certificate(h.addr, 16514, client_pki, 10))
    except OSError as exc:
        proc = h.libvirtd.proc
        state = "not started" if proc is None else (
            f"pid {proc.pid} running" if proc.poll() is None else f"exited {proc.returncode}")
        log = h.holder.workdir / "libvirtd.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise AssertionError(f"{h.addr}:16514: {exc}; libvirtd {state}; log:\n{tail}") from exc


def _client_pki(workdir: Path) -> Path:
    d = workdir / "look-pki"
    d.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca = pki.create_ca(now)
    me = pki.issue_client(ca, "looker", now)
    (d / "clientcert.pem").write_text(me.cert_pem)
    (d / "clientkey.pem").write_text(me.key_pem)
    return d


def test_certificates_rotate_automatically(app):
    """Host A (agentless over SSH) and host "bagent" (our agent, run in host B) hold appliance
    certificates that expire in 10 days; `host rotate` (what serve runs every few hours)
    renews A's over SSH and queues tls.rotate for the agent, which installs a new key of its
    own; both libvirtd then present certificates valid for a year, without a restart, and the
    appliance connects with them over qemu+tls://."""
    lab, look = app.lab, _client_pki(app.dir)
    token = app.ok("token", "create", "bagent-registration").strip()
    tok = lab.b.holder.workdir / "bagent.token"
    tok.write_text(token + "\n")
    tok.chmod(0o600)
    agent_log = open(app.dir / "bagent.log", "w")  # noqa: SIM115 - closed with the process
    agent = lab.b.holder.popen([AGENT, "run", "--appliance", HTTP, "--host", "bagent",
                                "--token-file", str(tok), "--connect", "qemu:///system",
                                "--state-dir", str(lab.b.holder.workdir / "bagent-state"),
                                "--tls-service", "reload", "--poll-timeout", "5"],
                               stdout=agent_log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: re.search(r"^bagent\s+agent\s", app.ok("host", "list"), re.M),
                   60, "the agent registering")
        old = {}
        for h, name, extra in ((lab.a, "a", []), (lab.b, "bagent",
                                                  ["--name", "hostb", "--name", lab.b.addr])):
            bundle = app.dir / f"{name}-10d.json"
            app.ok("host", "cert", name, "--days", "10", *extra, "--out", str(bundle))
            assert "virt-admin server-update-tls" in _apply_tls(h, bundle)
            old[name] = _presented(h, look)  # reloaded: the short-lived one is served
            assert old[name].not_after < dt.datetime.now(dt.UTC) + dt.timedelta(days=11)
        assert "would rotate" in app.ok("host", "rotate", "--dry-run")
        out = app.ok("host", "rotate")
        assert re.search(r"^a: expires .*: tls:rotated \(ssh\)$", out, re.M), out
        assert re.search(r"^bagent: expires .*: tls:rotation-queued \(agent\)$", out, re.M), out
        year = dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
        new_a = _presented(lab.a, look)
        assert new_a.serial != old["a"].serial and new_a.not_after > year
        assert new_a.issuer_cn == old["a"].issuer_cn and "hosta" in new_a.names
        key = lab.a.holder.path("/etc/pki/qemu/server-key.pem")
        assert key.stat().st_mode & 0o777 == 0o600
        assert key.read_text() == lab.a.holder.path(
            "/etc/pki/libvirt/private/serverkey.pem").read_text()
        wait_until(lambda: _presented(lab.b, look).serial != old["bagent"].serial, 60,
                   "the agent installing its renewed certificate")
        new_b = _presented(lab.b, look)
        assert new_b.not_after > year and set(old["bagent"].names) <= set(new_b.names)
        assert "valid beyond the margin" in app.ok("host", "rotate")
        for name, h in (("a-tls", lab.a), ("b-tls", lab.b)):  # the renewed chain works
            assert f"added {name}" in app.ok("host", "add", name, "--uri",
                                             f"qemu+tls://{h.addr}/system")
            app.ok("host", "remove", name)
    finally:
        procs.stop(agent, grace=10)
        agent_log.close()
