"""The Vagrant lab's pure parts: wheelhouse closure, box recipe and cache key, progress phases.

No box is built here (``test_box_build.py`` and ``test_vagrant_lab.py`` do that for real); these
pin down the decisions: which wheels go in, when a box is rebuilt, what the one ``mmdebstrap``
command does, and how ``vagrant up`` output becomes named, timed phases.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess

import pytest

from provisioner.lab.vagrant import boxspec, progress, wheelhouse

# -- wheelhouse ------------------------------------------------------------------------------

INSTALLED = {
    "provisioner": ("0.1.0", ["flask>=3", "Jinja2>=3.1", "libvirt-python>=9; extra == 'agent'",
                              "pytest>=8; extra == 'test'"]),
    "flask": ("3.1.3", ["Werkzeug>=3.1", "click>=8", "importlib-metadata; python_version<'3.10'",
                        "asgiref>=3.2 ; extra == \"async\""]),
    "jinja2": ("3.1.6", ["MarkupSafe>=2.0", "Babel>=2.7; extra == 'i18n'"]),
    "werkzeug": ("3.1.9", ["markupsafe>=2.1.1", "watchdog>=2.3; extra == 'watchdog'"]),
    "markupsafe": ("3.0.4", []),
    "click": ("8.5.1", ["flask"]),  # a cycle back to the root is harmless
    "libvirt-python": ("12.8.0", []),
    "pytest": ("8.0.0", []),
}


def lookup(name: str) -> tuple[str, list[str]] | None:
    return INSTALLED.get(name)


def test_closure_follows_requirements_as_installed() -> None:
    found = wheelhouse.closure("provisioner", [], lookup)
    assert found == {"click": "8.5.1", "flask": "3.1.3", "jinja2": "3.1.6",
                     "markupsafe": "3.0.4", "provisioner": "0.1.0", "werkzeug": "3.1.9"}
    # importlib-metadata (marker false here, so not installed) and extras' deps are left out
    assert wheelhouse.pins(found) == ["click==8.5.1", "flask==3.1.3", "jinja2==3.1.6",
                                      "markupsafe==3.0.4", "werkzeug==3.1.9"]


def test_closure_with_an_extra_adds_only_that_extra() -> None:
    found = wheelhouse.closure("provisioner", ["agent"], lookup)
    assert "libvirt-python" in found and "pytest" not in found


def test_closure_refuses_a_root_that_is_not_installed() -> None:
    with pytest.raises(LookupError, match="not installed"):
        wheelhouse.closure("nosuch", [], lookup)


def test_a_dependency_the_checkout_added_but_not_installed_is_named() -> None:
    reqs = ["flask>=3", "prometheus-client>=0.17", "typing_extensions; python_version < '3.8'",
            "libvirt-python>=9; extra == 'agent'", "nosuch-extra; extra == 'postgresql'"]
    assert wheelhouse.missing(reqs, [], lookup) == ["prometheus-client>=0.17"]
    assert wheelhouse.missing(reqs, ["postgresql"], lookup) == [
        "prometheus-client>=0.17", "nosuch-extra"]
    assert wheelhouse.missing(["flask>=3", "libvirt-python>=9; extra == 'agent'"], ["agent"],
                              lookup) == []


def test_project_requirements_read_the_checkouts_pyproject(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = ["flask>=3"]\n'
        '[project.optional-dependencies]\nagent = ["libvirt-python>=9"]\ntest = ["pytest"]\n')
    reqs = wheelhouse.project_requirements(tmp_path / "pyproject.toml", ["agent"])
    assert reqs == ["flask>=3", "libvirt-python>=9; extra == 'agent'"]
    assert wheelhouse.missing(reqs, ["agent"], lambda n: None) == ["flask>=3", "libvirt-python>=9"]


@pytest.mark.parametrize("req, parsed", [
    ("Flask>=3.0", ("flask", frozenset(), None)),
    ("psycopg[binary,pool]>=3.1; extra == 'test'", ("psycopg", frozenset({"binary", "pool"}),
                                                     "test")),
    ('asgiref>=3.2 ; extra == "async"', ("asgiref", frozenset(), "async")),
    ("typing_extensions; python_version < '3.11'", ("typing-extensions", frozenset(), None)),
])
def test_requirement_parsing(req: str, parsed: tuple[str, frozenset[str], str | None]) -> None:
    assert wheelhouse.parse(req) == parsed


def test_closure_of_this_installation_has_the_runtime_dependencies() -> None:
    found = wheelhouse.closure("provisioner", [], wheelhouse.installed)
    for dep in ("flask", "sqlalchemy", "alembic", "pykickstart", "waitress", "pyroute2"):
        assert dep in found
    assert "pytest" not in found and "hypothesis" not in found  # the test extra's


# -- box recipe and cache key ------------------------------------------------------------------

def recipe(**changes: object) -> boxspec.Recipe:
    base = boxspec.Recipe(
        distro=boxspec.DISTROS["debian-12"], role=boxspec.ROLES["appliance"],
        uploads=(boxspec.Upload("/etc/a", b"one"), boxspec.Upload("/etc/b", b"two", 0o600)),
        pins=("flask==3.1.3",), project="p" * 64, extra={"mmdebstrap": "1.3.5"})
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


MUTATIONS = {
    "package list": dict(role=dataclasses.replace(boxspec.ROLES["appliance"],
                                                  packages=("pxelinux",))),
    "mirror": dict(distro=dataclasses.replace(
        boxspec.DISTROS["debian-12"], mirrors=("deb http://example.invalid/d bookworm main",))),
    "upload content": dict(uploads=(boxspec.Upload("/etc/a", b"ONE"),
                                    boxspec.Upload("/etc/b", b"two", 0o600))),
    "upload mode": dict(uploads=(boxspec.Upload("/etc/a", b"one"),
                                 boxspec.Upload("/etc/b", b"two", 0o644))),
    "upload path": dict(uploads=(boxspec.Upload("/etc/c", b"one"),
                                 boxspec.Upload("/etc/b", b"two", 0o600))),
    "pinned version": dict(pins=("flask==3.1.4",)),
    "project sources": dict(project="q" * 64),
    "tool version": dict(extra={"mmdebstrap": "1.4.0"}),
    "role": dict(role=boxspec.ROLES["host"]),
}


@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_cache_key_changes_with_every_input(what: str) -> None:
    assert boxspec.cache_key(recipe(**MUTATIONS[what])) != boxspec.cache_key(recipe())


def test_cache_key_is_stable() -> None:
    assert boxspec.cache_key(recipe()) == boxspec.cache_key(recipe())
    assert len(boxspec.cache_key(recipe())) == 16


def test_mmdebstrap_command_makes_a_minbase_box_with_the_project_offline() -> None:
    r = recipe(uploads=(boxspec.Upload("/etc/initramfs-tools/conf.d/x", b"MODULES=list",
                                       early=True),
                        boxspec.Upload("/home/vagrant/.ssh/authorized_keys", b"key", 0o600)))
    argv = boxspec.mmdebstrap_argv(r, "/w/rootfs", "/w/wheelhouse", "/w/up", "/c/debs")
    assert argv[:3] == ["mmdebstrap", "--mode=root", "--variant=minbase"]
    assert argv[-5:] == ["bookworm", "/w/rootfs", *boxspec.DISTROS["debian-12"].mirrors]
    include = next(a for a in argv if a.startswith("--include="))
    for pkg in ("linux-image-cloud-amd64", "openssh-server", "sudo", "python3-venv", "pxelinux"):
        assert pkg in include.split("=", 1)[1].split(",")
    setup = [a.split("=", 1)[1] for a in argv if a.startswith("--setup-hook=")]
    custom = [a.split("=", 1)[1] for a in argv if a.startswith("--customize-hook=")]
    # the initramfs settings are in place before the kernel package builds its initramfs
    assert "upload /w/up/0 /etc/initramfs-tools/conf.d/x" in setup
    assert "upload /w/up/1 /home/vagrant/.ssh/authorized_keys" in custom
    assert custom.index("upload /w/up/1 /home/vagrant/.ssh/authorized_keys") > next(
        i for i, h in enumerate(custom) if "useradd" in h)
    pip = next(h for h in custom if "pip install" in h)
    assert pip.startswith("unshare --net chroot") and "--no-index" in pip
    assert "env -i" in pip  # none of the builder's PIP_* settings reach the image
    # the VMs made from the box get their own identity
    cleanup = custom[-2]
    assert "ssh_host_" in cleanup and "machine-id" in cleanup
    assert all(".deb" not in h or "rm -f" in h or "cp" in h for h in custom)


def test_box_files_follow_vagrant_libvirts_format(tmp_path) -> None:
    meta = json.loads(boxspec.metadata_json(4))
    assert meta == {"provider": "libvirt", "format": "qcow2", "virtual_size": 4}
    vf = tmp_path / "Vagrantfile"
    vf.write_text(boxspec.box_vagrantfile())
    assert 'lv.kernel = File.expand_path("vmlinuz", __dir__)' in vf.read_text()
    assert "root=/dev/vda" in vf.read_text() and "net.ifnames=0" in vf.read_text()
    if shutil.which("ruby"):
        res = subprocess.run(["ruby", "-c", str(vf)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
    info = json.loads(boxspec.box_info(recipe(), "0123456789abcdef"))
    assert info["key"] == "0123456789abcdef" and info["name"] == "provisioner-appliance-debian-12"
    assert set(boxspec.box_members()) >= {"metadata.json", "Vagrantfile", "box.img"}


# -- progress --------------------------------------------------------------------------------

@pytest.mark.parametrize("line, found", [
    ("==> appliance: Uploading base box image as volume into Libvirt storage...",
     ("appliance", "box volume upload")),
    ("==> appliance: Waiting for domain to get an IP address...",
     ("appliance", "boot (until DHCP on the management NIC)")),
    ("==> appliance: Machine booted and ready!",
     ("appliance", "guest set-up (key, hostname, networks)")),
    ("==> appliance: Running provisioner: appliance (shell)...", ("appliance", "provisioning")),
    ("==> pxe1: lab: pxe1: dhcp (6 s)", ("pxe1", "network boot: DHCP")),
    ("==> pxe1: lab: pxe1: boot config (12 s)",
     ("pxe1", "network boot: boot config, kernel, initrd")),
    ("==> pxe1: lab: pxe1: done (36 s)", ("pxe1", "done")),
    ("    appliance: Running: inline script", None),
    ("Bringing machine 'appliance' up with 'libvirt' provider...", None),
])
def test_phase_of(line: str, found: tuple[str, str] | None) -> None:
    assert progress.phase_of(line) == found


def test_clean_drops_colour_and_progress_redraws() -> None:
    raw = "\x1b[0mProgress: 1%\rProgress: 99%\r\x1b[K==> box: Successfully added box\n\n  x  \n"
    assert progress.clean(raw) == ["==> box: Successfully added box", "  x"]


def test_phases_time_each_step_until_the_next() -> None:
    p = progress.Phases()
    p.start("a", 0.0)
    p.start("a", 1.0)  # the same phase again does not restart it
    p.start("b", 2.5)
    p.end(4.0)
    assert p.table() == [("a", 2.5), ("b", 1.5)]
    assert p.current == "b" and "a" in p.format()
