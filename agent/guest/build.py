"""virt-install's ``build_guest_instance`` order: options -> defaults -> the seed's rules ->
limits -> the install-phase and final definitions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from agent.guest import install, rules, validate
from agent.guest.defaults import Ctx, set_defaults
from agent.guest.domain import Guest
from agent.guest.host import Host
from agent.guest.ids import Ids
from agent.guest.options import apply_options, parse_args


@dataclass(frozen=True)
class Policy:
    """Which of the agent's own rules run (all, except in the equivalence harness, which
    turns one off at a time to prove it is the only difference from virt-install)."""

    seed_rules: bool = True  # the seed's refusals (rules.check)
    seed_departures: bool = True  # the seed's XML departures (rules.adjust)
    limits: bool = True  # size limits (validate; RAM 0, vCPUs current > max)


DEFAULT_POLICY = Policy()


@dataclass
class Built:
    guest: Guest  # fully defaulted; install-time facts (boot files, reasons) live here
    install: Guest  # install-phase definition (the same object as final for --import)
    final: Guest
    ctx: Ctx

    def __iter__(self) -> Iterator[Guest]:  # (guest, install, final), as callers unpack it
        return iter((self.guest, self.install, self.final))


def build_guest(guest: Guest, host: Host, ids: Ids, policy: Policy = DEFAULT_POLICY) -> Built:
    """Defaults, the seed's departures and rules, limits, then the two definitions."""
    ctx = set_defaults(guest, host, ids, limits=policy.limits, seed=policy.seed_departures)
    install.location_boot(ctx)
    if policy.seed_departures:
        guest.departures += rules.adjust(guest, constant_tsc=host.facts.cpu.constant_tsc)
    if policy.seed_rules:
        rules.check(guest)
    if policy.limits:
        validate.check(ctx)
    first, final = install.phases(ctx, pygrub=policy.seed_departures)
    return Built(guest, first, final, ctx)


def build(argv: Sequence[str], host: Host, ids: Ids, *, print_only: bool = False,
          policy: Policy = DEFAULT_POLICY) -> Built:
    """``Built`` for a virt-install command line (without the program name)."""
    ns = parse_args(argv)
    guest = apply_options(ns)
    guest.print_only = print_only or bool(ns.print_xml)
    return build_guest(guest, host, ids, policy)
