"""Loaders for the seed tables in ``data/`` (TOML, read once per process).

=================  ===========================================================================
``limits``         numeric limits (seed A1 ch. 1/4): RAM, cores, devices per guest, releases
``support``        guest support matrices per hypervisor/host arch/virt type (A1 ch. 2-3)
``rules``          constraint rules with their messages (matched by ``provisioner.core.rules``)
``pv_matrix``      paravirtual-driver matrix: Xen PV-on-HVM and KVM virtio (seed ch. 14/15)
``macs``           the MAC prefix (OUI) of each hypervisor's guests (seed E §8, ``macgen.py``)
``network``        libvirt's NAT network names (a PXE install needs a real bridge, A2 V8)
``clock``          guest clock parameters (read through :mod:`provisioner.platform.clock`)
``remote``         libvirt transports and Table 20.1's URI parameters, migration ports and the
                   migration pre-flight's named checks (seed D1 ch. 18-20)
``xend``           xend-config.sxp parameters (Table 16.1, ch.18.1; :mod:`.xend`)
``xencfg``         /etc/xen/<guest> keys (Tables 27.2-27.4; :mod:`.xencfg`)
``doctor``         the troubleshooting catalogue: message -> cause -> fix (E §24; :mod:`.doctor`)
=================  ===========================================================================

The returned dicts are shared: callers read them and never change them.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

TABLES = ("clock", "limits", "macs", "network", "pv_matrix", "remote", "rules", "support",
          "xend", "xencfg", "doctor")


@cache
def table(name: str) -> dict[str, Any]:
    """The parsed ``data/<name>.toml``; ``name`` is one of :data:`TABLES`."""
    if name not in TABLES:
        raise KeyError(f"no seed table {name!r}; one of {', '.join(TABLES)}")
    text = resources.files(__package__).joinpath("data", f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def limits() -> dict[str, Any]:
    return table("limits")


def limit(path: str) -> Any:
    """One value of ``limits.toml`` by its dotted path, e.g. ``limit("kvm.max_ide")``."""
    node: Any = limits()
    for part in path.split("."):
        node = node[part]
    return node


def pv_matrix() -> dict[str, Any]:
    return table("pv_matrix")


def libvirt_nat_names() -> tuple[str, ...]:
    """Every spelling of libvirt's NAT network (``virbr0``, ``default``, ``network:default``)."""
    return tuple(table("network")["libvirt_nat"])


def mac_prefix(hypervisor: str) -> tuple[int, int, int]:
    """The OUI of ``hypervisor``'s guest MACs (``kvm``/``qemu``/``test``: 52:54:00, ``xen``:
    00:16:3e); KeyError for a hypervisor the table does not name."""
    text: str = table("macs")["prefix"][hypervisor]
    a, b, c = (int(x, 16) for x in text.split(":"))
    return a, b, c


def guest_mac(hypervisor: str, nic: tuple[int, int, int]) -> str:
    """The one MAC rule (seed E §8, ``macgen.py``; D2 §12.3): ``hypervisor``'s prefix, then the
    three ``nic`` octets with the fourth kept in 0x00-0x7f, lower case, colon-separated.
    The agent feeds it random octets; the appliance octets derived from an order's id."""
    a, b, c = nic
    if not all(0 <= x <= 0xFF for x in nic):
        raise ValueError(f"MAC octets out of range: {nic}")
    return ":".join(f"{x:02x}" for x in (*mac_prefix(hypervisor), a & 0x7F, b, c))

