"""libvirt's ``test:///default`` keeps one in-process hypervisor while any connection to it is
open, so a test that leaves a connection open hands its domains to the next test. After each
test here, every domain but the driver's built-in ``test`` is removed."""

from __future__ import annotations

import libvirt
import pytest


def reset_test_driver() -> None:
    conn = libvirt.open("test:///default")
    try:
        for dom in conn.listAllDomains(0):
            if dom.name() == "test":
                continue
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _clean_test_driver():
    yield
    reset_test_driver()
