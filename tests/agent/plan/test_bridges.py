"""Bridge planner: the seed's oracles, refusals, and golden plans over the four fixture hosts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.apply.applier import apply
from agent.apply.system import RealSystem
from agent.plan import bridges as b
from agent.plan.bridges.ifcfg_edit import IfcfgEnslave
from agent.plan.steps import Command, PlanError
from agent.run import FakeRunner
from tests.agent.fixtures.hosts import (
    HOSTS,
    copy_root,
    facts_of,
    fake_net,
    root_of,
    runner_for,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "bridges"


def test_oracle_bridge_ifcfg_exact():
    assert b.render_bridge_ifcfg("br0", bootproto="dhcp", onboot=True, delay=0) == (
        "DEVICE=br0\nTYPE=Bridge\nBOOTPROTO=dhcp\nONBOOT=yes\nDELAY=0\n")


def test_oracle_nic_ifcfg_order_mtu_last_nm_controlled():
    text = b.render_nic_ifcfg("eth0", "00:16:76:D6:C9:45", "br0")
    assert text.splitlines() == ["DEVICE=eth0", "HWADDR=00:16:76:D6:C9:45", "ONBOOT=yes",
                                 "BRIDGE=br0"]
    assert b.render_nic_ifcfg("eth0", "00:16:76:D6:C9:45", "br0", mtu=9000).splitlines()[-1] \
        == "MTU=9000"
    assert "NM_CONTROLLED=no" in b.render_nic_ifcfg("eth0", None, "br0", nm_controlled=False)


@pytest.mark.parametrize("name,text,errors", [
    ("ifcfg-br0", "DEVICE=br0\nTYPE=bridge\n", 1),
    ("ifcfg-br0", "DEVICE=br0\nTYPE=BRIDGE\n", 1),
    ("ifcfg-br0", "DEVICE=br0\nTYPE=Bridge\n", 0),
    ("ifcfg-br0", "DEVICE=br1\nTYPE=Bridge\n", 1),
], ids=["lower-case type", "upper-case type", "exact type", "device does not match file"])
def test_oracle_ifcfg_validator(name, text, errors):
    found = b.validate_ifcfg(name, text)
    assert len(found) == errors
    if "bridge" in text and errors:
        assert "case-sensitive: must be TYPE=Bridge" in found[0]


def test_oracle_bridge_id():
    assert b.bridge_id(["00:13:20:F7:6E:8E"]) == "8000.001320f76e8e"
    assert b.bridge_id([]) == "8000.000000000000"


def test_oracle_dummy_lab_renderers():
    assert b.render_modprobe_dummy(1) == "alias dummy0 dummy\noptions dummy numdummies=1\n"
    assert b.render_ifcfg_dummy("10.1.1.1", "255.255.255.0").splitlines() == [
        "DEVICE=dummy0", "BOOTPROTO=none", "ONBOOT=yes", "USERCTL=no", "IPV6INIT=no",
        "PEERDNS=yes", "TYPE=Ethernet", "NETMASK=255.255.255.0", "IPADDR=10.1.1.1", "ARP=yes"]


def test_oracle_sysctl_and_iptables():
    assert b.bridge_netfilter_sysctls(disable=True) == [
        "net.bridge.bridge-nf-call-ip6tables = 0", "net.bridge.bridge-nf-call-iptables = 0",
        "net.bridge.bridge-nf-call-arptables = 0"]
    assert b.nat_sysctls() == ["net.ipv4.ip_forward = 1"]
    assert b.bridge_forward_rule() == ["iptables", "-I", "FORWARD", "-m", "physdev",
                                       "--physdev-is-bridged", "-j", "ACCEPT"]
    assert b.masquerade_rule("wlan0") == ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o",
                                          "wlan0", "-j", "MASQUERADE"]


def test_oracle_xend_network_script_idempotent():
    text = ("(xend-http-server no)\n#(network-script network-bridge)\n"
            "(network-script network-bridge)\n")
    once = b.xend_network_script(text)
    assert once == ("(xend-http-server no)\n#(network-script network-bridge)\n"
                    "(network-script /bin/true)\n")
    assert b.xend_network_script(once) == once
    lab = b.xend_network_script(text,
                                "(network-script 'network-bridge bridge=xenbr0 netdev=dummy0')")
    assert "(network-script 'network-bridge bridge=xenbr0 netdev=dummy0')" in lab


@pytest.mark.parametrize("host,want,code", [
    ("rhel54-kvm", b.BridgeWant(bridge="virbr0", nic="eth1"), "E_VIRBR0_NAT_ONLY"),
    ("rhel54-kvm", b.BridgeWant(bridge="br0", nic="eth0"), "E_DEFAULT_ROUTE_NIC"),
    ("rhel54-kvm", b.BridgeWant(bridge="br0", nic="eth7"), "E_NO_SUCH_NIC"),
    ("rhel54-kvm", b.BridgeWant(bridge="br0", nic="virbr0"), "E_NIC_IS_BRIDGE"),
    ("rhel54-kvm", b.BridgeWant(bridge="a-very-long-bridge-name", nic="eth1"), "E_BAD_NAME"),
    ("rhel54-kvm", b.BridgeWant(bridge="br0"), "E_NO_NIC"),
    ("rhel54-kvm", b.BridgeWant(bridge="eth0", nic="eth1"), "E_NAME_TAKEN"),
], ids=["nic into virbr0 (nat only)", "default-route nic without flag", "unknown nic",
        "nic is a bridge", "name too long", "no nic and no lab", "bridge name is a nic"])
def test_refusals(host, want, code):
    with pytest.raises(PlanError) as exc:
        b.plan_bridges(facts_of(host), want)
    assert exc.value.code == code


CASES = {
    "rhel5-xen": b.BridgeWant(bridge="br0", nic="eth0", allow_default_route_nic=True,
                              netfilter="physdev"),
    "rhel54-kvm": b.BridgeWant(bridge="installation", nic="eth1", mtu=9000),
    "rhel9-nm": b.BridgeWant(bridge="br0", nic="eno1", allow_default_route_nic=True),
    "debian12": b.BridgeWant(bridge="br0", nic="enp1s0", allow_default_route_nic=True),
}
LAB = b.BridgeWant(bridge="br0", lab=True, netfilter="none")


def _dry_run_text(host: str, want: b.BridgeWant, tmp_path: Path) -> str:
    facts = facts_of(host)
    plan = b.plan_bridges(facts, want)
    system = RealSystem(copy_root(host, tmp_path), runner_for(host), fake_net(facts))
    return plan.describe() + "\n" + apply(plan, system, dry_run=True).text()


@pytest.mark.parametrize("host", HOSTS)
def test_bridge_plan_golden(host, golden, tmp_path):
    golden(GOLDEN / f"{host}.txt", _dry_run_text(host, CASES[host], tmp_path))


@pytest.mark.parametrize("host", HOSTS)
def test_lab_plan_golden(host, golden, tmp_path):
    golden(GOLDEN / f"{host}-lab.txt", _dry_run_text(host, LAB, tmp_path))


def test_nm_controlled_only_where_networkmanager_runs():
    kvm = b.plan_bridges(facts_of("rhel54-kvm"), CASES["rhel54-kvm"])
    files = {s.path: s.edit.text for s in kvm.steps
             if hasattr(s, "edit") and hasattr(s.edit, "text")}
    assert files["/etc/sysconfig/network-scripts/ifcfg-installation"] == (
        "DEVICE=installation\nTYPE=Bridge\nBOOTPROTO=none\nONBOOT=yes\nDELAY=0\nNM_CONTROLLED=no\n")
    [eth1] = [st for st in kvm.steps if getattr(st, "path", "").endswith("/ifcfg-eth1")]
    current = (root_of("rhel54-kvm") / "etc/sysconfig/network-scripts/ifcfg-eth1").read_text()
    assert eth1.edit.apply(current) == (
        "DEVICE=eth1\nHWADDR=00:13:20:F7:6E:8E\nONBOOT=yes\nBOOTPROTO=none\n"
        "BRIDGE=installation\nNM_CONTROLLED=no\nMTU=9000\n")
    xen = b.plan_bridges(facts_of("rhel5-xen"), CASES["rhel5-xen"])
    texts = [s.edit.text for s in xen.steps if hasattr(s, "edit") and hasattr(s.edit, "text")]
    assert not any("NM_CONTROLLED" in t for t in texts)
    assert ("DEVICE=br0\nTYPE=Bridge\nBOOTPROTO=static\nONBOOT=yes\nDELAY=0\nIPADDR=192.168.1.10\n"
            "NETMASK=255.255.255.0\nGATEWAY=192.168.1.1\n") in texts


def test_live_steps_move_addresses_and_default_route():
    plan = b.plan_bridges(facts_of("rhel9-nm"), CASES["rhel9-nm"])
    text = plan.describe()
    assert "move address 172.16.5.20/24 from eno1 to br0" in text
    assert "move route default via 172.16.5.1 from eno1 to br0" in text
    assert plan.network


def test_no_live_no_network_flag():
    plan = b.plan_bridges(facts_of("rhel54-kvm"), replace(CASES["rhel54-kvm"], live=False))
    assert not plan.network


def test_ifcfg_files_read_back_by_the_shell(tmp_path):
    """initscripts source ifcfg files: bash reads back what the plan wrote."""
    import subprocess

    from agent.run import FakeRunner
    root = copy_root("rhel5-xen", tmp_path)
    plan = b.plan_bridges(facts_of("rhel5-xen"), b.BridgeWant(
        bridge="br0", nic="eth0", allow_default_route_nic=True, live=False, netfilter="none",
        mtu=9000))
    idle = FakeRunner()
    assert apply(plan, RealSystem(root, idle)).ok
    d = root / "etc/sysconfig/network-scripts"
    show = 'set -e; . "$1"; printf "%s|%s|%s|%s|%s|%s" "$DEVICE" "${TYPE-}" "${BRIDGE-}" ' \
           '"${IPADDR-}" "${MTU-}" "${DELAY-}"'
    def read(name):
        return subprocess.run(["bash", "-c", show, "-", str(d / name)], capture_output=True,
                              text=True, timeout=30, check=True).stdout
    assert read("ifcfg-br0") == "br0|Bridge||192.168.1.10||0"
    assert read("ifcfg-eth0") == "eth0||br0||9000|"
    for f in d.glob("ifcfg-*"):
        assert b.validate_ifcfg(f.name, f.read_text()) == []


def test_debian_split_moves_only_the_ipv4_stanza():
    text = ("auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n"
            "iface eth0 inet6 static\n\taddress 2001:db8::2/64\n\niface eth1 inet dhcp\n")
    new, moved = b.debian_split(text, "eth0")
    assert new == ("auto eth0\niface eth0 inet manual\niface eth0 inet6 static\n"
                   "\taddress 2001:db8::2/64\n\niface eth1 inet dhcp\n")
    assert moved == ["__method static", "address 10.0.0.2/24", "gateway 10.0.0.1"]


def test_nat_steps_follow_the_default_route_device():
    steps, warnings = b.nat_steps(facts_of("rhel54-kvm"))
    cmds = [s.argv for s in steps if hasattr(s, "argv")]
    assert ("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE") in cmds
    assert steps[-1].check == ("iptables", "-t", "nat", "-C", "POSTROUTING", "-o", "eth0", "-j",
                               "MASQUERADE")
    assert steps[0].edit.apply("net.ipv4.ip_forward = 0\n") == "net.ipv4.ip_forward = 1\n"
    assert warnings == []
    from dataclasses import replace
    facts = facts_of("rhel54-kvm")
    no_gw = replace(facts, network=replace(facts.network, default_route_dev=None))
    steps, warnings = b.nat_steps(no_gw)
    assert len(steps) == 2 and warnings[0].startswith("No gateway device found")


# ---- issue 14 fixes 3 and 4: edit ifcfg-<nic> in place; reload libvirtd afterwards -------------

SEED_ETH1 = ("# Intel Corporation Gigabit Network Connection\nDEVICE=eth1\nBOOTPROTO=dhcp\n"
             "HWADDR=00:13:20:F7:6E:8E\nONBOOT=yes\n")


def test_enslave_keeps_the_seed_file_a1_oracle_8() -> None:
    """A1 oracle 8: BRIDGE=installation added; DEVICE, HWADDR, ONBOOT, BOOTPROTO=dhcp and the
    comment kept; twice gives one BRIDGE= line."""
    edit = IfcfgEnslave("installation", fresh="unused\n")
    once = edit.apply(SEED_ETH1)
    assert once == SEED_ETH1 + "BRIDGE=installation\n"
    assert edit.apply(once) == once and once.count("BRIDGE=") == 1


ADMIN_ETH0 = (
    "# eth0: uplink, jumbo frames (set by the network team)\n"
    "DEVICE=eth0\n"
    "HWADDR=00:16:76:D6:C9:45\n"
    'ETHTOOL_OPTS="-K eth0 tso off gso off"\n'
    "\n"
    "BOOTPROTO=static\n"
    "IPADDR=192.168.1.10\n"
    "NETMASK=255.255.255.0\n"
    "GATEWAY=192.168.1.1\n"
    "ONBOOT=yes\n"
    "# keep MTU last, as the guide says\n"
    "MTU=9000\n"
)


def test_enslave_changes_only_the_named_keys() -> None:
    """Issue 14 fix 3: comments, blank lines, ETHTOOL_OPTS, MTU=9000 and their order survive;
    only BRIDGE is added (before the trailing MTU) and the address keys go to the bridge."""
    out = IfcfgEnslave("br0", fresh="unused\n").apply(ADMIN_ETH0)
    assert out == ADMIN_ETH0.replace(
        "IPADDR=192.168.1.10\nNETMASK=255.255.255.0\nGATEWAY=192.168.1.1\n", "").replace(
        "# keep MTU last", "BRIDGE=br0\n# keep MTU last")


def test_bridge_plan_on_an_admin_file_keeps_everything_else(tmp_path) -> None:
    """The whole plan, applied to a fixture root: the NIC file is edited, not rewritten."""
    root = copy_root("rhel5-xen", tmp_path)
    nic = root / "etc/sysconfig/network-scripts/ifcfg-eth0"
    nic.write_text(ADMIN_ETH0)
    facts = facts_of("rhel5-xen")
    plan = b.plan_bridges(facts, b.BridgeWant(bridge="br0", nic="eth0", live=False,
                                              allow_default_route_nic=True, netfilter="none"))
    idle = FakeRunner()
    assert apply(plan, RealSystem(root, idle)).ok
    text = nic.read_text()
    assert text == IfcfgEnslave("br0", fresh="").apply(ADMIN_ETH0)
    for kept in ('ETHTOOL_OPTS="-K eth0 tso off gso off"', "MTU=9000",
                 "# eth0: uplink, jumbo frames (set by the network team)",
                 "HWADDR=00:16:76:D6:C9:45", "BOOTPROTO=static"):
        assert kept in text.splitlines()
    assert text.splitlines()[-1] == "MTU=9000" and "IPADDR" not in text
    bridge = (root / "etc/sysconfig/network-scripts/ifcfg-br0").read_text()
    assert "IPADDR=192.168.1.10" in bridge.splitlines()


@pytest.mark.parametrize(("host", "argv"), [
    ("rhel54-kvm", ("service", "libvirtd", "reload")),
    ("rhel5-xen", ("service", "libvirtd", "reload")),
    ("rhel9-nm", ("systemctl", "reload", "libvirtd")),
    ("debian12", ("systemctl", "reload", "libvirtd")),
])
def test_libvirtd_reloaded_after_the_bridge_change(host: str, argv: tuple[str, ...]) -> None:
    """A1 oracle 17 / seed 12.2: `service libvirtd reload` after the bridge, last, only when
    something changed (issue 14 fix 4)."""
    plan = b.plan_bridges(facts_of(host), CASES[host])
    last = plan.steps[-1]
    assert isinstance(last, Command) and last.argv == argv and last.only_if_changed


def test_libvirtd_reload_runs_after_a_change_and_not_when_idle(tmp_path) -> None:
    root = copy_root("rhel54-kvm", tmp_path)
    want = replace(CASES["rhel54-kvm"], live=False, netfilter="none")
    plan = b.plan_bridges(facts_of("rhel54-kvm"), want)
    running = FakeRunner({"service libvirtd reload": "", "service libvirtd status": ""})
    assert apply(plan, RealSystem(root, running)).ok
    assert ("service", "libvirtd", "reload") in running.calls
    again = FakeRunner({"service libvirtd reload": "", "service libvirtd status": ""})
    assert apply(plan, RealSystem(root, again)).ok          # converged: nothing changed
    assert ("service", "libvirtd", "reload") not in again.calls
    stopped = FakeRunner({"service libvirtd reload": ""})   # libvirtd not running: no reload
    assert apply(b.plan_bridges(facts_of("rhel54-kvm"), replace(want, bridge="br7")),
                 RealSystem(root, stopped)).ok
    assert ("service", "libvirtd", "reload") not in stopped.calls
