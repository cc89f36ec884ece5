"""The project's wheel and its dependencies, for an offline install into a Vagrant box.

The set is the one this installation runs: the transitive requirements of ``provisioner`` (plus
the requested extras) *as installed here*, pinned to the installed versions. So the appliance VM
runs the code and the library versions the tests ran against, and a box's cache key changes when
any of them does. :func:`closure` is pure over a look-up function; :func:`build` is the thin
adapter that asks pip for the wheels (``pip wheel --no-deps``: pip's own configuration and
caches apply, nothing is installed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

#: ``name -> (version, requirement strings)`` or None when the distribution is not installed.
Lookup = Callable[[str], tuple[str, list[str]] | None]

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, frozenset[str], str | None]:
    """``(name, extras, extra the requirement is conditional on or None)``."""
    spec, _, marker = requirement.partition(";")
    m = _REQ.match(spec)
    if not m:
        raise ValueError(f"unparsable requirement {requirement!r}")
    extras = frozenset(normalize(e) for e in (m.group(2) or "").split(",") if e.strip())
    cond = _EXTRA.search(marker)
    return normalize(m.group(1)), extras, normalize(cond.group(1)) if cond else None


def closure(root: str, extras: Iterable[str], lookup: Lookup) -> dict[str, str]:
    """``{name: version}`` of ``root`` and everything it needs, as installed.

    A requirement counts when it is unconditional or conditional on a requested extra, and the
    distribution is installed (an environment marker such as ``python_version < '3.10'`` that
    was false here left it uninstalled, so it is skipped, as pip skipped it).
    """
    found: dict[str, str] = {}
    todo = [(normalize(root), frozenset(normalize(e) for e in extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, want = todo.pop()
        if (name, want) in seen:
            continue
        seen.add((name, want))
        info = lookup(name)
        if info is None:
            if name == normalize(root):
                raise LookupError(f"{root} is not installed in this environment")
            continue
        version, requires = info
        found[name] = version
        for req in requires:
            dep, dep_extras, cond = parse(req)
            if cond is None or cond in want:
                todo.append((dep, dep_extras))
    return dict(sorted(found.items()))


def missing(requirements: Iterable[str], extras: Iterable[str], lookup: Lookup) -> list[str]:
    """The checkout's own requirements (``pyproject.toml``) that are not installed here.

    :func:`closure` follows the *installed* metadata of the project, which is stale after a
    ``git pull`` that added a dependency until ``scripts/setup.sh`` runs again; the box's
    offline ``pip install`` would then fail deep inside the image build.
    """
    want = {normalize(e) for e in extras}
    out = []
    for req in requirements:
        name, _extras, cond = parse(req)
        if cond is None and req.partition(";")[2].strip():
            continue  # an environment marker (python_version ...): pip may rightly skip it
        if (cond is None or cond in want) and lookup(name) is None:
            out.append(req.partition(";")[0].strip())
    return out


def project_requirements(pyproject: Path, extras: Iterable[str]) -> list[str]:
    """``dependencies`` plus the requested optional ones, from the checkout's pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        reqs += [f"{r}; extra == '{extra}'" for r in optional.get(extra, [])]
    return reqs


def installed(name: str) -> tuple[str, list[str]] | None:
    """:data:`Lookup` over this Python's installed distributions."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return dist.version, list(dist.requires or [])


def pins(found: dict[str, str], root: str = "provisioner") -> list[str]:
    """``name==version`` for every dependency (the project itself is built from source)."""
    return [f"{n}=={v}" for n, v in found.items() if n != normalize(root)]


def build(dest: Path, project: Path, requirements: list[str], log: Path,
          timeout: float = 900) -> list[Path]:
    """Wheels of ``requirements`` and of the checkout ``project`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        for what in (requirements, [str(project)]):
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                   "-q", "-w", str(dest), *what]
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=True)
    return sorted(dest.glob("*.whl"))
