"""xend-config.sxp: the seed's table as data, the S-expression reader/editor, the plans
(D1 §1.2, §3.3, §8.2 and the oracles of §9.3)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from agent import cli
from agent.apply.applier import apply
from agent.apply.system import RealSystem
from agent.plan.steps import Assert, Command, FileStep, PlanError
from agent.plan.xend import XendWant, plan_xend
from agent.run import FakeRunner
from agent.xen.sxp import SxpError, XendEdit, parse_xend, render_value, set_values, settings_dict
from provisioner.platform.xend import (
    effective,
    hosts_allow,
    open_relocation_warning,
    relocation_allowed,
    xend_params,
)
from tests.agent.fixtures.hosts import copy_root

DATA = Path(__file__).resolve().parent / "data"
SXP = (DATA / "xend-config.sxp").read_text()
PATH = "/etc/xen/xend-config.sxp"


# ---- D1 §9.3: the defaults table ----------------------------------------------------------------

@pytest.mark.parametrize(("key", "default"), [
    ("xend-port", "8000"), ("xend-relocation-port", "8002"), ("xend-http-server", "no"),
    ("xend-unix-server", "yes"), ("xend-relocation-server", "no"),
    ("logfile", "/var/log/xend.log"), ("loglevel", "DEBUG"),
    ("enable-dump", "no"),            # the seed's "0"
    ("xend-unix-path", "/var/lib/xend/xend-socket")])
def test_defaults_of_table_16_1(key: str, default: str) -> None:
    assert effective({})[key] == default


def test_every_table_16_1_parameter_is_data() -> None:
    seed = {"console-limit", "min-mem", "dom0-cpus", "enable-dump", "external-migration-tool",
            "logfile", "loglevel", "network-script", "xend-http-server", "xend-unix-server",
            "xend-relocation-server", "xend-unix-path", "xend-port", "xend-relocation-port",
            "xend-relocation-address", "xend-address"}
    assert seed <= set(xend_params())
    assert all(xend_params()[k].source.startswith("seed") for k in seed)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_loglevel_accepts_the_five(level: str) -> None:
    assert settings_dict(parse_xend(f"(loglevel {level})\n")) == {"loglevel": level}


def test_loglevel_refuses_others() -> None:
    with pytest.raises(SxpError, match=r"xend-config.sxp:2: loglevel: 'TRACE'"):
        parse_xend("(logfile /var/log/xend.log)\n(loglevel TRACE)\n", PATH)


@pytest.mark.parametrize(("text", "want"), [
    ("(xend-relocation-address '10.0.0.1')", "10.0.0.1"),
    ("(xend-relocation-address '')", "")])
def test_relocation_address(text: str, want: str) -> None:
    assert settings_dict(parse_xend(text)) == {"xend-relocation-address": want}


# ---- hosts-allow: the guide's regex semantics ---------------------------------------------------

SEED_ALLOW = r"(xend-relocation-hosts-allow '^localhost$ ^localhost\\.localdomain$')"


def test_hosts_allow_parses_to_the_regexes() -> None:
    value = settings_dict(parse_xend(SEED_ALLOW))["xend-relocation-hosts-allow"]
    assert hosts_allow(value) == ["^localhost$", r"^localhost\.localdomain$"]
    assert render_value(value) == r"'^localhost$ ^localhost\\.localdomain$'"


@pytest.mark.parametrize(("peer", "ok"), [
    ("localhost", True), ("localhost.localdomain", True), ("localhostXlocaldomain", False),
    ("evil.localhost", False), ("localhost2", False), ("10.0.0.5", False)])
def test_hosts_allow_allows_and_denies(peer: str, ok: bool) -> None:
    value = settings_dict(parse_xend(SEED_ALLOW))["xend-relocation-hosts-allow"]
    assert relocation_allowed(value, peer) is ok


def test_ip_or_fqdn_matches() -> None:
    assert relocation_allowed(r"^10\.0\.0\.\d+$", "et-virt08.example.com", "10.0.0.8")
    assert relocation_allowed("", "anyone.example.com")            # '' = everyone


def test_empty_hosts_allow_is_warned_with_the_guides_words() -> None:
    plan = plan_xend(SXP, XendWant(relocation=True))
    assert open_relocation_warning() in plan.warnings
    assert "unencrypted" in open_relocation_warning()
    restricted = plan_xend(SXP, XendWant(relocation=True, relocation_address="10.0.0.7",
                                         hosts_allow=(r"^et-virt08\.example\.com$",)))
    assert open_relocation_warning() not in restricted.warnings


# ---- editing: the oracle's four lines, comments kept ------------------------------------------

def test_enabling_relocation_uncomments_the_four_lines_in_place() -> None:
    """D1 §9.3: grep xend-relocation | grep -v '#' shows exactly the seed's four lines."""
    plan = plan_xend(SXP, XendWant(relocation=True))
    [edit] = [s for s in plan.steps if isinstance(s, FileStep)]
    out = edit.edit.apply(SXP)
    assert out is not None
    grep = [ln for ln in out.splitlines() if "xend-relocation" in ln and "#" not in ln]
    assert grep == ["(xend-relocation-server yes)", "(xend-relocation-port 8002)",
                    "(xend-relocation-address '')", "(xend-relocation-hosts-allow '')"]
    # every other line is the same line, in the same place
    changed = [(a, b) for a, b in zip(SXP.splitlines(), out.splitlines(), strict=True)
               if a != b]
    assert [a for a, _ in changed] == ["#(xend-relocation-server no)",
                                       "#(xend-relocation-port 8002)",
                                       "#(xend-relocation-address '')",
                                       "#(xend-relocation-hosts-allow '')"]
    assert edit.edit.apply(out) == out                              # idempotent


def test_real_grep_agrees(tmp_path: Path) -> None:
    f = tmp_path / "xend-config.sxp"
    f.write_text(set_values(SXP, {"xend-relocation-server": "yes", "xend-relocation-port": "8002",
                                  "xend-relocation-address": "",
                                  "xend-relocation-hosts-allow": ""}))
    out = subprocess.run(["sh", "-c", f"grep xend-relocation {f} | grep -v '#'"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out == ("(xend-relocation-server yes)\n(xend-relocation-port 8002)\n"
                   "(xend-relocation-address '')\n(xend-relocation-hosts-allow '')\n")


def test_setting_in_force_is_replaced_where_it_stands() -> None:
    out = set_values(SXP, {"dom0-min-mem": "512", "min-mem": "512"})
    assert "(dom0-min-mem 512)" in out.splitlines() and "(dom0-min-mem 256)" not in out
    assert out.replace("(dom0-min-mem 512)", "(dom0-min-mem 256)") == SXP


def test_unchanged_values_round_trip_byte_for_byte() -> None:
    now = settings_dict(parse_xend(SXP))
    assert set_values(SXP, now) == SXP


def test_vnc_tls_uncomments_and_requires_the_certificates() -> None:
    plan = plan_xend(SXP, XendWant(vnc_tls=True))
    [edit] = [s for s in plan.steps if isinstance(s, FileStep)]
    out = edit.edit.apply(SXP)
    assert out is not None and "(vnc-tls 1)" in out.splitlines()
    [check] = [s for s in plan.steps if isinstance(s, Assert)]
    for f in ("/etc/xen/vnc/ca-cert.pem", "/etc/xen/vnc/server-cert.pem",
              "/etc/xen/vnc/server-key.pem"):
        assert f in check.argv


def test_restart_after_the_edit() -> None:
    plan = plan_xend(SXP, XendWant(dom0_cpus=1))
    assert isinstance(plan.steps[-1], Command)
    assert plan.steps[-1].argv == ("service", "xend", "restart") and plan.steps[-1].only_if_changed


SYSCONFIG_XEND = """# Log all guest console output (cf xm console)
#XENCONSOLED_LOG_GUESTS=no
# Log all hypervisor messages (cf xm dmesg)
#XENCONSOLED_LOG_HYPERVISOR=no
"""


def test_console_log_uncomments_the_sysconfig_line(tmp_path: Path) -> None:
    """T44 (seed 30.12.2): #XENCONSOLED_LOG_GUESTS=no -> XENCONSOLED_LOG_GUESTS=yes, the rest
    byte for byte; xend restarted once, nothing when applied again."""
    root = copy_root("rhel5-xen", tmp_path)
    conf = root / "etc/sysconfig/xend"
    conf.write_text(SYSCONFIG_XEND)
    plan = plan_xend(SXP, XendWant(console_log=True))
    assert [type(s) for s in plan.steps] == [FileStep, Command]   # xend-config.sxp untouched
    runner = FakeRunner({"service xend restart": ""})
    assert apply(plan, RealSystem(root, runner)).ok
    assert conf.read_text() == SYSCONFIG_XEND.replace("#XENCONSOLED_LOG_GUESTS=no",
                                                      "XENCONSOLED_LOG_GUESTS=yes")
    assert runner.calls == [("service", "xend", "restart")]
    again = FakeRunner({"service xend restart": ""})
    assert apply(plan, RealSystem(root, again)).changed == 0 and again.calls == []
    off = plan_xend(SXP, XendWant(console_log=False))
    assert apply(off, RealSystem(root, runner)).ok
    assert "XENCONSOLED_LOG_GUESTS=no\n" in conf.read_text()
    assert conf.read_text().count("XENCONSOLED_LOG_GUESTS") == 1


@pytest.mark.parametrize(("want", "code"), [
    (XendWant(loglevel="LOUD"), "E_BAD_XEND_VALUE"),
    (XendWant(relocation=True, relocation_port=70000), "E_BAD_XEND_VALUE"),
    (XendWant(hosts_allow=("^(unclosed$",)), "E_BAD_XEND_VALUE"),
    (XendWant(settings=(("xend-bogus", "1"),)), "E_BAD_XEND_VALUE"),
    (XendWant(), "E_NOTHING_TO_SET"),
], ids=["loglevel", "port", "regex", "unknown-key", "nothing"])
def test_plan_refuses_bad_requests(want: XendWant, code: str) -> None:
    with pytest.raises(PlanError, match=code):
        plan_xend(SXP, want)


# ---- bad input: a clear error naming file and line; the plan refuses rather than writes -------

BAD = [
    ("unbalanced-open", "(xend-port 8000)\n(dom0-cpus 1\n(loglevel INFO)\n", 2,
     "never closed"),
    ("unbalanced-close", "(xend-port 8000)\n\n(dom0-cpus 1))\n", 3, "without a matching"),
    ("unknown-key", "(xend-port 8000)\n(xend-teleport yes)\n", 2, "unknown parameter"),
    ("binary-junk", "(xend-port 8000)\n\x7fELF\x02\x01\x01\x00\x00\n", 2, "binary data"),
    ("non-ascii", "# ok: caf\xe9 in a comment\n(logfile '/var/log/\xc0')\n", 2,
     "non-ASCII character '\\xc0'"),
    ("unclosed-string", "(xend-relocation-address '10.0.0.1)\n", 1, "string not closed"),
    ("bad-value", "(xend-relocation-server maybe)\n", 1, "yes or no"),
]


@pytest.mark.parametrize(("text", "line", "message"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_corrupt_file_names_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(SxpError) as exc:
        parse_xend(text, PATH)
    assert exc.value.line == line and str(exc.value).startswith(f"{PATH}:{line}: ")
    assert message in str(exc.value)
    with pytest.raises(PlanError, match=re.escape(f"{PATH}:{line}:")):
        plan_xend(text, XendWant(relocation=True))


@pytest.mark.parametrize("name", [b[0] for b in BAD])
def test_apply_refuses_and_leaves_the_file_alone(tmp_path: Path, name: str) -> None:
    """The file turned corrupt after planning: the step fails, nothing is written."""
    text = next(b[1] for b in BAD if b[0] == name)
    root = tmp_path / "root"
    (root / "etc/xen").mkdir(parents=True)
    f = root / "etc/xen/xend-config.sxp"
    f.write_bytes(text.encode("latin-1"))
    plan = plan_xend(SXP, XendWant(relocation=True, hosts_allow=("^peer$",)))
    report = apply(plan, RealSystem(root, FakeRunner()))
    assert not report.ok and PATH in (report.error or "")
    assert f.read_bytes() == text.encode("latin-1")


def test_missing_file_refused() -> None:
    with pytest.raises(PlanError, match="E_NO_XEND_CONFIG"):
        plan_xend(None, XendWant(relocation=True))
    with pytest.raises(SxpError):
        XendEdit((("dom0-cpus", "1"),)).apply(None)


# ---- the CLI: plan (dry run with diff) and apply on a fixture root ----------------------------

def test_cli_plan_and_apply_relocation(tmp_path: Path, capsys) -> None:
    root = copy_root("rhel5-xen", tmp_path)
    conf = root / "etc/xen/xend-config.sxp"
    conf.write_text(SXP)
    args = ["--root", str(root), "--relocation", "on", "--relocation-address", "10.0.0.7",
            "--hosts-allow", r"^et-virt08\.example\.com$", "--hosts-allow", r"^10\.0\.0\.8$",
            "--no-restart"]
    assert cli.main(["plan", "xend", *args]) == 0
    out = capsys.readouterr().out
    assert "-#(xend-relocation-server no)" in out and "+(xend-relocation-server yes)" in out
    assert conf.read_text() == SXP
    assert cli.main(["apply", "xend", "--state-dir", str(tmp_path / "s"), *args]) == 0
    now = settings_dict(parse_xend(conf.read_text()))
    assert now["xend-relocation-hosts-allow"] == r"^et-virt08\.example\.com$ ^10\.0\.0\.8$"
    assert r"(xend-relocation-hosts-allow '^et-virt08\\.example\\.com$ ^10\\.0\\.0\\.8$')" \
        in conf.read_text().splitlines()


def test_cli_refuses_a_corrupt_file(tmp_path: Path, capsys) -> None:
    root = copy_root("rhel5-xen", tmp_path)
    conf = root / "etc/xen/xend-config.sxp"
    conf.write_text("(xend-port 8000)\n(dom0-cpus 1\n")
    rc = cli.main(["plan", "xend", "--root", str(root), "--dom0-cpus", "2"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_REFUSED
    assert "E_XEND_CONFIG_CORRUPT" in err and "/etc/xen/xend-config.sxp:2:" in err
