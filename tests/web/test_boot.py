"""Installer-facing endpoints with the real renderer: shipped templates and a broken one."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.demo import seed
from provisioner.main import make_appliance
from provisioner.render.configs import Renderer
from provisioner.settings import Settings
from provisioner.web.app import create_app
from tests import fixtures as fx
from tests.fakes import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
DEMO_MAC = "52:54:00:de:00:01"


@pytest.fixture
def demo_core() -> Core:
    settings = Settings(templates_dir=str(ROOT / "templates"))
    core = Core(MemoryStore(), Renderer(settings.templates_dir), settings,
                new_token=lambda: "demo-token")
    list(seed(core))
    return core


def test_kickstart_three_ways_same_document(demo_core):
    client = create_app(demo_core).test_client()
    bodies = [client.get(url) for url in ("/ks/system/demo01", "/ks/mac/52-54-00-DE-00-01",
                                           "/ks/token/demo-token")]
    assert {r.status_code for r in bodies} == {200}
    assert {r.mimetype for r in bodies} == {"text/plain"}
    assert len({r.text for r in bodies}) == 1
    ks = bodies[0].text
    assert "url --url=https://dl.rockylinux.org/" in ks
    assert "http://localhost/cb/demo-token/started" in ks
    kinds = [e.kind for e in demo_core.timeline("demo01")]
    assert kinds.count("kickstart") == 3


def test_one_shot_netboot_over_http(demo_core):
    client = create_app(demo_core).test_client()
    for kind in ("pxelinux", "grub", "ipxe"):
        assert "inst.ks=http://localhost/ks/token/demo-token" in client.get(
            f"/boot/{kind}/{DEMO_MAC}").text
    assert client.get("/cb/demo-token/started").text == "ok demo01 installing\n"
    assert client.post("/cb/demo-token/done").text == "ok demo01 installed\n"
    assert "exit" in client.get(f"/boot/ipxe/{DEMO_MAC}").text.splitlines()
    assert "inst.ks" not in client.get(f"/boot/pxelinux/{DEMO_MAC}").text
    assert "inst.ks" not in client.get(f"/boot/grub/{DEMO_MAC}").text
    assert demo_core.get_system("demo01").netboot_enabled is False


NOT_SERVED = {
    "unknown MAC": ("/boot/pxelinux/52:54:00:00:00:00", 404, "no system with MAC"),
    "malformed MAC": ("/boot/grub/not-a-mac", 400, "bad MAC address"),
    "unknown boot kind": (f"/boot/bios/{DEMO_MAC}", 404, ""),
    "unknown system": ("/ks/system/ghost", 404, "system 'ghost' not found"),
    "unknown token": ("/ks/token/guess", 404, "unknown token"),
    "unknown callback token": ("/cb/guess/done", 404, "unknown token"),
    "unknown callback event": ("/cb/demo-token/exploded", 404, ""),
}


@pytest.mark.parametrize("url,status,fragment", NOT_SERVED.values(), ids=NOT_SERVED.keys())
def test_not_served(demo_core, url, status, fragment):
    r = create_app(demo_core).test_client().get(url)
    assert r.status_code == status and r.mimetype == "text/plain"
    assert r.text.startswith("error: ") and fragment in r.text
    assert demo_core.get_system("demo01").status == "new"


BROKEN = """\
#version=RHEL9
text
url --url={{ tree_url }}
%post
echo {{ no_such_variable }}
%end
"""


def test_broken_template_is_500_never_partial(tmp_path, caplog):
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "kickstarts" / "broken.ks").write_text(BROKEN)
    settings = Settings(templates_dir=str(templates))
    core = Core(MemoryStore(), Renderer(templates), settings)
    fx.fill(core)
    core.update_profile("base", {"kickstart": "broken.ks"})
    client = create_app(core).test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/ks/system/web01")
    assert r.status_code == 500
    assert r.text.startswith("error: render error: template kickstarts/broken.ks line 5")
    assert "url --url" not in r.text and "%post" not in r.text
    assert any("kickstarts/broken.ks" in rec.getMessage() and "5" in rec.getMessage()
               for rec in caplog.records)
    api = client.get("/api/v1/render/ks/web01")
    assert api.status_code == 500
    assert api.json["error"]["code"] == "render_error"
    assert "kickstarts/broken.ks line 5" in api.json["error"]["message"]
    (event,) = [e for e in core.timeline("web01") if e.kind == "render-error"][:1]
    assert event.detail["template"] == "kickstarts/broken.ks"


def test_syntax_error_in_template_is_500(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "kickstarts" / "rhel9-guest.ks").write_text("text\n{% if %}\n")
    core = Core(MemoryStore(), Renderer(templates), Settings(templates_dir=str(templates)))
    fx.fill(core)
    r = create_app(core).test_client().get(f"/ks/mac/{fx.MAC}")
    assert r.status_code == 500 and "line 2" in r.text and "syntax" in r.text


def test_validate_endpoint_runs_rules_and_pykickstart(demo_core):
    client = create_app(demo_core).test_client()
    r = client.get("/api/v1/validate").json
    assert r["ok"] is True
    assert set(r["results"]) == {"profile:rhel9-guest", "profile:rhel5-guest", "profile:kvm-host",
                                 "profile:xen-host", "profile:rhel4-guest", "system:demo01"}
    demo_core.update_system("demo01", {"vm": {"hypervisor": "kvm", "virt_type": "pv"}})
    r = client.get("/api/v1/validate?system=demo01").json
    assert r["ok"] is False
    assert any(f["source"] == "rules" and f["level"] == "error"
               for f in r["results"]["system:demo01"])


def test_curl_over_a_real_socket(demo_core, tmp_path):
    """The production server (waitress) on a loopback port, fetched with curl."""
    settings = Settings(http_host="127.0.0.1", http_port=0, data_dir=str(tmp_path),
                        templates_dir=str(ROOT / "templates"))
    appliance = make_appliance(settings, demo_core)
    thread = threading.Thread(target=appliance.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{appliance.port}"
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "-D", "-",
                              f"{base}/ks/mac/{DEMO_MAC}"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        head, _, body = out.stdout.partition("\n\n")  # text mode folded \r\n
        assert head.startswith("HTTP/1.1 200")
        assert "Content-Type: text/plain; charset=utf-8" in head
        assert f"{base}/cb/demo-token/started" in body, out.stdout[:600]
        out = subprocess.run(["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w",
                              "%{http_code}", "-X", "POST", f"{base}/api/v1/distros"],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout == "401"
    finally:
        appliance.server.close()
        thread.join(timeout=30)
