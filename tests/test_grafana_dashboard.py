"""docs/grafana-dashboard.json queries only metrics the appliance exports (metrics.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import provisioner.metrics  # noqa: F401 - registers the metrics

ROOT = Path(__file__).resolve().parents[1]


def test_every_query_names_an_exported_metric() -> None:
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    exported = {m.name + ("_total" if m.type == "counter" else "") for m in REGISTRY.collect()}
    used = {n for e in exprs for n in re.findall(r"provisioner_\w+", e)}
    assert used and used <= exported, used - exported
    assert {p["id"] for p in dash["panels"]} == set(range(1, len(dash["panels"]) + 1))
