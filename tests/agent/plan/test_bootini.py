"""Windows XP/2003 clock plan (seed ch.17, D1 §2.6/§9.1): boot.ini gets /usepmtimer."""

from __future__ import annotations

import pytest

from agent.plan.bootini import BootIniSwitch, plan_boot_ini
from agent.plan.steps import FileStep, Manual, PlanError

BOOT_INI = (
    "[boot loader]\r\n"
    "timeout=30\r\n"
    "default=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n"
    "[operating systems]\r\n"
    "; keep this comment\r\n"
    'multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS="Windows XP Professional" /noexecute=optin'
    " /fastdetect\r\n"
)


def test_switch_added_to_os_line_only_crlf_kept() -> None:
    edit = BootIniSwitch("/usepmtimer", "/use pmtimer")
    out = edit.apply(BOOT_INI)
    assert out is not None
    lines = out.split("\r\n")
    assert lines[5].endswith('/noexecute=optin /fastdetect /usepmtimer')
    assert lines[:5] == BOOT_INI.split("\r\n")[:5]          # [boot loader] untouched
    assert edit.apply(out) == out                           # idempotent


def test_seed_typo_is_replaced_not_kept() -> None:
    text = BOOT_INI.replace("/fastdetect", "/fastdetect /use pmtimer")
    out = BootIniSwitch("/usepmtimer", "/use pmtimer").apply(text)
    assert out is not None and "/use pmtimer" not in out and out.count("/usepmtimer") == 1


def test_plan_edits_given_file_or_says_how() -> None:
    plan = plan_boot_ini("winxp", "/mnt/guest/boot.ini")
    assert isinstance(plan.steps[0], FileStep) and plan.steps[0].path == "/mnt/guest/boot.ini"
    manual = plan_boot_ini("win2003", None)
    assert isinstance(manual.steps[0], Manual) and "/usepmtimer" in manual.steps[0].text


def test_refusals() -> None:
    with pytest.raises(PlanError, match="E_NO_BOOT_INI_RULE"):
        plan_boot_ini("vista", None)
    with pytest.raises(PlanError, match="E_NO_BOOT_INI"):
        BootIniSwitch("/usepmtimer").apply(None)
    with pytest.raises(PlanError, match="E_BOOT_INI_NO_OS_LINE"):
        BootIniSwitch("/usepmtimer").apply("[boot loader]\ntimeout=30\n")
