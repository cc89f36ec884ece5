"""Golden XML for the option matrix; libvirt itself checks each document.

* exact compare with ``golden/<case>.xml`` (``pytest --regen`` rewrites them);
* ``virt-xml-validate`` (libvirt's RNG schema, via xmllint) accepts every document;
* the libvirt test driver defines each with ``VIR_DOMAIN_DEFINE_VALIDATE`` and runs it through
  define -> start -> destroy -> final define -> undefine;
* parsing a document back into the model reproduces it byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess

import libvirt
import pytest

from agent.guest.domain import Guest
from tests.agent.guest.cases import (
    CASES,
    GOLDEN,
    OPTION_CASES,
    build_case,
    build_option_case,
    documents,
    option_documents,
)

#: The seed's cases (golden/*.xml) and one case per option (golden/options/*.xml).
NAMES = sorted(CASES) + [f"options/{n}" for n in sorted(OPTION_CASES)]


def _documents(name: str) -> list[str]:
    return option_documents(name[8:]) if name.startswith("options/") else documents(name)


def _build(name: str):
    return build_option_case(name[8:]) if name.startswith("options/") else build_case(name)


@pytest.mark.parametrize("name", NAMES)
def test_golden(name: str, golden) -> None:
    golden(GOLDEN / f"{name}.xml", "\n".join(_documents(name)))


@pytest.mark.skipif(not shutil.which("virt-xml-validate") or not shutil.which("xmllint"),
                    reason="virt-xml-validate needs libvirt-clients and libxml2-utils")
@pytest.mark.parametrize("name", NAMES)
def test_virt_xml_validate(name: str, tmp_path) -> None:
    for i, doc in enumerate(_documents(name)):
        path = tmp_path / f"{name.replace('/', '-')}-{i}.xml"
        path.write_text(doc)
        res = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", NAMES)
def test_lifecycle_on_test_driver(name: str) -> None:
    guest, install, final = _build(name)
    conn = libvirt.open("test:///default")
    try:
        dom = conn.defineXMLFlags(install.get_xml(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        assert dom.UUIDString() == guest.uuid
        dom.create()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.destroy()  # the install phase ends (on_reboot=destroy)
        dom = conn.defineXMLFlags(final.get_xml(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        assert dom.UUIDString() == guest.uuid  # same domain, redefined
        dom.create()
        dom.destroy()
        dom.undefine()
        assert guest.name not in conn.listDefinedDomains()
    finally:
        conn.close()


@pytest.mark.parametrize("name", NAMES)
def test_parse_round_trip(name: str) -> None:
    for doc in _documents(name):
        assert Guest.parse(doc).get_xml() == doc
