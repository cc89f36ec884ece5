"""Migration pre-flight: the seed's oracles (D1 §9.5) as named checks, and the command
builders."""

from __future__ import annotations

import pytest

from provisioner.platform.tables import table
from provisioner.remote import commands, preflight
from provisioner.remote.preflight import GuestInfo, Observed, guest_info
from provisioner.remote.uri import UriError

IMAGES = "/var/lib/libvirt/images"


def host(**kw):
    base = {"uuid": "u-src", "hypervisor": "kvm", "arch": "x86_64",
            "cpu": {"vendor": "Intel"}, "cpu_flags": ["nx", "sse2"],
            "libvirt_version": "9.0.0", "hypervisor_version": "7.2.0",
            "machines": ["pc", "pc-i440fx-7.2"], "bridges": ["br0"],
            "pools": [{"name": "images", "type": "dir", "path": IMAGES}],
            "free_mem_bytes": 8 * 2**30}
    return base | kw


SRC = host()
DST = host(uuid="u-dst")
GUEST = GuestInfo("RHEL4test", machine="pc-i440fx-7.2", cpu_mode=None, memory_kib=512 * 1024,
                  disks=(f"{IMAGES}/RHEL4test.img",), bridges=("br0",))
SEEN = Observed(cpu_compare=preflight.CPU_IDENTICAL, storage_seen={IMAGES: True},
                dest_has_name=False)


def run(src=SRC, dst=DST, guest=GUEST, seen=SEEN, **kw):
    return {c.name: c for c in preflight.preflight(src, dst, guest, seen, **kw)}


def test_every_table_row_has_a_predicate_and_back():
    names = [row["name"] for row in table("remote")["check"]]
    assert len(names) == len(set(names))
    assert set(names) == set(preflight._PREDICATES)


def test_all_pass_when_the_hosts_match():
    checks = run()
    bad = {n: (c.status, c.detail) for n, c in checks.items()
           if c.status not in ("pass", "unknown")}
    assert bad == {}
    assert {n for n, c in checks.items() if c.status == "unknown"} == {
        "same_release", "migration_ports"}
    assert checks["migration_ports"].fix.startswith("KVM: iptables")
    assert "READY: 0 failed" in preflight.report(list(checks.values()))


ORACLE = [
    ("shared storage path mismatch",
     dict(src=host(pools=[{"path": IMAGES, "source_host": "nfs1", "source_dir": "/exp"}]),
          dst=host(uuid="u-dst", pools=[{"path": "/mnt/images", "source_host": "nfs1",
                                         "source_dir": "/exp"}]),
          seen=Observed(storage_seen={IMAGES: None})),
     "shared_storage", "shared storage path mismatch"),
    ("bridges xenbr1 vs xenbr0",
     dict(src=host(bridges=["xenbr1"]), dst=host(uuid="u-dst", bridges=["xenbr0"]),
          guest=GuestInfo("g", bridges=("xenbr1",))),
     "same_bridges", "missing on the destination: xenbr1"),
    ("OS 5.4 vs 5.3", dict(src=host(os_release="5.4"), dst=host(uuid="u-dst", os_release="5.3")),
     "same_release", "5.4 -> 5.3"),
    ("ia64", dict(src=host(arch="ia64"), dst=host(uuid="u-dst", arch="ia64")),
     "supported_arch", "ia64: migration is not supported"),
    ("Xen host RHEL 5.0",
     dict(src=host(hypervisor="xen", os_release="5.0"),
          dst=host(uuid="u-dst", hypervisor="xen", os_release="5.0")),
     "xen_release", "needs 5.1 or later"),
    ("export /var/lib/xen",
     dict(src=host(pools=[{"path": IMAGES, "source_host": "nfs1",
                           "source_dir": "/var/lib/xen"}])),
     "not_var_lib_xen", "/var/lib/xen is used by xend"),
    ("same host twice", dict(dst=SRC), "distinct_hosts", "both hosts report host UUID u-src"),
    ("vendor", dict(dst=host(uuid="u-dst", cpu={"vendor": "AMD"})), "same_cpu_vendor",
     "same vendor: Intel -> AMD"),
    ("NX", dict(dst=host(uuid="u-dst", cpu_flags=["sse2"])), "same_nx", "NX bit"),
    ("hypervisor", dict(dst=host(uuid="u-dst", hypervisor="xen")), "same_hypervisor",
     "kvm -> xen"),
    ("CPU incompatible", dict(seen=Observed(cpu_compare=preflight.CPU_INCOMPATIBLE,
                                            storage_seen={IMAGES: True})),
     "cpu_compatible", "lacks features"),
    ("host-passthrough", dict(guest=GuestInfo("g", cpu_mode="host-passthrough")),
     "host_passthrough", "host-passthrough"),
    ("old libvirt on the destination", dict(dst=host(uuid="u-dst", libvirt_version="8.0.0")),
     "libvirt_version", "older than 9.0.0"),
    ("machine type", dict(dst=host(uuid="u-dst", machines=["pc-q35-7.2"])), "machine_type",
     "pc-i440fx-7.2 is not offered"),
    ("storage not shared", dict(seen=Observed(storage_seen={IMAGES: False})), "shared_storage",
     "does not see files written on the source"),
    ("no memory", dict(dst=host(uuid="u-dst", free_mem_bytes=100 * 2**20)),
     "destination_memory", "needs 512 MiB, 100 MiB free"),
    ("name taken", dict(seen=Observed(dest_has_name=True)), "name_free", "already has a guest"),
    ("xend relocation off",
     dict(src=host(hypervisor="xen", xend={"xend-relocation-server": "no"}),
          dst=host(uuid="u-dst", hypervisor="xen", xend={"xend-relocation-server": "yes"})),
     "xend_relocation", "not yes on the source"),
    ("xen port closed", dict(src=host(hypervisor="xen"), dst=host(uuid="u-dst", hypervisor="xen"),
                             seen=Observed(relocation_listening=False)),
     "migration_ports", "port 8002"),
]


@pytest.mark.parametrize("case,kw,name,text", ORACLE, ids=[o[0] for o in ORACLE])
def test_failures_name_the_condition_and_the_fix(case, kw, name, text):
    checks = run(**kw)
    c = checks[name]
    assert c.status == "fail", (case, c)
    assert text in c.detail
    assert c.fix
    assert "NOT READY" in preflight.report(list(checks.values()))


def test_copy_storage_and_force_turn_failures_into_pass_or_warn():
    checks = run(seen=Observed(storage_seen={IMAGES: False}), copy_storage=True)
    assert checks["shared_storage"].status == "pass"
    checks = run(guest=GuestInfo("g", cpu_mode="host-passthrough"), force=True)
    assert checks["host_passthrough"].status == "warn"


def test_empty_hosts_allow_is_a_warning():
    xend = {"xend-relocation-server": "yes", "xend-relocation-port": "8002",
            "xend-relocation-hosts-allow": ""}
    checks = run(src=host(hypervisor="xen", xend=xend),
                 dst=host(uuid="u-dst", hypervisor="xen", xend=xend))
    assert checks["xend_relocation"].status == "warn"
    assert "unencrypted" in checks["xend_relocation"].detail


def test_guest_info_from_domain_xml():
    xml = """<domain type='qemu'><name>g1</name><memory unit='KiB'>262144</memory>
      <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>
      <cpu mode='host-model'/>
      <devices>
        <disk type='file' device='disk'><source file='/var/lib/libvirt/images/g1.qcow2'/></disk>
        <disk type='file' device='cdrom'><source file='/iso/x.iso'/><readonly/></disk>
        <disk type='file' device='disk'><source file='/srv/ro.img'/><readonly/></disk>
        <interface type='bridge'><source bridge='br0'/></interface>
        <interface type='network'><source network='default'/></interface>
      </devices></domain>"""
    g = guest_info(xml, active=True)
    assert (g.name, g.arch, g.machine, g.cpu_mode, g.memory_kib) == (
        "g1", "x86_64", "pc-i440fx-7.2", "host-model", 262144)
    assert g.disks == ("/var/lib/libvirt/images/g1.qcow2",)
    assert g.bridges == ("br0",)


def test_command_builders_oracle():
    assert commands.virsh_migrate("RHEL4test", "qemu+ssh://test2.example.com/system") == \
        "virsh migrate --live RHEL4test qemu+ssh://test2.example.com/system"
    assert commands.virsh_migrate("GuestName", "qemu+ssh://h/system", live=False) == \
        "virsh migrate GuestName qemu+ssh://h/system"
    assert commands.virsh_migrate("g", "et-virt08") == "virsh migrate --live g " \
        "qemu+ssh://et-virt08/system"
    assert commands.xm_migrate("testvm1", "et-virt08") == "xm migrate --live testvm1 et-virt08"
    assert commands.virsh_save("testvm1", "testvm1.sav") == "virsh save testvm1 testvm1.sav"
    assert commands.virsh_restore("testvm1.sav") == "virsh restore testvm1.sav"
    with pytest.raises(UriError):
        commands.virsh_migrate("g; rm -rf /", "h")
    with pytest.raises(UriError):
        commands.xm_migrate("testvm1", "evil;x")


def test_nfs_export_oracle():
    assert commands.nfs_export(IMAGES, "*.example.com") == (
        "/var/lib/libvirt/images *.example.com(rw,no_root_squash,async)", [])
    line, warnings = commands.nfs_export(IMAGES, "*")
    assert line == "/var/lib/libvirt/images *(rw,no_root_squash,async)" and warnings
    with pytest.raises(UriError, match="xend"):
        commands.nfs_export("/var/lib/xen", "*")
    with pytest.raises(UriError):
        commands.nfs_export("relative", "*")


def test_reported_xend_settings_judge_relocation() -> None:
    """The settings a host's agent reported (doctor --send) replace an "unknown" verdict: the
    destination's hosts-allow must match the source by name or address (xend's regex rule)."""
    on = {"xend-relocation-server": "yes", "xend-relocation-port": "8002"}
    src = {**on, "xend-relocation-hosts-allow": "^xenb$"}
    dst = {**on, "xend-relocation-hosts-allow": "^xena\\.example\\.com$ ^192\\.0\\.2\\.5$"}
    unknown = preflight.Check("xend_relocation", "t", "D1", "unknown", "not known")
    other = preflight.Check("ports", "t", "D1", "unknown", "not known")

    def judged(names: tuple[str, ...], a=src, b=dst) -> preflight.Check:
        return preflight.with_reported_xend([unknown, other], a, b, names)[0]

    assert judged(("xena.example.com", "")).status == "pass"
    assert judged(("", "192.0.2.5")).status == "pass"
    bad = judged(("xenc.example.com", "192.0.2.6"))
    assert bad.status == "fail" and "matches neither xenc.example.com nor 192.0.2.6" in bad.detail
    assert judged(("xena.example.com",), b=None).status == "unknown"   # no report yet
    assert preflight.with_reported_xend([unknown, other], src, dst, ("x",))[1] is other
    passed = preflight.Check("xend_relocation", "t", "D1", "pass", "from libvirt")
    assert preflight.with_reported_xend([passed], src, dst, ("nope",)) == [passed]
