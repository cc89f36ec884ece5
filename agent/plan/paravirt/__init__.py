"""Paravirtual driver plans (seed ch. 14, 15, 32; notes C §10 "deterministic planner").

Two plans per request, both pure:

- ``plan_paravirt(facts, want)`` -> the **guest-side** plan (run inside the guest, or
  rendered by ``kickstart_post`` as a kickstart ``%post`` snippet for new guests): packages
  (``kmod-xenpv``...), ``alias ethN xen-vnif`` lines, module load order, ``chkconfig kudzu
  off``, RHEL 3 insmod/rc.local, initrd rebuild when the boot disk moves to virtio, the guest
  ``noapic`` when dom0 is RHEL 5.1, and the "no change needed" cases (RHEL 4.7+/5.3+ carry
  the Xen modules; RHEL 4.8+/5.3+ load virtio by themselves).
- ``plan_paravirt_host(facts, want)`` -> the **host-side** plan: the xm config rewrite for
  Xen (``type=ioemu`` removed, extra disks as ``tap:aio``/``phy`` on ``xvdX``; the boot disk
  stays emulated IDE because GRUB cannot read PV disks), the ``virtio-win`` package, and the
  device changes for KVM guests (``bus='virtio'``, ``<model type='virtio'/>``, Windows
  drivers before the bus switch) as ordered manual steps for the guest-definition component.

``facts`` is the HostFacts of the hypervisor host the guest runs on (``host_facts(...)``
builds a minimal one when only the hypervisor and version are known, e.g. in the appliance's
profile metadata).

Modules: ``want`` (the request records), ``rules`` (the seed's checks, first failure wins),
``seedtext`` (the seed's install text and output parsers), ``guest`` and ``host`` (the two
plans), ``kickstart`` (the guest plan as ``%post`` shell). The CLI options live in
``agent/plankinds.py``.
"""

from agent.plan.paravirt.guest import plan_paravirt
from agent.plan.paravirt.host import (
    XmConfigEdit,
    plan_paravirt_host,
    pv_disk_entries,
    strip_ioemu,
)
from agent.plan.paravirt.kickstart import kickstart_post
from agent.plan.paravirt.rules import validate, virtio_floor
from agent.plan.paravirt.seedtext import (
    INSTALL_DIR_TEMPLATE,
    insmod_outcome,
    minor,
    modconf_path,
    modprobe_aliases,
    network_tool,
    parse_lsmod,
    parse_proc_partitions,
    pv_commands,
    pv_loaded,
    pv_packages,
    rhel3_paths,
    rhel4_vbd_fallback,
)
from agent.plan.paravirt.want import (
    Disk,
    KernelRpm,
    PvWant,
    host_facts,
    kernel_variant,
    kmod_package,
    parse_kernel_rpm,
    version_of,
)

__all__ = [
    "INSTALL_DIR_TEMPLATE", "Disk", "KernelRpm", "PvWant", "XmConfigEdit", "host_facts",
    "insmod_outcome", "kernel_variant", "kickstart_post", "kmod_package", "minor",
    "modconf_path", "modprobe_aliases", "network_tool", "parse_kernel_rpm", "parse_lsmod",
    "parse_proc_partitions", "plan_paravirt", "plan_paravirt_host", "pv_commands",
    "pv_disk_entries", "pv_loaded", "pv_packages", "rhel3_paths", "rhel4_vbd_fallback",
    "strip_ioemu", "validate", "version_of", "virtio_floor",
]
