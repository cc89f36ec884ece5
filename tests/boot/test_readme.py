"""The README's firmware table names every boot file of the decision table (one source: the
table in ``boot/decide.py``; this test keeps the documentation from drifting)."""

from __future__ import annotations

from pathlib import Path

from provisioner.boot.decide import BOOT_FILES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_names_every_boot_file() -> None:
    section = README.read_text().split("### Network boot: which firmware gets which file")[1]
    table = section.split("\n\n")[2]
    for row in BOOT_FILES.values():
        assert f"`{row.file}`" in table, row.file
