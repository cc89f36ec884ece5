"""Wall time of each phase of the Vagrant lab, as a user runs it, and the direct lab beside it.

    sudo .venv/bin/python bench/vagrant_lab_bench.py [--repeats N] [--cold] [--direct]
                                                     [--out bench/results/vagrant_lab.txt]

Each repeat runs, as the README shows, ``provisioner lab vagrant up appliance pxe1
--times-json F`` (contained libvirtd, box from the cache, ``vagrant up``: the appliance VM boots
and is provisioned, pxe1 network-boots from it until ``done``), then ``lab vagrant down``, and
collects the phases the command timed. ``--cold`` first rebuilds the appliance box
(``lab box build --force``; Debian packages come from the builder's package cache when it has
them: delete ``/var/cache/provisioner/lab/debs`` for a download-cold build). ``--direct`` also
runs ``provisioner lab up --guests 1 --mode qemu --wait installed`` (the same appliance code
and boot kit with no Vagrant and no appliance VM: processes in a namespace, QEMU on a tap)
in the same run, as the reference for the PXE part. Medians over the repeats; the machine's load
average is written next to them because the VMs are emulated (TCG) and share the 2 cores.
Nothing is asserted: this is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
LAB = [PY, "-m", "provisioner.cli", "lab"]


def _run(argv: list[str], timeout: float, fatal: bool = True) -> float | None:
    t0 = time.monotonic()
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        why = f"failed: {' '.join(argv)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        if fatal:
            sys.exit(why)
        print(why, file=sys.stderr)
        return None
    return time.monotonic() - t0


def vagrant_round(d: Path) -> dict[str, float]:
    times = d / "times.json"
    total = _run([*LAB, "vagrant", "up", "--dir", str(d / "env"), "--times-json", str(times),
                  "appliance", "pxe1"], 3600) or 0.0
    phases = {name: secs for name, secs in json.loads(times.read_text())}
    phases["TOTAL lab vagrant up appliance pxe1"] = round(total, 1)
    phases["lab vagrant down"] = round(_run([*LAB, "vagrant", "down", "--dir",
                                             str(d / "env")], 600) or 0.0, 1)
    return phases


def _direct(d: Path) -> float | None:
    """``lab up --mode qemu``: the lab boots QEMU on a tap itself (no agent, no libvirt)."""
    data = d / "direct"
    env = [PY, "-m", "provisioner.cli", "--data-dir", str(data), "lab"]
    try:
        return _run([*env, "up", "--guests", "1", "--mode", "qemu", "--wait", "installed"], 900,
                    fatal=False)
    finally:
        subprocess.run([*env, "down"], cwd=ROOT, capture_output=True, timeout=300)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--cold", action="store_true", help="rebuild the appliance box first")
    p.add_argument("--direct", action="store_true", help="also time `lab up` (no Vagrant)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vagrant_lab.txt")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    rows: dict[str, list[float]] = {}
    lines = [f"# {' '.join(sys.argv)}", f"# {time.strftime('%Y-%m-%d %H:%M')}"]
    if args.cold:
        t = _run([*LAB, "box", "build", "--force"], 3600) or 0.0
        lines.append(f"lab box build --force (appliance box, package cache warm): {t:.0f} s")
    direct: list[float] = []
    for _ in range(args.repeats):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="vlab-bench-") as tmp:
            for name, secs in vagrant_round(Path(tmp)).items():
                rows.setdefault(name, []).append(secs)
            if args.direct:
                got = _direct(Path(tmp))
                if got is None:
                    lines.append("# reference run failed (see stderr)")
                else:
                    direct.append(got)
        lines.append(f"# load average (1 min) at the start of a repeat: {load:.1f}")
    width = max(len(n) for n in rows)
    lines.append(f"{'phase':<{width}}  median s   (each repeat)")
    for name, vals in rows.items():
        each = ", ".join(f"{v:.1f}" for v in vals)
        lines.append(f"{name:<{width}}  {statistics.median(vals):8.1f}   ({each})")
    if direct:
        lines.append(f"reference: provisioner lab up --guests 1 --mode qemu --wait installed "
                     "(same appliance code and boot kit, no Vagrant, no appliance VM): "
                     f"median {statistics.median(direct):.1f} s "
                     f"({', '.join(f'{v:.1f}' for v in direct)})")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
