"""What a work item from the appliance asks for, as pure functions: the guest's UUID (stable
for the item's idempotency key, so a replay finds the guest it made) and the virt-install
options of an order's ``guest.create`` payload."""

from __future__ import annotations

import os
import uuid as uuidlib
from typing import Any, Protocol

from agent.guest.errors import GuestError
from agent.guest.osdb import is_seed_variant
from agent.guest.osinfo.db import OsinfoDB

UUID_NS = uuidlib.UUID("6a1f0f3e-9c43-4d55-9a57-3f1d2c9b7e10")


class ArgvDefaults(Protocol):
    """What the agent's configuration adds to an order's options (``LoopConfig``)."""

    @property
    def graphics(self) -> str: ...
    @property
    def virt_type(self) -> str | None: ...
    @property
    def serial_dir(self) -> str | None: ...


def guest_uuid(work: dict[str, Any]) -> str:
    """The guest's UUID: stable for a work item's idempotency key (else its id)."""
    return str(uuidlib.uuid5(UUID_NS, str(work.get("key") or work["id"])))


def _order_int(p: dict[str, Any], key: str, what: str) -> int:
    """A size from an order's payload: present and positive, or the work item fails."""
    value = p.get(key)
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GuestError(f"the order gives no usable {what} ({key}={value!r}); nothing is "
                         "defaulted: fix the order", "ORDER_FIELD") from None
    if number <= 0:
        raise GuestError(f"the order asks for {number} {what} ({key}); a guest needs more "
                         "than 0", "ORDER_FIELD")
    return number


def order_osinfo(os_version: str | None, osinfo: OsinfoDB | None) -> list[str]:
    """``--osinfo`` for an order's OS version: the libosinfo name when it resolves (also as
    ``NAME-unknown``, libosinfo's "some X release"), else a generic guest, said in the plan."""
    if not os_version:
        return ["--osinfo", "detect=on,require=off"]
    for name in (os_version, f"{os_version}-unknown"):
        if is_seed_variant(name) or (osinfo is not None and osinfo.lookup(name) is not None):
            return ["--osinfo", name]
    return ["--osinfo", "detect=on,require=off"]


def order_argv(p: dict[str, Any], cfg: ArgvDefaults, osinfo: OsinfoDB | None = None) -> list[str]:
    """virt-install options for an order's ``guest.create`` payload (``core/ordering.py``).

    Sizes must be in the payload (a missing or zero RAM, vCPU or disk size fails the work item
    with ``ORDER_FIELD``; nothing is made up here). A ``migratable`` guest gets a named CPU
    model: ``cpu_model`` (the model the appliance found all hosts share) or this host's own.
    """
    if isinstance(p.get("argv"), list):
        argv = [str(a) for a in p["argv"]]
    else:
        ram = _order_int(p, "ram_mb", "MiB of RAM")
        vcpus = _order_int(p, "vcpus", "vCPUs")
        disk_gb = _order_int(p, "disk_gb", "GiB of disk")
        nic = f"bridge={p['bridge']}" if p.get("bridge") else "network=default"
        if p.get("mac"):
            nic += f",mac={p['mac']}"
        disk = f"size={disk_gb}"
        if p.get("disk_bus"):
            disk += f",bus={p['disk_bus']}"
        argv = ["--name", str(p["name"]), "--memory", str(ram), "--vcpus", str(vcpus),
                "--pxe", "--network", nic, "--disk", disk, "--graphics", cfg.graphics]
        if p.get("hypervisor"):
            argv += ["--virt-type", str(p["hypervisor"])]
        if p.get("virt_type") == "pv":
            argv += ["--paravirt"]
        argv += order_osinfo(p.get("os_version"), osinfo)
        if p.get("migratable"):  # a named CPU model, never host-passthrough (live migration)
            argv += ["--cpu", str(p.get("cpu_model") or "host-model-only")]
    if cfg.virt_type:
        argv = _replace_opt(argv, "--virt-type", cfg.virt_type)
    if cfg.serial_dir and not any(a.startswith("--serial") for a in argv):
        name = argv[argv.index("--name") + 1] if "--name" in argv else "guest"
        argv += ["--serial",
                 f"file,path={os.path.join(cfg.serial_dir, name + '.log')},append=on"]
    return argv


def _replace_opt(argv: list[str], opt: str, value: str) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == opt:
            skip = True
            continue
        if a.startswith(opt + "="):
            continue
        out.append(a)
    return [*out, opt, value]
