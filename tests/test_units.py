"""The product's systemd units parse (``systemd-analyze verify``; runs without systemd as PID 1)
and the appliance's hardening drop-in names the capabilities the unprivileged test grants."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "packaging" / "systemd"
pytestmark = pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd")


def capabilities(line: str) -> set[str]:
    text = (UNITS / "provisioner.service.d" / "hardening.conf").read_text()
    found = re.search(rf"^{line}=(.*)$", text, re.M)
    assert found, line
    return set(found.group(1).split())


def _verify(tmp: Path, name: str, text: str) -> str:
    # the venv of a real install is not here: ExecStart points at a program that exists
    text = re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", text, flags=re.M)
    (tmp / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp / name)], capture_output=True,
                       text=True, timeout=60)
    return f"exit {r.returncode}: {r.stdout}{r.stderr}" if r.returncode or r.stdout + r.stderr \
        else ""  # an unknown or misspelt key is only a warning: any output fails


@pytest.mark.parametrize("name", ["provisioner.service", "provisioner-agent.service"])
def test_units_verify(tmp_path: Path, name: str) -> None:
    assert _verify(tmp_path, name, (UNITS / name).read_text()) == ""


def test_appliance_with_its_hardening_verifies(tmp_path: Path) -> None:
    base = (UNITS / "provisioner.service").read_text()
    dropin = (UNITS / "provisioner.service.d" / "hardening.conf").read_text()
    merged = base.replace("[Install]", dropin.split("[Service]", 1)[1] + "\n[Install]")
    assert _verify(tmp_path, "provisioner.service", merged) == ""
    assert capabilities("AmbientCapabilities") == capabilities("CapabilityBoundingSet") == {
        "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"}
