"""Render kickstarts and per-MAC boot configs from a :class:`BootContext`, failing closed.

``Renderer(templates_dir).render(kind, ctx)`` with ``kind`` one of ``ks``, ``pxelinux``, ``grub``,
``ipxe``. Template files (under ``templates_dir``):

* ``kickstarts/<name>``: the kickstart named by ``ctx.values["kickstart"]``
  (e.g. ``rhel5-guest.ks``);
* ``boot/<kind>.cfg``: install entry (system known, netboot enabled);
* ``boot/<kind>-local.cfg``: boot the local disk (system known, ``netboot_enabled`` False);
* ``boot/<kind>-menu.cfg``: unknown MAC (``ctx.system`` is None): boots locally by default and
  offers an interactive install of ``ctx.profile``.

Every variable a template sees comes from ``render/variables.py``, computed per request from
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

from jinja2 import TemplateNotFound, TemplateSyntaxError

from provisioner.errors import RenderError
from provisioner.models import BootContext
from provisioner.render.env import make_env
from provisioner.render.validate import KsIssue, validate_kickstart
from provisioner.render.variables import template_vars

KINDS = ("ks", "pxelinux", "grub", "ipxe")
_FIX_TEMPLATE = ("fix the template (templates/README.md lists the variables); "
                 "`provisioner validate` renders every profile and system to check")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")




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
        """Everything a template may use (``render/variables.py``)."""
        return template_vars(ctx)

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
