"""The whole comparison: draw the cases, run virt-install on them, classify each.

Used by ``tests/agent/guest/test_virtinstall_equiv.py`` (which fails on any ``meaningful`` or
``mismatch``) and by ``bench/virtinst_equiv.py`` (which writes the counts to
``bench/results/``).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any

from tests.agent.guest.equiv import media, runner
from tests.agent.guest.equiv.compare import Comparer, Outcome
from tests.agent.guest.equiv.generate import Case, cases
from tests.agent.guest.equiv.hosts import HOSTS

KINDS = ("equal", "cosmetic", "seed", "rejected", "by-design", "meaningful", "mismatch")


@dataclass
class Report:
    outcomes: list[Outcome]
    seconds_virtinst: float
    seconds_total: float
    values: dict[str, str] = field(default_factory=dict)
    answers: dict[Case, dict[str, Any]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        c = collections.Counter(o.kind for o in self.outcomes)
        return {k: c.get(k, 0) for k in KINDS}

    def per_host(self) -> dict[str, dict[str, int]]:
        out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for o in self.outcomes:
            out[o.case.host][o.kind] += 1
        return {h: {k: out[h].get(k, 0) for k in KINDS} for h in HOSTS if h in out}

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind in ("meaningful", "mismatch")]

    def text(self, limit: int = 20) -> str:
        lines = [f"{len(self.outcomes)} cases: " + ", ".join(f"{k} {v}"
                                                             for k, v in self.counts().items())]
        for host, counts in self.per_host().items():
            lines.append(f"  {host:12} " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        why = collections.Counter(f"{o.kind}: {o.detail.split(':')[0].split(';')[0]}"
                                  for o in self.outcomes if o.kind in ("seed", "by-design",
                                                                        "rejected"))
        lines += [f"  {n:4} {reason}" for reason, n in sorted(why.items())]
        for o in self.failures()[:limit]:
            lines += [f"-- {o.kind}: {o.case.label}", f"   {o.detail}", *o.diffs[:30]]
        return "\n".join(lines)


def run(n: int = 320, workers: int = 2, use_cache: bool = True) -> Report:
    t0 = time.monotonic()
    values = media.prepare()
    drawn = cases(n)
    with media.tree_server() as url:
        values["url"] = url
        t1 = time.monotonic()
        answers = runner.run(drawn, values, workers=workers, use_cache=use_cache)
        t2 = time.monotonic()
        comparer = Comparer(values)
        try:
            outcomes = [comparer.classify(c, answers[c]) for c in drawn]
        finally:
            comparer.close()
    report = Report(outcomes, t2 - t1, time.monotonic() - t0)
    report.values, report.answers = values, answers
    return report
