"""Run the real virt-install on many cases: batched, in parallel, cached by input hash.

``virtinst_runner.py`` (run by the system interpreter, like ``/usr/bin/virt-install``) takes
command lines on stdin; here the cases are split over ``workers`` such processes. A result is
cached under ``$XDG_CACHE_HOME/provisioner/virtinst-equiv/`` keyed by the hash of everything
that decides it: virtinst's and osinfo-db's versions, the fixture host's files and the command
line with its placeholders (the HTTP tree's URL is put back after the lookup).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.agent.guest.equiv.generate import Case
from tests.agent.guest.equiv.hosts import HOSTS

RUNNER = Path(__file__).resolve().parent / "virtinst_runner.py"
PYTHON = "/usr/bin/python3"


def versions() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "virtinst",
                          "osinfo-db"], capture_output=True, text=True, timeout=30)
    return ", ".join(sorted(out.stdout.split("\n"))).strip(", ")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "provisioner" / "virtinst-equiv"


def key(case: Case, versions: str) -> str:
    text = json.dumps([versions, HOSTS[case.host].fingerprint(), case.host, case.argv])
    return hashlib.sha256(text.encode()).hexdigest()


def expand(case: Case, values: dict[str, str]) -> list[str]:
    return [a.format(**values) for a in case.argv]


def run(cases: list[Case], values: dict[str, str], *, workers: int = 2,
        timeout: float = 1800, use_cache: bool = True) -> dict[Case, dict[str, Any]]:
    """``{case: {"rc", "out", "err", "s"}}`` for every case (cached ones are not run again,
    unless ``use_cache`` is off)."""
    versions_, cdir = versions(), cache_dir()
    cdir.mkdir(parents=True, exist_ok=True)
    results: dict[Case, dict[str, Any]] = {}
    todo = []
    for case in cases:
        path = cdir / f"{key(case, versions_)}.json"
        if use_cache and path.exists():
            results[case] = {**_unplace(json.loads(path.read_text()), values), "cached": True}
        else:
            todo.append(case)
    chunks = [todo[i::workers] for i in range(workers)]
    procs = []
    for chunk in filter(None, chunks):
        lines = "".join(json.dumps(["--connect", HOSTS[c.host].uri(), *expand(c, values),
                                    "--dry-run", "--print-xml"]) + "\n" for c in chunk)
        proc = subprocess.Popen([PYTHON, str(RUNNER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "LC_ALL": "C.UTF-8"})
        procs.append((proc, chunk, lines))
    for proc, chunk, lines in procs:
        out, _ = proc.communicate(lines, timeout=timeout)
        answers = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(answers) != len(chunk):
            raise RuntimeError(f"virt-install batch answered {len(answers)} of {len(chunk)}")
        for case, answer in zip(chunk, answers, strict=True):
            results[case] = answer
            path = cdir / f"{key(case, versions_)}.json"
            path.write_text(json.dumps(_place(answer, values)))
    return results


def _place(answer: dict, values: dict[str, str]) -> dict:
    url = values.get("url")
    if not url:
        return answer
    return {k: v.replace(url, "{url}") if isinstance(v, str) else v for k, v in answer.items()}


def _unplace(answer: dict, values: dict[str, str]) -> dict:
    url = values.get("url")
    if not url:
        return answer
    return {k: v.replace("{url}", url) if isinstance(v, str) else v for k, v in answer.items()}
