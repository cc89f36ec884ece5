"""The agent's osinfo-db reader against libosinfo itself, for every OS in the installed
database: devices (with derives-from/clones inheritance and supported="false" removals),
minimum/recommended/network-install resources (with inherit="true"), the complete firmware
list, the kernel URL argument, short ids, family, distro and version.

libosinfo runs through the distribution's python3-gi and gir1.2-libosinfo-1.0
(``osinfo_gi_dump.py``), the same library virt-install uses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.guest.errors import GuestError
from agent.guest.osinfo import GENERIC, default_db, resolve
from agent.guest.osinfo.db import OsinfoDB, OsRecord, parse

HERE = Path(__file__).resolve().parent


def _gi_available() -> bool:
    if not Path("/usr/bin/python3").exists():
        return False
    res = subprocess.run(["/usr/bin/python3", "-c", "import gi; gi.require_version("
                          "'Libosinfo', '1.0'); from gi.repository import Libosinfo"],
                         capture_output=True, timeout=60)
    return res.returncode == 0


@pytest.fixture(scope="module")
def libosinfo() -> dict:
    if not _gi_available():
        pytest.skip("needs python3-gi and gir1.2-libosinfo-1.0 (scripts/setup.sh installs them)")
    out = subprocess.run(["/usr/bin/python3", str(HERE / "osinfo_gi_dump.py")],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return json.loads(out)


def _mine(db: OsinfoDB, rec: OsRecord) -> dict:
    def res(kind: str) -> dict:
        return {a: [r.ncpus, r.ram, r.storage] for a, r in db.resources(rec, kind).items()}

    return {"short": sorted(set(rec.short_ids)), "family": rec.family or None,
            "distro": rec.distro or None, "version": rec.version or None,
            "devices": sorted(db.all_devices(rec)), "min": res("minimum"),
            "rec": res("recommended"), "net": res("network-install"),
            "fw": sorted([f.arch, f.type, f.supported] for f in db.firmware(rec)),
            "url": db.kernel_url_arg(rec)}


def test_every_os_resolves_as_libosinfo_resolves_it(libosinfo) -> None:
    db = default_db()
    assert len(db) == len(libosinfo) > 500
    wrong = {}
    for os_id, theirs in libosinfo.items():
        mine = _mine(db, db.by_id[os_id])
        diff = {k: (mine[k], theirs[k]) for k in theirs if mine[k] != theirs[k]}
        if diff:
            wrong[os_id] = diff
    assert not wrong, f"{len(wrong)} OSes differ, e.g. {next(iter(wrong.items()))}"


INHERIT = """<libosinfo version="0.0.1">
  <os id="http://x/base"><short-id>base</short-id>
    <devices><device id="dev:a"/><device id="dev:b"/></devices>
    <resources arch="all"><minimum><ram>1024</ram></minimum></resources>
    <kernel-url-argument>inst.repo</kernel-url-argument></os>
  <os id="http://x/child"><short-id>child</short-id><derives-from id="http://x/base"/>
    <devices><device id="dev:b" supported="false"/><device id="dev:c"/></devices>
    <resources arch="all" inherit="true"/></os>
</libosinfo>"""


def test_inheritance_rules_on_a_small_database() -> None:
    db = OsinfoDB(parse(INHERIT))
    child = db.lookup("child")
    assert child is not None
    assert db.all_devices(child) == {"dev:a", "dev:c"}  # b removed, c added
    assert db.resources(child, "minimum")["all"].ram == 1024  # inherit="true"
    assert db.kernel_url_arg(child) == "inst.repo"


def test_unknown_name_is_refused_with_where_to_look() -> None:
    with pytest.raises(GuestError) as exc:
        resolve("plan9", default_db())
    assert exc.value.code == "UNKNOWN_OS_VARIANT" and "osinfo-query os" in str(exc.value)


def test_generic_and_seed_spellings() -> None:
    assert resolve("generic", default_db())[0] is GENERIC
    view, why = resolve("rhel5", default_db())  # the seed's Example 6.3
    assert view.id == "http://redhat.com/rhel/5.0" and "seed" in why


@pytest.mark.skipif(not shutil.which("osinfo-query"), reason="needs libosinfo-bin")
def test_osinfo_query_lists_the_same_short_ids() -> None:
    out = subprocess.run(["osinfo-query", "os", "--fields=short-id"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    listed = {line.strip() for line in out.splitlines()[2:] if line.strip()}
    assert listed <= set(default_db().by_short)
