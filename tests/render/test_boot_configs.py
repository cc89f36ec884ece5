"""Boot configs: install vs local vs menu selection, URLs from the shared URL scheme."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from provisioner.errors import RenderError
from provisioner.render.configs import Renderer
from provisioner.render.variables import parse_os_version
from tests.conftest import ROOT
from tests.render.fixtures import RHEL5, RHEL9, ctx, dhcp01, web01

KINDS = ("pxelinux", "grub", "ipxe")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT / "templates")


@pytest.mark.parametrize(("system", "mac", "want"), [
    (web01(), None, "boot/{kind}.cfg"),
    (web01(netboot_enabled=False), None, "boot/{kind}-local.cfg"),
    (None, "52:54:00:00:00:01", "boot/{kind}-menu.cfg"),
], ids=["netboot-enabled-installs", "netboot-disabled-boots-local", "unknown-mac-menu"])
@pytest.mark.parametrize("kind", KINDS)
def test_template_choice(renderer: Renderer, kind: str, system, mac, want) -> None:
    c = ctx(RHEL9, "rhel9-guest.ks", system=system, mac=mac)
    assert renderer.template_name(kind, c) == want.format(kind=kind)


@pytest.mark.parametrize(("system", "ks_url"), [
    (web01(), "http://10.0.0.1:8080/ks/token/tok-web01-5f2a"),
    (dhcp01(), "http://10.0.0.1:8080/ks/system/dhcp01"),
    (None, None),
], ids=["token-known", "system-without-token", "no-system"])
def test_urls(renderer: Renderer, system, ks_url) -> None:
    v = renderer.template_vars(ctx(RHEL5, "rhel5-guest.ks", system=system, mac="52:54:00:00:00:01"))
    assert v["ks_url"] == ks_url
    assert v["kernel_url"] == "http://10.0.0.1:8080/assets/rhel5.4-x86_64/kernel"
    assert v["initrd_url"] == "http://10.0.0.1:8080/assets/rhel5.4-x86_64/initrd"
    assert v["cb_url"] == ("http://10.0.0.1:8080/cb/tok-web01-5f2a" if system and system.token
                           else None)


@pytest.mark.parametrize(("distro", "arg"), [(RHEL5, "ks="), (RHEL9, "inst.ks=")],
                         ids=["rhel5-ks", "rhel9-inst.ks"])
@pytest.mark.parametrize("kind", KINDS)
def test_install_config_carries_kernel_initrd_ks(renderer: Renderer, kind, distro, arg) -> None:
    text = renderer.render(kind, ctx(distro, "x.ks", system=dhcp01(), kernel_options="quiet"))
    assert f"http://10.0.0.1:8080/assets/{distro.name}/kernel" in text or \
        f"(http,10.0.0.1:8080)/assets/{distro.name}/kernel" in text
    assert f" {arg}http://10.0.0.1:8080/ks/system/dhcp01" in text
    assert " quiet " in text


@pytest.mark.parametrize(("kind", "marker"), [
    ("pxelinux", "  LOCALBOOT 0"), ("grub", "  exit"), ("ipxe", "exit")],
    ids=["pxelinux-localboot", "grub-exit", "ipxe-exit"])
def test_netboot_disabled_boots_locally(renderer: Renderer, kind: str, marker: str) -> None:
    text = renderer.render(kind, ctx(RHEL9, "rhel9-guest.ks", system=web01(netboot_enabled=False)))
    assert marker in text.splitlines()
    assert "/ks/" not in text and "/assets/" not in text


@pytest.mark.parametrize(("kind", "default"), [
    ("pxelinux", "DEFAULT local"), ("grub", "set default=0"),
    ("ipxe", "choose --default local --timeout 10000 target || goto local")],
    ids=KINDS)
def test_unknown_mac_defaults_to_local_boot(renderer: Renderer, kind: str, default: str) -> None:
    text = renderer.render(kind, ctx(RHEL9, "rhel9-guest.ks", mac="52:54:00:00:00:01"))
    assert default in text.splitlines()
    assert "/ks/" not in text  # no unattended install for a machine nobody registered


def test_ipxe_script_starts_with_shebang(renderer: Renderer) -> None:
    for c in (ctx(RHEL9, "a", system=web01()), ctx(RHEL9, "a", system=web01(netboot_enabled=False)),
              ctx(RHEL9, "a", mac="52:54:00:00:00:01")):
        assert renderer.render("ipxe", c).startswith("#!ipxe\n")


def test_pxe_transport_tftp_uses_tftp_root_paths(renderer: Renderer) -> None:
    c = ctx(RHEL5, "rhel5-guest.ks", system=dhcp01(), metadata={"pxe_transport": "tftp"})
    text = renderer.render("pxelinux", c)
    assert "  KERNEL assets/rhel5.4-x86_64/kernel" in text.splitlines()
    assert "  linux /assets/rhel5.4-x86_64/kernel ks=http://10.0.0.1:8080/ks/system/dhcp01" in \
        renderer.render("grub", c).splitlines()


def test_grub_http_drops_default_port(renderer: Renderer) -> None:
    c = ctx(RHEL9, "rhel9-guest.ks", system=dhcp01())
    c = type(c)(distro=c.distro, profiles=c.profiles, system=c.system, values=c.values,
                server="http://10.0.0.1:80/", mac=c.mac)
    assert renderer.template_vars(c)["grub_kernel"] == "(http,10.0.0.1)/assets/rhel9-x86_64/kernel"


def test_server_url_with_a_path_prefix(renderer: Renderer) -> None:
    c = ctx(RHEL9, "rhel9-guest.ks", system=web01())
    c = type(c)(distro=c.distro, profiles=c.profiles, system=c.system, values=c.values,
                server="http://10.0.0.1:8080/prov/", mac=c.mac)
    v = renderer.template_vars(c)
    assert v["grub_kernel"] == "(http,10.0.0.1:8080)/prov/assets/rhel9-x86_64/kernel"
    assert v["kernel_url"] == "http://10.0.0.1:8080/prov/assets/rhel9-x86_64/kernel"
    assert v["ks_url"] == "http://10.0.0.1:8080/prov/ks/token/tok-web01-5f2a"


def test_unknown_kind_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="unknown render kind 'yaboot'"):
        renderer.render("yaboot", ctx(RHEL9, "rhel9-guest.ks", system=web01()))


@pytest.mark.parametrize(("os_version", "want"), [
    ("rhel5.4", ("rhel", 5, 4)), ("rhel9", ("rhel", 9, None)), ("fedora39", ("fedora", 39, None)),
    ("generic", ("", 0, None))], ids=["rhel5.4", "rhel9", "fedora", "generic"])
def test_parse_os_version(os_version: str, want) -> None:
    assert parse_os_version(os_version) == want


GRUB_SCRIPT_CHECK = shutil.which("grub-script-check")


@pytest.mark.skipif(GRUB_SCRIPT_CHECK is None, reason="grub-common not installed")
@pytest.mark.parametrize("system", [web01(), web01(netboot_enabled=False), None],
                         ids=["install", "local", "menu"])
def test_grub_config_passes_grub_script_check(renderer: Renderer, system, tmp_path) -> None:
    """GRUB's own parser (grub-common's grub-script-check) accepts every variant."""
    path = tmp_path / "grub.cfg"
    path.write_text(renderer.render("grub", ctx(RHEL9, "rhel9-guest.ks", system=system,
                                                mac="52:54:00:00:00:01")))
    run = subprocess.run([GRUB_SCRIPT_CHECK, str(path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(GRUB_SCRIPT_CHECK is None, reason="grub-common not installed")
def test_grub_script_check_catches_breakage(tmp_path) -> None:
    """Control: the checker does reject a config with an unclosed menuentry."""
    path = tmp_path / "grub.cfg"
    path.write_text("menuentry 'x' {\n  exit\n")
    run = subprocess.run([GRUB_SCRIPT_CHECK, str(path)], capture_output=True, timeout=60)
    assert run.returncode != 0


@pytest.mark.parametrize(("distro", "kopts", "count"), [
    (RHEL5, "", 1), (RHEL5, "ksdevice=eth1", 0), (RHEL9, "", 0)],
    ids=["rhel5-gets-ksdevice-bootif", "admin-choice-kept", "rhel9-needs-none"])
@pytest.mark.parametrize("kind", ["pxelinux", "ipxe"])
def test_rhel5_installs_from_the_boot_nic(renderer: Renderer, kind, distro, kopts, count) -> None:
    text = renderer.render(kind, ctx(distro, "x.ks", system=dhcp01(), kernel_options=kopts))
    assert text.count("ksdevice=bootif") == count
