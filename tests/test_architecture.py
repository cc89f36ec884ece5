"""House rules on imports that the import-linter contracts (pyproject.toml) cannot express.

The layering itself (sans-IO cores, pure planners, trees independent, libvirt only in
agent/guest/virt.py...) is checked by ``lint-imports`` in ``scripts/test.sh``. What stays here:
"only the standard library", which a contract cannot list.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the one package both trees import: the seed's rules as data (pure, standard library only)
SHARED = "provisioner.platform"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(pattern: str) -> list[Path]:
    return sorted(p for p in ROOT.glob(pattern) if "__pycache__" not in p.parts)


def _top(name: str) -> str:
    return name.split(".")[0]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_platform_is_pure_stdlib() -> None:
    """provisioner/platform (imported by the agent too) needs nothing but the standard library."""
    bad = [f"{p.relative_to(ROOT)} imports {n}" for p in _files("provisioner/platform/**/*.py")
           for n in _imports(p)
           if _top(n) not in sys.stdlib_module_names and not _under(n, SHARED)]
    assert not bad, bad
