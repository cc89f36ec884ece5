"""The README's install works on a stock Debian 12 with only ``scripts/setup.sh``'s runtime list.

A minimal Debian root (``mmdebstrap --variant=minbase`` + the packages ``setup.sh --print-packages
runtime`` prints), the project's dependencies downloaded on the host into a wheelhouse (sdists
included: libvirt-python has no wheel on PyPI and is compiled here), then inside the root, with
no network: ``python3 -m venv``, ``pip install --no-index --find-links /wheelhouse '.[agent]'``,
both commands' ``--help``, ``provisioner demo`` and ``render ks`` on SQLite.

A package missing from the list fails a step with the compiler's or importer's own message
(without ``python3-dev``: ``libvirt-override.c:...: fatal error: Python.h: No such file or
directory``). Slow: ~1-2 min for a cold root (cached afterwards, keyed by the list), plus the
libvirt-python compile.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator

import pytest

from tests.install import debroot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mmdebstrap and chroot need root"),
]


def _explain(step: str, proc) -> str:
    """The step's errors (compiler/importer lines first) and the end of its output."""
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [ln for ln in lines if re.search(r"error|Error|No such file|not found", ln)]
    return (f"{step} failed with exit status {proc.returncode}\n--- error lines:\n"
            + "\n".join(errors[:25]) + "\n--- end of output:\n" + "\n".join(lines[-30:]))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[debroot.Layers]:
    """The root with the project installed into /opt/venv from the wheelhouse, offline."""
    with debroot.cached_root(debroot.runtime_packages()) as lower:
        root = debroot.Layers.over(lower, tmp_path_factory.mktemp("debroot"))
        version = debroot.python_version(root)
        host = "{}.{}".format(*sys.version_info[:2])
        assert version == host, (
            f"the root's Python is {version}; the wheelhouse would be downloaded by Python {host}:"
            " run the tests from the .venv that scripts/setup.sh makes with /usr/bin/python3")
        debroot.copy_project(root.upper / "src")
        debroot.wheelhouse(root.upper / "wheelhouse", debroot.ROOT, "agent")
        steps = [
            ("python3 -m venv", "python3 -m venv /opt/venv", 120),
            ("pip install", "cd /src && /opt/venv/bin/pip install --no-index"
             " --find-links /wheelhouse '.[agent]'", 1200),
        ]
        for step, command, timeout in steps:
            proc = debroot.run_in_root(root, command, timeout)
            if proc.returncode != 0:
                pytest.fail(_explain(step, proc), pytrace=False)
        yield root
        shutil.rmtree(root.upper.parent)  # the venv, sources and wheelhouse (~0.2 GB)


def run(root: debroot.Layers, command: str, timeout: float = 120) -> str:
    proc = debroot.run_in_root(root, command, timeout)
    if proc.returncode != 0:
        pytest.fail(_explain(command, proc), pytrace=False)
    return proc.stdout


def test_setup_sh_prints_its_lists() -> None:
    """The lists the test reads are the script's own, one Debian package name a line."""
    runtime = debroot.runtime_packages()
    everything = debroot.packages("all")
    assert runtime and everything[: len(runtime)] == runtime
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in everything), everything


def test_no_network_in_the_root(installed: debroot.Layers) -> None:
    out = run(installed, "cat /proc/net/dev")
    assert [ln.split(":")[0].strip() for ln in out.splitlines()[2:]] == ["lo"]


def test_commands_answer_help(installed: debroot.Layers) -> None:
    assert "usage: provisioner" in run(installed, "/opt/venv/bin/provisioner --help")
    assert "usage: provisioner-agent" in run(installed, "/opt/venv/bin/provisioner-agent --help")


def test_agent_extra_imports_libvirt(installed: debroot.Layers) -> None:
    out = run(installed, "/opt/venv/bin/python -c 'import libvirt; print(libvirt.getVersion())'")
    assert int(out) >= 9_000_000  # Debian 12 ships libvirt 9.0


def test_demo_and_render_ks_on_sqlite(installed: debroot.Layers) -> None:
    out = run(installed, "cd /tmp && /opt/venv/bin/provisioner --data-dir /tmp/data demo")
    assert "system demo01: added" in out
    assert (installed.upper / "tmp/data/provisioner.db").is_file()
    ks = run(installed, "/opt/venv/bin/provisioner --data-dir /tmp/data render ks demo01")
    assert "%packages" in ks and "%end" in ks
