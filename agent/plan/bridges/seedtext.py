"""The seed's bridge files and rules as small pure functions (the oracles of notes B): ifcfg
files, the dummy-interface lab files, netfilter sysctls and rules, NAT, the bridge id."""

from __future__ import annotations

from agent.plan.steps import LineRule, Lines


def render_bridge_ifcfg(name: str, bootproto: str = "dhcp", *, onboot: bool = True,
                        delay: int = 0, extra: dict[str, str] | None = None, stp: bool = False,
                        nm_controlled: bool | None = None) -> str:
    """``ifcfg-<name>`` of a bridge, in the seed's order (DEVICE, TYPE, BOOTPROTO, ONBOOT,
    DELAY)."""
    lines = [f"DEVICE={name}", "TYPE=Bridge", f"BOOTPROTO={bootproto}",
             f"ONBOOT={'yes' if onboot else 'no'}", f"DELAY={delay}"]
    if stp:
        lines.append("STP=on")
    lines += [f"{k}={v}" for k, v in (extra or {}).items()]
    if nm_controlled is False:
        lines.append("NM_CONTROLLED=no")
    return "\n".join(lines) + "\n"


def render_nic_ifcfg(device: str, hwaddr: str | None, bridge: str, *, mtu: int | None = None,
                     nm_controlled: bool | None = None) -> str:
    """``ifcfg-<nic>`` enslaved to ``bridge``; ``MTU`` is appended last, as the seed says."""
    lines = [f"DEVICE={device}"]
    if hwaddr:
        lines.append(f"HWADDR={hwaddr.upper()}")
    lines += ["ONBOOT=yes", f"BRIDGE={bridge}"]
    if nm_controlled is False:
        lines.append("NM_CONTROLLED=no")
    if mtu:
        lines.append(f"MTU={mtu}")
    return "\n".join(lines) + "\n"


def render_modprobe_dummy(count: int = 1) -> str:
    return f"alias dummy0 dummy\noptions dummy numdummies={count}\n"


def render_ifcfg_dummy(ip: str = "10.1.1.1", netmask: str = "255.255.255.0") -> str:
    """The seed's ``ifcfg-dummy0``, exactly its ten lines."""
    return ("DEVICE=dummy0\nBOOTPROTO=none\nONBOOT=yes\nUSERCTL=no\nIPV6INIT=no\nPEERDNS=yes\n"
            f"TYPE=Ethernet\nNETMASK={netmask}\nIPADDR={ip}\nARP=yes\n")


def bridge_netfilter_sysctls(*, disable: bool = True) -> list[str]:
    """The bridge-netfilter sysctls set to 0 (``disable``: bridged frames skip iptables) or 1."""
    v = 0 if disable else 1
    return [f"net.bridge.bridge-nf-call-{t} = {v}" for t in ("ip6tables", "iptables", "arptables")]


def nat_sysctls() -> list[str]:
    return ["net.ipv4.ip_forward = 1"]


def bridge_forward_rule() -> list[str]:
    return ["iptables", "-I", "FORWARD", "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]


def masquerade_rule(dev: str) -> list[str]:
    return ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", dev, "-j", "MASQUERADE"]


def bridge_id(port_macs: list[str], priority: int = 0x8000) -> str:
    """``brctl show`` bridge id: priority, then the lowest port MAC (zeros for no ports)."""
    macs = sorted(m.lower().replace(":", "") for m in port_macs)
    return f"{priority:04x}.{macs[0] if macs else '000000000000'}"


def validate_ifcfg(filename: str, text: str) -> list[str]:
    """Seed rules for existing ifcfg files: exact ``TYPE=Bridge`` case, file name = DEVICE."""
    errors = []
    kv = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            kv[k.strip()] = v.strip().strip("\"'")
    t = kv.get("TYPE")
    if t is not None and t.lower() == "bridge" and t != "Bridge":
        errors.append(f"TYPE={t}: case-sensitive: must be TYPE=Bridge")
    name = filename.rsplit("/", 1)[-1]
    if name.startswith("ifcfg-") and "DEVICE" in kv and kv["DEVICE"] != name[len("ifcfg-"):]:
        errors.append(f"{name}: DEVICE={kv['DEVICE']} does not match the file name")
    return errors


def xend_network_script(text: str, line: str = "(network-script /bin/true)") -> str:
    """Replace the active ``(network-script ...)`` directive; other lines stay (seed 12.2)."""
    return Lines((LineRule(line, r"^\s*\(network-script[\s)]"),)).apply(text) or ""
