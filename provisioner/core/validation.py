"""Validating a profile or system: the seed's platform rules, then the rendered kickstart.

Findings carry where they came from (``rules``, ``render``, ``pykickstart``, ``inventory``) and
the field they concern, so the API, the CLI and the UI can each show them their own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provisioner.core import rules
from provisioner.core.ports import Renderer
from provisioner.errors import Invalid, NotFound, RenderError
from provisioner.models import BootContext, Distro


@dataclass(frozen=True)
class Finding:
    """One validation finding for a profile or system."""

    subject: str  # "profile:<name>" or "system:<name>"
    level: str  # "error" | "warning"
    source: str  # "rules", "render", "pykickstart", "inventory"
    field: str
    message: str
    line: int | None = None


def check(subject: str, ctx: BootContext, renderer: Renderer) -> list[Finding]:
    """Platform rules on the resolved values, then pykickstart on the rendered kickstart."""
    values = {k: r.value for k, r in ctx.values.items()}
    found = [Finding(subject, i.level, "rules", i.field, i.message) for i in rules.check(values)]
    try:
        text = renderer.render("ks", ctx)
    except RenderError as exc:
        found.append(Finding(subject, "error", "render", "kickstart", str(exc), exc.line))
        return found
    found += [Finding(subject, i.level, "pykickstart", "kickstart", i.message, i.line)
              for i in renderer.validate_kickstart(text, ctx.distro.os_version)]
    return found


def broken_reference(subject: str, exc: NotFound | Invalid) -> list[Finding]:
    """The finding for a profile or system whose references or inheritance are broken."""
    field = exc.field if isinstance(exc, Invalid) else None
    return [Finding(subject, "error", "inventory", field or "", str(exc))]


def secure_boot_kernel(subject: str, ctx: BootContext,
                       signed: Callable[[Distro], bool | None]) -> list[Finding]:
    """A Secure Boot machine boots through shim -> signed GRUB, which verifies the kernel too:
    an unsigned one stops at "bad shim signature" after DHCP and TFTP went well. ``signed`` says
    whether the distro's local kernel file carries a signature (None: not a local file, e.g. a
    URL; nothing to say)."""
    if (ctx.value("metadata") or {}).get("secure_boot") is not True:
        return []
    if signed(ctx.distro) is not False:
        return []
    fix = (f"`provisioner bootloaders install --kernel {ctx.distro.name}` fetches Debian's signed "
           "kernel" if ctx.distro.breed == "debian" else
           "use the distribution's signed kernel (and its own shim/GRUB)")
    return [Finding(subject, "error", "secure-boot", "kernel",
                    f"the kernel of distro {ctx.distro.name} carries no signature: Secure Boot "
                    f"firmware will refuse it (bad shim signature); {fix}")]

