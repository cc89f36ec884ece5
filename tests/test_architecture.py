"""House rules on imports that the import-linter contracts (pyproject.toml) cannot express.

The layering itself (sans-IO cores, pure planners, trees independent, libvirt only in
agent/guest/virt.py...) is checked by ``lint-imports`` in ``scripts/test.sh``. What stays here:
"only the standard library", which a contract cannot list, and "imports at the top of the
module", which a contract cannot see.
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


#: modules allowed to import inside a function, and why
LATE_IMPORTS = {
    # an optional dependency: only a PostgreSQL store needs psycopg
    "provisioner/store/changes.py": "psycopg is installed only where PostgreSQL is used",
    "provisioner/store/leases.py": "psycopg is installed only where PostgreSQL is used",
    # worker processes load only what their role needs (issue 12's process layout)
    "provisioner/net/worker.py": "a worker imports its role's modules only",
    "provisioner/net/roles.py": "a worker imports its role's modules only",
    "provisioner/net/supervisor.py": "the HTTP process does not load the workers' modules",
}


def _late_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [f"{path.relative_to(ROOT)}:{sub.lineno}" for sub in ast.walk(node)
                      if isinstance(sub, ast.Import | ast.ImportFrom)]
    return found


def test_imports_are_at_the_top_of_the_module() -> None:
    """An import inside a function hides a dependency (and usually a cycle); list a module in
    LATE_IMPORTS only with the reason."""
    bad = [where for p in _files("provisioner/**/*.py")
           if p.relative_to(ROOT).as_posix() not in LATE_IMPORTS for where in _late_imports(p)]
    assert not bad, bad
