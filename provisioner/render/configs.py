"""Render kickstarts and per-MAC boot configs from a :class:`BootContext`, failing closed.

``Renderer(templates_dir).render(kind, ctx)`` with ``kind`` one of ``ks``, ``pxelinux``, ``grub``,
``ipxe``. Template files (under ``templates_dir``):

* ``kickstarts/<name>``: the kickstart named by ``ctx.values["kickstart"]``
  (e.g. ``rhel5-guest.ks``);
* ``boot/<kind>.cfg``: install entry (system known, netboot enabled);
* ``boot/<kind>-local.cfg``: boot the local disk (system known, ``netboot_enabled`` False);
* ``boot/<kind>-menu.cfg``: unknown MAC (``ctx.system`` is None): boots locally by default and
  offers an interactive install of ``ctx.profile``.

Every variable a template sees comes from :meth:`Renderer.template_vars`, computed per request from
the context and the URL scheme of the appliance (``/assets/<distro>/kernel``, ``/ks/token/<t>``,
``/cb/<token>/<event>``). Any template problem (syntax, undefined variable, runtime error, sandbox
violation, missing file) raises :class:`RenderError` naming the template and line; partial text is
never returned.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from jinja2 import TemplateNotFound, TemplateSyntaxError

from provisioner.errors import RenderError
from provisioner.models import BootContext
from provisioner.platform import osversion
from provisioner.platform.clock import clock_params
from provisioner.render.env import kopts, make_env
from provisioner.render.validate import KsIssue, validate_kickstart

KINDS = ("ks", "pxelinux", "grub", "ipxe")
_FIX_TEMPLATE = ("fix the template (templates/README.md lists the variables); "
                 "`provisioner validate` renders every profile and system to check")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def parse_os_version(os_version: str) -> tuple[str, int, int | None]:
    """``rhel5.4`` -> ``("rhel", 5, 4)``; ``rhel9`` -> ``("rhel", 9, None)``.

    Anything else -> ``("", 0, None)``.
    """
    v = osversion.parse_os_version(os_version)
    if v is None or not v.family:
        return "", 0, None
    return v.family, v.major, v.minor


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


class Renderer:
    """Renders the four kinds of document from the templates in one directory."""

    def __init__(self, templates_dir: str | Path) -> None:
        self.templates_dir = Path(templates_dir).resolve()
        self.env = make_env(self.templates_dir)

    # ---- template selection -----------------------------------------------------------------

    def template_name(self, kind: str, ctx: BootContext) -> str:
        """The template file (relative to ``templates_dir``) used for ``kind`` and ``ctx``."""
        if kind == "ks":
            name = ctx.value("kickstart")
            if not isinstance(name, str) or not _TEMPLATE_NAME.match(name):
                raise RenderError(f"bad kickstart template name {name!r}", template=str(name))
            return f"kickstarts/{name}"
        if kind not in KINDS:
            raise RenderError(f"unknown render kind {kind!r}; one of {', '.join(KINDS)}")
        if ctx.system is None:
            return f"boot/{kind}-menu.cfg"
        if not ctx.system.netboot_enabled:
            return f"boot/{kind}-local.cfg"
        return f"boot/{kind}.cfg"

    def kickstart_templates(self) -> list[str]:
        """Names of the shipped kickstart templates (for listings and validation runs)."""
        root = self.templates_dir / "kickstarts"
        return sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []

    # ---- variables ----------------------------------------------------------------------------

    def template_vars(self, ctx: BootContext) -> dict[str, Any]:
        """Everything a template may use; plain values, computed from ``ctx`` alone."""
        values = {k: r.value for k, r in ctx.values.items()}
        metadata = dict(values.get("metadata") or {})
        server = ctx.server.rstrip("/")
        distro = ctx.distro
        system = ctx.system
        os_version = values.get("os_version") or distro.os_version
        family, major, minor = parse_os_version(os_version)
        arch = values.get("arch") or distro.arch
        hypervisor = values.get("hypervisor")
        virt_type = values.get("virt_type")
        token = system.token if system is not None else ""

        if system is not None and token:
            ks_url: str | None = f"{server}/ks/token/{token}"
        elif system is not None:
            ks_url = f"{server}/ks/system/{system.name}"
        else:
            ks_url = None
        cb_url = f"{server}/cb/{token}" if system is not None and token else None

        kernel_url = f"{server}/assets/{distro.name}/kernel"
        initrd_url = f"{server}/assets/{distro.name}/initrd"
        if metadata.get("pxe_transport") == "tftp":
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

        era_new = family == "fedora" or major >= 7  # anaconda with inst.* options and curl
        ks_arg = ("inst.ks=" if era_new else "ks=") + ks_url if ks_url else ""
        installer_options = kopts([values.get("kernel_options") or "", ks_arg])
        # RHEL <= 6 installers pick the NIC named by BOOTIF (pxelinux IPAPPEND 2, iPXE) only when
        # told to; RHEL >= 7 do it by themselves
        ksdevice = ("ksdevice=bootif" if not era_new and ks_url
                    and "ksdevice=" not in installer_options else "")

        interfaces = list(system.interfaces) if system is not None else []
        if virt_type == "pv":
            console = "console=xvc0"
        elif hypervisor in ("kvm", "xen"):
            console = "console=tty0 console=ttyS0,115200"
        else:
            console = ""
        clock = ""
        if hypervisor == "kvm" and metadata.get("constant_tsc") is False:
            clock = clock_params(os_version, arch, pv_clock=metadata.get("pv_clock"),
                                       lpj=metadata.get("lpj"))

        return {
            "server": server,
            "system": system,
            "profile": ctx.profile,
            "profiles": ctx.profiles,
            "distro": distro,
            "mac": ctx.mac or (interfaces[0].mac if interfaces else None),
            "values": values,
            "metadata": metadata,
            "hostname": values.get("hostname") or (system.hostname if system else None)
            or (system.name if system else None),
            "interfaces": interfaces,
            "os_version": os_version,
            "os_family": family,
            "os_major": major,
            "os_minor": minor,
            "arch": arch,
            "breed": values.get("breed") or distro.breed,
            "hypervisor": hypervisor,
            "virt_type": virt_type,
            "tree_url": values.get("tree_url") or distro.tree_url,
            "install_source": install_source(values.get("tree_url") or distro.tree_url),
            "kernel_url": kernel_url,
            "initrd_url": initrd_url,
            "boot_kernel": boot_kernel,
            "boot_initrd": boot_initrd,
            "grub_kernel": grub_kernel,
            "grub_initrd": grub_initrd,
            "ks_url": ks_url,
            "cb_url": cb_url,
            "kernel_options": kopts(values.get("kernel_options") or ""),
            "installer_options": installer_options,
            "ksdevice": ksdevice,
            "console_params": console,
            "clock_params": clock,
            # a virtualization HOST without constant TSC: no deep C-states (seed D1 §2.4)
            "host_clock_params": "processor.max_cstate=1"
            if metadata.get("constant_tsc") is False else "",
            # %pre runs in the installer: RHEL <= 6 images carry wget, RHEL >= 7 carry curl
            "fetch": "curl -fsS -o /dev/null" if era_new else "wget -q -O /dev/null",
        }

    # ---- rendering ----------------------------------------------------------------------------

    def validate_kickstart(self, text: str, os_version: str) -> list[KsIssue]:
        """pykickstart on a rendered kickstart (``render/validate.py``)."""
        return validate_kickstart(text, os_version)

    def render(self, kind: str, ctx: BootContext) -> str:
        """Render ``kind`` for ``ctx``; raise :class:`RenderError`, never return partial text."""
        name = self.template_name(kind, ctx)
        try:
            template = self.env.get_template(name)
            text = template.render(self.template_vars(ctx))
        except RenderError:
            raise
        except TemplateSyntaxError as e:
            where = e.filename or e.name or name
            raise RenderError(f"template {self._rel(where)} line {e.lineno}: syntax error: "
                              f"{e.message}", template=self._rel(where), line=e.lineno,
                              hint=_FIX_TEMPLATE) from e
        except TemplateNotFound as e:
            missing = e.name or name
            raise RenderError(f"template {missing} not found (rendering {name})",
                              template=str(missing),
                              hint=f"add it under {self.templates_dir} or name another one "
                                   "in the profile's kickstart") from e
        except Exception as e:  # undefined variable, sandbox violation, runtime error in a filter
            tpl, line = self._template_frame(e.__traceback__, name)
            where = f"template {tpl}" + (f" line {line}" if line is not None else "")
            raise RenderError(f"{where}: {type(e).__name__}: {e}", template=tpl, line=line,
                              hint=_FIX_TEMPLATE) from e
        return text if text.endswith("\n") else text + "\n"

    def _rel(self, filename: str) -> str:
        try:
            return str(Path(filename).resolve().relative_to(self.templates_dir))
        except (ValueError, OSError):
            return filename

    def _template_frame(self, tb: TracebackType | None, default: str) -> tuple[str, int | None]:
        """The innermost traceback frame inside a template file (Jinja rewrites them so)."""
        found: tuple[str, int | None] = (default, None)
        root = str(self.templates_dir) + os.sep
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.startswith(root):
                found = (self._rel(filename), tb.tb_lineno)
            tb = tb.tb_next
        return found
