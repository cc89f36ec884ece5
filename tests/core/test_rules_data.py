"""The rule data files are well formed, and every rule is exercised by a named case."""

from __future__ import annotations

import pytest

from provisioner.core import rules
from provisioner.platform.tables import table
from tests.core.test_rules import CASES, MORE

SUPPORT_CODES = {"GUEST_UNSUPPORTED", "GUEST_UNSUPPORTED_RELEASE", "TECH_PREVIEW"}
OPS = {"gt", "ge", "lt", "le", "ne", "not_in", "lt_version", "ge_version"}


def all_rules() -> list[dict]:
    data = table("rules")
    return data["rule"] + data["migration"]


@pytest.mark.parametrize("rule", all_rules(), ids=[r["code"] for r in all_rules()])
def test_rule_is_well_formed(rule: dict) -> None:
    assert set(rule) == {"code", "level", "field", "when", "message"}
    assert rule["level"] in rules.LEVELS
    assert rule["when"], "a rule without conditions would always fire"
    for cond in rule["when"].values():
        if isinstance(cond, dict):
            assert set(cond) <= OPS
            for operand in cond.values():
                if isinstance(operand, str) and operand.startswith("$"):
                    assert rules._operand(operand, {}) is not None, operand


def test_codes_are_unique() -> None:
    codes = [r["code"] for r in all_rules()]
    assert len(codes) == len(set(codes))


def test_every_rule_fires_in_some_case() -> None:
    fired = {code for values, host, want in {**CASES, **MORE}.values() for _, code in want}
    migration = {r["code"] for r in table("rules")["migration"]}
    defined = {r["code"] for r in rules.rules()} | SUPPORT_CODES
    assert defined - fired == set()
    assert migration  # exercised by test_migration


def test_support_rows_are_valid() -> None:
    data = table("support")
    levels = {"optimized", "supported", "optimized-pv-drivers", "optimized-pv-net-only",
              "tech-preview"}
    for row in data["support"]:
        assert row["hypervisor"] in ("kvm", "xen") and row["virt_type"] in ("hvm", "pv")
        assert ("level" in row) != ("levels_by_host_release" in row)
        for lvl in [row.get("level")] + [s[1] for s in row.get("levels_by_host_release", [])]:
            assert lvl is None or lvl in levels
        for _os, arch in row["guests"]:
            assert arch in data["arch_compat"][row["host_arch"]], (row, arch)
    assert not [r for r in data["support"] if r["hypervisor"] == "kvm" and r["virt_type"] == "pv"]
