"""Seed platform rules as data: named-case tables from the notes' test oracles.

A1 "Test oracles" 4-5, 27-54; A2 §11.2 T8-T19, T23; C.md §15 1-11; D1 §2.5 (clock table).
Each case lists the (level, code) findings expected; "none" cases assert a clean result.
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.core.rules import (
    HostInfo,
    RuleIssue,
    check,
    check_migration,
    facts,
    support_level,
)
from provisioner.errors import Invalid

INTEL = frozenset({"vmx", "lm", "pae", "nx", "constant_tsc"})
KVM_HOST = HostInfo(arch="x86_64", release="5.4", cores=4, threads=4, ram_mb=8192,
                    free_disk_gb=100, cpu_flags=INTEL, running_xen=False, hypervisors=("kvm",))
XEN_HOST = HostInfo(arch="x86_64", release="5.4", cores=8, threads=8, ram_mb=16384,
                    free_disk_gb=100, cpu_flags=INTEL, running_xen=True, hypervisors=("xen",))


def kvm(**kw: Any) -> dict[str, Any]:
    return {"hypervisor": "kvm", "virt_type": "hvm", "ram_mb": 1024, "vcpus": 1,
            "disk_bus": "virtio", "os_version": "rhel5.4", "arch": "x86_64",
            "host_arch": "x86_64", **kw}


def xen(**kw: Any) -> dict[str, Any]:
    return {"hypervisor": "xen", "virt_type": "pv", "ram_mb": 1024, "vcpus": 1,
            "disk_bus": "xen", "os_version": "rhel5.4", "arch": "x86_64", "host_arch": "x86_64",
            "tree_url": "http://10.0.0.1/rhel5/", **kw}


def codes(issues: list[RuleIssue]) -> set[tuple[str, str]]:
    return {(i.level, i.code) for i in issues}


E, W = "error", "warning"

CASES: dict[str, tuple[dict[str, Any], HostInfo | None, set[tuple[str, str]]]] = {
    # --- hypervisor / virt type (A1 35, A2 T8) ---
    "kvm-pv-is-error": (kvm(virt_type="pv"), None, {(E, "PV_REQUIRES_XEN")}),
    "kvm-paravirt-spelling": (kvm(virt_type="paravirt"), None, {(E, "PV_REQUIRES_XEN")}),
    "kvm-fullvirt-clean": (kvm(), None, set()),
    "xen-pv-http-tree-clean": (xen(), None, set()),
    # --- host profiles (A1 oracles 4, 5) ---
    "kvm-host-profile-i386": ({"kickstart": "kvm-host.ks", "arch": "i386", "os_version": "rhel5.4"},
                              None, {(E, "KVM_PROFILE_ARCH")}),
    "kvm-host-profile-ia64": (
        {"kickstart": "kvm-host.ks", "arch": "ia64", "os_version": "rhel5.4"},
        None, {(E, "KVM_PROFILE_ARCH")}),
    "kvm-host-profile-5.3": (
        {"kickstart": "kvm-host.ks", "arch": "x86_64", "os_version": "rhel5.3"},
        None, {(E, "KVM_PROFILE_RELEASE")}),
    "kvm-host-profile-5.4": (
        {"kickstart": "kvm-host.ks", "arch": "x86_64", "os_version": "rhel5.4"},
        None, set()),
    "kvm-host-profile-rhel4": (
        {"kickstart": "kvm-host.ks", "arch": "x86_64", "os_version": "rhel4"},
        None, {(E, "KVM_PROFILE_RELEASE")}),
    "kvm-host-profile-rhel5-minor-unknown": (
        {"kickstart": "kvm-host.ks", "arch": "x86_64", "os_version": "rhel5"}, None, set()),
    "kvm-host-template-on-rhel9": (
        {"kickstart": "kvm-host.ks", "arch": "x86_64", "os_version": "rhel9"}, None,
        {(W, "TEMPLATE_ERA_RHEL5")}),
    "rhel9-template-on-rhel5": ({"kickstart": "rhel9-guest.ks", "os_version": "rhel5.4"}, None,
                                {(W, "TEMPLATE_ERA_RHEL9")}),
    "rhel9-template-on-rhel9": ({"kickstart": "rhel9-guest.ks", "os_version": "rhel9"}, None,
                                set()),
    "xen-host-profile-ia64": ({"kickstart": "xen-host.ks", "arch": "ia64", "os_version": "rhel5.4"},
                              None, set()),
    # --- KVM host arch / release (A1 §3, A2 T13) ---
    "kvm-on-i386-host": (kvm(host_arch="i386", arch="i386"), None, {(E, "KVM_HOST_ARCH")}),
    "kvm-host-5.3": (kvm(), HostInfo(release="5.3"), {(E, "KVM_HOST_TOO_OLD")}),
    "kvm-host-5.4": (kvm(), HostInfo(release="5.4"), set()),
    "pxe-host-5.1": (kvm(hypervisor="xen", install_method="pxe", bridge="installation"),
                     HostInfo(release="5.1"), {(E, "PXE_HOST_TOO_OLD")}),
    "pxe-host-5.2": (kvm(hypervisor="xen", install_method="pxe", bridge="installation"),
                     HostInfo(release="5.2"), set()),
    # --- PV install media (A1 50, A2 T12, T19) ---
    "pv-from-iso": (xen(install_method="iso"), None, {(E, "PV_REQUIRES_NETWORK_TREE")}),
    "pv-from-local-media": (xen(install_method="local_media"), None,
                            {(E, "PV_REQUIRES_NETWORK_TREE")}),
    "pv-from-pxe": (xen(install_method="pxe", bridge="xenbr0"), None,
                    {(E, "PV_REQUIRES_NETWORK_TREE")}),
    "pv-ftp-tree": (xen(tree_url="ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/"), None, set()),
    "pv-nfs-tree": (xen(tree_url="nfs:server:/export/tree"), None, set()),
    "pv-file-tree": (xen(tree_url="file:///tmp/tree"), None,
                     {(E, "PV_TREE_SCHEME"), (E, "PV_REQUIRES_NETWORK_TREE")}),
    "pv-smb-tree": (xen(tree_url="smb://server/tree"), None,
                    {(E, "PV_TREE_SCHEME"), (E, "PV_REQUIRES_NETWORK_TREE")}),
    "pv-local-path-tree": (xen(tree_url="/srv/tree"), None,
                           {(E, "PV_TREE_SCHEME"), (E, "PV_REQUIRES_NETWORK_TREE")}),
    # --- Windows (A2 T9-T11, T14; A1 51) ---
    "windows-pv": (xen(guest_os="win2003", arch="i386", install_method="iso"), None,
                   {(E, "WINDOWS_REQUIRES_FULLVIRT"), (E, "PV_REQUIRES_NETWORK_TREE"),
                    (W, "GUEST_UNSUPPORTED")}),
    "windows-network-tree": (kvm(guest_os="win2008", arch="i386", install_method="network_tree"),
                             None, {(E, "WINDOWS_REQUIRES_LOCAL_MEDIA")}),
    "windows-pxe-warns": (kvm(guest_os="win2008", arch="i386", install_method="pxe", bridge="br0"),
                          None, {(W, "WINDOWS_PXE")}),
    "windows-iso-clean": (kvm(guest_os="win2008", arch="i386", install_method="iso"), None, set()),
    "winxp-on-itanium": (xen(virt_type="hvm", guest_os="winxp", arch="ia64", host_arch="ia64",
                             install_method="iso"), None, {(E, "WINDOWS_ON_ITANIUM"),
                                                           (W, "GUEST_UNSUPPORTED")}),
    "winxp-i386-on-itanium": (xen(virt_type="hvm", guest_os="winxp", arch="i386",
                                  host_arch="ia64", install_method="iso"), None,
                              {(E, "WINDOWS_ON_ITANIUM"), (E, "GUEST_ARCH_ON_HOST")}),
    "win2003-on-itanium-ok": (xen(virt_type="hvm", guest_os="win2003", arch="ia64",
                                  host_arch="ia64", install_method="iso"), None, set()),
    "winxp-x86_64-host-ok": (xen(virt_type="hvm", guest_os="winxp", arch="i386",
                                 install_method="iso"), None, set()),
    # --- support matrix (A1 27-31) ---
    "xen-solaris-fv-supported": (xen(virt_type="hvm", guest_os="solaris", arch="i386",
                                     install_method="iso"), None, set()),
    "kvm-solaris-not-in-matrix": (kvm(guest_os="solaris", arch="i386", install_method="iso"), None,
                                  {(W, "GUEST_UNSUPPORTED")}),
    "kvm-win2000-unsupported": (kvm(guest_os="win2000", arch="i386", install_method="iso"), None,
                                {(W, "GUEST_UNSUPPORTED")}),
    "xen-i386-host-win2000-ok": (xen(virt_type="hvm", guest_os="win2000", arch="i386",
                                     host_arch="i386", install_method="iso"), None, set()),
    "xen-pv-rhel5-i386-on-5.3": (xen(arch="i386"), HostInfo(release="5.3"), {(W, "TECH_PREVIEW")}),
    "xen-pv-rhel5-i386-on-5.4": (xen(arch="i386"), HostInfo(release="5.4"), set()),
    "xen-pv-rhel5-i386-on-5.1": (xen(arch="i386"), HostInfo(release="5.1"),
                                 {(W, "GUEST_UNSUPPORTED_RELEASE")}),
    "xen-pv-rhel4-update4": (xen(os_version="rhel4.4"), None, {(E, "GUEST_TOO_OLD_FOR_PV")}),
    "xen-pv-rhel4-update5": (xen(os_version="rhel4.5"), None, set()),
    "xen-pv-rhel4-minor-unknown": (xen(os_version="rhel4"), None, set()),
    "ia64-guest-on-x86_64": (xen(arch="ia64"), None, {(E, "GUEST_ARCH_ON_HOST")}),
    "x86_64-guest-on-i386": (xen(arch="x86_64", host_arch="i386"), None,
                             {(E, "GUEST_ARCH_ON_HOST")}),
    "kvm-rhel5-ia64-guest": (kvm(arch="ia64"), None, {(E, "GUEST_ARCH_ON_HOST")}),
    # --- host CPU (A1 32-34) ---
    "pv-without-pae": (xen(arch="i386", host_arch="i386"),
                       HostInfo(arch="i386", cpu_flags=frozenset({"vmx"}), running_xen=True),
                       {(E, "PV_REQUIRES_PAE")}),
    "fv-without-vt": (xen(virt_type="hvm", install_method="iso"),
                      HostInfo(cpu_flags=frozenset({"pae", "lm"}), running_xen=True),
                      {(E, "FV_REQUIRES_VT")}),
    "kvm-without-lm": (kvm(), HostInfo(release="5.4", cpu_flags=frozenset({"vmx"})),
                       {(E, "KVM_REQUIRES_64BIT_CPU")}),
    "pv-not-running-kernel-xen": (xen(), HostInfo(running_xen=False), {(E, "PV_NEEDS_KERNEL_XEN")}),
    "hypervisor-not-installed": (kvm(), XEN_HOST, {(E, "HYPERVISOR_NOT_INSTALLED")}),
    # --- memory / CPUs (A1 43-47, A2 T16-T17) ---
    "ram-500-refused (issue 15; the seed's oracle 44 said warn)": (
        kvm(ram_mb=500), None, {(E, "RAM_BELOW_512")}),
    "ram-512-ok": (kvm(ram_mb=512), None, set()),
    "vcpus-4-on-4-ok": (kvm(vcpus=4), KVM_HOST, set()),
    "vcpus-5-on-4-warns": (kvm(vcpus=5), KVM_HOST, {(W, "VCPU_OVERCOMMIT"),
                                                    (W, "KVM_VCPU_OVERCOMMIT")}),
    "kvm-sum-40-on-4-cores-warns": (kvm(vcpus=2), HostInfo(cores=4, threads=64, used_vcpus=38),
                                    {(W, "KVM_VCPU_OVERCOMMIT")}),
    "kvm-sum-41-on-4-cores-error": (kvm(vcpus=3), HostInfo(cores=4, threads=64, used_vcpus=38),
                                    {(E, "KVM_VCPU_LIMIT")}),
    "xen-host-ram-tight": (xen(ram_mb=512), HostInfo(ram_mb=4096, used_ram_mb=2048),
                           {(W, "XEN_HOST_RAM")}),
    "kvm-host-ram-overcommit-ok": (kvm(ram_mb=512), HostInfo(ram_mb=4096, used_ram_mb=2048), set()),
    "host-below-minimum": (kvm(), HostInfo(ram_mb=1024, free_disk_gb=5),
                           {(E, "HOST_BELOW_MINIMUM_RAM"), (E, "HOST_BELOW_MINIMUM_DISK")}),
    "xen-i386-17-cores": (xen(arch="i386", host_arch="i386"), HostInfo(arch="i386", cores=17,
                                                                       threads=17),
                          {(W, "HOST_CORE_LIMIT")}),
    "xen-x86_64-5.3-127-cores": (xen(), HostInfo(release="5.3", cores=127, threads=127),
                                 {(W, "HOST_CORE_LIMIT")}),
    "xen-x86_64-5.3-126-cores": (xen(), HostInfo(release="5.3", cores=126, threads=126), set()),
    "xen-x86_64-5.4-256-cores": (xen(), HostInfo(release="5.4", cores=256, threads=256), set()),
    "kvm-65-cores": (kvm(), HostInfo(release="5.4", cores=65, threads=65),
                     {(W, "HOST_CORE_LIMIT")}),
    # --- devices (A1 36-42, C.md 10-11) ---
    "kvm-scsi": (kvm(disk_bus="scsi"), None, {(E, "KVM_NO_SCSI")}),
    "kvm-7-ide": (kvm(disk_bus="ide", disks=7), None, {(E, "KVM_IDE_LIMIT")}),
    "kvm-6-ide": (kvm(disk_bus="ide", disks=6), None, set()),
    "kvm-20-disks-9-nics": (kvm(disks=20, nics=9), None, {(E, "KVM_PCI_SLOTS")}),
    "kvm-20-disks-8-nics": (kvm(disks=20, nics=8), None, set()),
    "kvm-passthrough-counts": (kvm(disks=20, nics=8, pci_passthrough=1), None,
                               {(E, "KVM_PCI_SLOTS")}),
    "kvm-e1000-nics-free": (kvm(disks=20, nics=[{"model": "e1000"}] * 9), None, set()),
    "winxp-virtio-disk": (kvm(guest_os="winxp", arch="i386", install_method="iso"), None,
                          {(E, "WINXP_NO_VIRTIO_BLOCK"), (W, "WINDOWS_CLOCK_BOOT_INI")}),
    "winxp-ide-disk-virtio-nic": (kvm(guest_os="winxp", arch="i386", install_method="iso",
                                      disk_bus="ide"), None, {(W, "WINDOWS_CLOCK_BOOT_INI")}),
    # D1 §9.1 "Windows (XP/2003) -> boot.ini switch /usepmtimer": on KVM only (ch.17), not Vista
    "win2003-kvm-usepmtimer": (kvm(guest_os="win2003sp2", arch="x86_64", install_method="iso",
                                   disk_bus="ide"),
                               None, {(W, "WINDOWS_CLOCK_BOOT_INI")}),
    "vista-kvm-no-boot-ini": (kvm(guest_os="vista", install_method="iso", disk_bus="ide"), None,
                              set()),
    "xen-fv-5-ide": (xen(virt_type="hvm", disk_bus="ide", disks=5, install_method="iso"), None,
                     {(E, "XEN_HVM_IDE_LIMIT")}),
    "xen-fv-4-pv-plus-4-ide": (xen(virt_type="hvm", install_method="iso",
                                   disks=[{"bus": "xen"}] * 4 + [{"bus": "ide"}] * 4), None, set()),
    "xen-16-nics": (xen(nics=16), None, {(E, "XEN_NIC_LIMIT")}),
    "xen-15-nics": (xen(nics=15), None, set()),
    "xen-fv-16-scsi": (xen(virt_type="hvm", disk_bus="scsi", disks=16, install_method="iso"), None,
                       {(E, "XEN_HVM_SCSI_LIMIT")}),
    "xen-pv-257-devices": (xen(disks=250, nics=7), None, {(E, "XEN_PV_DEVICE_LIMIT")}),
    "xen-loop-devices-full": (xen(virt_type="hvm", disk_bus="ide", install_method="iso"),
                              HostInfo(emulated_ide=8), {(E, "XEN_LOOP_DEVICES")}),
    "xen-loop-devices-raised": (xen(virt_type="hvm", disk_bus="ide", install_method="iso"),
                                HostInfo(emulated_ide=8, loop_devices=64), set()),
    "xen-101st-tap-aio": (xen(), HostInfo(tap_aio_disks=100), {(E, "XEN_TAP_AIO_LIMIT")}),
    "xen-phy-disk-past-100": (xen(disks=[{"bus": "xen", "backing": "phy"}]),
                              HostInfo(tap_aio_disks=100), set()),
    # --- network / paths / workloads (A1 26, 52, 53; A2 T18, T23) ---
    "pxe-on-nat": (kvm(install_method="pxe", bridge="virbr0"), None, {(E, "PXE_NEEDS_BRIDGE")}),
    "pxe-on-network-default": (kvm(install_method="pxe", bridge="network:default"), None,
                               {(E, "PXE_NEEDS_BRIDGE")}),
    "pxe-without-bridge": (kvm(install_method="pxe"), None, {(W, "PXE_NO_BRIDGE")}),
    "pxe-on-bridge": (kvm(install_method="pxe", bridge="installation"), None, set()),
    "disk-libvirt-images": (kvm(disk_path="/var/lib/libvirt/images/x.dsk"), None, set()),
    "disk-xen-images": (kvm(disk_path="/var/lib/xen/images/x.img"), None, set()),
    "disk-elsewhere": (kvm(disk_path="/xen/images/a.img"), None, {(W, "SELINUX_NONDEFAULT_PATH")}),
    "disk-prefix-trick": (kvm(disk_path="/var/lib/libvirt/images_evil/x.dsk"), None,
                          {(W, "SELINUX_NONDEFAULT_PATH")}),
    "kdump-server": (kvm(workload_role="kdump server"), None, {(W, "WORKLOAD_AVOID")}),
    "database-from-metadata": (kvm(metadata={"workload_role": "database"}), None,
                               {(W, "WORKLOAD_IO")}),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rules(case: str) -> None:
    values, host, want = CASES[case]
    assert codes(check(values, host)) == want


def test_errors_come_first_and_messages_are_clear() -> None:
    issues = check(kvm(virt_type="pv", ram_mb=256))
    assert [i.level for i in issues] == ["error", "error"]
    assert issues[0] == RuleIssue(
        "error", "virt_type", "KVM does full virtualization only: para-virtualization (pv) works "
        "only with the Xen hypervisor; use virt_type hvm", "PV_REQUIRES_XEN")
    assert issues[1].field == "ram_mb"
    assert issues[1].message == ("256 MiB of RAM is below the minimum of 512 MiB: most operating "
                                 "systems need at least that to be responsive")


def test_limit_appears_in_message() -> None:
    (issue,) = check(kvm(disk_bus="ide", disks=7))
    assert issue.message == "7 IDE devices: KVM emulates at most 6 per guest"
    (issue,) = check(xen(), HostInfo(tap_aio_disks=100))
    assert "use phy: devices or LVM" in issue.message


def test_empty_values_are_clean() -> None:
    """Nothing known, nothing claimed: a bare profile raises no finding."""
    assert check({}) == []


@pytest.mark.parametrize(("values", "host", "level"), [
    (xen(virt_type="hvm", guest_os="solaris", arch="i386"), None, "supported"),
    (kvm(guest_os="winxp", arch="i386"), None, "optimized-pv-net-only"),
    (kvm(), None, "optimized-pv-drivers"),
    (xen(arch="i386"), HostInfo(release="5.3"), "tech-preview"),
    (xen(arch="i386"), HostInfo(release="5.4"), "supported"),
    (xen(), None, "optimized"),
    (kvm(guest_os="win2000", arch="i386"), None, None),
], ids=["xen-solaris", "kvm-winxp-net-only", "kvm-rhel5", "x86-pv-on-5.3", "x86-pv-on-5.4",
        "xen-pv-rhel5", "kvm-win2000-none"])
def test_support_level(values, host, level) -> None:
    assert support_level(values, host) == level


def test_facts_derive_guest_os_and_counts() -> None:
    f = facts(kvm(disks=[{"bus": "virtio"}, {"bus": "ide"}], nics=2, os_version="rhel5.4"))
    assert (f["guest_os"], f["guest_release"], f["guest_family"]) == ("rhel5", "5.4", "rhel")
    assert (f["n_disks"], f["n_ide"], f["n_virtio_disks"], f["n_virtio_nics"]) == (2, 1, 1, 2)
    assert f["kvm_pci_used"] == 3
    assert f["install_method"] is None and f["host_cores"] is None


MORE: dict[str, tuple[dict[str, Any], HostInfo | None, set[tuple[str, str]]]] = {
    "xen-guest-moved-to-kvm": (kvm(original_hypervisor="xen"), None, {(E, "NO_HYPERVISOR_SWITCH")}),
    "kvm-guest-stays-kvm": (kvm(original_hypervisor="kvm"), None, set()),
    "both-hypervisors-installed": (kvm(), HostInfo(hypervisors=("kvm", "xen")),
                                   {(W, "BOTH_HYPERVISORS")}),
    "kvm-rhel4.7-virtio": (kvm(os_version="rhel4.7"), None, {(E, "GUEST_NO_VIRTIO")}),
    "kvm-rhel4.7-ide-e1000": (kvm(os_version="rhel4.7", disk_bus="ide",
                                  nics=[{"model": "e1000"}]), None, set()),
    "kvm-rhel4.8-virtio": (kvm(os_version="rhel4.8"), None, set()),
    "kvm-rhel5.2-virtio": (kvm(os_version="rhel5.2"), None, {(E, "GUEST_NO_VIRTIO")}),
    "kvm-rhel5.3-virtio": (kvm(os_version="rhel5.3"), None, set()),
    "kvm-rhel9-virtio": (kvm(os_version="rhel9"), None, set()),
    "matrix-silent-on-rhel9-guest": (kvm(os_version="rhel9"), None, set()),
    "matrix-silent-on-rhel9-host": (kvm(guest_os="solaris", arch="i386", install_method="iso"),
                                    HostInfo(release="9.2"), set()),
    "selinux-disabled": (kvm(metadata={"selinux": "disabled"}), None, {(W, "SELINUX_DISABLED")}),
    "selinux-enforcing": (kvm(metadata={"selinux": "enforcing"}), None, set()),
    "url-install-from-file": (kvm(install_method="url", tree_url="file:///tmp/tree"), None,
                              {(E, "INSTALL_URL_SCHEME")}),
    "url-install-from-smb": (kvm(install_method="network_tree", tree_url="smb://srv/tree"), None,
                             {(E, "INSTALL_URL_SCHEME")}),
    "ftp-without-host": (kvm(tree_url="ftp://"), None, {(E, "INSTALL_URL_NO_HOST")}),
    "nfs-colon-form-has-host": (kvm(tree_url="nfs:server:/export/tree"), None, set()),
    "http-tree-ok": (kvm(tree_url="http://example.com/RHEL5-tree/Server/x86-64/os/"), None, set()),
    "media-outside-images": (kvm(media_path="/ISOs/WIN/en_windows_server_2003_sp1.iso"), None,
                             {(W, "SELINUX_NONDEFAULT_MEDIA")}),
}


@pytest.mark.parametrize("case", list(MORE), ids=list(MORE))
def test_more_rules(case: str) -> None:
    values, host, want = MORE[case]
    assert codes(check(values, host)) == want


INTEL_NX = HostInfo(vendor="GenuineIntel", cpu_flags=frozenset({"vmx", "nx"}))
INTEL_NO_NX = HostInfo(vendor="GenuineIntel", cpu_flags=frozenset({"vmx"}))
AMD_NX = HostInfo(vendor="AuthenticAMD", cpu_flags=frozenset({"svm", "nx"}))


@pytest.mark.parametrize(("src", "dst", "hv", "want"), [
    (INTEL_NX, AMD_NX, ("kvm", "kvm"), {(E, "MIGRATION_CPU_VENDOR")}),
    (INTEL_NX, INTEL_NO_NX, ("kvm", "kvm"), {(E, "MIGRATION_NX_BIT")}),
    (INTEL_NX, INTEL_NX, ("kvm", "kvm"), set()),
    (INTEL_NX, INTEL_NX, ("xen", "kvm"), {(E, "MIGRATION_HYPERVISOR")}),
    (HostInfo(), HostInfo(), (None, None), set()),
], ids=["intel-to-amd", "nx-on-to-off", "intel-nx-to-intel-nx", "xen-to-kvm", "unknown-silent"])
def test_migration(src: HostInfo, dst: HostInfo, hv, want) -> None:
    assert codes(check_migration(src, dst, *hv)) == want


@pytest.mark.parametrize(("values", "field"), [
    ({"vcpus": "four"}, "vcpus"), ({"ram_mb": -1}, "ram_mb"), ({"ram_mb": True}, "ram_mb"),
    ({"disks": "abc"}, "disks"), ({"disks": [3]}, "disks"), ({"nics": -2}, "nics"),
    ({"metadata": "x"}, "metadata"), ({"disks": 10**9}, "disks"),
    ({"nics": [{"model": "virtio"}] * 5000}, "nics"),
], ids=["vcpus-word", "ram-negative", "ram-bool", "disks-string", "disks-list-of-int",
        "nics-negative", "metadata-not-object", "disks-huge-count", "nics-huge-list"])
def test_malformed_input_is_invalid(values: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as info:
        check(values)
    assert info.value.field == field


def test_windows_clock_message_names_the_switch_from_the_clock_table() -> None:
    """D1 §9.1: Windows XP/2003 -> boot.ini /usepmtimer (never the seed's "/use pmtimer")."""
    issue = next(i for i in check(kvm(guest_os="winxp", install_method="iso", disk_bus="ide"))
                 if i.code == "WINDOWS_CLOCK_BOOT_INI")
    assert "/usepmtimer" in issue.message and "/use pmtimer" not in issue.message
