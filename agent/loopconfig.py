"""The agent work loop's settings (``LoopConfig``) and the error codes it never retries
(``PERMANENT``); read by ``agent/loop.py`` and its parts (``outbox``, ``guest_state``,
``guestwork``)."""

from __future__ import annotations

from dataclasses import dataclass

#: Errors that will not go away by trying again.
PERMANENT = {"NAME_CLASH", "BAD_OPTION", "BAD_NAME", "BAD_MAC", "MAC_IN_USE", "KVM_NO_SCSI",
             "KVM_IDE_LIMIT", "PCI_SLOTS_EXCEEDED", "XEN_NIC_LIMIT", "XEN_IDE_LIMIT",
             "PV_REQUIRES_XEN", "PV_REQUIRES_NETWORK_TREE", "WINDOWS_REQUIRES_FULLVIRT",
             "EXTRA_ARGS_NEED_LOCATION", "PXE_NEEDS_BRIDGE", "PXE_NEEDS_NIC",
             "INSTALL_METHOD_REQUIRED", "UNKNOWN_OS_VARIANT",
             "IMAGE_OUTSIDE_IMAGE_DIR", "BRIDGE_MISSING", "HV_UNSUPPORTED", "DOC_STYLE",
             "BAD_LOCATION", "UNKNOWN_KIND", "WINDOWS_REQUIRES_LOCAL_MEDIA",
             "WINXP_NO_VIRTIO_BLOCK", "WINDOWS_VIRTIO_BOOT_NEEDS_DRIVERS", "BRIDGE_PLAN_FAILED",
             "TLS_NOT_WIRED", "TLS_BUNDLE",
             "PATH_NOT_ALLOWED", "ORDER_FIELD", "RAM_ZERO", "RAM_OVER_HOST", "VCPU_LIMIT",
             "VCPU_ZERO", "VCPU_CURRENT_OVER_MAX", "DISK_OVER_POOL", "DISK_ZERO",
             "MEMORY_REQUIRED", "DISK_REQUIRED", "OS_REQUIRED", "UNSUPPORTED_OPTION",
             "TOPOLOGY_MISMATCH", "MACHINE_UNSUPPORTED", "UEFI_UNAVAILABLE", "POOL_NOT_FOUND",
             "DISK_TARGETS_EXHAUSTED", "POWER_EXPIRED", "POWER_UNSUPPORTED", "POWER_NO_GUEST",
             "POWER_FAILED", "NOT_RUNNING"}


@dataclass
class LoopConfig:
    state_dir: str
    poll_timeout: float = 20.0
    watch_interval: float = 2.0
    virt_type: str | None = None  # force a domain type (e.g. qemu where KVM is unusable)
    graphics: str = "none"
    serial_dir: str | None = None  # when set, each guest logs its serial console there
    max_backoff: float = 10.0
    outbox_limit: int = 1000
    media_dirs: tuple[str, ...] = ()  # install media (ISOs) besides the image directory
    doctor_interval: float = 3600.0  # seconds between doctor reports (and one per registration)

