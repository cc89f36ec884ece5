"""HTTP boot assets: streaming with Range/HEAD/conditional, redirects, the TFTP root over HTTP,
and timeline events for known clients."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from provisioner.content.providers import asset_file
from provisioner.core.app import Core
from provisioner.errors import Forbidden
from provisioner.models import Distro
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests import fixtures as fx
from tests.fakes import FakeRenderer, MemoryStore

KNOWN_IP = "10.0.0.21"  # web01's reserved address in tests/fixtures.py


@pytest.fixture
def env(tmp_path: Path):
    assets = tmp_path / "assets"
    (assets / "local").mkdir(parents=True)
    kernel = bytes(range(256)) * 4096  # 1 MiB
    (assets / "local" / "kernel").write_bytes(kernel)
    (assets / "local" / "initrd").write_bytes(b"I" * 1000)
    root = tmp_path / "tftpboot"
    (root / "pxelinux.cfg").mkdir(parents=True)
    (root / "pxelinux.0").write_bytes(b"PXE" * 100)
    (tmp_path / "secret").write_text("no")
    settings = Settings(data_dir=str(tmp_path / "data"), assets_dir=str(assets),
                        tftp_root=str(root))
    core = Core(MemoryStore(), FakeRenderer(), settings, clock=lambda: 7.0)
    fx.fill(core)
    core.add_distro(Distro(name="local", os_version="rhel9"))
    core.add_distro(dataclasses.replace(fx.DISTRO, name="abs",
                                        kernel=str(assets / "local" / "kernel"), initrd=""))
    client = create_app(core).test_client()
    return core, client, kernel


def get(client, url: str, ip: str = "192.0.2.9", **kw):
    return client.get(url, environ_base={"REMOTE_ADDR": ip}, **kw)


def test_kernel_streams_whole_file(env) -> None:
    core, client, kernel = env
    r = get(client, "/assets/local/kernel")
    assert r.status_code == 200 and r.data == kernel
    assert r.headers["Content-Length"] == str(len(kernel)) and r.headers["Accept-Ranges"] == "bytes"


def test_range_request(env) -> None:
    _, client, kernel = env
    r = get(client, "/assets/local/kernel", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.data == kernel[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(kernel)}"
    r = get(client, "/assets/local/kernel", headers={"Range": f"bytes={len(kernel) + 5}-"})
    assert r.status_code == 416


def test_head_and_conditional(env) -> None:
    _, client, kernel = env
    r = client.head("/assets/local/kernel")
    assert (r.status_code == 200 and r.data == b""
            and r.headers["Content-Length"] == str(len(kernel)))
    etag = r.headers["ETag"]
    assert get(client, "/assets/local/kernel", headers={"If-None-Match": etag}).status_code == 304


def test_absolute_path_and_url_distros(env) -> None:
    _, client, kernel = env
    assert get(client, "/assets/abs/kernel").data == kernel
    r = get(client, f"/assets/{fx.DISTRO.name}/kernel")
    assert r.status_code == 302 and r.headers["Location"] == fx.DISTRO.kernel


@pytest.mark.parametrize("url", ["/assets/nosuch/kernel", "/assets/local/vmlinuz",
                                 "/tftpboot/missing.0"],
                         ids=["unknown distro", "not kernel or initrd", "missing file"])
def test_not_found(env, url: str) -> None:
    assert get(env[1], url).status_code == 404


def test_tftp_root_over_http(env) -> None:
    core, client, _ = env
    assert get(client, "/tftpboot/pxelinux.0").data == b"PXE" * 100
    r = get(client, "/tftpboot/pxelinux.cfg/01-52-54-00-12-34-56")
    assert r.status_code == 200 and r.data.startswith(b"pxelinux web01 ")


@pytest.mark.parametrize("path", ["../secret", "%2e%2e/secret", "a/%2e%2e/%2e%2e/secret"],
                         ids=["dot-dot", "percent-encoded", "percent-encoded nested"])
def test_hostile_tftpboot_paths(env, path: str) -> None:
    r = get(env[1], f"/tftpboot/{path}")
    assert r.status_code in (403, 404) and b"no" != r.data


def test_percent_encoding_that_survives_routing_is_forbidden(env) -> None:
    r = get(env[1], "/tftpboot/x%252e%252e")  # decodes once to "x%2e%2e": refused, not served
    assert r.status_code == 403


def test_served_asset_is_a_timeline_event_for_a_known_client(env) -> None:
    core, client, kernel = env
    r = get(client, "/assets/local/kernel", ip=KNOWN_IP, headers={"Range": "bytes=0-99"})
    assert r.data == kernel[:100]
    r.close()
    get(client, "/assets/local/initrd", ip="192.0.2.50").close()  # unknown client: no event
    events = [e for e in core.timeline("web01") if e.kind == "http-asset"]
    assert len(events) == 1
    d = events[0].detail
    assert (d["path"], d["bytes"], d["status"], d["range"], d["client"]) == (
        "/assets/local/kernel", 100, 206, "bytes=0-99", KNOWN_IP)
    assert d["seconds"] >= 0


def test_whole_file_event_counts_what_was_sent_in_the_test_client_and_waitress(env) -> None:
    """A whole file keeps the server's file wrapper (waitress's fast path): the event still
    carries the bytes sent, here through werkzeug's wrapper and through waitress's."""
    import threading
    import urllib.request

    from provisioner.main import make_appliance

    core, client, kernel = env
    r = get(client, "/assets/local/kernel", ip=KNOWN_IP)
    assert r.data == kernel
    r.close()
    core.update_system("web01", {"interfaces": [{"mac": fx.MAC, "ip": "127.0.0.1"}]})
    settings = dataclasses.replace(core.settings, http_host="127.0.0.1", http_port=0)
    core.settings = settings
    appliance = make_appliance(settings, core)
    thread = threading.Thread(target=appliance.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{appliance.port}/assets/local/kernel"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.read() == kernel
        for _ in range(100):  # recorded when the server closes the body, after the response
            events = [e for e in core.timeline("web01") if e.kind == "http-asset"]
            if len(events) == 2:
                break
            threading.Event().wait(0.05)
    finally:
        appliance.server.close()
        thread.join(timeout=30)
    assert [(e.detail["bytes"], e.detail["status"], e.detail["client"]) for e in events] == [
        (len(kernel), 200, KNOWN_IP), (len(kernel), 200, "127.0.0.1")]


def test_curl_streams_and_resumes_over_waitress(env, tmp_path: Path) -> None:
    """The production server on loopback: a full download and a resumed one, checked with curl."""
    import hashlib
    import subprocess
    import threading

    from provisioner.main import make_appliance

    core, _, kernel = env
    settings = dataclasses.replace(core.settings, http_host="127.0.0.1", http_port=0)
    core.settings = settings
    appliance = make_appliance(settings, core)
    thread = threading.Thread(target=appliance.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{appliance.port}/assets/local/kernel"
        out = tmp_path / "k"
        out.write_bytes(kernel[:300000])  # a partial earlier download: resume it with Range
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "-C", "-", "-o", str(out), url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(kernel).digest()
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "-I", url], capture_output=True,
                           text=True, timeout=60)
        assert f"Content-Length: {len(kernel)}" in r.stdout and "Accept-Ranges: bytes" in r.stdout
    finally:
        appliance.server.close()
        thread.join(timeout=30)


# ---- issue 15 item 10: only files under assets_dir or asset_roots -----------------------------

def test_api_refuses_a_kernel_outside_the_asset_directories(env, tmp_path: Path) -> None:
    core, client, _ = env
    auth = {"Authorization": f"Bearer {core.create_token('admin')}"}
    secret = tmp_path / "secret"
    (tmp_path / "assets" / "local" / "escape").symlink_to(secret)
    for kernel in ("/etc/shadow", str(secret), str(tmp_path / "assets" / "local" / "escape"),
                   str(tmp_path / "assets" / ".." / "secret")):
        r = client.post("/api/v1/distros", headers=auth,
                        json={"name": "evil", "os_version": "rhel9", "kernel": kernel})
        assert r.status_code == 400, (kernel, r.json)
        err = r.json["error"]
        assert err["field"] == "kernel"
        assert err["message"].startswith(f"kernel {kernel} is outside the directories the "
                                         "appliance serves boot files from")
        assert "asset_roots" in err["hint"] and "provisioner import" in err["hint"]
    r = client.patch("/api/v1/distros/local", headers=auth, json={"initrd": "/etc/passwd"})
    assert r.status_code == 400 and r.json["error"]["field"] == "initrd"
    assert client.get("/api/v1/distros/local").json["initrd"] == ""  # nothing was changed
    ok = client.post("/api/v1/distros", headers=auth, json={
        "name": "inside", "os_version": "rhel9",
        "kernel": str(tmp_path / "assets" / "local" / "kernel")})
    assert ok.status_code == 201, ok.json


def test_a_stored_kernel_outside_is_refused_when_served(env, tmp_path: Path) -> None:
    """A distro written before the check (or straight into the store) is not served either."""
    core, client, _ = env
    core.store.put_distro(dataclasses.replace(fx.DISTRO, name="old", kernel="/etc/passwd",
                                              initrd=str(tmp_path / "secret")))
    for which in ("kernel", "initrd"):
        r = get(client, f"/assets/old/{which}")
        assert r.status_code == 403
        assert "outside the directories boot files are served from" in r.get_data(as_text=True)
    with pytest.raises(Forbidden):
        asset_file("/etc/passwd", "old", "kernel", tmp_path / "assets")


def test_asset_roots_lets_the_admin_name_more_directories(tmp_path: Path) -> None:
    iso = tmp_path / "iso" / "images" / "pxeboot"
    iso.mkdir(parents=True)
    (iso / "vmlinuz").write_bytes(b"K" * 100)
    settings = Settings(data_dir=str(tmp_path / "data"), asset_roots=(str(tmp_path / "iso"),))
    core = Core(MemoryStore(), FakeRenderer(), settings)
    core.add_distro(Distro(name="iso", os_version="rhel9", kernel=str(iso / "vmlinuz")))
    r = get(create_app(core).test_client(), "/assets/iso/kernel")
    assert r.status_code == 200 and r.data == b"K" * 100
    assert asset_file(str(iso / "vmlinuz"), "iso", "kernel", tmp_path / "assets",
                      settings.asset_roots) == iso / "vmlinuz"
