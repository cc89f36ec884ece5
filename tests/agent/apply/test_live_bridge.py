"""Bridge plans applied for real inside network namespaces these tests create.

Topology: namespace ``host`` (the hypervisor host under test) with ``eth0`` 10.9.0.2/24,
default route via 10.9.0.1 and a static route 10.99.0.0/24; namespace ``gw`` holds the
gateway 10.9.0.1 on the veth peer. Nothing runs in the machine's own namespace: the plan
is applied through pyroute2 ``IPRoute(netns=...)`` and ``ip netns exec`` only.
"""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from agent.apply.applier import Journal, apply, rollback
from agent.apply.netlink import Pyroute2Net
from agent.apply.reach import connectivity_check
from agent.apply.system import RealSystem
from agent.facts.probe import probe
from agent.plan import bridges as b
from agent.run import SubprocessRunner
from tests.agent.fixtures.hosts import copy_root
from tests.netns import have_root_netns, netns, veth_between

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]


@contextlib.contextmanager
def routed_host():
    with netns("agh") as host, netns("agg") as gw:
        veth_between(host, "eth0", gw, "gw0")
        gw.ip("addr", "add", "10.9.0.1/24", "dev", "gw0")
        gw.ip("addr", "add", "10.99.0.1/24", "dev", "lo")
        host.ip("addr", "add", "10.9.0.2/24", "dev", "eth0")
        host.ip("route", "add", "default", "via", "10.9.0.1")
        host.ip("route", "add", "10.99.0.0/24", "via", "10.9.0.1", "metric", "50")
        yield host, gw


def state(ns) -> dict:
    links = json.loads(ns.ip("-j", "-d", "link", "show").stdout)
    addrs = json.loads(ns.ip("-j", "addr", "show").stdout)
    routes = json.loads(ns.ip("-j", "route", "show").stdout)
    return {
        "links": sorted((x["ifname"], x.get("master"), x.get("mtu")) for x in links),
        "addrs": sorted((a["ifname"], f"{i['local']}/{i['prefixlen']}") for a in addrs
                        for i in a.get("addr_info", []) if i.get("scope") == "global"),
        "routes": sorted((r["dst"], r["dev"], r.get("gateway", "")) for r in routes),
    }


def pings(ns, addr: str, attempts: int = 5) -> bool:
    """ICMP echo from inside ``ns``; a few attempts (neighbour entries settle after changes)."""
    import sys
    return any(ns.run([sys.executable, "-m", "agent.apply.reach", addr], check=False,
                      cwd=str(_repo())).returncode == 0 for _ in range(attempts))


def _repo():
    from pathlib import Path
    return Path(__file__).resolve().parents[3]


def facts_and_system(host, tmp_path):
    runner = SubprocessRunner(netns=host.name)
    root = copy_root("rhel54-kvm", tmp_path)
    facts = probe(root, runner)
    return facts, RealSystem(root, runner, Pyroute2Net(host.name))


WANT = b.BridgeWant(bridge="br0", nic="eth0", allow_default_route_nic=True, persist="ifcfg",
                    netfilter="none", mtu=1400)


def test_bridge_applied_live_idempotent_and_rolled_back(tmp_path):
    with routed_host() as (host, _gw):
        before = state(host)
        facts, system = facts_and_system(host, tmp_path)
        assert facts.network.default_route_dev == "eth0"
        plan = b.plan_bridges(facts, WANT)
        journal = Journal(tmp_path / "state" / "journal.json")
        report = apply(plan, system, journal=journal,
                       connectivity=connectivity_check(["10.9.0.1", "10.99.0.1"]))
        assert report.ok, report.text()
        after = state(host)
        assert ("br0", "10.9.0.2/24") in after["addrs"]
        assert ("eth0", "10.9.0.2/24") not in after["addrs"]
        assert ("default", "br0", "10.9.0.1") in after["routes"]
        assert ("10.99.0.0/24", "br0", "10.9.0.1") in after["routes"]
        assert ("eth0", "br0", 1400) in after["links"] and ("br0", None, 1400) in after["links"]
        assert pings(host, "10.99.0.1")
        ifcfg = (system.root / "etc/sysconfig/network-scripts/ifcfg-eth0").read_text()
        assert "BRIDGE=br0\n" in ifcfg and ifcfg.endswith("MTU=1400\n")

        again = apply(plan, system, connectivity=connectivity_check(["10.9.0.1"]))
        assert again.ok and again.changed == 0, again.text()
        replanned = b.plan_bridges(probe(system.root, SubprocessRunner(netns=host.name)), WANT)
        assert apply(replanned, system).changed == 0

        assert rollback(Journal.load(journal.path), system) == []
        assert state(host) == before
        assert pings(host, "10.99.0.1")
        assert not (system.root / "etc/sysconfig/network-scripts/ifcfg-br0").exists()


def test_plan_that_cuts_the_default_route_rolls_back_by_itself(tmp_path):
    with routed_host() as (host, _gw):
        before = state(host)
        facts, system = facts_and_system(host, tmp_path)
        # Enslaving eth0 but leaving its address behind cuts the host off its gateway.
        plan = b.plan_bridges(facts, b.BridgeWant(bridge="br0", nic="eth0",
                                                  allow_default_route_nic=True,
                                                  move_addresses=False, persist="ifcfg",
                                                  netfilter="none"))
        report = apply(plan, system, connectivity=connectivity_check(["10.9.0.1"], attempts=2))
        assert not report.ok and report.rolled_back, report.text()
        assert "connectivity check failed" in report.error
        assert state(host) == before
        assert pings(host, "10.9.0.1")
        assert not (system.root / "etc/sysconfig/network-scripts/ifcfg-br0").exists()


def test_netlink_failure_in_namespace_leaves_nothing_half_applied(tmp_path):
    with routed_host() as (host, _gw):
        before = state(host)
        facts, system = facts_and_system(host, tmp_path)
        plan = b.plan_bridges(facts, WANT)
        # A route the kernel refuses (gateway outside every subnet) fails the last step.
        from agent.plan.steps import MoveRoute, Plan
        bad = Plan("bad", plan.steps + (MoveRoute("10.98.0.0/24", "eth0", "br0", "192.0.2.1"),),
                   network=True)
        report = apply(bad, system)
        assert report.rolled_back and report.steps[-1].status == "failed", report.text()
        assert state(host) == before


def test_dummy_lab_mode_live(tmp_path):
    with netns("agl") as host:
        has_dummy = host.ip("link", "add", "probe0", "type", "dummy", check=False).returncode == 0
        runner = SubprocessRunner(netns=host.name)
        root = copy_root("rhel54-kvm", tmp_path)
        system = RealSystem(root, runner, Pyroute2Net(host.name))
        plan = b.plan_bridges(probe(root, runner), b.BridgeWant(lab=True, netfilter="none"))
        if not has_dummy:
            # This kernel has no dummy driver: the plan must fail cleanly, leaving nothing.
            before = state(host)
            report = apply(plan, system)
            assert not report.ok and report.rolled_back, report.text()
            assert state(host) == before
            assert not (root / "etc/sysconfig/network-scripts/ifcfg-br0").exists()
            pytest.skip("no dummy driver in this kernel: checked the clean failure only")
        host.ip("link", "del", "probe0")
        report = apply(plan, system, connectivity=connectivity_check(
            ["10.1.1.1"], require_default_route=False))
        assert report.ok, report.text()
        assert ("br0", "10.1.1.1/24") in state(host)["addrs"]
        assert apply(plan, system).changed == 0


def test_cli_apply_in_namespace_refuses_default_route_nic_without_flag(tmp_path):
    with routed_host() as (host, _gw):
        root = copy_root("rhel54-kvm", tmp_path)
        cmd = [str(_repo() / ".venv/bin/provisioner-agent"), "apply", "bridge",
               "--root", str(root), "--netns", host.name, "--state-dir", str(tmp_path / "st"),
               "--nic", "eth0", "--bridge", "br0", "--netfilter", "none"]
        refused = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and "E_DEFAULT_ROUTE_NIC" in refused.stderr
        ok = subprocess.run(cmd + ["--allow-default-route-nic", "--check", "10.9.0.1"],
                            capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ("br0", "10.9.0.2/24") in state(host)["addrs"]
        back = subprocess.run([str(_repo() / ".venv/bin/provisioner-agent"), "rollback",
                               "--root", str(root), "--netns", host.name,
                               "--state-dir", str(tmp_path / "st")],
                              capture_output=True, text=True, timeout=120)
        assert back.returncode == 0, back.stdout + back.stderr
        assert ("eth0", "10.9.0.2/24") in state(host)["addrs"]


def test_cli_plan_is_a_dry_run(tmp_path):
    with routed_host() as (host, _gw):
        before = state(host)
        root = copy_root("rhel54-kvm", tmp_path)
        out = subprocess.run([str(_repo() / ".venv/bin/provisioner-agent"), "plan", "bridge",
                              "--root", str(root), "--netns", host.name, "--nic", "eth0",
                              "--allow-default-route-nic"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "move address 10.9.0.2/24 from eth0 to br0" in out.stdout
        assert "[would-change]" in out.stdout and "(none applied)" in out.stdout
        assert state(host) == before
        assert not (root / "etc/sysconfig/network-scripts/ifcfg-br0").exists()


def _agent(*args: str) -> list[str]:
    return [str(_repo() / ".venv/bin/provisioner-agent"), *args]


def _wait_for(pred, timeout: float = 60) -> bool:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("confirm", [True, False], ids=["confirmed: kept", "not confirmed: undone"])
def test_cli_apply_try_mode(tmp_path, confirm):
    """Like ``netplan try``: the change stays only if ``confirm`` comes before the timeout."""
    with routed_host() as (host, _gw):
        before = state(host)
        root = copy_root("rhel54-kvm", tmp_path)
        st = str(tmp_path / "st")
        proc = subprocess.Popen(
            _agent("apply", "bridge", "--root", str(root), "--netns", host.name,
                   "--state-dir", st, "--nic", "eth0", "--netfilter", "none",
                   "--allow-default-route-nic", "--confirm-timeout", "60" if confirm else "2"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _wait_for(lambda: ("br0", "10.9.0.2/24") in state(host)["addrs"]
                             or proc.poll() is not None)
            if confirm:
                done = subprocess.run(_agent("confirm", "--state-dir", st), capture_output=True,
                                      text=True, timeout=60)
                assert done.returncode == 0
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        if confirm:
            assert proc.returncode == 0, out + err
            assert ("br0", "10.9.0.2/24") in state(host)["addrs"]
        else:
            assert proc.returncode == 1 and "not confirmed within 2s" in out, out + err
            assert state(host) == before


def _cat(ns, path: str) -> str:
    return ns.run(["cat", path]).stdout.strip()


def test_bridge_netfilter_sysctls_live_in_namespace(tmp_path):
    """bridge-nf-call-* are per network namespace: set to 0 inside, host untouched, undone."""
    key = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    import os
    if not os.path.exists(key):
        pytest.skip("br_netfilter is not loaded on this machine")
    host_value = open(key).read().strip()
    with routed_host() as (host, _gw):
        if _cat(host, key) != "1":
            pytest.skip("bridge-nf-call-iptables does not start at 1 in a new namespace")
        facts, system = facts_and_system(host, tmp_path)
        plan = b.plan_bridges(facts, b.BridgeWant(bridge="br0", nic="eth0", persist="ifcfg",
                                                  allow_default_route_nic=True))
        journal = Journal()
        report = apply(plan, system, journal=journal, connectivity=connectivity_check(["10.9.0.1"]))
        assert report.ok, report.text()
        assert _cat(host, key) == "0"
        assert open(key).read().strip() == host_value
        sysctl = (system.root / "etc/sysctl.conf").read_text()
        assert "net.bridge.bridge-nf-call-iptables = 0\n" in sysctl
        assert apply(plan, system).changed == 0
        assert rollback(journal, system) == []
        assert _cat(host, key) == "1"


@pytest.mark.skipif(not __import__("shutil").which("iptables"), reason="iptables not installed")
def test_physdev_rule_live_in_namespace_once(tmp_path):
    """Seed 12.2's FORWARD physdev ACCEPT rule inside the namespace: applying twice gives one
    rule, rollback removes it (iptables rules are per namespace; the machine's stay untouched)."""
    with routed_host() as (host, _gw):
        runner = SubprocessRunner(netns=host.name)
        root = copy_root("rhel9-nm", tmp_path)
        system = RealSystem(root, runner, Pyroute2Net(host.name))
        plan = b.plan_bridges(probe(root, runner), b.BridgeWant(
            bridge="br0", nic="eth0", persist="ifcfg", netfilter="physdev",
            allow_default_route_nic=True))
        journal = Journal()
        assert apply(plan, system, journal=journal,
                     connectivity=connectivity_check(["10.9.0.1"])).ok
        assert apply(plan, system).changed == 0
        rules = host.run(["iptables", "-S", "FORWARD"]).stdout
        assert rules.count("--physdev-is-bridged -j ACCEPT") == 1, rules
        assert rollback(journal, system) == []
        assert "physdev" not in host.run(["iptables", "-S", "FORWARD"]).stdout


@pytest.mark.skipif(not __import__("shutil").which("iptables"), reason="iptables not installed")
def test_lab_nat_live_in_namespace(tmp_path):
    """NAT for the hidden guest network, inside the namespace: one MASQUERADE rule however
    often it is applied, ip_forward on, and both undone by rollback."""
    with routed_host() as (host, _gw):
        runner = SubprocessRunner(netns=host.name)
        root = copy_root("rhel9-nm", tmp_path)
        system = RealSystem(root, runner, Pyroute2Net(host.name))
        steps, _ = b.nat_steps(probe(root, runner))
        from agent.plan.steps import Plan
        plan = Plan("nat", tuple(steps))
        journal = Journal()
        assert apply(plan, system, journal=journal).ok
        assert apply(plan, system).changed == 0
        nat = host.run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout
        assert nat.count("-o eth0 -j MASQUERADE") == 1
        assert _cat(host, "/proc/sys/net/ipv4/ip_forward") == "1"
        assert rollback(journal, system) == []
        assert "MASQUERADE" not in host.run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout
        assert _cat(host, "/proc/sys/net/ipv4/ip_forward") == "0"
