"""Boot parameter plans: guest clock table, host C-states, Xen hypervisor vs dom0 arguments,
serial consoles, switching the default entry between Xen and KVM kernels.

Pure: ``plan_boot_params(facts, want) -> Plan``; the clock table is
``provisioner/platform/data/clock.toml`` (one table, shared with the appliance).
Where the arguments go depends on the boot loader the probe found:

- GRUB legacy (``grub.conf``): edited in place; Xen hypervisor arguments on the
  ``kernel /xen.gz-...`` line, dom0 arguments on the first ``module`` line (seed 28.5, ch. 25);
- GRUB 2: ``grubby --update-kernel=ALL --args=...`` when grubby is installed (plus
  ``/etc/default/grub`` for future kernels), otherwise ``/etc/default/grub`` and
  ``update-grub``/``grub2-mkconfig``;
- ELILO: ``append="<hypervisor args> -- <kernel args>"``, ``--`` always kept (seed ch. 26).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.facts.model import HostFacts
from agent.plan.grub import (
    DefaultGrubArgs,
    EliloArgs,
    GrubArgs,
    GrubChain,
    GrubDefault,
    GrubGlobals,
)
from agent.plan.steps import (
    Command,
    FileStep,
    LineRule,
    Lines,
    Plan,
    PlanError,
    Step,
    TextEdit,
)
from provisioner.platform.clock import (
    clock_arch,
    clock_release,
    clock_row,
    seed_release_needs_params,
)
from provisioner.platform.osversion import parse_release

ACPI = ("off", "force", "strict", "ht", "noirq")
_COM = re.compile(r"^com[12]=(auto|\d+)(,[5-8][noe][12](,0x[0-9a-fA-F]+(,\d+)?)?)?$")
_SIZE = re.compile(r"^\d+[BKMG]?$")


def guest_clock_params(version: str, arch: str, *, pv_clock: bool | None = None,
                       lpj: int | None = None) -> tuple[list[str], list[str]]:
    """(kernel arguments, warnings) for a RHEL KVM guest, from the seed's table
    (:mod:`provisioner.platform.clock`, shared with the appliance's kickstarts).

    Never returns the literal ``lpj=n``: with no number the token is left out and a warning
    says so. ``pv_clock`` None means "as the guest supports" (True from 5.4 on). A release the
    seed does not list gets the row of its kernel generation and a warning.
    """
    if clock_arch(arch) is None:
        raise PlanError("E_ARCH_UNSUPPORTED", f"no clock parameters for architecture {arch!r}")
    release = clock_release(version) if parse_release(version) is not None else None
    if release is None:
        raise PlanError("E_BAD_VERSION", f"bad RHEL version {version!r}")
    if release[0] >= 6:
        return [], []                        # kvm-clock: nothing needed
    row = clock_row(release, arch, pv_clock=pv_clock)
    if row is None:
        raise PlanError("E_GUEST_UNSUPPORTED", f"no clock parameters for RHEL {version}")
    warnings: list[str] = []
    if release != parse_release(row.seed):
        then = (f"{row.seed} needs nothing" if not seed_release_needs_params(row.seed)
                else f"using the {row.seed} row")
        warnings.append(f"RHEL {version} is not in the seed's table; {then}")
    params = list(row.params)
    if row.lpj:
        if lpj is not None:
            if not isinstance(lpj, int) or lpj <= 0:
                raise PlanError("E_BAD_LPJ", f"lpj must be a positive integer, not {lpj!r}")
            params.append(f"lpj={lpj}")
        else:
            warnings.append("lpj unknown: left out (the seed's lpj=n is a placeholder; "
                            "pass the host's loops-per-jiffy to add it)")
    return params, warnings


def validate_hypervisor_arg(token: str) -> None:
    """Seed ch. 25/26 syntax checks for Xen hypervisor arguments."""
    key, _, val = token.partition("=")
    if key == "acpi" and val not in ACPI:
        raise PlanError("E_BAD_ACPI", f"acpi={val}: one of {', '.join(ACPI)}")
    if key in ("com1", "com2") and not _COM.match(token):
        raise PlanError("E_BAD_COM", f"{token}: <baud|auto>,<DPS>[,<io_base>[,<irq>]]")
    if key in ("mem", "dom0_mem") and not _SIZE.match(val):
        raise PlanError("E_BAD_SIZE", f"{token}: a size with an optional B/K/M/G suffix")
    if key == "dom0_max_vcpus" and not val.isdigit():
        raise PlanError("E_BAD_VCPUS", f"{token}: a number")


def serial_args(port: str, speed: int = 115200) -> tuple[list[str], list[str], list[str]]:
    """(hypervisor args, kernel/dom0 args, GRUB global lines) for a serial console (seed 30.12).

    dom0 uses ``console=ttyS0`` even with com2 (Xen-specific, seed 30.12.1).
    """
    if port not in ("com1", "com2"):
        raise PlanError("E_BAD_SERIAL", f"serial port {port!r}: com1 or com2")
    hv = [f"{port}={speed},8n1"] + (["console=com2L"] if port == "com2" else [])
    kernel = ["console=tty0", f"console=ttyS0,{speed}"]
    unit = 0 if port == "com1" else 1
    globals_ = [f"serial --unit={unit} --speed={speed} --word=8 --parity=no --stop=1",
                "terminal --timeout=10 serial console"]
    return hv, kernel, globals_


@dataclass(frozen=True)
class GuestClock:
    version: str                  # the guest's RHEL version ("5.4")
    arch: str                     # x86_64 | i686 ...
    pv_clock: bool | None = None
    lpj: int | None = None


@dataclass(frozen=True)
class BootWant:
    host_cstate: str = "auto"                 # auto | yes | no: processor.max_cstate=1
    kernel_args: tuple[str, ...] = ()         # regular (non-Xen) kernels / dom0 on Xen hosts
    hypervisor_args: tuple[str, ...] = ()     # Xen hypervisor (xen.gz line / before --)
    dom0_args: tuple[str, ...] = ()           # Xen dom0 kernel (module line / after --)
    remove_args: tuple[str, ...] = ()
    serial: str | None = None                 # com1 | com2
    serial_speed: int = 115200
    default_hypervisor: str | None = None     # xen | kvm: switch the default entry
    guest_clock: GuestClock | None = None     # these facts are a guest's: add its clock args
    force_console: bool = False               # allow console= for the ELILO hypervisor
    extra_remove: tuple[str, ...] = field(default=())


def _steps_grub_legacy(facts: HostFacts, want: BootWant, regular: list[str], hv: list[str],
                       dom0: list[str], glob: list[str]) -> list[Step]:
    edits: list[TextEdit] = []
    if regular or want.remove_args:
        edits.append(GrubArgs("regular", "kernel", tuple(regular), want.remove_args))
    if hv:
        edits.append(GrubArgs("xen", "kernel", tuple(hv)))
    if dom0 or want.remove_args:
        edits.append(GrubArgs("xen", "dom0", tuple(dom0), want.remove_args))
    if glob:
        edits.append(GrubGlobals(tuple(glob)))
    if want.default_hypervisor:
        edits.append(GrubDefault("xen" if want.default_hypervisor == "xen" else "regular"))
    if not edits:
        return []
    return [FileStep(facts.bootloader.config or "/boot/grub/grub.conf", GrubChain(tuple(edits)),
                     why="GRUB legacy: only the named lines change; everything else is kept")]


def _steps_grub2(facts: HostFacts, want: BootWant, args: list[str], hv: list[str],
                 glob: list[str]) -> list[Step]:
    """GRUB 2: ``/etc/default/grub`` (``GRUB_CMDLINE_LINUX``; Xen hypervisor arguments in
    ``GRUB_CMDLINE_XEN`` and the serial terminal in ``GRUB_TERMINAL``/``GRUB_SERIAL_COMMAND``,
    the variables grub-mkconfig reads; not from the seed, which predates GRUB 2), then grubby
    for the installed kernels when present, else grub-mkconfig/update-grub."""
    if not (args or want.remove_args or hv or glob):
        return []
    edits: list[TextEdit] = []
    if args or want.remove_args:
        edits.append(DefaultGrubArgs("GRUB_CMDLINE_LINUX", tuple(args), want.remove_args))
    if hv:
        edits.append(DefaultGrubArgs("GRUB_CMDLINE_XEN", tuple(hv)))
    if glob:
        edits.append(Lines((LineRule('GRUB_TERMINAL="console serial"', r"^\s*GRUB_TERMINAL="),
                            LineRule(f'GRUB_SERIAL_COMMAND="{glob[0]}"',
                                     r"^\s*GRUB_SERIAL_COMMAND="))))
    steps: list[Step] = [FileStep("/etc/default/grub", GrubChain(tuple(edits)),
                                  why="grub-mkconfig builds every entry from these variables")]
    rhel = facts.distro.family == "rhel"
    mkconfig = (("grub2-mkconfig", "-o", facts.bootloader.config or "/boot/grub2/grub.cfg")
                if rhel else ("update-grub",))
    if facts.bootloader.grubby:
        if args:
            probe = " && ".join(
                f"! grubby --info=ALL | grep '^args=' | grep -qv -e {shlex.quote(t)}"
                for t in args)
            steps.append(Command(("grubby", "--update-kernel=ALL", "--args=" + " ".join(args)),
                                 check=("sh", "-c", probe),
                                 undo=("grubby", "--update-kernel=ALL",
                                       "--remove-args=" + " ".join(args)),
                                 why="grubby edits every installed kernel's entry"))
        if want.remove_args:
            steps.append(Command(("grubby", "--update-kernel=ALL",
                                  "--remove-args=" + " ".join(want.remove_args)),
                                 why="drop conflicting arguments"))
        if hv or glob:
            steps.append(Command(mkconfig, only_if_changed=True,
                                 why="the terminal and Xen lines come from grub-mkconfig"))
    else:
        steps.append(Command(mkconfig, only_if_changed=True,
                             why="regenerate grub.cfg from /etc/default/grub"))
    return steps


@dataclass
class _Args:
    """The arguments a boot parameter plan writes, by where they go."""

    regular: list[str]            # kernel line of regular entries / GRUB_CMDLINE_LINUX
    hv: list[str]                 # the Xen hypervisor
    dom0: list[str]               # the dom0 kernel (first module line)
    glob: list[str] = field(default_factory=list)    # GRUB legacy global lines (serial)
    extra: list[Step] = field(default_factory=list)  # steps besides the boot loader's
    warnings: list[str] = field(default_factory=list)


def plan_boot_params(facts: HostFacts, want: BootWant) -> Plan:
    """Pure: host (or guest) facts + wanted parameters -> steps for its boot loader."""
    args = _collect_args(facts, want)
    _check_switch(facts, want, args.warnings)
    loader = LOADERS.get(facts.bootloader.kind or "")
    if loader is None:
        raise PlanError("E_NO_BOOTLOADER", "no GRUB legacy, GRUB 2 or ELILO configuration found")
    steps = loader(facts, want, args) + args.extra
    title = "boot parameters"
    if want.guest_clock:
        title = f"guest clock parameters (RHEL {want.guest_clock.version} {want.guest_clock.arch})"
    return Plan(title, tuple(steps), warnings=tuple(args.warnings))


def _collect_args(facts: HostFacts, want: BootWant) -> _Args:
    """The wanted arguments, checked, plus the guest clock, C-state and serial ones."""
    args = _Args(list(want.kernel_args), list(want.hypervisor_args), list(want.dom0_args))
    for tok in args.hv:
        validate_hypervisor_arg(tok)
    for tok in args.regular + args.dom0:
        if tok.strip() in ("lpj=n", "lpj=N"):
            raise PlanError("E_LITERAL_LPJ", "lpj=n is the seed's placeholder, not a value")
    if want.guest_clock is not None:
        g = want.guest_clock
        clock, w = guest_clock_params(g.version, g.arch, pv_clock=g.pv_clock, lpj=g.lpj)
        args.regular += clock
        args.warnings += w
    cstate = want.host_cstate == "yes" or (want.host_cstate == "auto"
                                           and want.guest_clock is None
                                           and not facts.cpu.constant_tsc)
    if cstate:
        args.regular.append("processor.max_cstate=1")
        args.warnings.append("no constant_tsc: deep C-states disabled for guest timekeeping "
                             "(seed ch. 17 says this is for AMD revision F CPUs)")
        if facts.cpu.cpufreq_max and facts.distro.family == "rhel":
            top = str(facts.cpu.cpufreq_max)
            args.extra.append(FileStep("/etc/sysconfig/cpuspeed", Lines((
                LineRule(f"MIN_SPEED={top}", r"^\s*MIN_SPEED="),
                LineRule(f"MAX_SPEED={top}", r"^\s*MAX_SPEED="))),
                why="cpufreq pinned to the highest frequency (seed ch. 17)"))
    if want.serial:
        s_hv, s_kernel, args.glob = serial_args(want.serial, want.serial_speed)
        args.hv += s_hv
        args.regular += s_kernel
        args.dom0 += s_kernel
    return args


def _check_switch(facts: HostFacts, want: BootWant, warnings: list[str]) -> None:
    """Switching the default entry between Xen and KVM kernels (seed 28.2)."""
    if want.default_hypervisor and want.default_hypervisor not in ("xen", "kvm"):
        raise PlanError("E_BAD_HYPERVISOR", "default hypervisor: xen or kvm")
    if not want.default_hypervisor:
        return
    if facts.bootloader.kind != "grub-legacy":
        raise PlanError("E_SWITCH_NEEDS_GRUB_LEGACY",
                        "switching between Xen and KVM kernels is the RHEL 5 GRUB legacy "
                        "procedure (seed 28.2)")
    if facts.distro.family == "rhel" and facts.distro.version_tuple < (5, 4):
        raise PlanError("E_KVM_NEEDS_5_4", "KVM is not available before RHEL 5.4")
    warnings.append("the switch takes effect at the next reboot; verify with uname -r / "
                    "lsmod | grep kvm")


def _loader_grub_legacy(facts: HostFacts, want: BootWant, args: _Args) -> list[Step]:
    return _steps_grub_legacy(facts, want, args.regular, args.hv, args.dom0, args.glob)


def _loader_grub2(facts: HostFacts, want: BootWant, args: _Args) -> list[Step]:
    if want.dom0_args:
        raise PlanError("E_DOM0_ARGS_NEED_GRUB_LEGACY_OR_ELILO",
                        "separate dom0 arguments are planned for GRUB legacy or ELILO; on "
                        "GRUB 2 use kernel arguments (GRUB_CMDLINE_LINUX)")
    return _steps_grub2(facts, want, args.regular, args.hv, args.glob)


def _loader_elilo(facts: HostFacts, want: BootWant, args: _Args) -> list[Step]:
    if any(t.startswith("console=") for t in args.hv) and not want.force_console:
        raise PlanError("E_ELILO_CONSOLE", "leave the hypervisor console= out on ELILO: it "
                        "inherits the EFI console (seed ch. 26)")
    kern = list(dict.fromkeys(args.regular + args.dom0))
    return [FileStep(facts.bootloader.config or "/etc/elilo.conf",
                     EliloArgs(tuple(args.hv), tuple(kern)),
                     why="ELILO passes one line; '--' separates hypervisor and kernel")]


#: boot loader kind (from the probe) -> its steps
LOADERS: dict[str, Callable[[HostFacts, BootWant, _Args], list[Step]]] = {
    "grub-legacy": _loader_grub_legacy, "grub2": _loader_grub2, "elilo": _loader_elilo}
