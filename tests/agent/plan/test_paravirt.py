"""Paravirt planner: the seed's validation table, packages, module config, host rewrites,
kickstart %post rendering, goldens over the fixture hosts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.apply.applier import apply
from agent.apply.system import FakeSystem, RealSystem
from agent.plan import paravirt as pv
from agent.plan.steps import Command, FileStep, Manual, PlanError
from agent.run import FakeRunner, Result
from provisioner.platform.tables import pv_matrix
from tests.agent.fixtures.hosts import HOSTS, copy_root, facts_of, runner_for

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "paravirt"
H = pv.host_facts


def W(**kw) -> pv.PvWant:
    return pv.PvWant(**kw)


@pytest.mark.parametrize("host,want,code", [
    (H("xen", "5.0"), W(guest_version="5.2"), "E_HOST_TOO_OLD"),
    (H("xen", "5.1"), W(guest_version="3.8"), "E_GUEST_TOO_OLD"),
    (H("xen", "5.1"), W(guest_version="4.5"), "E_GUEST_TOO_OLD"),
    (H("xen", "5.1"), W(guest_version="4.2"), "E_GUEST_TOO_OLD"),
    (H("xen", "5.1"), W(guest_version="5.0"), "E_GUEST_TOO_OLD"),
    (H("xen", "5.1"), W(guest_version="2.1"), "E_GUEST_UNSUPPORTED"),
    (H("xen", "5.2"), W(guest_version="5.2", guest_arch="ia64"), "E_ARCH_UNSUPPORTED"),
    (H("xen", "5.2"), W(guest_version="3.9", guest_kernel="kernel-smp-2.4.21-52.EL.i686",
                        cpu_vendor="intel"), "E_HOST_KERNEL_MISMATCH"),
    (H("kvm", "5.3"), W(guest_os="windows", guest_version="2008"), "E_HOST_TOO_OLD_FOR_VIRTIO"),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="xp", disks=(pv.Disk("/d.img"),)),
     "E_WINXP_NO_VIRTIO_BLOCK"),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="2003", nics=0,
                        disks=tuple(pv.Disk(f"/d{i}.img") for i in range(29))),
     "E_PCI_SLOTS_EXCEEDED"),
    (H("kvm", "5.4"), W(guest_version="4.7"), "E_GUEST_NO_VIRTIO"),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="2008",
                        disks=(pv.Disk("/boot.img", boot=True),)), "E_WOULD_NOT_BOOT"),
    (H("xen", "5.4"), W(guest_os="windows", guest_version="2003"), "E_SEE_WINDOWS_PV_GUIDE"),
    (H("xen", "5.4"), W(guest_version="5.4", disks=(pv.Disk("/b.img", boot=True),)),
     "E_BOOT_DISK_NOT_PV"),
    (H("xen", "5.4"), W(guest_version="5.4", nics=16), "E_TOO_MANY_NICS"),
    (H("xen", "5.4"), W(guest_version="5.4", disks=(pv.Disk("/x.img"),), host_tap_aio_in_use=100),
     "E_TAP_AIO_LIMIT"),
    (H("xen", "5.4"), W(guest_version="4.6", guest_kernel="kernel-PAE-2.6.9-67.EL.i686"),
     "E_KERNEL_VARIANT_UNSUPPORTED"),
], ids=["xen host 5.0", "rhel 3.8", "rhel 4.5", "rhel 4.2 (4 GA-U2)", "rhel 5.0", "rhel 2.1",
        "ia64 guest", "rhel3 i686-SMP on x86_64 host", "kvm 5.3 windows",
        "xp virtio disk", "29 virtio devices", "kvm rhel 4.7", "windows boot disk before drivers",
        "windows on xen", "xen boot disk as pv", "16 nics", "101st tap:aio",
        "PAE kernel on rhel4"])
def test_validation(host, want, code):
    with pytest.raises(PlanError) as exc:
        pv.plan_paravirt(host, want)
    assert exc.value.code == code


@pytest.mark.parametrize("host,want", [
    (H("xen", "5.1", "i686"), W(guest_version="3.9", guest_arch="i686", cpu_vendor="intel")),
    (H("xen", "5.1"), W(guest_version="4.6")),
    (H("xen", "5.2"), W(guest_version="5.2", guest_arch="i686")),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="2008")),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="xp")),
    (H("kvm", "5.4"), W(guest_os="windows", guest_version="2003", nics=0,
                        disks=tuple(pv.Disk(f"/d{i}.img") for i in range(28)))),
    (H("kvm", "5.4"), W(guest_version="5.3")),
    (H("kvm", "5.4"), W(guest_version="4.8")),
    (H("xen", "5.2"), W(guest_version="3.9", guest_kernel="kernel-2.4.21-52.EL.ia32e",
                        cpu_vendor="intel")),
    (H("xen", "5.2", "i686"), W(guest_version="3.9", guest_kernel="kernel-smp-2.4.21-52.EL.athlon",
                                cpu_vendor="amd")),
], ids=["rhel 3.9 i686 intel", "rhel 4.6", "32-bit guest on 64-bit host", "kvm 5.4 windows 2008",
        "xp virtio nic only", "28 devices", "kvm rhel 5.3", "kvm rhel 4.8", "rhel3 ia32e on x86_64",
        "rhel3 athlon-SMP on i686"])
def test_supported(host, want):
    pv.plan_paravirt(host, want)
    pv.plan_paravirt_host(host, want)


@pytest.mark.parametrize("version,packages,commands", [
    ("5.1", ["kmod-xenpv"], ["yum install kmod-xenpv*"]),
    ("4.6", ["modversions", "module-init-tools", "kmod-xenpv"],
     ["rpm -ivh modversions", "rpm -Uvh module-init-tools", "rpm -ivh kmod-xenpv*"]),
    ("3.9", ["kmod-xenpv"], ["rpm -ivh kmod-xenpv*"]),
    ("5.3", [], []), ("4.7", [], []),
], ids=["rhel 5.1", "rhel 4.6 order", "rhel 3.9", "rhel 5.3 built in", "rhel 4.7 built in"])
def test_packages_and_commands(version, packages, commands):
    host, want = H("xen", "5.2", "i686"), W(guest_version=version, guest_arch="i686")
    assert pv.pv_packages(host, want) == packages
    assert pv.pv_commands(host, want) == commands
    plan = pv.plan_paravirt(host, want)
    text = plan.describe()
    assert "alias eth0 xen-vnif" in text                      # aliases stay even when built in
    assert "at least 50 MB free in /lib" in text
    assert ("chkconfig kudzu off" in text) is version.startswith("5")
    if not packages:
        assert "no driver package needed" in text


def test_rhel3_steps_and_paths():
    src, rc = pv.rhel3_paths("smp", "0.1-5.el")
    assert src == "/lib/modules/2.4.21-52.ELsmp/extra/xenpv/0.1-5.el"
    assert rc == "insmod /lib/modules/$(uname -r)/extra/xenpv/0.1-5.el/xen-vbd.o"
    plan = pv.plan_paravirt(H("xen", "5.1", "i686"), W(guest_version="3.9", guest_arch="i686",
                                                     nics=2, cpu_vendor="intel"))
    inserts = [s.argv[2].rsplit("/", 1)[1] for s in plan.steps
               if isinstance(s, Command) and "insmod" in " ".join(s.argv)]
    assert inserts == ["xen-platform-pci.o", "xen-balloon.o", "xen-vbd.o", "xen-vnif.o"]
    modconf = next(s for s in plan.steps if isinstance(s, FileStep) and "modules.conf" in s.path)
    assert modconf.edit.apply("") == "alias eth0 xen-vnif\nalias eth1 xen-vnif\n"


def test_module_aliases_replace_and_stay_single():
    step = next(s for s in pv.plan_paravirt(H("xen", "5.4"), W(guest_version="5.4")).steps
                if isinstance(s, FileStep) and s.path == "/etc/modprobe.conf")
    once = step.edit.apply("alias eth0 8139too\nalias scsi_hostadapter ata_piix\n")
    assert once == "alias eth0 xen-vnif\nalias scsi_hostadapter ata_piix\n"
    assert step.edit.apply(once) == once


def test_modprobe_load_order_rhel5():
    plan = pv.plan_paravirt(H("xen", "5.4"), W(guest_version="5.4"))
    mods = [s.argv[1] for s in plan.steps if isinstance(s, Command) and s.argv[0] == "modprobe"]
    assert mods == ["xen-platform-pci", "xen-balloon", "xen-vnif", "xen-vbd"]


@pytest.mark.parametrize("dom0,noapic", [("5.1", True), ("5.2", False), ("5.4", False)],
                         ids=["dom0 5.1 needs noapic", "dom0 5.2 does not", "dom0 5.4 does not"])
def test_noapic_iff_dom0_51(dom0, noapic):
    plan = pv.plan_paravirt(H("xen", dom0), W(guest_version="5.2"))
    step = [s for s in plan.steps if isinstance(s, FileStep) and s.path == "/boot/grub/grub.conf"]
    assert bool(step) is noapic
    if noapic:
        line = "title x\n\tkernel /vmlinuz-2.6.9-67.EL ro root=/dev/VolGroup00/rhel4_x86_64 rhgb\n"
        out = step[0].edit.apply(line)
        assert out.endswith("rhgb noapic\n") and step[0].edit.apply(out) == out


def test_kernel_rpm_parser():
    k = pv.parse_kernel_rpm("kernel-PAE-2.6.18-53.1.4.el5.i686")
    assert (k.variant, k.version, k.release, k.arch, k.rhel) == (
        "PAE", "2.6.18", "53.1.4.el5", "i686", 5)
    assert pv.parse_kernel_rpm("kernel-2.6.18-53.1.4.el5.x86_64").variant == ""


def test_xm_rewrites():
    assert pv.strip_ioemu("type=ioemu, mac=00:16:3e:09:f0:12, bridge=xenbr0") == \
        "mac=00:16:3e:09:f0:12, bridge=xenbr0"
    got = pv.pv_disk_entries(["file:/var/lib/libvirt/images/rhel5_64_fv.dsk,hda,w"], (
        pv.Disk("/var/lib/libvirt/images/UserStorage1.dsk"),
        pv.Disk("/var/lib/libvirt/images/UserStorage2.dsk")))
    assert got == ["file:/var/lib/libvirt/images/rhel5_64_fv.dsk,hda,w",
                   "tap:aio:/var/lib/libvirt/images/UserStorage1.dsk,xvda,w",
                   "tap:aio:/var/lib/libvirt/images/UserStorage2.dsk,xvdb,w"]
    assert pv.pv_disk_entries([], (pv.Disk("/dev/sdb", backend="phy"),)) == ["phy:/dev/sdb,xvda,w"]
    assert [pv.minor(i, p) for i, p in ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1))] \
        == [0, 1, 2, 16, 17, 32, 33]


XM = '''name = "rhel5fv"
builder = "hvm"
memory = "512"
disk = [ "file:/var/lib/libvirt/images/rhel5_64_fv.dsk,hda,w"]
vif = [ 'type=ioemu, mac=00:16:3e:09:f0:12, bridge=xenbr0' ]
device_model = "/usr/lib64/xen/bin/qemu-dm"
'''


def test_host_plan_rewrites_xm_config_idempotently(tmp_path):
    root = copy_root("rhel5-xen", tmp_path)
    (root / "etc/xen/rhel5fv").write_text(XM)
    want = W(guest_version="5.4", guest_name="rhel5fv",
             disks=(pv.Disk("/var/lib/libvirt/images/UserStorage1.dsk"),))
    plan = pv.plan_paravirt_host(facts_of("rhel5-xen"), want)
    system = RealSystem(root, FakeRunner())
    assert apply(plan, system).changed == 1
    text = (root / "etc/xen/rhel5fv").read_text()
    assert "ioemu" not in text and "mac=00:16:3e:09:f0:12, bridge=xenbr0" in text
    assert 'disk = [ "file:/var/lib/libvirt/images/rhel5_64_fv.dsk,hda,w",\n' \
           '    "tap:aio:/var/lib/libvirt/images/UserStorage1.dsk,xvda,w" ]' in text
    assert text.startswith('name = "rhel5fv"\nbuilder = "hvm"\nmemory = "512"\n')
    assert apply(plan, system).changed == 0


def test_kvm_windows_host_plan_orders_iso_before_bus_change():
    want = W(guest_os="windows", guest_version="2008", drivers_installed=False,
             disks=(pv.Disk("/data.img"),))
    plan = pv.plan_paravirt_host(H("kvm", "5.4"), want)
    text = plan.describe()
    assert "yum install -y virtio-win" in text
    assert text.index("virtio-win.iso as an IDE cdrom") < text.index("bus='virtio'")
    assert "after the drivers are installed" in text


def test_kvm_linux_no_change_needed_and_initrd_for_virtio_root():
    plain = pv.plan_paravirt(H("kvm", "5.4"), W(guest_version="5.3"))
    assert all(isinstance(s, Manual) for s in plain.steps)
    root = pv.plan_paravirt(H("kvm", "5.4"), W(guest_version="5.4", virtio_boot_disk=True))
    assert any("mkinitrd" in " ".join(s.argv) for s in root.steps if isinstance(s, Command))


def test_guest_plan_applied_to_a_guest_root_twice(tmp_path):
    """The RHEL 5.4 fixture tree stands in for a guest's root; commands go to a fake runner."""
    loaded: set[str] = set()
    installed: set[str] = set()
    table = {"sh -c test \"$(df -Pm /lib | awk 'NR==2 {print $4}')\" -ge 50": "",
             "yum install -y kmod-xenpv*": lambda a: (installed.add("kmod-xenpv"),
                                                      Result(tuple(a), 0))[1],
             "rpm -q kmod-xenpv": lambda a: Result(tuple(a), 0 if installed else 1)}
    for mod in ("xen-platform-pci", "xen-balloon", "xen-vnif", "xen-vbd"):
        n = mod.replace("-", "_")
        table[f"modprobe {mod}"] = lambda a, n=n: (loaded.add(n), Result(tuple(a), 0))[1]
        table[f"grep -q ^{n}  /proc/modules"] = lambda a, n=n: Result(tuple(a), 0 if n in loaded
                                                                       else 1)
    kudzu = {"on": True}
    table["chkconfig kudzu off"] = lambda a: (kudzu.update(on=False), Result(tuple(a), 0))[1]
    table["sh -c ! chkconfig --list kudzu 2>/dev/null | grep -q :on"] = \
        lambda a: Result(tuple(a), 1 if kudzu["on"] else 0)
    root = copy_root("rhel54-kvm", tmp_path)
    system = RealSystem(root, FakeRunner(table))
    plan = pv.plan_paravirt(H("xen", "5.1"), W(guest_version="5.2", nics=2))
    first = apply(plan, system)
    assert first.ok, first.text()
    conf = (root / "etc/modprobe.conf").read_text()
    assert conf == "alias eth0 xen-vnif\nalias eth1 xen-vnif\n"
    assert "rhgb quiet noapic" in (root / "boot/grub/grub.conf").read_text()
    second = apply(plan, system)
    assert second.ok and second.changed == 0, second.text()


def test_precondition_failure_stops_before_changes():
    plan = pv.plan_paravirt(H("xen", "5.4"), W(guest_version="5.4"))
    system = FakeSystem(files={"/etc/modprobe.conf": "alias eth0 e1000\n"})
    report = apply(plan, system)      # the fake runner has no df: the precondition fails
    assert not report.ok and "precondition" in report.error
    assert system.files == {"/etc/modprobe.conf": "alias eth0 e1000\n"}


KS_CASES = {
    "xen-rhel52": (("xen", "5.1"), W(guest_version="5.2", nics=2)),
    "xen-rhel39": (("xen", "5.2", "i686"),
                   W(guest_version="3.9", guest_arch="i686", cpu_vendor="amd",
                     guest_kernel="kernel-2.4.21-52.EL.athlon")),
    "xen-rhel53": (("xen", "5.4"), W(guest_version="5.3")),
    "kvm-rhel54-virtio-root": (("kvm", "5.4"), W(guest_version="5.4", virtio_boot_disk=True)),
}


@pytest.mark.parametrize("case", list(KS_CASES))
def test_kickstart_post_golden_and_valid_shell(case, golden):
    spec, want = KS_CASES[case]
    text = pv.kickstart_post(spec, want)
    golden(GOLDEN / f"ks-{case}.txt", text)
    body = "\n".join(text.splitlines()[1:-1])
    assert subprocess.run(["bash", "-n"], input=body, text=True, timeout=30).returncode == 0
    assert text.startswith("%post\n") and text.endswith("%end\n")


def test_kickstart_post_passes_ksvalidator_when_available(tmp_path):
    pytest.importorskip("pykickstart")
    from pykickstart.parser import KickstartParser
    from pykickstart.version import makeVersion
    spec, want = KS_CASES["xen-rhel52"]
    ks = "install\nurl --url=http://x/\nrootpw x\n" + pv.kickstart_post(spec, want)
    parser = KickstartParser(makeVersion("RHEL5"))
    parser.readKickstartFromString(ks)
    assert "alias eth1 xen-vnif" in parser.handler.scripts[-1].script


PV_CASES = {
    "rhel5-xen": W(guest_version="5.2", guest_name="rhel5fv", nics=2),
    "rhel54-kvm": W(guest_os="windows", guest_version="2003", guest_name="win2k3",
                    disks=(pv.Disk("/var/lib/libvirt/images/win2k3.img", boot=True),),
                    drivers_installed=True),
    "rhel9-nm": W(guest_version="5.4", guest_name="legacy54", virtio_boot_disk=True),
    "debian12": W(guest_version="9.3", guest_name="r9"),
}


@pytest.mark.parametrize("host", HOSTS)
def test_paravirt_golden(host, golden, tmp_path):
    facts = facts_of(host)     # Debian: the RHEL host minimums do not apply
    want = PV_CASES[host]
    text = pv.plan_paravirt(facts, want).describe() + "\n" + \
        pv.plan_paravirt_host(facts, want).describe()
    golden(GOLDEN / f"{host}.txt", text)
    system = RealSystem(copy_root(host, tmp_path), runner_for(host))
    assert apply(pv.plan_paravirt(facts, want), system, dry_run=True) is not None


LSMOD = """Module                  Size  Used by
xen_vbd                19168  1
xen_vnif               28416  0
xen_balloon            15256  1 xen_vnif
xen_platform_pci       98520  3 xen_vbd,xen_vnif,xen_balloon,[permanent]
"""
PARTITIONS = """major minor  #blocks  name

  3        0      10485760  hda
  3        1        104391  hda1
  3        2      10377990  hda2
202        0         64000  xvdb
202        1         32000  xvdb1
202        2         32000  xvdb2
253        0       8257536  dm-0
253        1       2031616  dm-1
"""


def test_verification_parsers():
    mods = pv.parse_lsmod(LSMOD)
    assert mods == {"xen_vbd", "xen_vnif", "xen_balloon", "xen_platform_pci"}
    assert pv.pv_loaded(mods) and not pv.pv_loaded(mods - {"xen_vbd"})
    parts = pv.parse_proc_partitions(PARTITIONS)
    assert parts["xvdb"] == (202, 0) and parts["hda2"] == (3, 2) and parts["dm-1"] == (253, 1)
    assert len(parts) == 8 and any(major == 202 for major, _ in parts.values())
    assert pv.insmod_outcome("xen-platform-pci.o: unresolved symbol __ioremap_R9eac042a") \
        == "wrong-rpm"
    assert pv.insmod_outcome("Warning: kernel-module version mismatch\n"
                             "Module xen-platform-pci loaded, with warnings") == "ok-with-warnings"


def test_rhel4_fallback_and_helpers():
    assert pv.rhel4_vbd_fallback("0.1-5.el") == \
        "insmod /lib/modules/$(uname -r)/weak-updates/xenpv/0.1-5.el/xen-vbd.ko"
    plan = pv.plan_paravirt(H("xen", "5.2"), W(guest_version="4.6"))
    rc = next(s for s in plan.steps if isinstance(s, FileStep) and s.path == "/etc/rc.local")
    assert pv.rhel4_vbd_fallback("0.1-5.el") in rc.edit.apply("")
    assert pv.INSTALL_DIR_TEMPLATE == "/lib/modules/[%kversion][%kvariant]/extra/xenpv/%release"
    assert pv_matrix()["xen"]["modules"] == ["xen-platform-pci", "xen-balloon", "xen-vbd",
                                             "xen-vnif"]
    assert (pv.network_tool(3), pv.network_tool(5)) == ("redhat-config-network",
                                                        "system-config-network")
    assert pv.modprobe_aliases(2) == ["alias eth0 xen-vnif", "alias eth1 xen-vnif"]
