"""The four fixture hosts, each seen the same way by virt-install and by the agent.

virt-install reads a host through virt-manager's test-suite URI (``__virtinst_test__``: the
``test:///default`` driver answering capabilities and domain capabilities from our files, and
pretending to be ``fakeuri``); the agent gets an :class:`agent.guest.host.Host` made from the
same two files. The test driver's storage (pool ``default-pool`` at /default-pool, and the pool
``default`` virt-install creates at /var/lib/libvirt/images; 100 GiB each) and this machine's
default-route bridge (virt-install reads /proc/net/route) are mirrored into the Host.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from agent.facts.model import Bridge, Cpu, HostFacts, Network
from agent.guest.caps import parse_caps
from agent.guest.domcaps import parse_domcaps
from agent.guest.host import Host, Pool
from agent.guest.osinfo import default_db
from agent.guest.osinfo.media import probe

DATA = Path(__file__).resolve().parent.parent / "data" / "hosts"
IMAGES = "/var/lib/libvirt/images"
GIB = 1024 ** 3
#: The test driver's pools as virt-install sees them in a dry run.
POOLS = (Pool("default", IMAGES, 100 * GIB), Pool("default-pool", "/default-pool", 100 * GIB))


@dataclass(frozen=True)
class FixtureHost:
    name: str
    fakeuri: str
    description: str

    @property
    def caps_path(self) -> Path:
        return DATA / self.name / "caps.xml"

    @property
    def domcaps_path(self) -> Path:
        return DATA / self.name / "domcaps.xml"

    def uri(self) -> str:
        return (f"__virtinst_test__test:///default,predictable,fakeuri={self.fakeuri},"
                f"caps={self.caps_path},domcaps={self.domcaps_path}")

    def fingerprint(self) -> str:
        return self.caps_path.read_text() + self.domcaps_path.read_text()


HOSTS = {
    "kvm-x86_64": FixtureHost("kvm-x86_64", "qemu:///system", "KVM on x86-64 (this machine)"),
    "tcg-x86_64": FixtureHost("tcg-x86_64", "qemu:///system", "QEMU TCG on x86-64"),
    "xen-x86_64": FixtureHost("xen-x86_64", "xen:///", "Xen 4.17 (libxl) on x86-64"),
    "kvm-aarch64": FixtureHost("kvm-aarch64", "qemu:///system", "KVM on aarch64"),
}


def machine_default_bridge() -> str | None:
    """What virt-install's ``_host_default_bridge`` finds on this machine."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) == 11 and int(fields[1], 16) == 0:
            dev = fields[0]
            return dev if os.path.exists(f"/sys/class/net/{dev}/bridge") else None
    return None


@functools.cache
def agent_host(name: str) -> Host:
    fx = HOSTS[name]
    caps = parse_caps(fx.caps_path.read_text())
    domcaps = parse_domcaps(fx.domcaps_path.read_text())
    bridge = machine_default_bridge()
    network = Network(bridges=(Bridge(bridge),) if bridge else (),
                      default_route_dev=bridge or "eth0")
    facts = HostFacts(cpu=Cpu(flags=("constant_tsc",)), image_dir=IMAGES, network=network)
    return Host(caps=caps, facts=facts, domcaps_for=lambda *_: domcaps, pools=POOLS,
                osinfo=default_db(), media_ids=probe)
