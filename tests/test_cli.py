"""The ``provisioner`` command: inventory, render, import, validate, tokens, db, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.importer import import_tree, os_version_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    """``run(*argv) -> (rc, stdout, stderr)`` against a fresh data dir, shipped templates."""
    monkeypatch.delenv("PROVISIONER_CONFIG", raising=False)
    monkeypatch.setenv("PROVISIONER_TEMPLATES_DIR", str(ROOT / "templates"))
    data = tmp_path / "data"

    def call(*argv: str) -> tuple[int, str, str]:
        rc = main(["--data-dir", str(data), *argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return call


def test_inventory_round_trip(run):
    assert run("distro", "add", "rhel9", "--os-version", "rhel9",
               "--tree-url", "http://mirror.example/rhel9")[0] == 0
    assert run("profile", "add", "base", "--distro", "rhel9", "--kickstart", "rhel9-guest.ks",
               "--ram-mb", "2048", "--meta", "timezone=UTC", "--meta", "ports=[22,80]")[0] == 0
    assert run("profile", "add", "web", "--parent", "base", "--kernel-options", "quiet")[0] == 0
    rc, out, _ = run("system", "add", "web01", "--profile", "web", "--mac", "52-54-00-00-00-01",
                     "--ip", "10.0.0.5", "--mac", "52:54:00:00:00:02", "--vcpus", "2")
    assert (rc, out) == (0, "added system web01\n")
    rc, out, _ = run("system", "show", "web01")
    shown = json.loads(out)
    assert [i["mac"] for i in shown["interfaces"]] == ["52:54:00:00:00:01", "52:54:00:00:00:02"]
    assert shown["interfaces"][0]["ip"] == "10.0.0.5" and shown["vm"]["vcpus"] == 2
    rc, out, _ = run("profile", "show", "base")
    assert json.loads(out)["metadata"] == {"timezone": "UTC", "ports": [22, 80]}
    rc, out, _ = run("system", "show", "web01", "--resolved")
    resolved = json.loads(out)
    assert resolved["ram_mb"] == {"value": 2048, "source": "profile:base"}
    assert resolved["vcpus"] == {"value": 2, "source": "system"}
    assert run("system", "edit", "web01", "--no-netboot", "--status", "installed")[0] == 0
    rc, out, _ = run("system", "list")
    assert out == ("web01\tprofile=web status=installed netboot=off "
                   "52:54:00:00:00:01 52:54:00:00:00:02\n")
    rc, out, _ = run("render", "pxe", "web01", "--server", "http://10.0.0.1")
    assert rc == 0 and "LOCALBOOT 0" in out and "inst.ks" not in out
    assert run("system", "remove", "web01")[1] == "removed system web01\n"
    assert run("system", "list")[1] == ""


#: (argv, the error line's start, what the hint line says): an error is one line, then one
#: line saying what to run next (a specific next step when helptext.NEXT_STEPS knows one, else
#: the command's --help); nothing else, exit status 2.
ERRORS = {
    "unknown profile": (["system", "add", "x", "--profile", "nope"],
                        "provisioner: error: profile 'nope' does not exist",
                        "`provisioner profile list` shows the profiles"),
    "bad MAC": (["system", "add", "x", "--profile", "p", "--mac", "zz"],
                "provisioner: error: bad MAC address 'zz'", "`provisioner system add --help`"),
    "bad URL scheme": (["distro", "add", "d2", "--tree-url", "gopher://x"],
                       "provisioner: error: bad tree_url 'gopher://x'",
                       "`provisioner distro add --help`"),
    "duplicate": (["distro", "add", "d"], "provisioner: error: distro 'd' already exists",
                  "`provisioner distro add --help`"),
    "missing system": (["render", "ks", "ghost"], "provisioner: error: system 'ghost' not found",
                       "`provisioner system list` shows the systems"),
    "edit nothing": (["distro", "edit", "d"], "provisioner: error: nothing to change",
                     "`provisioner distro edit --help`"),
    "bad meta": (["profile", "add", "q", "--distro", "d", "--meta", "novalue"],
                 "provisioner: error: --meta wants KEY=VALUE", "`provisioner profile add --help`"),
    "import missing dir": (["import", "/nonexistent/tree"],
                           "provisioner: error: /nonexistent/tree: no such directory",
                           "mount -o loop,ro FILE.iso /mnt/iso"),
    "remove used distro": (["distro", "remove", "d"], "provisioner: error: distro 'd' is used by",
                           "`provisioner distro remove --help`"),
}


def assert_error_then_hint(err: str, message: str, hint: str) -> None:
    """The error is the first line, the hint the second and last; no traceback."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 2 and err.endswith("\n"), err
    assert lines[0].startswith(message), err
    assert lines[1].startswith("provisioner: hint: ") and hint in lines[1], err


@pytest.mark.parametrize("argv,message,hint", ERRORS.values(), ids=ERRORS.keys())
def test_errors_are_one_line_and_a_hint_exit_2(run, argv, message, hint):
    run("distro", "add", "d")
    run("profile", "add", "p", "--distro", "d")
    rc, out, err = run(*argv)
    assert rc == 2
    assert_error_then_hint(err, message, hint)


def test_token_create_and_db_upgrade(run):
    from provisioner.store.migrate import head

    rc, out, _ = run("db", "upgrade")
    assert rc == 0 and f"-> {head()}" in out
    rc, token, _ = run("token", "create", "ci")
    assert rc == 0 and len(token.strip()) >= 40
    rc, out, _ = run("db", "upgrade")
    assert f"{head()} -> {head()}" in out


def test_demo_is_idempotent_and_validates(run):
    rc, out, _ = run("demo")
    assert rc == 0 and "system demo01: added" in out
    rc, out, _ = run("demo")
    assert "added" not in out
    rc, out, _ = run("validate")
    assert rc == 0, out
    assert out.endswith("6 checked, 0 error(s)\n")


def test_validate_fails_on_rule_error(run):
    run("demo")
    run("system", "edit", "demo01", "--virt-type", "pv", "--hypervisor", "kvm")
    rc, out, _ = run("validate", "--system", "demo01")
    assert rc == 1
    assert "system:demo01: error: [rules]" in out


def test_console_script_without_traceback(tmp_path):
    exe = Path(sys.executable).parent / "provisioner"
    out = subprocess.run([str(exe), "--data-dir", str(tmp_path), "system", "show", "ghost"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert_error_then_hint(out.stderr, "provisioner: error: system 'ghost' not found",
                           "`provisioner system list` shows the systems")
    assert out.stderr.splitlines()[0] == "provisioner: error: system 'ghost' not found"


# ---- import -------------------------------------------------------------------------------

TREEINFO_PRODUCTMD = """\
[header]
type = productmd.treeinfo
version = 1.2

[release]
name = Rocky Linux
short = Rocky
version = 9.4

[tree]
arch = x86_64
platforms = x86_64,xen

[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
"""
TREEINFO_RHEL5 = """\
[general]
family = Red Hat Enterprise Linux Server
timestamp = 1250624043.33
variant = Server
totaldiscs = 1
version = 5.4
discnum = 1
packagedir = Server
arch = i386

[images-i386]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img

[images-xen]
kernel = images/xen/vmlinuz
initrd = images/xen/initrd.img
"""
DISCINFO_RHEL5 = "1250624043.330000\nRed Hat Enterprise Linux Server 5.4\ni386\n1\n"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel in ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", *files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files.get(rel, "binary"))
    return root


TREES = {
    "productmd treeinfo (RHEL 9 family)": ({".treeinfo": TREEINFO_PRODUCTMD},
                                           "rhel9.4-x86_64", "rhel9.4", "x86_64"),
    "RHEL 5 treeinfo": ({".treeinfo": TREEINFO_RHEL5, "Server/repodata/repomd.xml": "x"},
                        "rhel5.4-i386", "rhel5.4", "i386"),
    "RHEL 5 disc without treeinfo": ({".discinfo": DISCINFO_RHEL5, "images/xen/vmlinuz": "k"},
                                     "rhel5.4-i386", "rhel5.4", "i386"),
}


@pytest.mark.parametrize("files,name,os_version,arch", TREES.values(), ids=TREES.keys())
def test_import_tree_layouts(tmp_path, files, name, os_version, arch):
    root = _tree(tmp_path / "tree", files)
    distro = import_tree(str(root))
    assert (distro.name, distro.os_version, distro.arch) == (name, os_version, arch)
    assert distro.kernel == f"{root}/images/pxeboot/vmlinuz"
    assert distro.initrd == f"{root}/images/pxeboot/initrd.img"
    assert distro.tree_url == str(root)


def test_import_from_url_with_injected_fetch():
    files = {".treeinfo": TREEINFO_PRODUCTMD.encode()}
    distro = import_tree("http://mirror.example/rocky/9/BaseOS/x86_64/os/", fetch=files.get)
    assert distro.kernel == "http://mirror.example/rocky/9/BaseOS/x86_64/os/images/pxeboot/vmlinuz"
    assert distro.tree_url == "http://mirror.example/rocky/9/BaseOS/x86_64/os"


def test_import_command_over_http(run, tmp_path):
    """`provisioner import URL` against a real HTTP server serving a fixture tree."""
    root = _tree(tmp_path / "www", {".treeinfo": TREEINFO_RHEL5})
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", str(root)], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
        port = int(line.split(" port ")[1].split()[0])
        rc, out, err = run("import", f"http://127.0.0.1:{port}/", "--name", "c54")
        assert rc == 0, err
        rc, out, _ = run("distro", "show", "c54")
        shown = json.loads(out)
        assert shown["kernel"] == f"http://127.0.0.1:{port}/images/pxeboot/vmlinuz"
        assert (shown["os_version"], shown["arch"]) == ("rhel5.4", "i386")
    finally:
        server.kill()
        server.wait(timeout=30)


def test_import_copies_kernel_and_initrd_with_progress(run, tmp_path):
    """Issue 15 items 5 and 10: a local tree's boot files are copied into the assets directory
    (shown as they go: files and bytes), so the appliance serves only its own files."""
    root = _tree(tmp_path / "iso", {".treeinfo": TREEINFO_PRODUCTMD})
    kernel = bytes(range(256)) * (12 * 1024 + 7)  # 3 MiB and a bit: several chunks
    (root / "images" / "pxeboot" / "vmlinuz").write_bytes(kernel)
    (root / "images" / "pxeboot" / "initrd.img").write_bytes(b"I" * 4096)
    rc, out, err = run("import", str(root))
    assert rc == 0, err
    lines = out.splitlines()
    kernel_lines = [x for x in lines if x.startswith("kernel ")]
    assert kernel_lines[0].split()[1].startswith("[") and "100%" in kernel_lines[-1]
    assert f"{root}/images/pxeboot/vmlinuz" in kernel_lines[-1]
    assert any(x.startswith("initrd ") and "100%" in x and "4.0 KiB of 4.0 KiB" in x
               for x in lines), out
    assert lines[-1].startswith(f"added distro rhel9.4-x86_64 (rhel9.4 x86_64) from {root}: "
                                f"kernel and initrd copied to {tmp_path}/data/assets/"
                                "rhel9.4-x86_64 (3.0 MiB in "), lines[-1]
    assets = tmp_path / "data" / "assets" / "rhel9.4-x86_64"
    assert (assets / "kernel").read_bytes() == kernel
    shown = json.loads(run("distro", "show", "rhel9.4-x86_64")[1])
    assert (shown["kernel"], shown["initrd"]) == ("", "")
    # again: refused before anything is copied, with what to do
    rc, _, err = run("import", str(root))
    assert rc == 2 and "already exists" in err and "--name" in err
    # in place: only under asset_roots
    rc, _, err = run("import", str(root), "--name", "inplace", "--in-place")
    assert rc == 2 and "outside the directories the appliance serves boot files from" in err
    assert "provisioner: hint:" in err and "asset_roots" in err


def test_import_without_metadata_needs_os_version(tmp_path):
    root = _tree(tmp_path / "bare", {})
    with pytest.raises(Exception, match="give --os-version"):
        import_tree(str(root))
    assert import_tree(str(root), os_version="rhel6", arch="x86_64").name == "rhel6-x86_64"


def test_import_rejects_a_dir_without_kernel(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / ".treeinfo").write_text(TREEINFO_PRODUCTMD)
    with pytest.raises(Exception, match="images/pxeboot/vmlinuz"):
        import_tree(str(tmp_path / "x"))


OSV = {"RHEL 5.4": ("Red Hat Enterprise Linux Server", "5.4", "rhel5.4"),
       "CentOS 7": ("CentOS", "7", "rhel7"), "Fedora 39": ("Fedora", "39", "fedora39"),
       "Alma 9.3": ("AlmaLinux", "9.3", "rhel9.3")}


@pytest.mark.parametrize("product,version,want", OSV.values(), ids=OSV.keys())
def test_os_version_of(product, version, want):
    assert os_version_of(product, version) == want
