"""Resolution tables: system > profile > parent profiles > distro > settings, with sources."""

from __future__ import annotations

import pytest

from provisioner.core.select import (
    default_kickstart,
    merge_kernel_options,
    profile_chain,
    resolve,
)
from provisioner.errors import Invalid, NotFound
from provisioner.models import Profile, System, VmDefaults
from tests.fixtures import BASE, DISTRO, SYSTEM, WEB

MERGE_CASES = {
    "nothing": ([], ""),
    "one layer kept as is": (["quiet console=tty0"], "quiet console=tty0"),
    "later layer overrides a key": (["a=1 b=2", "a=3"], "a=3 b=2"),
    "flag becomes valued": (["quiet", "quiet=0"], "quiet=0"),
    "new keys append in order": (["a=1", "b=2", "c=3"], "a=1 b=2 c=3"),
    "repeated key within a layer kept": (["console=tty0 console=ttyS0,115200"],
                                         "console=tty0 console=ttyS0,115200"),
    "override replaces all repeats": (["console=tty0 console=ttyS0", "console=hvc0"],
                                      "console=hvc0"),
    "minus removes a key": (["a=1 rhgb quiet", "-rhgb"], "a=1 quiet"),
    "empty and None layers skipped": (["a=1", None, ""], "a=1"),
    "quoted value with space": (['x="a b"'], "x='a b'"),
}


@pytest.mark.parametrize("layers,want", MERGE_CASES.values(), ids=MERGE_CASES.keys())
def test_merge_kernel_options(layers, want):
    assert merge_kernel_options(layers) == want


def test_unbalanced_quote_is_invalid():
    with pytest.raises(Invalid) as exc:
        merge_kernel_options(['a="b'])
    assert exc.value.field == "kernel_options"


PROFILES = {p.name: p for p in (BASE, WEB)}
LOOP = {"a": Profile("a", parent="b"), "b": Profile("b", parent="c"), "c": Profile("c", parent="a")}

CHAIN_CASES = {
    "root profile": (PROFILES, "base", ["base"], None),
    "child then parent": (PROFILES, "web", ["web", "base"], None),
    "missing profile": (PROFILES, "nope", None, NotFound),
    "missing parent": ({"x": Profile("x", parent="gone")}, "x", None, NotFound),
    "cycle": (LOOP, "a", None, Invalid),
}


@pytest.mark.parametrize("profiles,name,want,err", CHAIN_CASES.values(), ids=CHAIN_CASES.keys())
def test_profile_chain(profiles, name, want, err):
    if err:
        with pytest.raises(err):
            profile_chain(name, profiles.get)
    else:
        assert [p.name for p in profile_chain(name, profiles.get)] == want


SYS = SYSTEM
BARE = System(name="bare", profile="web")
RESOLVE_CASES = {
    # key: (system, key, value, source)
    "system ram beats profiles": (SYS, "ram_mb", 4096, "system"),
    "profile ram without system value": (BARE, "ram_mb", 2048, "profile:base"),
    "child profile disk": (BARE, "disk_gb", 20, "profile:web"),
    "parent profile vcpus": (BARE, "vcpus", 2, "profile:base"),
    "settings default bus": (BARE, "disk_bus", "virtio", "settings"),
    "settings default hypervisor": (BARE, "hypervisor", "kvm", "settings"),
    "interface bridge beats profile": (SYS, "bridge", "br0", "system"),
    "profile bridge when interface has none": (BARE, "bridge", "br-web", "profile:web"),
    "kickstart from parent profile": (BARE, "kickstart", "rhel9-guest.ks", "profile:base"),
    "tree from distro": (SYS, "tree_url", "http://mirror.example/rhel9", "distro:rhel9-x86_64"),
    "os version from distro": (SYS, "os_version", "rhel9", "distro:rhel9-x86_64"),
    "arch from distro": (SYS, "arch", "x86_64", "distro:rhel9-x86_64"),
    "hostname from system": (SYS, "hostname", "web01.lab.example", "system"),
    "hostname falls back to name": (BARE, "hostname", "bare", "system"),
    "kernel options merged all layers": (
        SYS, "kernel_options", "quiet=0 console=ttyS0 ip=dhcp nomodeset",
        "system+profile:web+profile:base+distro:rhel9-x86_64"),
    "metadata merged, specific wins": (
        SYS, "metadata", {"timezone": "UTC", "packages": ["@core"], "role": "frontend"},
        "system+profile:web+profile:base"),
}


@pytest.mark.parametrize("system,key,value,source", RESOLVE_CASES.values(),
                         ids=RESOLVE_CASES.keys())
def test_resolve(system, key, value, source):
    got = resolve(DISTRO, (WEB, BASE), system)[key]
    assert (got.value, got.source) == (value, source)


def test_resolve_profile_only_has_every_key():
    values = resolve(DISTRO, (BASE,), None)
    assert set(values) == {"kernel_options", "ram_mb", "vcpus", "disk_gb", "disk_bus", "bridge",
                           "hypervisor", "virt_type", "tree_url", "kernel", "initrd", "os_version",
                           "arch", "breed", "kickstart", "metadata", "hostname"}
    assert values["hostname"].source == "settings"


def test_system_vm_overrides_profile_key_by_key():
    system = System(name="s", profile="web",
                    vm=VmDefaults(vcpus=8, hypervisor="xen", virt_type="pv"))
    values = resolve(DISTRO, (WEB, BASE), system)
    keys = ("vcpus", "ram_mb", "hypervisor", "virt_type")
    assert [(values[k].value, values[k].source) for k in keys] == [
        (8, "system"), (2048, "profile:base"), ("xen", "system"), ("pv", "system")]


KS_CASES = {"rhel5.4": ("rhel5.4", "rhel5-guest.ks"), "rhel6": ("rhel6", "rhel5-guest.ks"),
            "rhel9": ("rhel9", "rhel9-guest.ks"), "fedora39": ("fedora39", "rhel9-guest.ks")}


@pytest.mark.parametrize("os_version,want", KS_CASES.values(), ids=KS_CASES.keys())
def test_default_kickstart(os_version, want):
    assert default_kickstart(os_version) == want
