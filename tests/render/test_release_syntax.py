"""Issue 14 fix 1: a profile's kickstart is written and checked in its own release's syntax.

RHEL 4.8 profiles used to get the RHEL 5 guest kickstart verbatim (`key --skip`, which RHEL 4's
installer does not know) and it was served with HTTP 200. Now the template writes only the
commands the release's installer knows (``ks_commands``, pykickstart's handler), every shipped
profile passes ``ksvalidator -v <its release>``, and the serving path refuses a kickstart its
release would reject (the same check ``provisioner validate`` and the order form use).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provisioner import demo
from provisioner.core.app import Core
from provisioner.errors import RenderError
from provisioner.models import Distro, Host, Interface, Profile, System, VmDefaults
from provisioner.render.configs import Renderer
from provisioner.render.validate import handler_commands, handler_name
from provisioner.settings import Settings
from provisioner.store.memory import MemoryStore
from tests.conftest import ROOT
from tests.orders_env import GOOD, KVM_FACTS

KSVALIDATOR = Path(sys.executable).parent / "ksvalidator"


def _core(tmp_path: Path, templates: Path = ROOT / "templates") -> Core:
    core = Core(MemoryStore(), Renderer(templates), Settings(data_dir=str(tmp_path)))
    list(demo.seed(core))
    return core


def test_release_command_sets_come_from_the_validators_handler() -> None:
    assert "key" in handler_commands("rhel5.4") and "key" not in handler_commands("rhel4.8")
    assert "repo" not in handler_commands("rhel4.8")
    assert "selinux" not in handler_commands("rhel3.9")
    assert handler_commands("plan9") == frozenset()


@pytest.mark.parametrize("profile", [p.name for p in demo.PROFILES])
def test_every_shipped_profile_passes_ksvalidator_for_its_release(tmp_path: Path,
                                                                  profile: str) -> None:
    core = _core(tmp_path)
    ctx = core.boot_context(profile=profile, server="http://10.0.0.1:8080")
    text = core.renderer.render("ks", ctx)
    assert [f for f in core.validate(profile=profile)] == []
    path = tmp_path / "ks.cfg"
    path.write_text(text)
    version = handler_name(ctx.distro.os_version)
    run = subprocess.run([str(KSVALIDATOR), "-v", str(version), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, (version, run.stdout + run.stderr)


def test_rhel4_profile_has_no_rhel5_only_commands(tmp_path: Path) -> None:
    core = _core(tmp_path)
    text = core.renderer.render("ks", core.boot_context(profile="rhel4-guest", server="http://x"))
    assert not [ln for ln in text.splitlines() if ln.split()[:1] in (["key"], ["repo"])]
    assert "selinux --enforcing" in text.splitlines()          # RHEL 4 has SELinux


@pytest.mark.parametrize(("meta", "message"), [
    ({"installation_number": "ABCD"}, "has no installation numbers"),
    ({"repos": [{"name": "x", "baseurl": "http://m/x"}]}, "has no repo command"),
], ids=["key", "repo"])
def test_metadata_the_release_cannot_honour_fails_closed(tmp_path: Path, meta, message) -> None:
    core = _core(tmp_path)
    core.add_profile(Profile(name="old", distro="centos4.8-x86_64", kickstart="rhel5-guest.ks",
                             metadata=meta))
    with pytest.raises(RenderError, match=message):
        core.renderer.render("ks", core.boot_context(profile="old", server="http://x"))


def test_serving_refuses_a_kickstart_its_release_rejects(tmp_path: Path) -> None:
    """A template in RHEL 5 syntax on a RHEL 4.8 distro: HTTP 500 naming the line, never 200."""
    templates = tmp_path / "templates"
    (templates / "kickstarts").mkdir(parents=True)
    (templates / "kickstarts" / "old.ks").write_text(
        "install\ntext\nurl --url={{ tree_url }}\nkey --skip\nrootpw --iscrypted !!\n")
    core = _core(tmp_path, templates)
    core.add_distro(Distro(name="c48", os_version="rhel4.8", tree_url="http://m/4.8"))
    core.add_profile(Profile(name="p48", distro="c48", kickstart="old.ks"))
    core.add_system(System(name="g48", profile="p48",
                           interfaces=(Interface(mac="52:54:00:48:00:01"),)))
    with pytest.raises(RenderError, match=r"old.ks for rhel4.8 .*line 4: Unknown command: key"):
        core.kickstart_for(system="g48", server="http://x")
    findings = core.validate(profile="p48")
    assert [(f.source, f.line) for f in findings] == [("pykickstart", 4)]
    # the same template on RHEL 5 is fine: the release decides, not the template
    core.add_distro(Distro(name="c54", os_version="rhel5.4", tree_url="http://m/5.4"))
    core.add_profile(Profile(name="p54", distro="c54", kickstart="old.ks"))
    core.add_system(System(name="g54", profile="p54",
                           interfaces=(Interface(mac="52:54:00:54:00:01"),)))
    assert "key --skip" in core.kickstart_for(system="g54", server="http://x")


def test_order_form_uses_the_same_kickstart_check(tmp_path: Path) -> None:
    """An order for that profile is refused on the profile field with the validator's message;
    the release's own syntax passes (no second copy of the rule: Core._kickstart_errors)."""
    templates = tmp_path / "templates"
    (templates / "kickstarts").mkdir(parents=True)
    (templates / "kickstarts" / "old.ks").write_text(
        "install\ntext\nurl --url={{ tree_url }}\nkey --skip\nrootpw --iscrypted !!\n")
    core = _core(tmp_path, templates)
    core.store.put_host(Host(name="host1", facts=KVM_FACTS, last_seen=core.clock()))
    vm = VmDefaults(ram_mb=1024, vcpus=1, disk_gb=10, bridge="br0")
    core.add_distro(Distro(name="c48", os_version="rhel4.8", tree_url="http://m/4.8"))
    core.add_profile(Profile(name="p48", distro="c48", kickstart="old.ks", vm=vm))
    core.add_distro(Distro(name="c54", os_version="rhel5.4", tree_url="http://m/5.4"))
    core.add_profile(Profile(name="p54", distro="c54", kickstart="old.ks", vm=vm))
    bad = core.ordering.validate({**GOOD, "profile": "p48", "host": "host1"}, "alice")
    assert bad.errors["profile"] == ["kickstart for p48: line 4: Unknown command: key"]
    good = core.ordering.validate({**GOOD, "profile": "p54", "host": "host1"}, "alice")
    assert "profile" not in good.errors
