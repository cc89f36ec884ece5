"""The variables a template sees, computed per request from a :class:`BootContext` alone.

Plain values (strings, numbers, the context's records): the URLs follow the appliance's scheme
(``/assets/<distro>/kernel``, ``/ks/token/<t>``, ``/cb/<token>/<event>``); installer options
follow the distro's era (RHEL <= 6: ``ks=``, ``ksdevice=bootif``, wget; RHEL >= 7 and Fedora:
``inst.ks=``, curl); console and clock parameters follow the hypervisor (the clock rows come
from ``provisioner.platform.clock``). ``templates/README.md`` lists every variable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from provisioner.models import BootContext, Distro, System
from provisioner.platform import osversion
from provisioner.platform.clock import clock_params
from provisioner.render.env import kopts
from provisioner.render.validate import handler_commands


def parse_os_version(os_version: str) -> tuple[str, int, int | None]:
    """``rhel5.4`` -> ``("rhel", 5, 4)``; ``rhel9`` -> ``("rhel", 9, None)``.

    Anything else -> ``("", 0, None)``.
    """
    v = osversion.parse_os_version(os_version)
    if v is None or not v.family:
        return "", 0, None
    return v.family, v.major, v.minor


def _signed_grub(metadata: dict[str, Any], arch: str) -> bool:
    """Booted through Debian's signed shim -> GRUB chain (Secure Boot, and every arm64 client):
    that GRUB cannot load its HTTP module under Secure Boot and ships no arm64 modules here, so
    kernel and initrd come over TFTP (``provisioner.boot.decide``, rule 4)."""
    return metadata.get("secure_boot") is True or arch in ("aarch64", "arm64")


def install_source(tree_url: str) -> str:
    """The kickstart line naming the install tree: ``url --url=...`` for HTTP/HTTPS/FTP,
    ``nfs --server=... --dir=...`` for ``nfs://host/path`` or ``nfs:host:/path`` (seed A2 §10.4)."""
    if tree_url.startswith("nfs:"):
        rest = tree_url[len("nfs:"):]
        if rest.startswith("//"):
            host, _, path = rest[2:].partition("/")
            path = "/" + path
        else:
            host, _, path = rest.partition(":")
        return f"nfs --server={host} --dir={path}"
    return f"url --url={tree_url}"



def _ks_urls(server: str, system: System | None) -> tuple[str | None, str | None]:
    """The kickstart URL (by token when the system has one) and the callback base URL."""
    if system is None:
        return None, None
    if system.token:
        return f"{server}/ks/token/{system.token}", f"{server}/cb/{system.token}"
    return f"{server}/ks/system/{system.name}", None


def _boot_files(server: str, distro: Distro, metadata: dict[str, Any]) -> dict[str, str]:
    """Kernel and initrd as each loader names them: HTTP URLs, TFTP paths, GRUB devices."""
    kernel_url = f"{server}/assets/{distro.name}/kernel"
    initrd_url = f"{server}/assets/{distro.name}/initrd"
    if metadata.get("pxe_transport") == "tftp" or _signed_grub(metadata, distro.arch):
        # plain pxelinux.0 / GRUB without HTTP: paths relative to the TFTP root
        boot_kernel = f"assets/{distro.name}/kernel"
        boot_initrd = f"assets/{distro.name}/initrd"
        grub_kernel, grub_initrd = "/" + boot_kernel, "/" + boot_initrd
    else:
        boot_kernel, boot_initrd = kernel_url, initrd_url
        parts = urlsplit(server)
        netloc = parts.netloc[:-3] if parts.netloc.endswith(":80") else parts.netloc
        grub_kernel = f"(http,{netloc}){parts.path}/assets/{distro.name}/kernel"
        grub_initrd = f"(http,{netloc}){parts.path}/assets/{distro.name}/initrd"
    return {"kernel_url": kernel_url, "initrd_url": initrd_url, "boot_kernel": boot_kernel,
            "boot_initrd": boot_initrd, "grub_kernel": grub_kernel, "grub_initrd": grub_initrd}


def _installer(values: dict[str, Any], ks_url: str | None, era_new: bool) -> dict[str, str]:
    """The installer's kernel options (kickstart location) and ``ksdevice`` for old ones."""
    ks_arg = ("inst.ks=" if era_new else "ks=") + ks_url if ks_url else ""
    installer_options = kopts([values.get("kernel_options") or "", ks_arg])
    # RHEL <= 6 installers pick the NIC named by BOOTIF (pxelinux IPAPPEND 2, iPXE) only when
    # told to; RHEL >= 7 do it by themselves
    ksdevice = ("ksdevice=bootif" if not era_new and ks_url
                and "ksdevice=" not in installer_options else "")
    return {"installer_options": installer_options, "ksdevice": ksdevice}


def _console(hypervisor: str | None, virt_type: str | None) -> str:
    if virt_type == "pv":
        return "console=xvc0"
    if hypervisor in ("kvm", "xen"):
        return "console=tty0 console=ttyS0,115200"
    return ""


def _guest_clock(hypervisor: str | None, metadata: dict[str, Any], os_version: str,
                 arch: str) -> str:
    """A KVM guest on a host without constant TSC gets the seed's clock parameters."""
    if hypervisor == "kvm" and metadata.get("constant_tsc") is False:
        return clock_params(os_version, arch, pv_clock=metadata.get("pv_clock"),
                            lpj=metadata.get("lpj"))
    return ""


def template_vars(ctx: BootContext) -> dict[str, Any]:
    """Everything a template may use; plain values, computed from ``ctx`` alone."""
    values = {k: r.value for k, r in ctx.values.items()}
    metadata = dict(values.get("metadata") or {})
    server, distro, system = ctx.server.rstrip("/"), ctx.distro, ctx.system
    os_version = values.get("os_version") or distro.os_version
    family, major, minor = parse_os_version(os_version)
    arch = values.get("arch") or distro.arch
    hypervisor, virt_type = values.get("hypervisor"), values.get("virt_type")
    era_new = family == "fedora" or major >= 7  # anaconda with inst.* options and curl
    ks_url, cb_url = _ks_urls(server, system)
    interfaces = list(system.interfaces) if system is not None else []
    tree_url = values.get("tree_url") or distro.tree_url
    return {
        "server": server, "system": system, "profile": ctx.profile, "profiles": ctx.profiles,
        "distro": distro, "mac": ctx.mac or (interfaces[0].mac if interfaces else None),
        "values": values, "metadata": metadata,
        "hostname": values.get("hostname") or (system.hostname if system else None)
        or (system.name if system else None),
        "interfaces": interfaces, "os_version": os_version, "os_family": family,
        "os_major": major, "os_minor": minor, "arch": arch,
        "breed": values.get("breed") or distro.breed, "hypervisor": hypervisor,
        "virt_type": virt_type, "tree_url": tree_url, "install_source": install_source(tree_url),
        **_boot_files(server, distro, metadata),
        "ks_url": ks_url, "cb_url": cb_url,
        "kernel_options": kopts(values.get("kernel_options") or ""),
        **_installer(values, ks_url, era_new),
        # the commands this release's installer knows (pykickstart's handler, the validator's)
        "ks_commands": handler_commands(os_version or ""),
        "console_params": _console(hypervisor, virt_type),
        "clock_params": _guest_clock(hypervisor, metadata, os_version, arch),
        # a virtualization HOST without constant TSC: no deep C-states (seed D1 §2.4)
        "host_clock_params": "processor.max_cstate=1"
        if metadata.get("constant_tsc") is False else "",
        # %pre runs in the installer: RHEL <= 6 images carry wget, RHEL >= 7 carry curl
        "fetch": "curl -fsS -o /dev/null" if era_new else "wget -q -O /dev/null",
    }
