"""``plan modprobe``: the doctor's fixes for E10 (loop devices, T28), E12 (xen-vnif aliases,
T46) and H3 (kvm modules), edited in place in the file the release reads."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.apply.applier import apply
from agent.apply.system import FakeSystem, RealSystem
from agent.plan.modprobe import ModprobeWant, modprobe_file, plan_modprobe
from agent.plan.steps import Command, FileStep, PlanError
from agent.run import FakeRunner, Result
from tests.agent.fixtures.hosts import copy_root, facts_of


@pytest.mark.parametrize("host,path", [("rhel5-xen", "/etc/modprobe.conf"),
                                       ("rhel54-kvm", "/etc/modprobe.conf"),
                                       ("rhel9-nm", "/etc/modprobe.d/provisioner-agent.conf"),
                                       ("debian12", "/etc/modprobe.d/provisioner-agent.conf")])
def test_file_the_release_reads(host: str, path: str) -> None:
    assert modprobe_file(facts_of(host)) == path


def test_max_loop_edits_in_place_and_is_idempotent(tmp_path) -> None:
    """T28 / seed 31.4: one 'options loop max_loop=64' line; the other lines stay."""
    root = copy_root("rhel54-kvm", tmp_path)
    conf = root / "etc/modprobe.conf"
    conf.write_text("# keep me\nalias eth0 e1000\noptions loop max_loop=16\n")
    plan = plan_modprobe(facts_of("rhel54-kvm"), ModprobeWant(max_loop=64))
    assert apply(plan, RealSystem(root, FakeRunner({}))).ok
    assert conf.read_text() == "# keep me\nalias eth0 e1000\noptions loop max_loop=64\n"
    assert apply(plan, RealSystem(root, FakeRunner({}))).changed == 0


def test_vnif_aliases_in_a_pv_guest() -> None:
    """T46: alias eth0/eth1 xen-vnif, in a para-virtualized guest only."""
    guest = facts_of("rhel5-xen")
    guest = replace(guest, kernel=replace(guest.kernel, xen_role="domU"))
    plan = plan_modprobe(guest, ModprobeWant(vnif_aliases=("eth0", "eth1", "eth0")))
    step = plan.steps[0]
    assert isinstance(step, FileStep) and not plan.warnings
    assert step.edit.apply("alias eth0 8139cp\n") == "alias eth0 xen-vnif\nalias eth1 xen-vnif\n"
    with pytest.raises(PlanError) as err:            # dom0: its real NIC would lose its driver
        plan_modprobe(facts_of("rhel5-xen"), ModprobeWant(vnif_aliases=("eth0",)))
    assert err.value.code == "E_NOT_A_GUEST"
    assert plan_modprobe(facts_of("rhel54-kvm"), ModprobeWant(vnif_aliases=("eth0",))).warnings


def test_load_checks_proc_modules_first() -> None:
    loaded = {"kvm_intel": False}

    def load(argv):
        loaded["kvm_intel"] = True
        return Result(tuple(argv), 0)
    runner = FakeRunner({"modprobe kvm_intel": load, "grep -q ^kvm_intel  /proc/modules":
                         lambda argv: Result(tuple(argv), 0 if loaded["kvm_intel"] else 1)})
    plan = plan_modprobe(facts_of("rhel54-kvm"), ModprobeWant(load=("kvm_intel",)))
    assert [s.argv for s in plan.steps if isinstance(s, Command)] == [("modprobe", "kvm_intel")]
    assert apply(plan, FakeSystem(runner=runner)).changed == 1 and loaded["kvm_intel"]
    assert apply(plan, FakeSystem(runner=runner)).changed == 0


@pytest.mark.parametrize("want,code", [
    (ModprobeWant(), "E_NOTHING"), (ModprobeWant(max_loop=8), "E_BAD_MAX_LOOP"),
    (ModprobeWant(max_loop=10**6), "E_BAD_MAX_LOOP"),
    (ModprobeWant(load=("kvm; reboot",)), "E_BAD_MODULE"),
    (ModprobeWant(vnif_aliases=("eth0 xen-vnif\nalias eth1",)), "E_BAD_NIC")])
def test_bad_requests_refused(want: ModprobeWant, code: str) -> None:
    with pytest.raises(PlanError) as err:
        plan_modprobe(facts_of("rhel54-kvm"), want)
    assert err.value.code == code
