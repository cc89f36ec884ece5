"""Restarts: kill the agent mid-work, kill the appliance mid-work; the guest is made once.

These need state that outlives a process, which the test driver cannot give (``test:///default``
lives inside the process that opened it and dies with the killed agent; a file-backed
``test:///file.xml`` reloads its file on every open, forgetting what the killed agent did). So
they run against a real libvirtd in a test-made namespace (``tests/integration/libvirtd.py``),
with QEMU guests (``type='qemu'``, TCG) on the namespace's bridge. The agent runs as its own process
(``python -m agent.guest.cli run``) so it can really be SIGKILLed.

"Exactly once" is checked four ways: one domain with the work's UUID, the disk image's inode
unchanged from the first attempt, one ``guest.defined``/``guest.started`` per guest in the
timeline, and the work item done.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import libvirt
import pytest

from agent.facts.model import HostFacts
from agent.workitems import guest_uuid
from provisioner.core import orders
from provisioner.store import open_store
from tests.agent.loophelpers import ADMIN, appliance
from tests.integration.libvirtd import lab  # noqa: F401  (module fixture)
from tests.procs import kill as sigkill
from tests.procs import stop, wait_until

pytestmark = [pytest.mark.libvirtd, pytest.mark.netns]
ROOT = Path(__file__).resolve().parents[2]
IPXE_LKRN = Path("/boot/ipxe.lkrn")  # Debian's ipxe: a bzImage QEMU can boot as a "kernel"


@contextlib.contextmanager
def agent_process(url: str, token: str, lab, tmp: Path, name: str = "agent"):  # noqa: F811
    """``provisioner-agent run`` as a child process in the host namespace (its own group)."""
    facts = tmp / "facts.json"
    if not facts.exists():
        facts.write_text(json.dumps(HostFacts(image_dir=str(tmp / "images")).to_dict()))
    log = open(tmp / f"{name}.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.guest.cli", "run", "--appliance", url, "--host", "hv1",
         "--token", token, "--connect", lab.uri, "--facts", str(facts), "--state-dir",
         str(tmp / "state"), "--virt-type", "qemu", "--poll-timeout", "1"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


def domains(uri: str, name: str) -> list[tuple[str, str, bool]]:
    conn = libvirt.open(uri)
    try:
        return [(d.name(), d.UUIDString(), bool(d.isActive())) for d in conn.listAllDomains(0)
                if d.name() == name]
    finally:
        conn.close()


def pxe_argv(name: str, mac: str) -> list[str]:
    return ["--name", name, "--memory", "64", "--pxe", "--network", f"bridge=br0,mac={mac}",
            "--disk", "size=0.01,sparse=yes", "--graphics", "none", "--osinfo", "generic"]


class _Gate:
    """Holds the first agent event of ``kind`` until released (test-only middleware)."""

    def __init__(self, kind: str) -> None:
        self.kind, self.arrived, self.release, self.held = kind, threading.Event(), \
            threading.Event(), False

    def __call__(self, wsgi):
        def app(environ, start_response):
            if environ.get("PATH_INFO") == "/api/agent/event" and not self.held:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                if json.loads(body or b"{}").get("kind") == self.kind:
                    self.held = True
                    self.arrived.set()
                    self.release.wait(60)
            return wsgi(environ, start_response)
        return app


@pytest.mark.parametrize("killed_at", ["guest.defined", "guest.started"],
                         ids=["after-define-before-start", "after-start-before-complete"])
def test_agent_killed_mid_work(lab, tmp_path, killed_at) -> None:  # noqa: F811
    name = f"pt-ak-{killed_at.split('.')[1]}"
    gate = _Gate(killed_at)
    with appliance(middleware=gate) as app:
        item = app.enqueue("guest.create", {"system": name, "argv": pxe_argv(
            name, "52:54:00:79:10:0" + ("1" if killed_at.endswith("defined") else "2"))},
            key=f"order:{name}:create")
        with agent_process(app.url, app.host_token, lab, tmp_path, "agent1") as first:
            assert gate.arrived.wait(120), "the agent never reached " + killed_at
            disk = tmp_path / "images" / f"{name}.qcow2"
            inode = disk.stat().st_ino
            sigkill(first)  # mid-work: the appliance has not been told the rest
        gate.release.set()
        assert app.core.store.get_work(item.id).state == "leased"
        with agent_process(app.url, app.host_token, lab, tmp_path, "agent2"):
            done = wait_until(lambda: (w := app.core.store.get_work(item.id)).state == "done"
                              and w, 120, "the work to be done after the restart")
            wait_until(lambda: "guest.state" in app.kinds(name), 30, "a state report")
        kinds = app.kinds(name)
        uuid = guest_uuid({"key": f"order:{name}:create"})
        assert domains(lab.uri, name) == [(name, uuid, True)]
        assert disk.stat().st_ino == inode  # the image was not made again
        assert done.attempts == 2 and done.result["resumed"] is True
        assert kinds.count("guest.defined") == 1 and kinds.count("guest.disk-created") == 1
        assert kinds.count("guest.started") == (1 if killed_at == "guest.defined" else 2)
    _teardown(lab, name)


class _StallingTree(http.server.BaseHTTPRequestHandler):
    """An install tree whose kernel download waits for the test (``--location`` source)."""

    kernel = b""
    asked = threading.Event()
    go = threading.Event()

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith("vmlinuz"):
            type(self).asked.set()
            type(self).go.wait(60)
            body = self.kernel
        elif self.path.endswith("initrd.img"):
            body = b"\0" * 512
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_appliance(data: Path, port: int, log: Path) -> subprocess.Popen:
    """``provisioner serve`` as a child process (SQLite under ``data``), listening."""
    env = {**os.environ, "PROVISIONER_API_TOKEN": ADMIN}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "provisioner.cli", "--data-dir", str(data),
                                 "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    wait_until(lambda: _answers(port) or proc.poll() is not None, 60, "the appliance to listen")
    assert proc.poll() is None, log.read_text()
    return proc


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@pytest.mark.skipif(not IPXE_LKRN.exists(), reason="needs Debian's ipxe (/boot/ipxe.lkrn)")
def test_appliance_killed_mid_work(lab, tmp_path) -> None:  # noqa: F811
    name = "pt-appkill"
    _StallingTree.kernel = IPXE_LKRN.read_bytes()
    tree = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StallingTree)
    threading.Thread(target=tree.serve_forever, daemon=True).start()
    data, port = tmp_path / "appliance", _free_port()
    url = f"http://127.0.0.1:{port}"
    first = second = store = None
    try:
        first = _start_appliance(data, port, tmp_path / "appliance1.log")
        store = open_store(f"sqlite:///{data}/provisioner.db")
        token = orders.create_host_token(store, "hv1", now=time.time())
        argv = ["--name", name, "--memory", "64", "--location",
                f"http://127.0.0.1:{tree.server_port}/tree/", "--extra-args",
                "ks=http://10.79.0.1/ks", "--network", "bridge=br0,mac=52:54:00:79:10:03",
                "--disk", "size=0.01,sparse=yes", "--graphics", "none", "--osinfo", "generic"]
        item = orders.enqueue(store, "hv1", "guest.create", {"system": name, "argv": argv},
                              key=f"order:{name}:create", now=time.time())
        with agent_process(url, token, lab, tmp_path):
            assert _StallingTree.asked.wait(120), "the agent never fetched the kernel"
            assert store.get_work(item.id).state == "leased"  # the agent is inside the item
            sigkill(first)  # the appliance dies mid-work
            _StallingTree.go.set()  # ... and the agent carries on: define, start
            wait_until(lambda: domains(lab.uri, name) and domains(lab.uri, name)[0][2], 120,
                       "the guest to run while the appliance is down")
            assert store.get_work(item.id).state == "leased"  # nobody could be told
            second = _start_appliance(data, port, tmp_path / "appliance2.log")
            done = wait_until(lambda: (w := store.get_work(item.id)).state == "done" and w, 120,
                              "the agent to report to the restarted appliance")
        kinds = [e.kind for e in store.list_events(f"system:{name}")]
        assert domains(lab.uri, name) == [(name, guest_uuid({"key": f"order:{name}:create"}),
                                           True)]
        assert done.attempts == 1 and done.result["resumed"] is False  # never handed out twice
        for kind in ("guest.disk-created", "guest.boot-files", "guest.defined", "guest.started",
                     "agent:done"):
            assert kinds.count(kind) == 1, (kind, kinds)
    finally:
        _StallingTree.go.set()
        stop(first)
        stop(second)
        tree.shutdown()
        if store is not None:
            store.close()
        _teardown(lab, name)


def test_libvirtd_restarted_under_a_running_agent(lab, tmp_path) -> None:  # noqa: F811
    """libvirtd restarts (guests keep running); the agent reconnects and goes on working."""
    first, second = "pt-lvr1", "pt-lvr2"
    with appliance() as app, agent_process(app.url, app.host_token, lab, tmp_path):
        a = app.enqueue("guest.create", {"system": first, "argv": pxe_argv(
            first, "52:54:00:79:10:05")}, key=f"{first}:create")
        wait_until(lambda: app.core.store.get_work(a.id).state == "done", 120, "first guest")
        lab.daemon.restart()
        assert domains(lab.uri, first)[0][2]  # QEMU outlived the daemon; libvirtd found it
        b = app.enqueue("guest.create", {"system": second, "argv": pxe_argv(
            second, "52:54:00:79:10:06")}, key=f"{second}:create")
        done = wait_until(lambda: (w := app.core.store.get_work(b.id)).state in (
            "done", "failed") and w, 120, "second guest after the restart")
        assert done.state == "done", (done.result, (tmp_path / "agent.log").read_text()[-2000:])
        stop = app.enqueue("guest.stop", {"system": first, "name": first}, key=f"{first}:stop")
        wait_until(lambda: app.core.store.get_work(stop.id).state == "done", 60, "stop")
    assert domains(lab.uri, second)[0][2]
    _teardown(lab, first)
    _teardown(lab, second)


def test_missing_bridge_on_a_real_libvirtd_fails_cleanly(lab, tmp_path) -> None:  # noqa: F811
    """Facts not probed (so the agent cannot know): libvirtd's own refusal to start a guest on
    a bridge that does not exist becomes BRIDGE_MISSING, and the half-made guest is removed."""
    from agent.guest.virt import Virt
    from tests.agent.loophelpers import make_agent

    name = "pt-nobridge"
    virt = Virt(lab.uri, image_dir=str(tmp_path / "images"))
    try:
        with appliance() as app:
            agent = make_agent(app.url, app.host_token, virt,
                               HostFacts(image_dir=virt.image_dir), str(tmp_path / "state"),
                               virt_type="qemu")
            argv = ["--name", name, "--memory", "64", "--pxe", "--network", "bridge=nobr0",
                    "--disk", "size=0.01,sparse=yes", "--graphics", "none", "--osinfo",
                    "generic"]
            item = app.enqueue("guest.create", {"system": name, "argv": argv}, key="nb")
            stop = threading.Event()
            assert agent.run(stop, max_items=1) == 1
            failed = app.core.store.get_work(item.id)
            assert failed.state == "failed" and failed.result["error"].startswith(
                "BRIDGE_MISSING"), failed.result
            assert "guest.failed" in app.kinds(name)
        assert domains(lab.uri, name) == [] and not list((tmp_path / "images").glob("*"))
    finally:
        virt.close()
        _teardown(lab, name)


def _teardown(lab, name: str) -> None:  # noqa: F811
    from tests.integration.libvirtd import cleanup_domains

    cleanup_domains(name)
    assert domains(lab.uri, name) == []
