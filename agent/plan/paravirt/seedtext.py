"""The seed's driver-install text as small pure functions: packages and commands per release,
modprobe aliases, RHEL 3/4 module paths, and parsers of ``lsmod``/``/proc/partitions``/insmod
output used by the oracles."""

from __future__ import annotations

from agent.facts.model import HostFacts
from agent.plan.paravirt.want import PvWant, kmod_package, version_of
from provisioner.platform.tables import pv_matrix


def pv_packages(facts: HostFacts, want: PvWant) -> list[str]:
    if facts.hypervisor != "xen" or want.guest_os != "rhel":
        return []
    gv = version_of(want.guest_version)
    builtin = pv_matrix()["xen"]["builtin_from"].get(str(gv[0]))
    if builtin and gv >= version_of(builtin):
        return []
    if gv[0] == 4:
        return ["modversions", "module-init-tools", kmod_package(want)]
    return [kmod_package(want)]


def pv_commands(facts: HostFacts, want: PvWant) -> list[str]:
    """The seed's install commands, as written (``yum install kmod-xenpv*``...)."""
    pkgs = pv_packages(facts, want)
    if not pkgs:
        return []
    major = version_of(want.guest_version)[0]
    if major == 5:
        return ["yum install kmod-xenpv*"]
    if major == 4:
        return ["rpm -ivh modversions", "rpm -Uvh module-init-tools", "rpm -ivh kmod-xenpv*"]
    return ["rpm -ivh kmod-xenpv*"]


def modconf_path(guest_version: str) -> str:
    return "/etc/modules.conf" if version_of(guest_version)[0] == 3 else "/etc/modprobe.conf"


def vnif_alias(nic: str) -> str:
    """The line that lets networking tools find a para-virtualized NIC (seed 31.3, 14.3)."""
    return f"alias {nic} xen-vnif"


def modprobe_aliases(n_ifaces: int) -> list[str]:
    return [vnif_alias(f"eth{i}") for i in range(n_ifaces)]


def rhel3_paths(variant: str, release: str) -> tuple[str, str]:
    """(cp source dir, rc.local insmod line) for RHEL 3 (seed 14.3.2, oracles 18-19)."""
    build = pv_matrix()["xen"]["rhel3_build_kernel"]
    src = f"/lib/modules/{build}{variant}/extra/xenpv/{release}"
    rc = f"insmod /lib/modules/$(uname -r)/extra/xenpv/{release}/xen-vbd.o"
    return src, rc


#: Where kmod-xenpv installs its modules (seed 14.3.1).
INSTALL_DIR_TEMPLATE = "/lib/modules/[%kversion][%kvariant]/extra/xenpv/%release"


def rhel4_vbd_fallback(release: str) -> str:
    """RHEL 4: xen-vbd may not load by itself (seed 14.3.3); load it from weak-updates."""
    return f"insmod /lib/modules/$(uname -r)/weak-updates/xenpv/{release}/xen-vbd.ko"


def network_tool(major: int) -> str:
    return "redhat-config-network" if major == 3 else "system-config-network"


def parse_lsmod(text: str) -> set[str]:
    return {ln.split()[0] for ln in text.splitlines()[0:] if ln.strip()
            and not ln.startswith("Module")}


def pv_loaded(modules: set[str]) -> bool:
    """All four PV modules loaded (lsmod shows underscores)."""
    return {m.replace("-", "_") for m in pv_matrix()["xen"]["modules"]} <= modules


def parse_proc_partitions(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for ln in text.splitlines():
        f = ln.split()
        if len(f) == 4 and f[0].isdigit() and f[1].isdigit():
            out[f[3]] = (int(f[0]), int(f[1]))
    return out


def insmod_outcome(text: str) -> str:
    """``ok`` | ``ok-with-warnings`` (seed 32.3, harmless) | ``wrong-rpm`` (32.2)."""
    if "unresolved symbol" in text:
        return "wrong-rpm"
    if "loaded, with warnings" in text:
        return "ok-with-warnings"
    return "ok"


def minor(disk_index: int, partition: int) -> int:
    """xvd minor numbers: 16 per disk (seed 14.3.2)."""
    return 16 * disk_index + partition
