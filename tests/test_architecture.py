"""The house rules on imports, checked over the source tree (AST, nothing imported).

Rule 1: protocol cores under provisioner/proto are sans-IO. Rule 2: planners are pure.
The two trees never import each other; only agent/guest/virt.py imports libvirt; the core and
renderers know nothing of Flask.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


RULES = [
    # (glob, forbidden import prefixes, why)
    ("provisioner/**/*.py", ("agent",), "provisioner and agent never import each other"),
    ("agent/**/*.py", ("provisioner",),
     "the agent imports nothing of provisioner but the shared seed rules (provisioner.platform)"),
    ("provisioner/proto/**/*.py",
     ("asyncio", "socket", "time", "flask", "libvirt", "provisioner.net", "provisioner.web",
      "provisioner.store", "sqlalchemy", "pyroute2"),
     "protocol cores are sans-IO (house rule 1)"),
    ("provisioner/boot/**/*.py", ("asyncio", "socket", "flask", "provisioner.store"),
     "the boot decision is a pure function"),
    ("agent/plan/**/*.py", ("subprocess", "socket", "pyroute2", "libvirt", "agent.apply"),
     "planners return data and never touch the system (house rule 2)"),
    ("provisioner/core/**/*.py", ("flask", "waitress", "provisioner.web", "provisioner.net"),
     "the core knows no transport"),
    ("provisioner/render/**/*.py", ("flask", "provisioner.web", "provisioner.store"),
     "renderers are pure over a BootContext"),
]


#: the one package both trees import: the seed's rules as data (pure, standard library only)
SHARED = "provisioner.platform"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("glob,forbidden,why", RULES, ids=[r[2] + ": " + r[0] for r in RULES])
def test_forbidden_imports(glob: str, forbidden: tuple[str, ...], why: str) -> None:
    bad = []
    for path in _files(glob):
        for name in _imports(path):
            if _under(name, SHARED):
                continue
            if any(_under(name, f) for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, f"{why}:\n" + "\n".join(bad)


def test_only_virt_py_imports_libvirt() -> None:
    users = [p.relative_to(ROOT).as_posix() for p in _files("agent/**/*.py")
             + _files("provisioner/**/*.py")
             if any(_top(n) in ("libvirt", "libvirt_qemu") for n in _imports(p))]
    assert set(users) <= {"agent/guest/virt.py"}, users


def test_platform_is_pure_stdlib() -> None:
    """provisioner/platform (imported by the agent too) needs nothing but the standard library."""
    bad = [f"{p.relative_to(ROOT)} imports {n}" for p in _files("provisioner/platform/**/*.py")
           for n in _imports(p)
           if _top(n) not in sys.stdlib_module_names and not _under(n, SHARED)]
    assert not bad, bad
