"""The guide's error catalogue (notes E §24, oracles T31-T41) as log samples: each sample line,
as the seed prints it, names exactly its own row, with the details the fix needs. Every row of
doctor.toml that reads logs has a sample here, and every plan a row prints parses as a real
``provisioner-agent`` command line."""

from __future__ import annotations

import json
import shlex

import pytest

from agent import cli
from agent.doctor.diagnose import diagnose, matching_ids
from agent.facts.health import Health
from provisioner.platform.doctor import catalogue
from tests.agent.fixtures.hosts import facts_of

#: row id -> (log sample from the seed, details the finding must carry)
LOG_CASES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "E1": [("Error: Error connecting to xend: Connection refused. Is xend running?", {})],   # T31
    "E1b": [("RuntimeError: (2, 'No such file or directory' )", {}),                         # T32
            ("Error: Could not obtain handle on privileged command interfaces (2 = No such "
             "file or directory)", {})],
    "E3": [("[2006-11-21 20:33:31 xend 3198] DEBUG (balloon:133) Balloon: 558432 KiB free;"  # T33
            " 0 to scrub; need 1048576; retries: 20.",
            {"free_kib": "558432", "need_kib": "1048576", "shortfall_kib": "490144"}),
           ("[2006-12-21] 20:33:31 xend 3198] DEBUG (balloon:133) Balloon: 558432 Kib free; 0 "
            "to scrub; need 1048576; retries: 20", {"shortfall_kib": "490144"})],
    "E4": [("wrong kernel image: non-PAE kernel on a PAE", {})],                             # T34
    "E5": [("Your CPU does not support long mode. Use a 32 bit distribution", {})],
    "E6": [("Unable to open a connection to the Xen hypervisor or daemon", {}),              # T35
           ("Unable to open a connection to the Xen hypervisor/daemon", {})],
    "E7": [("[2007-03-01 15:07:08 xend 3116] DEBUG Bridge xenbr1 does not exist!",           # T36
            {"bridge": "xenbr1"}),
           ("Error: Device 0 (vif) could not be connected. Hotplug scripts not working.", {})],
    "E8": [("Non-ASCII character '\\xc0' in file win2k3xen12 on line 1, but no encoding",    # T37
            {"guest": "win2k3xen12", "line": "1"}),
           ("Error: invalid syntax (win2k3xen12, line 1)", {"guest": "win2k3xen12"})],
    "E9": [("Going to boot Red Hat Enterprise Linux Server (2.6.18-1.2839.el5)\n"           # T38
            "kernel: /vmlinuz-2.6.18-1.2839.el5\ninitrd: /initrd-2.6.18-1.2839.el5.img\n"
            "Error: (22, 'Invalid argument')", {"kernel": "2.6.18-1.2839.el5"})],
    "E11": [("Applying Intel CPU microcode update: FATAL: Module microcode not found.", {}),  # T39
            ("ERROR: Module microcode does not exist in /proc/modules", {})],
    "E13": [("xen-platform-pci.o: unresolved symbol __ioremap_R9eac042a",                   # T40
             {"module": "xen-platform-pci"})],
    "E14": [("Warning: kernel-module version mismatch\nModule xen-platform-pci loaded, with "
             "warnings", {"module": "xen-platform-pci"})],
    "E20": [("ERROR: Will only load images built for Xen v3.0", {})],                       # T41
    "H2": [("kvm: disabled by bios", {})],
}


def _with_log(text: str):
    return diagnose(facts_of("rhel54-kvm"), Health(logs={"/var/log/xen/xend.log": text}))


def test_every_log_row_has_a_sample() -> None:
    reads_logs = {e.id for e in catalogue() if e.log or e.log_all}
    assert reads_logs == set(LOG_CASES)


@pytest.mark.parametrize("row,sample,details",
                         [(r, s, d) for r, cases in LOG_CASES.items() for s, d in cases])
def test_sample_names_its_row(row: str, sample: str, details: dict[str, str]) -> None:
    assert matching_ids(sample) == [row]
    found = [f for f in _with_log(sample) if f.id == row]
    assert found, f"{row} not found in {sample!r}"
    got = dict(found[0].details)
    assert {k: got.get(k) for k in details} == details
    assert found[0].evidence and found[0].evidence[0].startswith("/var/log/xen/xend.log:")


def test_balloon_fix_names_a_smaller_dom0() -> None:
    """T33: the fix's xm mem-set and the plan's dom0_mem use dom0's memory less the shortfall."""
    f = next(f for f in _with_log(LOG_CASES["E3"][0][0]) if f.id == "E3")
    mem_kib = facts_of("rhel54-kvm").mem_kib
    target = (mem_kib - 490144) // 1024
    assert f"xm mem-set Domain-0 {target}" in f.fix
    assert f.plan == f"provisioner-agent plan bootparams --hypervisor-arg dom0_mem={target}M"
    assert "490144 KiB short" in f.cause


def test_safe_warning_is_not_reported_when_symbols_are_unresolved() -> None:
    """T40: 'unresolved symbol' is E13 (fatal); then 'loaded, with warnings' is not E14."""
    text = ("xen-platform-pci.o: unresolved symbol flush_signals_R50973be2\n"
            "Module xen-platform-pci loaded, with warnings")
    assert {f.id for f in _with_log(text)} >= {"E13"}
    assert "E14" not in {f.id for f in _with_log(text)}


def test_pv_guest_booting_its_xen_kernel_is_not_e9() -> None:
    text = "kernel: /vmlinuz-2.6.18-1.2839.el5xen\nError: (22, 'Invalid argument')"
    assert "E9" not in {f.id for f in _with_log(text)}


def test_unrelated_log_lines_find_nothing() -> None:
    text = ("[2007-03-01 15:07:08 xend 3116] DEBUG (DevController:143) Waiting for devices vbd.\n"
            "libvirtd: 12:00:00: info : Starting\n")
    assert [f.id for f in _with_log(text)] == []


def _plans() -> list[tuple[str, str]]:
    fill = {"GUEST": "rhel5vm01", "NIC": "eth0", "ADDR": "192.0.2.10", "REGEX": "^peer$",
            "{bridge}": "xenbr1", "{guest}": "rhel5vm01", "{dom0_target_mib}": "512",
            "{nic}": "eth0", "{module}": "kvm_intel", "{load_args}": "--load xen_vbd"}
    out = []
    for e in catalogue():
        if e.plan:
            cmd = e.plan
            for k, v in fill.items():
                cmd = cmd.replace(k, v)
            out.append((e.id, cmd))
    return out


@pytest.mark.parametrize("row,command", _plans())
def test_each_plan_is_a_real_command_line(row: str, command: str) -> None:
    words = shlex.split(command)
    assert words[0] == "provisioner-agent" and "{" not in command, command
    args = cli.build_parser().parse_args(words[1:])    # exits (fails the test) if not valid
    assert callable(args.func)


@pytest.mark.parametrize("row", sorted(LOG_CASES))
def test_sample_in_a_fixture_roots_log_through_the_cli(row: str, tmp_path, capsys) -> None:
    """The same samples as files of a fixture root (`doctor --root`): the guide's log files
    are found, read and matched end to end."""
    from tests.agent.fixtures.hosts import copy_root

    root = copy_root("rhel5-xen", tmp_path)
    log = root / ("var/log/messages" if row == "H2" else "var/log/xen/xend.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("unrelated line\n" + LOG_CASES[row][0][0] + "\n")
    assert cli.main(["doctor", "--root", str(root), "--json"]) in (0, 1)
    rep = json.loads(capsys.readouterr().out)
    found = [f for f in rep["findings"] if f["id"] == row]
    assert found and found[0]["evidence"][0].startswith(f"/{log.relative_to(root)}:")
