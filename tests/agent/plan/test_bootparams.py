"""Boot parameters: the seed's clock table, GRUB legacy / GRUB 2 / ELILO edits, goldens."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.apply.applier import apply
from agent.apply.system import RealSystem
from agent.plan import bootparams as bp
from agent.plan import grub as g
from agent.plan.steps import PlanError
from agent.run import FakeRunner
from tests.agent.fixtures.hosts import HOSTS, copy_root, facts_of, runner_for

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "bootparams"

GRUB_54 = """default=1
timeout=5
splashimage=(hd0,0)/grub/splash.xpm.gz
hiddenmenu
title Red Hat Enterprise Linux Server (2.6.18-159.el5)
        root (hd0,0)
        kernel /vmlinuz-2.6.18-159.el5 ro root=/dev/VolGroup00/LogVol00 rhgb quiet
        initrd /initrd-2.6.18-159.el5.img
title Red Hat Enterprise Linux Server (2.6.18-159.el5xen)
        root (hd0,0)
        kernel /xen.gz-2.6.18-159.el5
        module /vmlinuz-2.6.18-159.el5xen ro root=/dev/VolGroup00/LogVol00 rhgb quiet
        module /initrd-2.6.18-159.el5xen.img
"""

GRUB_285 = """#boot=/dev/sda
default=0
timeout=15
#splashimage=(hd0,0)/grub/splash.xpm.gz hiddenmenu
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal --timeout=10 serial console

title Red Hat Enterprise Linux Server (2.6.17-1.2519.4.21.el5xen)
        root (hd0,0)
        kernel /xen.gz-2.6.17-1.2519.4.21.el5 com1=115200,8n1
        module /vmlinuz-2.6.17-1.2519.4.21.el5xen ro root=/dev/VolGroup00/LogVol00
        module /initrd-2.6.17-1.2519.4.21.el5xen.img
"""

# The seed's ch. 17 table, verbatim rows split on tab (notes D1 §9.1 round-trip oracle).
SEED_TABLE = """\
5.4 AMD64/Intel 64 with the para-virtualized clock\tAdditional parameters are not required
5.4 AMD64/Intel 64 without the para-virtualized clock\tdivider=10 notsc lpj=n
5.4 x86 with the para-virtualized clock\tAdditional parameters are not required
5.4 x86 without the para-virtualized clock\tdivider=10 clocksource=acpi_pm lpj=n
5.3 AMD64/Intel 64\tdivider=10 notsc
5.3 x86\tdivider=10 clocksource=acpi_pm
4.8 AMD64/Intel 64\tnotsc divider=10
4.8 x86\tclock=pmtmr divider=10
3.9 AMD64/Intel 64\tAdditional parameters are not required
3.9 x86\tAdditional parameters are not required"""


@pytest.mark.parametrize("version,arch,pv,lpj,want", [
    ("5.4", "x86_64", True, None, ""),
    ("5.4", "x86_64", False, 4000000, "divider=10 notsc lpj=4000000"),
    ("5.4", "x86_64", False, None, "divider=10 notsc"),
    ("5.4", "i686", True, None, ""),
    ("5.4", "i686", False, 123456, "divider=10 clocksource=acpi_pm lpj=123456"),
    ("5.3", "x86_64", None, None, "divider=10 notsc"),
    ("5.3", "i386", False, None, "divider=10 clocksource=acpi_pm"),
    ("4.8", "x86_64", None, None, "notsc divider=10"),
    ("4.8", "i386", None, None, "clock=pmtmr divider=10"),
    ("3.9", "x86_64", None, None, ""),
    ("3.9", "i386", None, None, ""),
    ("9.3", "x86_64", None, None, ""),
], ids=["5.4 64 pv clock", "5.4 64 no pv clock with lpj", "5.4 64 no pv clock lpj unknown",
        "5.4 x86 pv clock", "5.4 x86 no pv clock with lpj", "5.3 64", "5.3 x86",
        "4.8 64 order kept", "4.8 x86 clock=pmtmr", "3.9 64", "3.9 x86", "rhel 9 kvm-clock"])
def test_clock_table(version, arch, pv, lpj, want):
    args, warnings = bp.guest_clock_params(version, arch, pv_clock=pv, lpj=lpj)
    assert " ".join(args) == want
    assert "lpj=n" not in " ".join(args)
    if (version, pv, lpj) == ("5.4", False, None):
        assert any("lpj unknown" in w for w in warnings)


def test_seed_table_round_trips_into_the_data_file():
    for row in SEED_TABLE.splitlines():
        label, params = row.split("\t")
        version = label.split()[0]
        arch = "x86_64" if "AMD64" in label else "i686"
        pv = None if "para-virtualized" not in label else "without" not in label
        want = "" if params.startswith("Additional") else params.replace(" lpj=n", " lpj=7")
        got, _ = bp.guest_clock_params(version, arch, pv_clock=pv, lpj=7)
        assert " ".join(got) == want, label


@pytest.mark.parametrize("version,want", [("5.1", "divider=10 notsc"),
                                          ("4.7", "notsc divider=10")],
                         ids=["5.1 uses the 5.3 row", "4.7 uses the 4.8 row"])
def test_clock_policy_for_versions_outside_the_table(version, want):
    args, warnings = bp.guest_clock_params(version, "x86_64")
    assert " ".join(args) == want and warnings


@pytest.mark.parametrize("arch", ["ia64", "sparc"], ids=["itanium", "unknown arch"])
def test_clock_rejects_other_arches(arch):
    with pytest.raises(PlanError):
        bp.guest_clock_params("5.4", arch)


def test_oracle_host_cstate_line_exact_and_idempotent():
    text = ("title Red Hat Enterprise Linux Server (2.6.18-159.el5)\n        root (hd0,0)\n"
            "        kernel /vmlinuz-2.6.18-159.el5 ro root=/dev/VolGroup00/LogVol00 rhgb quiet\n")
    edit = g.GrubArgs("regular", "kernel", ("processor.max_cstate=1",))
    once = edit.apply(text)
    assert once.splitlines()[2] == ("        kernel /vmlinuz-2.6.18-159.el5 ro "
                                    "root=/dev/VolGroup00/LogVol00 rhgb quiet "
                                    "processor.max_cstate=1")
    assert edit.apply(once) == once


def test_oracle_existing_clocksource_is_replaced():
    text = "title x\n\tkernel /vmlinuz ro clocksource=tsc quiet\n"
    args, _ = bp.guest_clock_params("5.3", "i386")
    out = g.GrubArgs("regular", "kernel", tuple(args)).apply(text)
    assert out == "title x\n\tkernel /vmlinuz ro clocksource=acpi_pm quiet divider=10\n"


def test_oracle_parse_seed_grub_conf():
    _, entries = g.parse_grub_legacy(GRUB_54)
    lines = GRUB_54.splitlines()
    assert len(entries) == 2
    assert not entries[0].is_xen and entries[1].is_xen
    assert lines[entries[1].kernel].split()[1] == "/xen.gz-2.6.18-159.el5"
    assert g.default_index(GRUB_54) == 1


def test_oracle_switch_hypervisor_changes_only_default():
    kvm = g.GrubDefault("regular").apply(GRUB_54)
    assert kvm == GRUB_54.replace("default=1", "default=0", 1)
    assert g.GrubDefault("regular").apply(kvm) == kvm
    assert g.GrubDefault("xen").apply(kvm) == GRUB_54


def test_oracle_dom0_mem_on_the_xen_line_only():
    edit = g.GrubArgs("xen", "kernel", ("dom0_mem=256M",))
    out = edit.apply(GRUB_285)
    assert "        kernel /xen.gz-2.6.17-1.2519.4.21.el5 com1=115200,8n1 dom0_mem=256M\n" in out
    assert out.replace(" dom0_mem=256M", "") == GRUB_285
    assert edit.apply(out) == out
    bigger = g.GrubArgs("xen", "kernel", ("dom0_mem=1024M",)).apply(out)
    assert bigger.count("dom0_mem=") == 1 and "dom0_mem=1024M" in bigger


#: seed ch.25's stanza as printed, typos included (D2 §5)
GRUB_25_TYPOS = """title Red Hat Enterprise Linux Server (2.6.18-3.el5xen)
root (hd0,0)
        kernel  /xen.gz.-2.6.18-3.el5
        module  /vmlinuz-2.6..18-3.el5xen ro root=/dev/VolGroup00/LogVol00  rhgb quiet
        module  /initrd-2.6.18-3. el5xenxen.img
"""


def test_oracle_d2_typod_stanza_parsed_as_written_and_dom0_mem_on_its_xen_line():
    """D2 oracles 15 and 10: a tolerant parser (1 title, root (hd0,0), the hypervisor image
    /xen.gz.-2.6.18-3.el5 as written, 2 modules); dom0_mem=800M goes on the kernel line only,
    once; 1024M replaces it."""
    _, entries = g.parse_grub_legacy(GRUB_25_TYPOS)
    lines = GRUB_25_TYPOS.splitlines()
    assert len(entries) == 1 and entries[0].is_xen and len(entries[0].modules) == 2
    assert lines[entries[0].kernel].split()[1] == "/xen.gz.-2.6.18-3.el5"
    assert "root (hd0,0)" in lines[entries[0].start:entries[0].end]
    edit = g.GrubArgs("xen", "kernel", ("dom0_mem=800M",))
    out = edit.apply(GRUB_25_TYPOS)
    assert out.splitlines()[2].split() == ["kernel", "/xen.gz.-2.6.18-3.el5", "dom0_mem=800M"]
    assert out.replace(" dom0_mem=800M", "") == GRUB_25_TYPOS and edit.apply(out) == out
    bigger = g.GrubArgs("xen", "kernel", ("dom0_mem=1024M",)).apply(out)
    assert bigger.count("dom0_mem=") == 1 and "dom0_mem=1024M" in bigger.splitlines()[2]


@pytest.mark.parametrize("port,hv,dom0", [
    ("com1", "com1=115200,8n1", "console=tty0 console=ttyS0,115200"),
    ("com2", "com2=115200,8n1 console=com2L", "console=tty0 console=ttyS0,115200"),
], ids=["com1", "com2 (dom0 still ttyS0)"])
def test_oracle_serial(port, hv, dom0):
    s_hv, s_kernel, glob = bp.serial_args(port)
    assert " ".join(s_hv) == hv and " ".join(s_kernel) == dom0
    assert glob[1] == "terminal --timeout=10 serial console"
    if port == "com1":
        assert glob[0] == "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1"


def test_oracle_validate_xen_entries():
    assert g.validate_xen_entries(GRUB_54) == []
    broken = GRUB_54.replace("        module /initrd-2.6.18-159.el5xen.img\n", "")
    assert g.validate_xen_entries(broken)


@pytest.mark.parametrize("token,ok", [
    ("acpi=off", True), ("acpi=noirq", True), ("acpi=on", False), ("com1=115200,8n1", True),
    ("com1=9600,8n1,0x408,5", True), ("com1=auto,8n1", True), ("com1=115200, 8n1", False),
    ("dom0_mem=800M", True), ("dom0_mem=10X", False), ("dom0_max_vcpus=2", True),
], ids=["acpi off", "acpi noirq", "acpi on invalid", "com1 plain", "com1 io irq", "com1 auto",
        "com1 stray space", "dom0_mem", "bad size", "vcpus"])
def test_hypervisor_arg_validation(token, ok):
    if ok:
        bp.validate_hypervisor_arg(token)
    else:
        with pytest.raises(PlanError):
            bp.validate_hypervisor_arg(token)


ELILO = """prompt
timeout=20
default=linux
image=vmlinuz-2.6.18-92.el5xen
        vmm=xen.gz-2.6.18-92.el5
        label=linux
        initrd=initrd-2.6.18-92.el5xen.img
        read-only
        root=/dev/VolGroup00/rhel5_2
        append="-- rhgb quiet"
"""


def test_oracle_elilo():
    assert g.elilo_cmdline({"root": "/dev/VolGroup00/rhel5_2", "read-only": True,
                            "append": "-- rhgb quiet"}) == \
        "-- root=/dev/VolGroup00/rhel5_2 ro rhgb quiet"
    assert g.split_hv_kernel("dom0_mem=2G -- quiet") == (["dom0_mem=2G"], ["quiet"])
    assert g.build_append(["dom0_mem=2G", "dom0_max_vcpus=2"], []) == \
        "dom0_mem=2G dom0_max_vcpus=2 --"
    assert g.build_append([], ["rhgb", "quiet"]) == "-- rhgb quiet"
    out = g.EliloArgs(("dom0_mem=2G", "dom0_max_vcpus=2")).apply(ELILO)
    assert '        append="dom0_mem=2G dom0_max_vcpus=2 -- rhgb quiet"\n' in out
    assert g.EliloArgs(("dom0_mem=2G", "dom0_max_vcpus=2")).apply(out) == out
    assert out.replace("dom0_mem=2G dom0_max_vcpus=2 ", "") == ELILO


def test_elilo_plan_refuses_hypervisor_console(tmp_path):
    from dataclasses import replace

    from agent.facts.model import Bootloader
    facts = replace(facts_of("rhel5-xen"), bootloader=Bootloader("elilo", "/etc/elilo.conf"))
    with pytest.raises(PlanError) as exc:
        bp.plan_boot_params(facts, bp.BootWant(hypervisor_args=("console=com1",)))
    assert exc.value.code == "E_ELILO_CONSOLE"
    plan = bp.plan_boot_params(facts, bp.BootWant(host_cstate="no",
                                                  hypervisor_args=("dom0_mem=2G",)))
    assert plan.steps[0].edit.apply(ELILO).count("dom0_mem=2G --") == 1


def test_default_grub_edit_keeps_quoting_and_other_lines():
    text = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
    out = g.DefaultGrubArgs(add=("processor.max_cstate=1",)).apply(text)
    assert out == ('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
                   'GRUB_CMDLINE_LINUX="processor.max_cstate=1"\n')
    assert g.DefaultGrubArgs(add=("processor.max_cstate=1",)).apply(out) == out


@pytest.mark.parametrize("want,code", [
    (bp.BootWant(kernel_args=("lpj=n",)), "E_LITERAL_LPJ"),
    (bp.BootWant(hypervisor_args=("acpi=on",)), "E_BAD_ACPI"),
    (bp.BootWant(default_hypervisor="vmware"), "E_BAD_HYPERVISOR"),
], ids=["literal lpj=n", "bad acpi value", "unknown hypervisor"])
def test_refusals(want, code):
    with pytest.raises(PlanError) as exc:
        bp.plan_boot_params(facts_of("rhel5-xen"), want)
    assert exc.value.code == code


def test_switch_refused_on_grub2():
    with pytest.raises(PlanError) as exc:
        bp.plan_boot_params(facts_of("rhel9-nm"), bp.BootWant(default_hypervisor="kvm"))
    assert exc.value.code == "E_SWITCH_NEEDS_GRUB_LEGACY"


CASES = {
    "rhel5-xen": bp.BootWant(hypervisor_args=("dom0_mem=2G",), serial="com1",
                             default_hypervisor="kvm"),
    "rhel54-kvm": bp.BootWant(serial="com2"),
    "rhel9-nm": bp.BootWant(host_cstate="yes", kernel_args=("console=ttyS0,115200",)),
    "debian12": bp.BootWant(),
}


def _dry(host, want, tmp_path):
    plan = bp.plan_boot_params(facts_of(host), want)
    system = RealSystem(copy_root(host, tmp_path), runner_for(host))
    return plan.describe() + "\n" + apply(plan, system, dry_run=True).text()


@pytest.mark.parametrize("host", HOSTS)
def test_bootparams_golden(host, golden, tmp_path):
    golden(GOLDEN / f"{host}.txt", _dry(host, CASES[host], tmp_path))


def test_guest_clock_golden(golden, tmp_path):
    want = bp.BootWant(guest_clock=bp.GuestClock("5.4", "i686", pv_clock=False, lpj=4000000))
    golden(GOLDEN / "guest-rhel54-i686-nopvclock.txt", _dry("rhel54-kvm", want, tmp_path))


def test_grub_conf_apply_twice_noop_and_other_lines_untouched(tmp_path):
    root = copy_root("rhel5-xen", tmp_path)
    before = (root / "boot/grub/grub.conf").read_text()
    plan = bp.plan_boot_params(facts_of("rhel5-xen"), CASES["rhel5-xen"])
    system = RealSystem(root, FakeRunner())
    assert apply(plan, system).changed == 2
    after = (root / "boot/grub/grub.conf").read_text()
    assert apply(plan, system).changed == 0
    assert (root / "boot/grub/grub.conf").read_text() == after
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=False)
               if a != b]
    assert [a.split()[0] for a, _ in changed] == ["default=1", "kernel", "kernel", "module"]
    assert "kernel /xen.gz-2.6.18-159.el5 dom0_mem=2G com1=115200,8n1" in after
    assert ("module /vmlinuz-2.6.18-159.el5xen ro root=/dev/VolGroup00/LogVol00 rhgb quiet "
            "console=tty0 console=ttyS0,115200") in after
    assert "processor.max_cstate=1" in after.split("title")[1]
    assert "processor.max_cstate=1" not in after.split("title")[2]
    cpuspeed = (root / "etc/sysconfig/cpuspeed").read_text()
    assert "MIN_SPEED=2400000\nMAX_SPEED=2400000\n" in cpuspeed and "GOVERNOR=\n" in cpuspeed


def test_constant_tsc_host_gets_no_cstate():
    plan = bp.plan_boot_params(facts_of("rhel54-kvm"), bp.BootWant())
    assert plan.steps == ()


@pytest.mark.parametrize("host", ["rhel9-nm", "debian12"])
def test_default_grub_still_parses_in_bash(host, tmp_path):
    """/etc/default/grub is shell (grub-mkconfig sources it): bash reads our edit back."""
    import subprocess
    root = copy_root(host, tmp_path)
    plan = bp.plan_boot_params(facts_of(host), bp.BootWant(host_cstate="yes",
                                                           kernel_args=("console=ttyS0,115200",)))
    from agent.run import Result

    system = RealSystem(root, lambda argv, **kw: Result(tuple(argv), 0))   # grubby, update-grub
    assert apply(plan, system).ok
    out = subprocess.run(["bash", "-c", '. "$1" 2>/dev/null; printf %s "$GRUB_CMDLINE_LINUX"',
                          "-", str(root / "etc/default/grub")],
                         capture_output=True, text=True, timeout=30).stdout
    assert out.split()[-2:] == ["console=ttyS0,115200", "processor.max_cstate=1"]


def test_grub2_xen_args_and_serial_terminal(tmp_path):
    root = copy_root("debian12", tmp_path)
    plan = bp.plan_boot_params(facts_of("debian12"), bp.BootWant(
        host_cstate="no", hypervisor_args=("dom0_mem=2G",), serial="com1"))
    from agent.run import Result
    calls = []
    system = RealSystem(root, lambda argv, **kw: (calls.append(tuple(argv)),
                                                  Result(tuple(argv), 0))[1])
    assert apply(plan, system).ok
    text = (root / "etc/default/grub").read_text()
    assert 'GRUB_CMDLINE_XEN="dom0_mem=2G com1=115200,8n1"\n' in text
    assert 'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"\n' in text
    assert 'GRUB_TERMINAL="console serial"\n' in text
    assert ('GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200 --word=8 --parity=no '
            '--stop=1"\n') in text
    assert calls == [("update-grub",)]
    assert apply(plan, system).changed == 0 and calls == [("update-grub",)]
    with pytest.raises(PlanError):
        bp.plan_boot_params(facts_of("debian12"), bp.BootWant(dom0_args=("dom0_mem=1G",)))
