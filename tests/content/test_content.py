"""Content: the path jail, file/bytes/netascii responses, and per-request TFTP providers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioner.content.base import BytesResponse, FileResponse, Forbidden, clean_path, jail
from provisioner.content.netascii import NetasciiResponse, to_netascii
from provisioner.content.providers import TftpContent, asset_file, route
from provisioner.core.app import Core
from provisioner.errors import NotFound
from provisioner.settings import Settings
from tests import fixtures as fx
from tests.fakes import FakeRenderer, MemoryStore

CLEAN = [
    ("plain", "pxelinux.0", "pxelinux.0"),
    ("leading slash is the root", "/grub/grub.cfg", "grub/grub.cfg"),
    ("backslashes normalised", "boot\\grub\\x.mod", "boot/grub/x.mod"),
    ("dot and double slashes", "./a//b/./c", "a/b/c"),
]


@pytest.mark.parametrize("raw,want", [c[1:] for c in CLEAN], ids=[c[0] for c in CLEAN])
def test_clean_path(raw: str, want: str) -> None:
    assert clean_path(raw) == want


REFUSED = [
    ("dot-dot", "../etc/passwd", "'..'"),
    ("dot-dot after a backslash", "a\\..\\..\\x", "'..'"),
    ("non-UTF-8 (surrogate escape)", "a\udcffb", "UTF-8"),
    ("NUL", "a\x00b", "control"),
    ("newline", "a\nb", "control"),
    ("percent-encoding", "%2e%2e/passwd", "%-encoded"),
    ("empty", "/", "empty"),
]


@pytest.mark.parametrize("raw,why", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_clean_path_refuses(raw: str, why: str) -> None:
    with pytest.raises(Forbidden, match=why):
        clean_path(raw)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    (r / "sub" / "f").write_bytes(b"data")
    (r / "out").symlink_to(tmp_path)
    (r / "in").symlink_to("sub/f")
    (tmp_path / "secret").write_text("x")
    return r


def test_jail_follows_symlinks_inside_and_refuses_outside(root: Path) -> None:
    assert jail(root, "in") == (root / "sub" / "f").resolve()
    with pytest.raises(Forbidden, match="leaves the TFTP root"):
        jail(root, "out/secret")


def test_jail_refuses_an_absolute_host_path_but_serves_root_relative_ones(root: Path) -> None:
    assert jail(root, "/sub/f") == (root / "sub" / "f").resolve()
    with pytest.raises(Forbidden, match="absolute path outside"):
        jail(root, str(root.parent / "secret"))


def test_file_response(root: Path) -> None:
    r = FileResponse(jail(root, "sub/f"))
    assert (r.size(), r.read(2), r.read(10), r.read(10)) == (4, b"da", b"ta", b"")
    r.close()
    with pytest.raises(NotFound):
        FileResponse(root / "sub")  # a directory is not a file
    with pytest.raises(NotFound):
        FileResponse(root / "missing")


def test_netascii_wrapper() -> None:
    inner = BytesResponse(b"a\nb\rc" * 3000)
    r = NetasciiResponse(inner)
    out = b""
    while chunk := r.read(512):
        out += chunk
    assert out == to_netascii(b"a\nb\rc" * 3000) and b"\r\n" in out and b"\r\0" in out


ROUTES = [
    ("pxelinux per-MAC", "pxelinux.cfg/01-52-54-00-12-34-56", ("pxelinux", fx.MAC)),
    ("pxelinux upper-case MAC", "pxelinux.cfg/01-52-54-00-12-34-56".upper().replace("CFG", "cfg")
     .replace("PXELINUX", "pxelinux"), ("pxelinux", fx.MAC)),
    ("grub per-MAC under its prefix", "grub/grub.cfg-01-52-54-00-12-34-56", ("grub", fx.MAC)),
    ("grub2 under boot/", "boot/grub2/grub.cfg-01-52-54-00-12-34-56", ("grub", fx.MAC)),
    ("ipxe script", "ipxe/52:54:00:12:34:56", ("ipxe", fx.MAC)),
    ("ipxe script with .ipxe", "ipxe/01-52-54-00-12-34-56.ipxe", ("ipxe", fx.MAC)),
    ("hex-IP fallback is static", "pxelinux.cfg/0A4D0064", None),
    ("default is static", "pxelinux.cfg/default", None),
    ("loader is static", "pxelinux.0", None),
]


@pytest.mark.parametrize("path,want", [c[1:] for c in ROUTES], ids=[c[0] for c in ROUTES])
def test_route(path: str, want) -> None:
    assert route(path) == want


@pytest.fixture
def core() -> Core:
    c = Core(MemoryStore(), FakeRenderer(), Settings(), clock=lambda: 7.0)
    fx.fill(c)
    return c


@pytest.fixture
def content(core: Core, root: Path) -> TftpContent:
    (root / "pxelinux.cfg").mkdir()
    (root / "pxelinux.cfg" / "default").write_text("DEFAULT local\n")
    seen: list[tuple[str, str]] = []
    c = TftpContent(root, lambda kind, mac, server, client: core.boot_config(
        kind, mac, server, client=client), "http://10.77.0.1:8080",
        on_mac=lambda *a: seen.append(a))
    c.seen = seen  # type: ignore[attr-defined]
    return c


def read_all(r) -> bytes:
    out = r.read(1 << 20)
    r.close()
    return out


def test_per_mac_pxelinux_is_rendered_per_request(content: TftpContent, core: Core) -> None:
    body = read_all(content.resolve("pxelinux.cfg/01-52-54-00-12-34-56", ("10.77.0.9", 2000)))
    assert body.startswith(b"pxelinux web01 web rhel9-x86_64 install ")
    assert body.endswith(b" server=http://10.77.0.1:8080\n")
    assert content.seen == [("10.77.0.9", fx.MAC)]  # type: ignore[attr-defined]
    core.update_system("web01", {"netboot_enabled": False})  # no sync step: next request sees it
    body = read_all(content.resolve("pxelinux.cfg/01-52-54-00-12-34-56", ("10.77.0.9", 2000)))
    assert b" local " in body
    configs = [e for e in core.timeline("web01") if e.kind == "boot-config"]
    assert len(configs) == 2 and configs[0].detail["client"] == "10.77.0.9"


def test_unknown_mac_is_not_found_then_static_fallbacks(content: TftpContent) -> None:
    with pytest.raises(NotFound):
        content.resolve("pxelinux.cfg/01-52-54-00-99-99-99", ("10.77.0.9", 2000))
    with pytest.raises(NotFound):
        content.resolve("pxelinux.cfg/0A4D0009", ("10.77.0.9", 2000))
    assert read_all(content.resolve("pxelinux.cfg/default", ("10.77.0.9", 2000))) == \
        b"DEFAULT local\n"


@pytest.mark.parametrize("policy", ["ignore", "discover", "menu"])
def test_unknown_mac_per_policy(policy: str, root: Path) -> None:
    """Only ``menu`` renders a config for an unknown MAC; otherwise pxelinux moves on to default."""
    core = Core(MemoryStore(), FakeRenderer(), Settings(unknown_policy=policy), clock=lambda: 7.0)
    fx.fill(core)
    c = TftpContent(root, lambda kind, mac, server, client: core.boot_config(
        kind, mac, server, client=client), "http://10.77.0.1:8080")
    path = "pxelinux.cfg/01-52-54-00-99-99-99"
    if policy != "menu":
        with pytest.raises(NotFound):
            c.resolve(path, ("10.77.0.9", 2000))
        return
    assert read_all(c.resolve(path, ("10.77.0.9", 2000))) == (
        b"pxelinux - base rhel9-x86_64 menu kopts='quiet console=tty0 ip=dhcp' "
        b"server=http://10.77.0.1:8080\n")
    core.events.flush()
    [event] = core.store.list_events("discovered:52:54:00:99:99:99", None)
    assert event.detail == {"kind": "pxelinux", "mac": "52:54:00:99:99:99", "menu": "base",
                            "client": "10.77.0.9"}


def test_grub_and_ipxe_configs(content: TftpContent) -> None:
    for path, kind in (("/grub/grub.cfg-01-52-54-00-12-34-56", "grub"),
                       ("ipxe/01-52-54-00-12-34-56", "ipxe")):
        data = read_all(content.resolve(path, ("10.77.0.9", 1)))
        assert data.startswith(kind.encode() + b" web01")


def test_static_files_are_jailed(content: TftpContent) -> None:
    assert read_all(content.resolve("sub/f", ("10.77.0.9", 1))) == b"data"
    with pytest.raises(Forbidden):
        content.resolve("../secret", ("10.77.0.9", 1))
    with pytest.raises(Forbidden):
        content.resolve("out/secret", ("10.77.0.9", 1))


def test_assets_over_tftp(core: Core, root: Path, tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "d1").mkdir(parents=True)
    (assets / "d1" / "kernel").write_bytes(b"K" * 10)
    c = TftpContent(root, lambda *a: "", "http://s",
                    asset=lambda d, w: asset_file("", d, w, assets))
    assert read_all(c.resolve("assets/d1/kernel", ("1.2.3.4", 1))) == b"K" * 10
    with pytest.raises(NotFound):
        c.resolve("assets/d1/initrd", ("1.2.3.4", 1))


#: (id, the distro's kernel field, asset_roots, the file served or FORBIDDEN). {assets} is the
#: assets dir, {iso} a directory listed in asset_roots, {out} and {iso2} are not listed; the
#: test makes the tree and its symlinks. An absolute path is served only from under those
#: directories (symlinks resolved); anything else is refused, never served.
FORBIDDEN = "Forbidden"
ASSETS = [
    ("absolute path under asset_roots", "{iso}/vmlinuz", ("{iso}",), "{iso}/vmlinuz"),
    ("absolute path under the assets dir", "{assets}/d1/vmlinuz", (), "{assets}/d1/vmlinuz"),
    ("empty: under the assets dir", "", ("{iso}",), "{assets}/d1/kernel"),
    ("absolute path, no roots", "/srv/k", (), FORBIDDEN),
    ("absolute path outside the roots", "{out}/vmlinuz", ("{iso}",), FORBIDDEN),
    ("system file", "/etc/passwd", ("{iso}",), FORBIDDEN),
    ("dot-dot out of a root", "{iso}/../out/vmlinuz", ("{iso}",), FORBIDDEN),
    ("a root's name as a prefix", "{iso2}/vmlinuz", ("{iso}",), FORBIDDEN),
    ("symlink out of a root", "{iso}/escape", ("{iso}",), FORBIDDEN),
    ("symlink into a root", "{out}/to-iso", ("{iso}",), "{iso}/vmlinuz"),
]


@pytest.mark.parametrize("value,roots,want", [c[1:] for c in ASSETS], ids=[c[0] for c in ASSETS])
def test_asset_file(value: str, roots: tuple[str, ...], want: str, tmp_path: Path) -> None:
    base = Path(os.path.realpath(tmp_path))
    dirs = {name: base / name for name in ("assets", "iso", "iso2", "out")}
    for d in (dirs["assets"] / "d1", dirs["iso"], dirs["iso2"], dirs["out"]):
        d.mkdir(parents=True)
        (d / "vmlinuz").write_bytes(b"K")
    (dirs["iso"] / "escape").symlink_to(dirs["out"] / "vmlinuz")
    (dirs["out"] / "to-iso").symlink_to(dirs["iso"] / "vmlinuz")
    args = (value.format(**dirs), "d1", "kernel", dirs["assets"],
            tuple(r.format(**dirs) for r in roots))
    if want == FORBIDDEN:
        with pytest.raises(Forbidden, match="outside the directories boot files are served"):
            asset_file(*args)
    else:
        assert asset_file(*args) == Path(want.format(**dirs))


def test_asset_file_url_is_not_local(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="URL"):
        asset_file("http://mirror/vmlinuz", "d1", "kernel", tmp_path)
