"""Domain capabilities (``virConnectGetDomainCapabilities`` XML) reduced to what defaults and
validation need: the vCPU limit, firmware (autoselection, loader files), CPU modes and the
device enums (disk buses, graphics types, video models, TPM backends).

Pure parsing: ``virt.py`` fetches the XML, tests read the fixtures under
``tests/agent/guest/data/hosts/``. The helper methods mirror virt-install 4.1's
``DomainCapabilities`` questions (``supports_safe_host_passthrough`` and friends) so the
defaults can say which domcaps fact decided them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

#: Which loader files are UEFI for an arch (virt-install's patterns, most specific first).
UEFI_PATTERNS: dict[str, tuple[str, ...]] = {
    "i686": (r".*edk2-i386-.*\.fd", r".*ovmf-ia32.*"),
    "x86_64": (r".*edk2-x86_64-.*\.fd", r".*OVMF_CODE\.fd", r".*ovmf-x64/OVMF.*\.fd",
               r".*ovmf-x86_64-.*", r".*ovmf.*", r".*OVMF.*"),
    "aarch64": (r".*AAVMF_CODE\.fd", r".*aarch64/QEMU_EFI.*", r".*aarch64.*",
                r".*edk2-aarch64-code\.fd"),
    "armv7l": (r".*arm/QEMU_EFI.*", r".*edk2-arm-code\.fd"),
}


def _values(node: ET.Element | None, enum: str) -> tuple[str, ...]:
    if node is None:
        return ()
    return tuple((v.text or "").strip() for v in node.findall(f"./enum[@name='{enum}']/value"))


@dataclass(frozen=True)
class CpuMode:
    name: str
    supported: bool
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    models: tuple[tuple[str, str], ...] = ()  # (model, usable|fallback)
    vendors: dict[str, str] = field(default_factory=dict)  # model -> vendor (custom mode)


@dataclass(frozen=True)
class DomCaps:
    path: str | None = None
    domain: str = ""
    machine: str | None = None
    arch: str = ""
    max_vcpus: int | None = None
    firmware: tuple[str, ...] = ()  # <os><enum name='firmware'>: efi when autoselection works
    loaders: tuple[str, ...] = ()
    loader_readonly: tuple[str, ...] = ()
    loader_secure: tuple[str, ...] = ()
    cpu_modes: dict[str, CpuMode] = field(default_factory=dict)
    devices: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    supported_devices: frozenset[str] = frozenset()

    def enum(self, device: str, name: str) -> tuple[str, ...]:
        return self.devices.get(device, {}).get(name, ())

    # -- virt-install's questions ---------------------------------------------------------------
    def supports_safe_host_passthrough(self) -> bool:
        m = self.cpu_modes.get("host-passthrough")
        return bool(m and m.supported and "on" in m.enums.get("hostPassthroughMigratable", ()))

    def supports_safe_host_model(self) -> bool:
        m = self.cpu_modes.get("host-model")
        return bool(m and m.supported and m.models and m.models[0][1] == "forbid")

    def usable_models(self) -> tuple[str, ...]:
        m = self.cpu_modes.get("custom")
        if not m or not m.supported:
            return ()
        return tuple(name for name, usable in m.models if usable != "no")

    def supports_firmware_efi(self) -> bool:
        return "efi" in self.firmware

    def supports_uefi_loader(self) -> bool:
        return "yes" in self.loader_readonly

    def uefi_loader(self, arch: str) -> str | None:
        """The loader file virt-install would pick for ``arch`` (None: none matches)."""
        for pattern in UEFI_PATTERNS.get(arch, ()):
            for path in self.loaders:
                if re.match(pattern, path):
                    return path
        return None

    def supports_spice(self) -> bool:
        return "spice" in self.enum("graphics", "type")

    def supports_video(self, model: str) -> bool:
        return model in self.enum("video", "modelType")

    def supports_tpm_emulator(self) -> bool:
        return bool(self.enum("tpm", "model")) and "emulator" in self.enum("tpm", "backendModel")

    def supports_virtiofs(self) -> bool:
        return "virtiofs" in self.enum("filesystem", "driverType")


def _cpu_modes(root: ET.Element) -> dict[str, CpuMode]:
    modes = {}
    for m in root.findall("./cpu/mode"):
        enums = {e.get("name", ""): tuple((v.text or "").strip() for v in e.findall("value"))
                 for e in m.findall("enum")}
        models = tuple(((x.text or "").strip(), x.get("usable") or x.get("fallback") or "")
                       for x in m.findall("model"))
        vendors = {(x.text or "").strip(): x.get("vendor") or "unknown" for x in m.findall("model")}
        name = m.get("name", "")
        modes[name] = CpuMode(name, m.get("supported") == "yes", enums, models, vendors)
    return modes


def parse_domcaps(xml: str) -> DomCaps:
    root = ET.fromstring(xml)
    vcpu = root.find("./vcpu")
    devices: dict[str, dict[str, tuple[str, ...]]] = {}
    supported = set()
    for dev in root.findall("./devices/*"):
        devices[dev.tag] = {e.get("name", ""): tuple((v.text or "").strip()
                                                      for v in e.findall("value"))
                            for e in dev.findall("enum")}
        if dev.get("supported") == "yes":
            supported.add(dev.tag)
    loader = root.find("./os/loader")
    return DomCaps(
        path=root.findtext("./path"), domain=root.findtext("./domain") or "",
        machine=root.findtext("./machine"), arch=root.findtext("./arch") or "",
        max_vcpus=int(vcpu.get("max", "0")) or None if vcpu is not None else None,
        firmware=_values(root.find("./os"), "firmware"),
        loaders=tuple((v.text or "").strip() for v in root.findall("./os/loader/value")),
        loader_readonly=_values(loader, "readonly"), loader_secure=_values(loader, "secure"),
        cpu_modes=_cpu_modes(root), devices=devices, supported_devices=frozenset(supported))
