"""The printed plan of a guest: what would be created and started, and why each default.

``provisioner-agent guest --dry-run`` prints it; the work loop sends it with the guest's first
event. Pure: a :class:`~agent.guest.build.Built` in, lines out.
"""

from __future__ import annotations

from agent.guest.build import Built


def steps(built: Built) -> list[str]:
    g = built.guest
    out = [f"create image {d.source_file} ({d.size_gb:g} GiB, {d.fmt or 'qcow2'}, "
           f"{'sparse' if d.sparse else 'preallocated'})"
           for d in g.disk if d.creates_storage]
    out += [f"fetch {src} -> {dest}" for src, dest in g.boot_files]
    if g.transient:
        out.append(f"start {g.name} ({g.uuid}) without a persistent definition (--transient)")
    else:
        phase = "install phase" if built.install is not built.final else "definition"
        out += [f"define {g.name} ({g.uuid}) {phase}"
                + (", autostart" if g.autostart else ""), f"start {g.name}"]
    if built.install is not built.final:
        out.append("after the install: define the final definition"
                   + ("" if g.noreboot else " and start it")
                   + (" (--noreboot)" if g.noreboot else ""))
    return out


def reasons(built: Built) -> list[str]:
    return [f"{what}: {why}" for what, why in built.guest.reasons]


def render(built: Built) -> str:
    lines = [f"would {s}" for s in steps(built)]
    lines += [f"because {r}" for r in reasons(built)]
    return "\n".join(lines) + "\n"
