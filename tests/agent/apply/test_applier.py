"""Applier: check-then-act, idempotency, verification, rollback on failure, confirm timeout."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from agent.apply.applier import ConfirmWait, Journal, apply, rollback
from agent.apply.netlink import FakeNet, LinkState, RouteState
from agent.apply.system import FakeSystem, RealSystem, UnsafePath
from agent.plan import bridges as b
from agent.plan.steps import (
    Command,
    Content,
    EnslaveLink,
    EnsureLink,
    FileStep,
    LineRule,
    Lines,
    MoveAddress,
    MoveRoute,
    Plan,
)
from agent.run import FakeRunner, Result
from tests.agent.fixtures.hosts import copy_root, facts_of, fake_net, root_of


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def sysctl_runner() -> FakeRunner:
    """A fake ``sysctl``: ``-w key=v`` sets, the plan's ``sh -c`` check reads the value."""
    values: dict[str, str] = {}
    table = {}
    for line in b.bridge_netfilter_sysctls():
        key = line.split(" = ")[0]
        proc = "/proc/sys/" + key.replace(".", "/")
        table[f"sysctl -w {key}=0"] = (
            lambda argv, k=key: (values.__setitem__(k, "0"), Result(tuple(argv), 0))[1])
        table[f'sh -c ! test -e {proc} || test "$(cat {proc})" = 0'] = (
            lambda argv, k=key: Result(tuple(argv), 0 if values.get(k) == "0" else 1))
    return FakeRunner(table)


def test_file_plan_on_fixture_root_second_apply_is_a_noop(tmp_path):
    root = copy_root("rhel54-kvm", tmp_path)
    facts = facts_of("rhel54-kvm")
    plan = b.plan_bridges(facts, b.BridgeWant(bridge="installation", nic="eth1", live=False))
    system = RealSystem(root, sysctl_runner())
    first = apply(plan, system)
    assert first.ok, first.text()
    assert first.changed >= 3
    after_first = _tree(root)
    second = apply(plan, system)
    assert second.ok and second.changed == 0, second.text()
    assert _tree(root) == after_first
    # unrelated lines and files untouched
    sysctl = (root / "etc/sysctl.conf").read_text()
    assert sysctl.startswith("net.ipv4.ip_forward = 0\n# bridge filtering\n")
    assert sysctl.count("net.bridge.bridge-nf-call-iptables") == 1
    assert "net.bridge.bridge-nf-call-iptables = 0" in sysctl
    assert filecmp.cmp(root / "etc/sysconfig/network-scripts/ifcfg-eth0",
                       root_of("rhel54-kvm") / "etc/sysconfig/network-scripts/ifcfg-eth0",
                       shallow=False)


def test_failure_midway_rolls_back_everything(tmp_path):
    root = copy_root("rhel5-xen", tmp_path)
    before = _tree(root)
    plan = Plan("t", (
        FileStep("/etc/sysctl.conf", Lines((LineRule("net.ipv4.ip_forward = 1",
                                                     r"^net\.ipv4\.ip_forward\s*="),))),
        FileStep("/etc/new.conf", Content("x\n")),
        Command(("false-command",)),          # rc 127 from the fake runner
        FileStep("/etc/never.conf", Content("y\n")),
    ))
    report = apply(plan, RealSystem(root, FakeRunner()))
    assert not report.ok and report.rolled_back
    assert [s.status for s in report.steps] == ["changed", "changed", "failed"]
    assert _tree(root) == before


def test_edit_that_is_not_idempotent_fails_verification_and_rolls_back():
    class Appender:
        def apply(self, text):
            return (text or "") + "x\n"

        def describe(self):
            return "append x"

    system = FakeSystem(files={"/f": "a\n"})
    report = apply(Plan("t", (FileStep("/f", Appender()),)), system)
    assert not report.ok and "verification failed" in report.error
    assert system.files == {"/f": "a\n"}


def test_dry_run_changes_nothing_and_shows_diff():
    system = FakeSystem(files={"/etc/sysctl.conf": "a = 1\n"})
    plan = Plan("t", (FileStep("/etc/sysctl.conf", Lines((LineRule("b = 2", r"^b\s*="),))),))
    report = apply(plan, system, dry_run=True)
    assert report.steps[0].status == "would-change"
    assert "+b = 2" in report.steps[0].detail
    assert system.files == {"/etc/sysctl.conf": "a = 1\n"}


def test_paths_cannot_leave_the_root(tmp_path):
    system = RealSystem(tmp_path, FakeRunner())
    with pytest.raises(UnsafePath):
        system.write("/../escape.txt", "x")
    report = apply(Plan("t", (FileStep("/../../etc/passwd", Content("x")),)), system)
    assert not report.ok
    assert not (tmp_path.parent / "escape.txt").exists()


def test_command_step_check_act_undo():
    state = {"rule": False}

    def check(argv):
        return Result(tuple(argv), 0 if state["rule"] else 1)

    def insert(argv):
        state["rule"] = True
        return Result(tuple(argv), 0)

    def delete(argv):
        state["rule"] = False
        return Result(tuple(argv), 0)

    rule = b.bridge_forward_rule()
    runner = FakeRunner({" ".join(rule): insert,
                         " ".join(["iptables", "-C", *rule[2:]]): check,
                         " ".join(["iptables", "-D", *rule[2:]]): delete})
    system = FakeSystem(runner=runner)
    plan = Plan("t", (Command(tuple(rule), check=("iptables", "-C", *rule[2:]),
                              undo=("iptables", "-D", *rule[2:])),))
    journal = Journal()
    assert apply(plan, system, journal=journal).changed == 1 and state["rule"]
    assert apply(plan, system).changed == 0          # applying twice gives one rule
    assert rollback(journal, system) == [] and not state["rule"]


def _host_net() -> FakeNet:
    net = FakeNet()
    net.link_map["eth0"] = LinkState("eth0", "", None, 1500, True, "52:54:00:00:00:01")
    net.add_addr("eth0", "10.9.0.2/24")
    net.add_route("default", "eth0", "10.9.0.1")
    return net


def _bridge_plan() -> Plan:
    return Plan("br", (
        EnsureLink("br0", "bridge", stp=False, forward_delay=0, mac="52:54:00:00:00:01"),
        EnslaveLink("eth0", "br0"),
        MoveAddress("10.9.0.2/24", "eth0", "br0"),
        MoveRoute("default", "eth0", "br0", "10.9.0.1"),
    ), network=True)


def _snapshot(net: FakeNet):
    return (dict(net.link_map), {k: list(v) for k, v in net.addr_map.items()},
            sorted((r.dst, r.dev, r.gateway or "") for r in net.route_list))


def test_fake_bridge_apply_idempotent_and_rollback():
    net = _host_net()
    before = _snapshot(net)
    system = FakeSystem(net=net)
    journal = Journal()
    report = apply(_bridge_plan(), system, journal=journal)
    assert report.ok and report.changed == 4, report.text()
    assert net.addrs("br0") == ["10.9.0.2/24"] and net.addrs("eth0") == []
    assert RouteState("default", "br0", "10.9.0.1") in net.route_list
    assert apply(_bridge_plan(), system).changed == 0
    assert rollback(journal, system) == []
    after = _snapshot(net)
    assert after[1]["eth0"] == before[1]["eth0"] and "br0" not in after[0]
    assert after[2] == before[2]


def test_connectivity_failure_rolls_back():
    net = _host_net()
    before = _snapshot(net)
    report = apply(_bridge_plan(), FakeSystem(net=net),
                   connectivity=lambda s: (False, "10.9.0.1 unreachable"))
    assert report.rolled_back and "connectivity" in report.error
    assert _snapshot(net)[2] == before[2] and "br0" not in net.link_map


def test_netlink_failure_midway_rolls_back():
    net = _host_net()
    net.fail_on.add("add_route")
    report = apply(_bridge_plan(), FakeSystem(net=net))
    assert report.rolled_back and [s.status for s in report.steps][-1] == "failed"
    assert net.addrs("eth0") == ["10.9.0.2/24"] and "br0" not in net.link_map
    assert any(r.dst == "default" and r.dev == "eth0" for r in net.route_list)


@pytest.mark.parametrize("confirmed_at,rolled_back", [(2, False), (None, True)],
                         ids=["confirmed in time", "never confirmed"])
def test_confirm_wait(confirmed_at, rolled_back):
    clock = {"t": 0.0}
    calls = {"n": 0}

    def confirmed():
        calls["n"] += 1
        return confirmed_at is not None and calls["n"] >= confirmed_at

    wait = ConfirmWait(timeout=5, confirmed=confirmed, poll=1,
                       sleep=lambda s: clock.__setitem__("t", clock["t"] + s),
                       monotonic=lambda: clock["t"])
    net = _host_net()
    report = apply(_bridge_plan(), FakeSystem(net=net), confirm=wait)
    assert report.rolled_back is rolled_back
    assert ("br0" in net.link_map) is (not rolled_back)


def test_journal_persists_and_rollback_from_file(tmp_path):
    net = _host_net()
    system = FakeSystem(files={"/etc/a": "old\n"}, net=net)
    jpath = tmp_path / "state" / "journal.json"
    plan = Plan("t", (FileStep("/etc/a", Content("new\n")), FileStep("/etc/b", Content("b\n")))
                + _bridge_plan().steps, network=True)
    assert apply(plan, system, journal=Journal(jpath)).ok
    assert jpath.exists()
    assert rollback(Journal.load(jpath), system) == []
    assert system.files == {"/etc/a": "old\n"} and not jpath.exists()
    assert "br0" not in net.link_map


def test_fixture_net_dry_run_uses_fake_net():
    facts = facts_of("rhel54-kvm")
    plan = b.plan_bridges(facts, b.BridgeWant(bridge="installation", nic="eth1",
                                              persist="none", netfilter="none"))
    report = apply(plan, FakeSystem(net=fake_net(facts)), dry_run=True)
    assert report.ok and report.changed == 2


def test_interrupted_apply_leaves_a_journal_that_rollback_uses(tmp_path):
    """A run killed halfway (here: KeyboardInterrupt inside a step) keeps its journal on disk;
    ``rollback`` from that file restores everything already changed."""
    class Interrupt:
        def apply(self, text):
            raise KeyboardInterrupt

        def describe(self):
            return "interrupted"

    system = FakeSystem(files={"/etc/a": "a\n"})
    jpath = tmp_path / "journal.json"
    plan = Plan("t", (FileStep("/etc/a", Content("A\n")), FileStep("/etc/b", Content("b\n")),
                      FileStep("/etc/c", Interrupt())))
    with pytest.raises(KeyboardInterrupt):
        apply(plan, system, journal=Journal(jpath))
    assert system.files == {"/etc/a": "A\n", "/etc/b": "b\n"}
    assert rollback(Journal.load(jpath), system) == []
    assert system.files == {"/etc/a": "a\n"}


def test_auto_rollback_keeps_earlier_runs_in_the_journal():
    system = FakeSystem(files={"/etc/a": "a\n"})
    journal = Journal()
    assert apply(Plan("1", (FileStep("/etc/a", Content("A\n")),)), system, journal=journal).ok
    failing = Plan("2", (FileStep("/etc/b", Content("b\n")), Command(("nope",))))
    assert apply(failing, system, journal=journal).rolled_back
    assert system.files == {"/etc/a": "A\n"} and len(journal.ops) == 1
    assert rollback(journal, system) == [] and system.files == {"/etc/a": "a\n"}
