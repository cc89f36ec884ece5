"""Golden files: every shipped template x fixture context, compared exactly (pytest --regen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.render.configs import Renderer
from tests.conftest import ROOT
from tests.render.fixtures import BOOT_CASES, KICKSTART_CASES

GOLDEN = ROOT / "tests" / "golden"
TEMPLATES = ROOT / "templates"
BOOT_KINDS = ("pxelinux", "grub", "ipxe")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


def golden_path(renderer: Renderer, kind: str, case: str) -> Path:
    ctx = KICKSTART_CASES[case] if kind == "ks" else BOOT_CASES[case]
    template = Path(renderer.template_name(kind, ctx)).name
    return GOLDEN / template / f"{case.split('/')[-1]}.txt"


@pytest.mark.parametrize("case", sorted(KICKSTART_CASES), ids=sorted(KICKSTART_CASES))
def test_kickstart_golden(renderer: Renderer, golden, case: str) -> None:
    golden(golden_path(renderer, "ks", case), renderer.render("ks", KICKSTART_CASES[case]))


BOOT_PAIRS = [(k, c) for k in BOOT_KINDS for c in sorted(BOOT_CASES)]


@pytest.mark.parametrize(("kind", "case"), BOOT_PAIRS, ids=[f"{k}-{c}" for k, c in BOOT_PAIRS])
def test_boot_config_golden(renderer: Renderer, golden, kind: str, case: str) -> None:
    golden(golden_path(renderer, kind, case), renderer.render(kind, BOOT_CASES[case]))


def test_every_shipped_template_has_a_golden_case(renderer: Renderer) -> None:
    covered = {renderer.template_name("ks", c) for c in KICKSTART_CASES.values()}
    covered |= {renderer.template_name(k, c) for k in BOOT_KINDS for c in BOOT_CASES.values()}
    shipped = {str(p.relative_to(TEMPLATES)) for sub in ("kickstarts", "boot")
               for p in (TEMPLATES / sub).iterdir()}
    assert shipped - covered == set()


def test_every_golden_file_belongs_to_a_case(renderer: Renderer) -> None:
    """A renamed case must not leave a stale golden file behind."""
    expected = {golden_path(renderer, "ks", c) for c in KICKSTART_CASES}
    expected |= {golden_path(renderer, k, c) for k, c in BOOT_PAIRS}
    assert set(GOLDEN.glob("*/*.txt")) - expected == set()
