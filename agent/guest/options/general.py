"""Identity, sizing and platform options: --name, --memory, --vcpus, --cpu, --machine, --arch,
--uuid, --virt-type (and --accelerate), --hvm/--paravirt, --osinfo (--os-variant, --os-type)."""

from __future__ import annotations

import re
import uuid as uuidlib

from agent.guest.domain import Cpu, CpuFeature, Guest
from agent.guest.errors import GuestError
from agent.guest.options.base import (
    FlagParser,
    ListParser,
    OptionParser,
    choice,
    integer,
    need,
    yesno,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
#: ``--cpu`` values that are modes, not model names (virt-install's SPECIAL_MODES).
CPU_SPECIAL = ("host-passthrough", "host-model", "host-model-only", "host", "clear", "none",
               "hv-default")


class ParserName(OptionParser):
    name, flags, help = "name", ("--name", "-n"), "guest name"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if not _NAME_RE.match(value):
            raise GuestError(f"bad guest name {value!r}: letters, digits, '.', '-', '_' "
                             "(it also names the disk image file)", "BAD_NAME")
        guest.name = value


class ParserMemory(ListParser):
    """``--memory 512`` or ``memory=512,maxmemory=1024`` / ``currentMemory=``, in MiB.

    virt-install's back-compat naming: ``memory`` alone is the current allocation; with
    ``maxmemory`` it is current and maxmemory the maximum; with ``currentMemory`` both are
    literal. A size of 0 is refused by the defaults (virt-install would replace it with
    libosinfo's recommendation without saying so).
    """

    name, flags, help = "memory", ("--memory",), "RAM in MiB"
    keys = ("memory", "currentMemory", "maxmemory")
    positional = ("memory",)
    unsupported = ("maxMemory", "maxMemory.slots", "hugepages")

    @classmethod
    def apply_one(cls, guest: Guest, value: str) -> None:
        kv = cls.kv(value)
        mib = {k: integer(cls.name, k, need(cls.name, kv, k)) for k in cls.keys if k in kv}
        if "currentMemory" in mib:
            current, maximum = mib["currentMemory"], mib.get("memory", mib.get("maxmemory"))
        else:
            current, maximum = mib.get("memory"), mib.get("maxmemory")
        if maximum is not None:  # virt-install sets <memory> first, then <currentMemory>
            guest.memory_kib = maximum * 1024
        if current is not None:
            guest.current_memory_kib = current * 1024
            if guest.memory_kib is None or guest.memory_kib < guest.current_memory_kib:
                guest.memory_kib = guest.current_memory_kib
        guest.memory_given = True


class ParserVcpus(ListParser):
    """``--vcpus 4``, ``4,maxvcpus=8``, ``sockets=2,cores=2``; ``vcpu.current``, placement."""

    name, flags, help = "vcpus", ("--vcpus",), "virtual CPUs (N, maxvcpus=, sockets=...)"
    keys = ("vcpu", "vcpus", "maxvcpus", "vcpu.current", "vcpu.placement", "sockets", "dies",
            "cores", "threads")
    positional = ("vcpu",)
    aliases = {"placement": "vcpu.placement", "current": "vcpu.current"}
    unsupported = ("cpuset", "vcpu.cpuset")

    @classmethod
    def apply_one(cls, guest: Guest, value: str) -> None:
        kv = cls.kv(value)
        num = {k: integer(cls.name, k, need(cls.name, kv, k))
               for k in kv if k not in ("vcpu.placement",)}
        if any(v == 0 for v in num.values()):
            guest.vcpus_zero = True  # refused by the defaults (policy), like RAM 0
            num = {k: v for k, v in num.items() if v}
        vcpu = num.get("vcpu") or num.get("vcpus")
        current = num.get("vcpu.current")
        if "maxvcpus" in num:
            if current is None and vcpu is not None:
                current = vcpu
            vcpu = num["maxvcpus"]
        if vcpu is not None:
            guest.vcpus = vcpu
            guest.vcpus_given = True
        guest.vcpu_current = current
        guest.vcpu_placement = choice(cls.name, "placement", need(cls.name, kv, "vcpu.placement"),
                                      ("static", "auto"))
        for part in ("sockets", "dies", "cores", "threads"):
            if part in num:
                setattr(guest.cpu, part, num[part])


class ParserCpu(ListParser):
    """``--cpu host-passthrough|host-model|MODEL[,...]``: a special mode or a named model."""

    name, flags, help = "cpu", ("--cpu",), "host-passthrough, host-model or a model name"
    keys = ("model", "mode", "match", "check", "migratable", "model.fallback", "sockets",
            "dies", "cores", "threads", "require", "disable", "force", "optional", "forbid")
    positional = ("model",)
    aliases = {f"topology.{p}": p for p in ("sockets", "dies", "cores", "threads")}
    unsupported = ("secure", "vendor", "model.vendor_id", "cache.level", "cache.mode")

    @classmethod
    def apply_one(cls, guest: Guest, value: str) -> None:
        kv = cls.kv(value)
        cpu = guest.cpu
        model = need(cls.name, kv, "model")
        if model in ("host", "host-model"):
            cpu.mode = "host-model"
        elif model in ("clear", "none", "hv-default"):
            guest.cpu = Cpu()
            cpu = guest.cpu
        elif model in ("host-passthrough",):
            cpu.mode = model
        elif model == "host-model-only":
            guest.cpu_special = "host-model-only"
        elif model:
            cpu.mode, cpu.match, cpu.model = "custom", cpu.match or "exact", model
        for key in ("mode", "match", "check", "model.fallback"):
            val = need(cls.name, kv, key)
            if val is not None:
                setattr(cpu, {"model.fallback": "model_fallback"}.get(key, key), val)
        cpu.migratable = yesno(cls.name, "migratable", need(cls.name, kv, "migratable"))
        for part in ("sockets", "dies", "cores", "threads"):
            if part in kv:
                setattr(cpu, part, integer(cls.name, part, need(cls.name, kv, part), minimum=1))
        for policy in ("require", "disable", "force", "optional", "forbid"):
            feature = need(cls.name, kv, policy)
            if feature:
                cpu.features.append(CpuFeature(policy=policy, name=feature))
        guest.cpu_given = True


class ParserMachine(OptionParser):
    name, flags, help = "machine", ("--machine",), "machine type (q35, pc, virt, ...)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.os.machine = value


class ParserArch(OptionParser):
    name, flags, help = "arch", ("--arch",), "guest CPU architecture (x86_64, aarch64, ...)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.os.arch = value


class ParserUuid(OptionParser):
    name, flags, help = "uuid", ("--uuid", "-u"), "the guest's UUID"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        try:
            guest.uuid = str(uuidlib.UUID(value))
        except ValueError:
            raise GuestError(f"--uuid {value!r} is not a UUID", "BAD_OPTION") from None


class ParserVirtType(OptionParser):
    name, flags = "virt-type", ("--virt-type",)
    help = "kvm, qemu or xen (test: libvirt's test driver)"

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        guest.type = value


class ParserHvm(FlagParser):
    name, flags, help = "hvm", ("--hvm", "-v"), "full virtualisation"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if guest.paravirt:
            raise GuestError("--hvm and --paravirt exclude each other", "BAD_OPTION")
        guest.hvm = True
        guest.os.os_type = "hvm"


class ParserParavirt(FlagParser):
    name, flags, help = "paravirt", ("--paravirt", "-p"), "Xen para-virtualisation"

    @classmethod
    def apply(cls, guest: Guest, value: bool) -> None:
        if guest.hvm:
            raise GuestError("--hvm and --paravirt exclude each other", "BAD_OPTION")
        guest.paravirt = True
        guest.os.os_type = "xen"


class ParserOsinfo(OptionParser):
    """``--osinfo NAME`` or ``name=,short-id=,id=,detect=on|off,require=on|off``.

    ``--os-variant`` is the older spelling of the same option (the seed's ``rhel5``). Like
    virt-install: a bare value is a name (``none``: generic, ``auto``: detect, ``...://...``:
    a full id) and leaves detection on; the key=value form starts from detect=off,
    require=off. Unknown names are refused when the defaults look them up.
    """

    name, flags = "osinfo", ("--osinfo", "--os-variant")
    help = "OS name (libosinfo short id), or detect=on,require=off"
    keys = ("name", "id", "detect", "require")
    aliases = {"short-id": "name"}

    @classmethod
    def apply(cls, guest: Guest, value: str) -> None:
        if value == "list":
            raise GuestError("--osinfo list: use `osinfo-query os` to list the names",
                             "BAD_OPTION")
        if "=" not in value:
            guest.osinfo_detect, guest.osinfo_require = True, "auto"
            if value == "none":
                guest.os_variant = "generic"
            elif value != "auto":
                guest.os_variant = value
            return
        kv = cls.kv(value)
        guest.os_variant = need(cls.name, kv, "id") or need(cls.name, kv, "name")
        guest.osinfo_detect = bool(yesno(cls.name, "detect", need(cls.name, kv, "detect")))
        guest.osinfo_require = bool(yesno(cls.name, "require", need(cls.name, kv, "require")))
