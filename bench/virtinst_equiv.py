"""The agent's guest definitions against real virt-install on generated command lines: the
classification counts of the equivalence harness, and the time each tool takes per definition.

    .venv/bin/python bench/virtinst_equiv.py [--cases 320] [--repeats 3] [--no-cache]
        [--out bench/results/virtinst_equiv.txt]

The harness is the test's (``tests/agent/guest/equiv/``): Hypothesis draws the command lines
(derandomized: the same cases on every machine) across four fixture hosts (KVM x86-64, TCG
x86-64, Xen x86-64, KVM aarch64); virt-install 4.1 and the agent each produce the install and
final definitions, which are compared after libvirt's own parser. Classes: equal, cosmetic
(order, explicit defaults), seed (a seed variant's documented departures are the whole
difference), rejected (both refuse), by-design (only the agent refuses, with a size limit or a
seed rule; with that rule off it matches), meaningful and mismatch (the test fails on these).

Timing, side by side in the same run, medians of ``--repeats`` over a sample of the cases:
``virt-install`` as a user runs it (one process per command, ``--dry-run --print-xml``), the
agent as a user runs it (``python -m agent.guest.cli guest --print-xml`` with the same host's
capabilities files), and the in-process cost of each (virtinst's ``main()`` in a batch; the
agent's ``build()``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.guest.build import build  # noqa: E402
from agent.guest.errors import GuestError  # noqa: E402
from agent.guest.ids import sequential  # noqa: E402
from tests.agent.guest.equiv import harness  # noqa: E402
from tests.agent.guest.equiv.hosts import HOSTS, agent_host  # noqa: E402


def _agent_inprocess(report: harness.Report, repeats: int) -> float:
    times = []
    for case in [o.case for o in report.outcomes]:
        argv = [a.format(**report.values) for a in case.argv]
        per = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            try:
                build(argv, agent_host(case.host), sequential(), print_only=True)
            except GuestError:
                pass
            per.append(time.perf_counter() - t0)
        times.append(statistics.median(per))
    return statistics.median(times)


def _processes(report: harness.Report, sample: int, repeats: int) -> tuple[float, float]:
    """Median seconds per command line: one virt-install process vs one agent process."""
    cases = [o.case for o in report.outcomes if o.kind in ("equal", "cosmetic")]
    cases = [c for c in cases if c.host == "kvm-x86_64"][:sample]
    vi, ag = [], []
    for case in cases:
        argv = [a.format(**report.values) for a in case.argv]
        fx = HOSTS[case.host]
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(["virt-install", "--connect", fx.uri(), *argv, "--dry-run",
                            "--print-xml"], capture_output=True, timeout=300)
            vi.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "agent.guest.cli", "guest", "--caps",
                            str(fx.caps_path), "--domcaps", str(fx.domcaps_path), *argv,
                            "--print-xml"], capture_output=True, timeout=300, cwd=ROOT)
            ag.append(time.perf_counter() - t0)
    return statistics.median(vi), statistics.median(ag)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=10, help="cases timed as processes")
    parser.add_argument("--no-cache", action="store_true", help="run virt-install on every case")
    parser.add_argument("--out", default=str(ROOT / "bench/results/virtinst_equiv.txt"))
    args = parser.parse_args()
    report = harness.run(args.cases, use_cache=not args.no_cache)
    fresh = [a["s"] for a in report.answers.values() if "s" in a and not a.get("cached")]
    agent_s = _agent_inprocess(report, args.repeats)
    vi_proc, ag_proc = _processes(report, args.sample, args.repeats)
    lines = [
        f"command: .venv/bin/python bench/virtinst_equiv.py {' '.join(sys.argv[1:])}".rstrip(),
        f"reference: {harness.runner.versions()} (Debian packages)",
        "",
        report.text(limit=20),
        "",
        "seconds per command line (medians):",
        f"  virt-install process (--dry-run --print-xml)  {vi_proc:.3f}   "
        f"(sample of {args.sample} KVM cases x {args.repeats})",
        f"  agent process (guest --print-xml)            {ag_proc:.3f}",
        f"  virt-install in-process (batched main())     "
        f"{statistics.median(fresh) if fresh else float('nan'):.3f}   "
        f"(cases run this time: {len(fresh)})",
        f"  agent in-process (build())                   {agent_s:.4f}   "
        f"(all {len(report.outcomes)} cases x {args.repeats})",
        f"harness wall time {report.seconds_total:.1f} s, of which virt-install "
        f"{report.seconds_virtinst:.1f} s",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 1 if report.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
