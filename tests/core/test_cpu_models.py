"""Migratable guests: the CPU model all candidate hosts share (issue 13, item 2).

The agent's side (``agent/guest/cpumap.py``) reads the real fixture domain capabilities
(``tests/agent/guest/data/hosts``: this machine's KVM and TCG answers) and libvirt's installed
CPU map index; the appliance's choice (``provisioner/core/cpu_models.py``) is a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.guest.cpumap import CPU_MAP_INDEX, index_order, read_index, usable_models
from agent.guest.domcaps import parse_domcaps
from provisioner.core.cpu_models import HostModels, choose, host_models
from provisioner.core.scheduler import Issue

HOSTS = Path(__file__).parents[1] / "agent" / "guest" / "data" / "hosts"
INDEX = """<cpus><arch name='x86'><include filename='x86_vendors.xml'/>
<include filename='x86_features.xml'/><include filename='x86_486.xml'/>
<include filename='x86_pentium3.xml'/><include filename='x86_qemu64.xml'/>
<include filename='x86_Conroe.xml'/><include filename='x86_Westmere.xml'/>
<include filename='x86_Opteron_G2.xml'/></arch>
<arch name='arm'><include filename='arm_cortex-a57.xml'/></arch></cpus>"""


def reported(host: str, index: str = INDEX) -> list[dict[str, str]]:
    dc = parse_domcaps((HOSTS / host / "domcaps.xml").read_text())
    return usable_models(dc, index_order(index, "x86_64"))


def test_index_order_is_libvirts_cpu_map_order() -> None:
    assert index_order(INDEX, "x86_64") == ["486", "pentium3", "qemu64", "Conroe", "Westmere",
                                            "Opteron_G2"]
    assert index_order(INDEX, "aarch64") == ["cortex-a57"]
    real = read_index()  # libvirt0's installed map: Intel generations in order
    assert real is not None, CPU_MAP_INDEX
    order = index_order(real, "x86_64")
    assert order.index("Conroe") < order.index("Westmere") < order.index("Skylake-Server")


def test_agent_reports_only_usable_models_oldest_first() -> None:
    kvm = reported("kvm-x86_64")  # this machine's KVM: 4 usable of 53
    # models INDEX does not know come first (as oldest), in the domain capabilities order
    assert [m["name"] for m in kvm] == ["pentium2", "pentium", "486", "pentium3"]
    full = reported("kvm-x86_64", read_index() or "")
    assert [m["name"] for m in full] == ["486", "pentium", "pentium2", "pentium3"]
    tcg = reported("tcg-x86_64")
    names = [m["name"] for m in tcg]
    assert names.index("Conroe") < names.index("Westmere") and "Haswell" not in names
    assert {"name": "Opteron_G2", "vendor": "AMD"} in tcg
    assert usable_models(None, []) == []


def _h(name: str, models: str, vendor: str | None = "Intel") -> HostModels:
    pairs = tuple((m.split(":")[0], m.split(":")[1] if ":" in m else "unknown")
                  for m in models.split())
    return HostModels(name, pairs, vendor)


CHOICES = [
    ("one host: its newest model of its vendor", [_h("a", "qemu64 Conroe:Intel Westmere:Intel "
                                                       "Opteron_G2:AMD")], None, "Westmere"),
    ("two hosts: the newest both list", [_h("a", "qemu64 Conroe:Intel Westmere:Intel"),
                                         _h("b", "qemu64 Conroe:Intel")], None, "Conroe"),
    ("Intel hosts never get an AMD model even when newer in the list",
     [_h("a", "qemu64 Conroe:Intel Opteron_G2:AMD"), _h("b", "qemu64 Conroe:Intel Opteron_G2:AMD")],
     None, "Conroe"),
    ("Intel and AMD hosts: a vendor-neutral model",
     [_h("a", "486 qemu64 Conroe:Intel Opteron_G1:AMD"),
      _h("b", "486 qemu64 Conroe:Intel Opteron_G1:AMD", "AMD")], None, "qemu64"),
    ("an explicit model every host can run", [_h("a", "qemu64 Conroe:Intel"),
                                              _h("b", "qemu64 Conroe:Intel")], "qemu64", "qemu64"),
]


@pytest.mark.parametrize("hosts,wanted,model", [c[1:] for c in CHOICES],
                         ids=[c[0] for c in CHOICES])
def test_choose(hosts, wanted, model) -> None:
    assert choose(hosts, wanted) == model


REFUSALS = [
    ("nothing shared", [_h("a", "Westmere:Intel"), _h("b", "Opteron_G2:AMD", "AMD")], None,
     "migratable", "NO_SHARED_CPU_MODEL",
     "no named CPU model is usable on every host the guest could migrate between: a (1 usable), "
     "b (1 usable); order it without migration or add hosts with a common CPU generation"),
    ("explicit model one host lacks", [_h("a", "Westmere:Intel"), _h("b", "Conroe:Intel")],
     "Westmere", "cpu_model", "CPU_MODEL_NOT_SHARED",
     "CPU model Westmere is not usable on b (libvirt domain capabilities); leave it empty to get "
     "the newest model all hosts share"),
    ("a host that reported no models", [_h("a", "Westmere:Intel"), _h("old", "")], None,
     "migratable", "NO_CPU_MODELS",
     "old reported no usable named CPU model (libvirt domain capabilities): a migratable guest "
     "needs one every host can run"),
]


@pytest.mark.parametrize("hosts,wanted,fld,code,message", [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])
def test_refusals_are_field_errors(hosts, wanted, fld, code, message) -> None:
    assert choose(hosts, wanted) == Issue(fld, code, message)


def test_host_models_prefers_kvm_then_tcg() -> None:
    cap = {"cpu_models": {"qemu": [{"name": "Westmere", "vendor": "Intel"}],
                          "kvm": [{"name": "486", "vendor": "unknown"}]}, "cpu_vendor": "Intel"}
    assert host_models("a", cap, "kvm") == HostModels("a", (("486", "unknown"),), "Intel")
    assert host_models("a", {"cpu_models": {"qemu": cap["cpu_models"]["qemu"]}}, "kvm").models \
        == (("Westmere", "Intel"),)
    assert host_models("a", {}, "xen").models == ()
