"""Placement decisions, one table row per scenario (seed A1 1-4, 6.2; A2 10.2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioner.core.scheduler import HostView, Request, host_view, judge, place

NOW = 1_000_000.0
KVM = HostView("host1", cores=4, threads=8, ram_mb=16384, disk_free_gb=100.0, hypervisor="kvm",
               bridges=("br0",), last_seen=NOW - 5)
REQ = Request(vcpus=2, ram_mb=2048, disk_gb=10, network="br0")

# (scenario, request changes, host changes, error codes, warning codes)
JUDGE = [
    ("fits", {}, {}, [], []),
    ("RAM larger than host minus 2 GB reserve", {"ram_mb": 14337}, {}, ["RAM_EXCEEDS_HOST"], []),
    ("RAM exactly host minus reserve", {"ram_mb": 14336}, {}, [], []),
    ("KVM memory overcommit warns", {"ram_mb": 4096}, {"used_ram_mb": 12000}, [],
     ["RAM_OVERCOMMIT"]),
    ("seed oracle 45: Xen 4096 MB host, 2048 used, +512 warns", {"ram_mb": 512},
     {"hypervisor": "xen", "ram_mb": 4096, "used_ram_mb": 2048}, [], ["RAM_OVERCOMMIT"]),
    ("Xen cannot overcommit past physical RAM", {"ram_mb": 2048},
     {"hypervisor": "xen", "ram_mb": 8192, "used_ram_mb": 6400}, ["RAM_OVERCOMMIT_XEN"], []),
    ("seed oracle 43: 4 cores, 40 vCPUs allowed with warning", {"vcpus": 2},
     {"used_vcpus": 38}, [], ["VCPU_OVERCOMMIT"]),
    ("seed oracle 43: 41 vCPUs on 4 cores refused", {"vcpus": 3}, {"used_vcpus": 38},
     ["VCPU_OVER_10_PER_CORE"], []),
    ("seed oracle 43: 5 vCPUs on 4 cores warns", {"vcpus": 5}, {"threads": 8}, [],
     ["VCPU_OVERCOMMIT"]),
    ("more vCPUs than logical CPUs warns", {"vcpus": 9}, {}, [], ["VCPU_OVERCOMMIT"]),
    ("Xen has no 10-per-core rule", {"vcpus": 3}, {"hypervisor": "xen", "used_vcpus": 38}, [],
     ["VCPU_OVERCOMMIT"]),
    ("disk larger than free space", {"disk_gb": 95}, {"used_disk_gb": 10},
     ["DISK_EXCEEDS_HOST"], []),
    ("disk unknown is not checked", {"disk_gb": 5000}, {"disk_free_gb": None}, [], []),
    ("seed oracle 46: host below 6 GB free disk", {"disk_gb": 1}, {"disk_free_gb": 5.0},
     ["HOST_BELOW_MINIMUM_DISK"], []),
    ("seed oracle 46: host below 2 GB RAM", {"ram_mb": 256}, {"ram_mb": 1024},
     ["HOST_BELOW_MINIMUM_RAM", "RAM_EXCEEDS_HOST"], []),
    ("seed oracle 46: both minimums, each reported", {"ram_mb": 256, "disk_gb": 1},
     {"ram_mb": 1024, "disk_free_gb": 5.0},
     ["HOST_BELOW_MINIMUM_RAM", "HOST_BELOW_MINIMUM_DISK", "RAM_EXCEEDS_HOST"], []),
    ("no hypervisor on host", {}, {"hypervisor": None}, ["NO_HYPERVISOR"], []),
    ("profile wants Xen, host runs KVM", {"hypervisor": "xen"}, {}, ["HYPERVISOR_MISMATCH"], []),
    ("KVM on a non-x86_64 host", {}, {"arch": "ia64"}, ["KVM_NEEDS_X86_64"], []),
    ("bridge missing on host", {"network": "installation"}, {}, ["BRIDGE_MISSING"], []),
    ("V8: NAT network cannot PXE", {"network": "network:default"}, {}, ["PXE_NEEDS_BRIDGE"], []),
    ("no network named and host has no bridge", {"network": ""}, {"bridges": ()},
     ["BRIDGE_MISSING"], []),
    ("stale agent only warns", {}, {"last_seen": NOW - 3600}, [], ["HOST_STALE"]),
    ("vCPUs over libvirt's per-guest maximum", {"vcpus": 300}, {"max_vcpus": 288, "cores": 64},
     ["VCPU_OVER_HOST_MAX"], []),
    ("vCPUs at libvirt's maximum", {"vcpus": 288}, {"max_vcpus": 288, "cores": 64,
                                                     "threads": 288}, [], ["VCPU_OVERCOMMIT"]),
]


@pytest.mark.parametrize("req_changes,host_changes,errors,warnings",
                         [r[1:] for r in JUDGE], ids=[r[0] for r in JUDGE])
def test_judge(req_changes, host_changes, errors, warnings) -> None:
    verdict = judge(replace(REQ, **req_changes), replace(KVM, **host_changes), NOW)
    assert [e.code for e in verdict.errors] == errors
    assert [w.code for w in verdict.warnings] == warnings


def test_messages_say_exactly_what_is_wrong() -> None:
    v = judge(replace(REQ, ram_mb=20000), KVM, NOW)
    assert v.errors[0].field == "ram_mb"
    assert v.errors[0].message == ("20000 MiB does not fit on host1: it has 16384 MiB, of which "
                                   "2048 MiB stay with the host, so at most 14336 MiB")
    v = judge(replace(REQ, vcpus=3), replace(KVM, used_vcpus=38), NOW)
    assert v.errors[0].message == ("host1 has 4 physical cores: KVM supports at most 40 vCPUs "
                                   "(10 per core); 38 are in use, so at most 2 more")


SMALL = replace(KVM, name="small", ram_mb=4096)
BIG = replace(KVM, name="big", ram_mb=32768)
XEN = replace(KVM, name="xen1", hypervisor="xen")
STALE = replace(KVM, name="aaa-stale", ram_mb=65536, last_seen=NOW - 9999)

# (scenario, request changes, hosts, chosen host or None, error codes)
PLACE = [
    ("most free RAM wins", {}, [SMALL, BIG], "big", []),
    ("only the host that fits", {"ram_mb": 8192}, [SMALL, XEN], "xen1", []),
    ("tie broken by name", {}, [replace(KVM, name="b"), replace(KVM, name="a")], "a", []),
    ("fresh host preferred over stale one", {}, [STALE, SMALL], "small", []),
    ("stale host used when it is the only one", {}, [STALE], "aaa-stale", []),
    ("hypervisor filter", {"hypervisor": "xen"}, [BIG, XEN], "xen1", []),
    ("requested host honoured", {"host": "small"}, [SMALL, BIG], "small", []),
    ("requested host that cannot take it", {"host": "small", "ram_mb": 8192}, [SMALL, BIG], None,
     ["RAM_EXCEEDS_HOST"]),
    ("requested host unknown", {"host": "nope"}, [SMALL], None, ["NO_SUCH_HOST"]),
    ("no hosts registered", {}, [], None, ["NO_HOSTS"]),
    ("no host fits, the same field on each: said on that field only", {"ram_mb": 100000},
     [SMALL, BIG], None, ["RAM_EXCEEDS_HOST", "RAM_EXCEEDS_HOST"]),
    ("no host fits for host reasons: the host field sums them up", {},
     [replace(SMALL, hypervisor=None), replace(BIG, ram_mb=1024)], None,
     ["NO_HOST_FITS"]),
    ("no host fits for different reasons", {"ram_mb": 8192, "network": "br1"},
     [SMALL, replace(BIG, bridges=("br0",))], None, ["NO_HOST_FITS", "BRIDGE_MISSING",
                                                    "BRIDGE_MISSING"]),
]


@pytest.mark.parametrize("req_changes,hosts,chosen,errors", [r[1:] for r in PLACE],
                         ids=[r[0] for r in PLACE])
def test_place(req_changes, hosts, chosen, errors) -> None:
    p = place(replace(REQ, **req_changes), hosts, NOW)
    assert p.host == chosen
    assert [e.code for e in p.errors] == errors


def test_no_host_fits_names_every_host_once() -> None:
    p = place(REQ, [replace(SMALL, hypervisor=None), replace(BIG, disk_free_gb=2.0)], NOW)
    assert [e.message for e in p.errors] == [
        "no registered host can take this order: big has 2.0 GiB free for images, below the "
        "minimum system requirement of 6 GiB; big: 10 GiB does not fit on big: 2.0 GiB free for "
        "images; small runs no hypervisor (no KVM modules, not a Xen kernel)"]


def test_messages_agree_in_number() -> None:
    """Issue 15 item 7: "1 are in use" and "1 physical cores" read wrong."""
    one_core = replace(KVM, cores=1, threads=1, used_vcpus=1)
    v = judge(replace(REQ, vcpus=10), one_core, NOW)
    assert v.errors[0].message == ("host1 has 1 physical core: KVM supports at most 10 vCPUs "
                                   "(10 per core); 1 is in use, so at most 9 more")
    v = judge(replace(REQ, vcpus=1), replace(KVM, cores=1, threads=2, used_vcpus=1), NOW)
    assert v.warnings[0].message == ("2 vCPUs in total on host1 overcommit its 1 physical core")


def test_stale_threshold_is_the_hosts_setting() -> None:
    fresh = replace(KVM, last_seen=NOW - 5, stale_after=10)
    assert not fresh.stale(NOW) and replace(fresh, stale_after=2).stale(NOW)
    assert [w.code for w in judge(REQ, replace(fresh, stale_after=2), NOW).warnings] == \
        ["HOST_STALE"]


def test_host_view_from_agent_facts() -> None:
    facts = {"cpu": {"cores": 2, "threads": 4}, "mem_kib": 8 * 2**20, "hypervisor": "kvm",
             "image_dir_free_bytes": 50 * 2**30, "kernel": {"arch": "x86_64"},
             "network": {"bridges": [{"name": "br0", "ports": ["eth0"]}]}}
    v = host_view("h", facts, {}, NOW, placed=[(1, 512, 5), (2, 1024, 5)])
    assert (v.cores, v.threads, v.ram_mb, v.disk_free_gb, v.hypervisor, v.bridges) == \
        (2, 4, 8192, 50.0, "kvm", ("br0",))
    assert (v.used_vcpus, v.used_ram_mb, v.used_disk_gb) == (3, 1536, 10)
    assert v.free_ram_mb == 8192 - 2048 - 1536


def test_host_view_capacity_overrides_facts() -> None:
    v = host_view("h", {"cpu": {"cores": 2}}, {"vcpus": 8, "ram_mb": 4096, "bridges": ["brx"],
                                                "hypervisor": "kvm"})
    assert (v.cores, v.threads, v.ram_mb, v.bridges, v.disk_free_gb) == (2, 8, 4096, ("brx",),
                                                                         None)


def test_host_view_takes_the_agents_reported_limits() -> None:
    cap = {"domain_types": ["qemu", "kvm"], "max_vcpus": {"kvm": 288, "qemu": 255},
           "pools": {"default": 40 * 2**30}, "disk_free_gb": 500}
    view = host_view("h", {"cpu": {"cores": 4, "threads": 8}}, cap)
    assert (view.max_vcpus, view.disk_free_gb) == (288, 40.0)
    v = judge(replace(REQ, disk_gb=50, vcpus=300), replace(view, bridges=("br0",),
                                                           ram_mb=16384, last_seen=NOW), NOW)
    assert [e.message for e in v.errors] == [
        "300 vCPUs: h allows at most 288 per guest (its libvirt domain capabilities for kvm)",
        "50 GiB does not fit on h: 40.0 GiB free in storage pool 'default'"]


def test_host_view_libvirt_qemu_driver_counts_as_kvm() -> None:
    assert host_view("h", {}, {"domain_types": ["qemu"]}).hypervisor == "kvm"
    assert host_view("h", {}, {"domain_types": []}).hypervisor is None
