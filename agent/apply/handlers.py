"""How the applier checks and changes each kind of step: one handler per step type.

:data:`HANDLERS` maps every :class:`~agent.plan.steps.Step` type to a :class:`Handler`: a
``check`` that never changes anything and answers ``(converged, detail)``, and an ``act`` that
makes the change and appends to ``undo`` the journal ops that reverse exactly what it changed
(as it goes, so a step failing halfway is still undone). Steps with no ``act`` (``Manual``,
``Assert``) are never changes: the applier only reports them (an ``Assert`` whose command fails
stops the plan).

Undo ops are JSON-able dicts (they are persisted by :class:`~agent.apply.journal.Journal`):
``{"op": "file", "path", "old", "mode"}``, ``{"op": "net", "call", "kw", "phase"}``,
``{"op": "cmd", "argv"}``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.apply.netlink import NetOps
from agent.apply.system import System
from agent.plan.steps import (
    AddAddress,
    Assert,
    Command,
    EnslaveLink,
    EnsureLink,
    FileStep,
    Manual,
    MoveAddress,
    MoveRoute,
    SetMtu,
    Step,
)

UndoOp = dict[str, Any]


class StepFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Handler:
    """The applier's view of one step type.

    ``status`` is what the report says of a converged step (``unchanged``; ``manual`` and
    ``checked`` for the steps that are never changes). ``skip(step, changed_before)`` lets a
    step wait for an earlier change; ``verify(step)`` says whether to check again after acting.
    """

    check: Callable[[Any, System], tuple[bool, str]]
    act: Callable[[Any, System, list[UndoOp]], None] | None = None
    status: str = "unchanged"
    skip: Callable[[Any, bool], bool] = lambda step, changed_before: False
    verify: Callable[[Any], bool] = lambda step: True


def net(system: System) -> NetOps:
    if system.net is None:
        raise StepFailed("this plan changes live networking but no network target was given "
                         "(--netns NAME, or --live-host on a real host)")
    return system.net


def _diff(path: str, old: str | None, new: str | None) -> str:
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True),
                                        (new or "").splitlines(keepends=True),
                                        fromfile=f"a{path}", tofile=f"b{path}"))


def _no_link(name: str) -> LookupError:
    return LookupError(f"no such link: {name}")


# ---- files -------------------------------------------------------------------------------


def _check_file(step: FileStep, system: System) -> tuple[bool, str]:
    old = system.read(step.path)
    new = step.edit.apply(old)
    if step.secret:  # never print a key: say what happens, not what it is
        what = "removed" if new is None else "created" if old is None else "replaced"
        return new == old, f"{step.path}: secret {what} (content not shown)\n"
    return new == old, _diff(step.path, old, new)


def _act_file(step: FileStep, system: System, undo: list[UndoOp]) -> None:
    old = system.read(step.path)
    mode = system.mode(step.path)
    new = step.edit.apply(old)
    undo.append({"op": "file", "path": step.path, "old": old, "mode": mode})
    if new is None:
        system.remove(step.path)
    else:
        system.write(step.path, new, step.mode)


# ---- links -------------------------------------------------------------------------------


def _check_ensure_link(step: EnsureLink, system: System) -> tuple[bool, str]:
    link = net(system).links().get(step.name)
    if link is None:
        return False, f"{step.name} does not exist"
    if link.kind != step.kind:
        raise StepFailed(f"{step.name} exists but is a {link.kind or 'plain'} link, "
                         f"not a {step.kind}")
    want = {"up": True, "mtu": step.mtu, "stp": step.stp,
            "forward_delay": step.forward_delay, "mac": step.mac}
    diff = [f"{k}: {getattr(link, k)} -> {v}" for k, v in want.items()
            if v is not None and getattr(link, k) != v]
    return not diff, "; ".join(diff)


def _act_ensure_link(step: EnsureLink, system: System, undo: list[UndoOp]) -> None:
    n = net(system)
    link = n.links().get(step.name)
    if link is None:
        n.add_link(step.name, step.kind)
        undo.append({"op": "net", "call": "del_link", "kw": {"name": step.name}})
    else:
        undo.append({"op": "net", "call": "set_link", "kw": {
            "name": step.name, "mtu": link.mtu, "up": link.up,
            "stp": link.stp if step.stp is not None else None,
            "forward_delay": link.forward_delay if step.forward_delay is not None else None,
            "mac": link.mac if step.mac is not None else None}})
    n.set_link(step.name, mtu=step.mtu, stp=step.stp, forward_delay=step.forward_delay,
               mac=step.mac, up=True)


def _check_enslave(step: EnslaveLink, system: System) -> tuple[bool, str]:
    link = net(system).links().get(step.name)
    if link is None:
        raise _no_link(step.name)
    return link.master == step.master and link.up, f"master {link.master} -> {step.master}"


def _act_enslave(step: EnslaveLink, system: System, undo: list[UndoOp]) -> None:
    n = net(system)
    link = n.links()[step.name]
    undo.append({"op": "net", "call": "set_link",
                 "kw": {"name": step.name, "master": link.master, "up": link.up}})
    n.set_link(step.name, master=step.master, up=True)


def _check_mtu(step: SetMtu, system: System) -> tuple[bool, str]:
    link = net(system).links().get(step.name)
    if link is None:
        raise _no_link(step.name)
    return link.mtu == step.mtu, f"mtu {link.mtu} -> {step.mtu}"


def _act_mtu(step: SetMtu, system: System, undo: list[UndoOp]) -> None:
    n = net(system)
    link = n.links()[step.name]
    undo.append({"op": "net", "call": "set_link", "kw": {"name": step.name, "mtu": link.mtu}})
    n.set_link(step.name, mtu=step.mtu)


# ---- addresses and routes ----------------------------------------------------------------


def _check_move_address(step: MoveAddress, system: System) -> tuple[bool, str]:
    n = net(system)
    on_dst = step.cidr in n.addrs(step.dst)
    on_src = step.src in n.links() and step.cidr in n.addrs(step.src)
    return on_dst and not on_src, f"on {step.src}: {on_src}, on {step.dst}: {on_dst}"


def _act_move_address(step: MoveAddress, system: System, undo: list[UndoOp]) -> None:
    n = net(system)
    if step.cidr not in n.addrs(step.dst):
        n.add_addr(step.dst, step.cidr)
        undo.append({"op": "net", "call": "del_addr", "kw": {"name": step.dst,
                                                              "cidr": step.cidr}})
    undo.append({"op": "net", "call": "add_addr", "kw": {"name": step.src, "cidr": step.cidr}})
    if step.cidr in n.addrs(step.src):
        gw_routes = [r for r in n.routes() if r.dev == step.src and r.gateway]
        n.del_addr(step.src, step.cidr)
        left = n.routes()
        for r in gw_routes:   # the kernel drops routes through the address with it
            if r not in left:
                undo.append({"op": "net", "call": "add_route", "phase": 1, "kw": {
                    "dst": r.dst, "dev": r.dev, "gateway": r.gateway, "metric": r.metric}})


def _check_add_address(step: AddAddress, system: System) -> tuple[bool, str]:
    return step.cidr in net(system).addrs(step.dev), ""


def _act_add_address(step: AddAddress, system: System, undo: list[UndoOp]) -> None:
    net(system).add_addr(step.dev, step.cidr)
    undo.append({"op": "net", "call": "del_addr", "kw": {"name": step.dev, "cidr": step.cidr}})


def _check_move_route(step: MoveRoute, system: System) -> tuple[bool, str]:
    routes = net(system).routes()
    on_dst = any(r.dst == step.dst and r.dev == step.dev and r.gateway == step.gateway
                 for r in routes)
    on_src = any(r.dst == step.dst and r.dev == step.src and r.gateway == step.gateway
                 for r in routes)
    return on_dst and not on_src, f"on {step.src}: {on_src}, on {step.dev}: {on_dst}"


def _act_move_route(step: MoveRoute, system: System, undo: list[UndoOp]) -> None:
    n = net(system)
    routes = n.routes()
    kw = {"dst": step.dst, "gateway": step.gateway, "metric": step.metric}
    # Putting the route back on the source is always part of the undo (the kernel may
    # already have dropped it with the source's address); it runs in the last phase.
    undo.append({"op": "net", "call": "add_route", "kw": {**kw, "dev": step.src}, "phase": 1})
    if not any(r.dst == step.dst and r.dev == step.dev and r.gateway == step.gateway
               for r in routes):
        n.add_route(dev=step.dev, dst=step.dst, gateway=step.gateway, metric=step.metric)
        undo.append({"op": "net", "call": "del_route", "kw": {**kw, "dev": step.dev}})
    for r in routes:
        if r.dst == step.dst and r.dev == step.src and r.gateway == step.gateway:
            n.del_route(step.dst, step.src, r.gateway, r.metric)


# ---- commands ----------------------------------------------------------------------------


def _check_command(step: Command, system: System) -> tuple[bool, str]:
    if step.when is not None and not system.run(step.when).ok:
        return True, "condition not met: " + " ".join(step.when)
    if step.check is None:
        return False, ""
    return system.run(step.check).ok, ""


def _act_command(step: Command, system: System, undo: list[UndoOp]) -> None:
    res = system.run(step.argv)
    if not res.ok:
        raise StepFailed(f"{' '.join(step.argv)} failed (rc {res.returncode}): "
                         f"{(res.stderr or res.stdout).strip()}")
    if step.undo:
        undo.append({"op": "cmd", "argv": list(step.undo)})


def _check_assert(step: Assert, system: System) -> tuple[bool, str]:
    if not system.run(step.argv).ok:
        raise StepFailed(f"precondition failed: {step.message}")
    return True, ""


def _check_manual(step: Manual, system: System) -> tuple[bool, str]:
    return True, ""


HANDLERS: dict[type[Step], Handler] = {
    FileStep: Handler(_check_file, _act_file),
    EnsureLink: Handler(_check_ensure_link, _act_ensure_link),
    EnslaveLink: Handler(_check_enslave, _act_enslave),
    SetMtu: Handler(_check_mtu, _act_mtu),
    MoveAddress: Handler(_check_move_address, _act_move_address),
    AddAddress: Handler(_check_add_address, _act_add_address),
    MoveRoute: Handler(_check_move_route, _act_move_route),
    Command: Handler(_check_command, _act_command,
                     skip=lambda step, changed_before: step.only_if_changed and not changed_before,
                     verify=lambda step: step.check is not None),
    Assert: Handler(_check_assert, status="checked"),
    Manual: Handler(_check_manual, status="manual"),
}


def handler(step: Step) -> Handler:
    try:
        return HANDLERS[type(step)]
    except KeyError:
        raise TypeError(f"no handler for {type(step).__name__}") from None


def check(step: Step, system: System) -> tuple[bool, str]:
    """(converged, detail) for one step; never changes anything.

    A link that does not exist yet (an earlier step creates it; seen in dry runs) means
    "not converged", not an error.
    """
    try:
        return handler(step).check(step, system)
    except LookupError as exc:
        return False, f"{exc.args[0] if exc.args else exc} (yet)"
