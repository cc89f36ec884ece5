"""Probe over the fixture hosts: parsers on the seed's samples, golden JSON per host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.facts import probe as p
from agent.facts.model import from_dict
from tests.agent.fixtures.hosts import HOSTS, facts_of, root_of

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "probe"

INTEL = """flags   : fpu tsc msr pae mce cx8 apic mtrr mca cmov pat pse36 clflush
        dts acpi mmx fxsr sse sse2 ss ht  tm syscall lm constant_tsc pni monitor ds_cpl
        vmx est tm2 cx16 xtpr lahf_lm
"""
AMD = """flags   :  fpu tsc msr pae mce cx8 apic mtrr mca cmov pat pse36 clflush
        mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt lm 3dnowext 3dnow pni cx16
        lahf_lm cmp_legacy svm cr8legacy ts fid vid ttp tm stc
"""


@pytest.mark.parametrize("text,ext,pae,lm,ctsc", [
    (INTEL, "vmx", True, True, True),
    (AMD, "svm", True, True, False),
    ("flags : fpu tsc pae nonstop_tsc\n", None, True, False, False),
], ids=["seed intel sample", "seed amd sample", "no extensions, nonstop_tsc is not constant_tsc"])
def test_cpuinfo_flags(text, ext, pae, lm, ctsc):
    cpu = p.parse_cpuinfo("processor : 0\n" + text)
    assert cpu.virt_extension == ext
    assert cpu.has("pae") is pae and cpu.has("lm") is lm
    assert cpu.constant_tsc is ctsc


@pytest.mark.parametrize("release,xen", [
    ("2.6.18-159.el5xen", True), ("2.6.18-159.el5", False), ("6.1.0-18-amd64", False),
], ids=["xen kernel", "default kernel", "debian kernel"])
def test_is_xen_kernel(release, xen):
    assert p.is_xen_kernel(release) is xen


@pytest.mark.parametrize("modules,want", [
    ("kvm_intel 85992 1 - Live 0\nkvm 222368 2 ksm,kvm_intel, Live 0\n", ("kvm", "kvm_intel")),
    ("kvm_amd 1 0 - Live 0\nkvm 2 1 kvm_amd, Live 0\n", ("kvm", "kvm_amd")),
    ("bridge 5 0 - Live 0\n", ()),
], ids=["seed lsmod intel", "amd", "not loaded"])
def test_kvm_modules(modules, want):
    assert p.kvm_modules(modules) == want


@pytest.mark.parametrize("dsdt,caps,want", [
    ("DSDT\x00\x01...int-xen...", None, "hvm"),
    ("DSDT\x00\x01...int-xen...", "control_d\n", "hvm"),        # the script checks HVM first
    (None, "control_d\n", "dom0"),
    ("DSDT Intel BOCHS", "", "domU"),
    (None, None, None),
], ids=["full-virt x86hvm", "hvm-first", "dom0", "para-virt domU", "baremetal"])
def test_guest_type_oracle_t10(dsdt, caps, want):
    """E oracle T10 (seed 28.7's script)."""
    assert p.xen_role(caps, dsdt) == want


def test_probe_reads_the_dsdt(tmp_path):
    (tmp_path / "sys/firmware/acpi/tables").mkdir(parents=True)
    (tmp_path / "sys/firmware/acpi/tables/DSDT").write_bytes(b"DSDT\x9c\xffXen int-xen\x00")
    assert p.probe(tmp_path).kernel.xen_role == "hvm"


@pytest.mark.parametrize("text,dev", [
    ("default via 192.168.1.1 dev wlan0\n", "wlan0"),
    ("default dev ppp0 scope link\n", "ppp0"),
    ("10.0.0.0/8 dev eth0\n", None),
], ids=["via gateway", "ppp without gateway (seed awk bug)", "no default route"])
def test_default_route_dev_from_text(text, dev):
    assert p.default_route_dev_from_text(text) == dev


@pytest.mark.parametrize("rh,osr,want", [
    ("Red Hat Enterprise Linux Server release 5.4 (Tikanga)\n", None, ("rhel", "rhel", "5.4")),
    (None, 'ID=debian\nVERSION_ID="12"\n', ("debian", "debian", "12")),
    (None, 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n',
     ("rocky", "rhel", "9.3")),
    ("CentOS release 5.3 (Final)\n", None, ("centos", "rhel", "5.3")),
], ids=["rhel5 redhat-release", "debian os-release", "rhel-like os-release", "centos 5"])
def test_distro(rh, osr, want):
    d = p.parse_distro(rh, osr)
    assert (d.id, d.family, d.version) == want


@pytest.mark.parametrize("host", HOSTS)
def test_probe_golden(host, golden):
    facts = facts_of(host)
    text = json.dumps(facts.to_dict(), indent=2, sort_keys=True) + "\n"
    golden(GOLDEN / f"{host}.json", text)
    assert facts.warnings == ()


def test_probe_facts_round_trip():
    for host in HOSTS:
        facts = facts_of(host)
        again = from_dict(json.loads(json.dumps(facts.to_dict())))
        assert again.network == facts.network and again.cpu == facts.cpu


def test_probe_summary_per_host():
    xen = facts_of("rhel5-xen")
    assert (xen.hypervisor, xen.kernel.xen_role, xen.bootloader.kind) == \
        ("xen", "dom0", "grub-legacy")
    assert not xen.cpu.constant_tsc and xen.cpu.virt_extension == "svm"
    kvm = facts_of("rhel54-kvm")
    assert kvm.hypervisor == "kvm" and kvm.network.network_manager
    assert kvm.network.default_route_dev == "eth0"
    assert kvm.network.bridge("virbr0").stp is True
    r9 = facts_of("rhel9-nm")
    assert (r9.bootloader.kind, r9.bootloader.grubby) == ("grub2", True)
    assert r9.distro.version_tuple == (9, 3) and r9.network.network_manager
    deb = facts_of("debian12")
    assert (deb.bootloader.kind, deb.bootloader.grubby, deb.libvirt_reachable) == \
        ("grub2", False, False)
    assert deb.distro.family == "debian" and not deb.cpu.constant_tsc


def test_probe_empty_root_is_not_an_error(tmp_path):
    facts = p.probe(tmp_path, None)
    assert facts.distro.id == "" and facts.bootloader.kind is None


def test_probe_bad_ip_json_is_a_warning():
    from agent.run import FakeRunner
    r = FakeRunner({"ip -j -d link show": "not json", "ip -j addr show": "[]",
                    "ip -j route show": "[]"})
    facts = p.probe(root_of("debian12"), r)
    assert any("cannot parse" in w for w in facts.warnings)


def test_probe_elilo_on_itanium(tmp_path):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/arch").write_text("ia64\n")
    (tmp_path / "proc/sys/kernel/osrelease").write_text("2.6.18-92.el5xen\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/elilo.conf").write_text("image=vmlinuz-2.6.18-92.el5xen\n\tvmm=xen.gz\n")
    (tmp_path / "etc/redhat-release").write_text(
        "Red Hat Enterprise Linux Server release 5.2 (Tikanga)\n")
    facts = p.probe(tmp_path, None)
    assert (facts.bootloader.kind, facts.bootloader.config) == ("elilo", "/etc/elilo.conf")
    assert facts.kernel.is_xen and facts.hypervisor == "xen"


@pytest.mark.parametrize("answer,want", [("running\n", True), ("asleep\n", False)],
                         ids=["nmcli says running", "nmcli says not running"])
def test_network_manager_from_nmcli(answer, want):
    from tests.agent.fixtures.hosts import runner_for
    runner = runner_for("debian12")
    runner.table = {**runner.table, "nmcli -t -f RUNNING general": answer}
    assert p.probe(root_of("debian12"), runner).network.network_manager is want
