"""Xen guest file <-> libvirt domain XML: the guide's examples round-trip, the XML validates
with libvirt's schema (virt-xml-validate), and the seed's dumpxml sample converts to a file
and back (D2 §2.4 dumpxml, §7, oracles 49-50; E §23)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent import cli
from agent.xen.convert import ConvertError, from_xml, to_xml
from agent.xen.xmcfg import parse_xmcfg, render_xmcfg

DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ["rhel5vm01", "rhel5u5-x86_64", "mySQL01"]
needs_validator = pytest.mark.skipif(
    not shutil.which("virt-xml-validate") or not shutil.which("xmllint"),
    reason="virt-xml-validate needs libvirt-clients and libxml2-utils (scripts/setup.sh)")


def validate(xml: str, tmp_path: Path) -> None:
    f = tmp_path / "domain.xml"
    f.write_text(xml)
    run = subprocess.run(["virt-xml-validate", str(f), "domain"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr + xml


@pytest.mark.parametrize("name", EXAMPLES)
def test_file_to_xml_to_file_is_stable(name: str, tmp_path: Path) -> None:
    """/etc/xen/<guest> -> domain XML -> /etc/xen/<guest>: the same settings, and the written
    file is a fixed point (a second round trip is byte for byte the same)."""
    values = parse_xmcfg((DATA / name).read_text(), f"/etc/xen/{name}").values
    back = from_xml(to_xml(values))
    assert back == values
    text = render_xmcfg(back)
    assert render_xmcfg(from_xml(to_xml(parse_xmcfg(text).values))) == text


@needs_validator
@pytest.mark.parametrize("name", EXAMPLES + ["r5b2-mySQL01.xml"])
def test_xml_validates_with_libvirts_schema(name: str, tmp_path: Path) -> None:
    if name.endswith(".xml"):
        values = from_xml((DATA / name).read_text())
    else:
        values = parse_xmcfg((DATA / name).read_text()).values
    validate(to_xml(values), tmp_path)


def test_what_the_xml_says() -> None:
    fv = ET.fromstring(to_xml(parse_xmcfg((DATA / "rhel5u5-x86_64").read_text()).values))
    assert fv.findtext("os/type") == "hvm" and fv.findtext("os/loader") == \
        "/usr/lib/xen/boot/hvmloader"
    assert fv.find("currentMemory").text == "512000"                     # 500 MiB in KiB
    assert [f.tag for f in fv.find("features")] == ["pae", "acpi", "apic"]
    assert fv.findtext("devices/emulator") == "/usr/lib64/xen/bin/qemu-dm"
    disk = fv.find("devices/disk")
    assert disk.find("source").get("file").endswith("rhel5u5-x86_64.dsk")
    assert disk.find("target").attrib == {"dev": "hda", "bus": "ide"}
    assert [i.find("source").get("bridge") for i in fv.findall("devices/interface")] == [
        "xenbr0", "xenbr1"]
    assert all(i.find("model") is None for i in fv.findall("devices/interface"))  # ioemu
    pv = ET.fromstring(to_xml(parse_xmcfg((DATA / "mySQL01").read_text()).values))
    assert pv.findtext("bootloader") == "/usr/bin/pygrub" and pv.findtext("os/type") == "linux"
    phy, iso = pv.findall("devices/disk")
    assert phy.get("type") == "block" and phy.find("source").get("dev") == \
        "/dev/VolGroup00/mySQL01"
    assert iso.get("device") == "cdrom" and iso.find("readonly") is not None


def test_seed_dumpxml_sample_to_file_and_back() -> None:
    """Oracle 49/50: the seed's dumpxml as a Xen file (500 MB, 00:16:3e MAC, vif-bridge, VNC
    display 0, pygrub) and back to XML with the same name, uuid, memory, vcpus, devices."""
    sample = ET.fromstring((DATA / "r5b2-mySQL01.xml").read_text())
    values = from_xml((DATA / "r5b2-mySQL01.xml").read_text())
    assert values["memory"] == 500 and values["uuid"] == "4a4c59a7-ee3f-c781-96e4-288f2862f011"
    assert values["vif"] == ["mac=00:16:3e:49:1d:11, bridge=xenbr0, script=vif-bridge"]
    assert values["vfb"] == ["type=vnc,vncunused=0,vncdisplay=0"]
    assert "kernel" not in values                       # pygrub's temporary kernel is not kept
    back = ET.fromstring(to_xml(values))
    for path in ("name", "bootloader", "vcpu", "on_poweroff", "on_reboot", "on_crash",
                 "os/type"):
        assert back.findtext(path) == sample.findtext(path), path
    assert back.findtext("uuid").replace("-", "") == sample.findtext("uuid")
    assert back.find("memory").text == sample.find("memory").text == "512000"
    for path, attr in (("devices/interface/source", "bridge"), ("devices/interface/mac",
                                                                 "address"),
                       ("devices/interface/script", "path"), ("devices/graphics", "port"),
                       ("devices/graphics", "type")):
        assert back.find(path).get(attr) == sample.find(path).get(attr), path


@pytest.mark.parametrize(("values", "message"), [
    ({"name": "g", "pci": ["c0:02.1a"]}, "no domain XML for: pci"),
    ({"name": "g", "disk": ["phy:/dev/sdb1,xvdb,w,1"]}, "backend domain"),
    ({"name": "g", "vif": ["type=ioemu, mac=00:16:3e:00:00:01"]}, "ioemu is for fully"),
], ids=["pci", "disk-backend", "pv-ioemu"])
def test_what_cannot_be_converted_is_refused_by_name(values, message) -> None:
    with pytest.raises(ConvertError, match=message):
        to_xml(values)


def test_not_a_xen_domain_refused() -> None:
    with pytest.raises(ConvertError, match="not a Xen domain"):
        from_xml("<domain type='kvm'><name>x</name></domain>")
    with pytest.raises(ConvertError, match="not XML"):
        from_xml("<domain type='xen'>")


def test_cli_to_xml_and_back(tmp_path: Path, capsys) -> None:
    assert cli.main(["xen", "to-xml", str(DATA / "rhel5vm01")]) == 0
    xml = tmp_path / "d.xml"
    xml.write_text(capsys.readouterr().out)
    assert cli.main(["xen", "from-xml", str(xml)]) == 0
    assert parse_xmcfg(capsys.readouterr().out).values == \
        parse_xmcfg((DATA / "rhel5vm01").read_text()).values
    assert cli.main(["xen", "check", str(DATA / "rhel5u5-86_64.seed")]) == 2
    assert ":6: uuid: invalid syntax" in capsys.readouterr().err
    assert cli.main(["xen", "check", str(DATA / "xend-config.sxp")]) == 0


XEN_HOST = Path(__file__).resolve().parents[1] / "guest/data/hosts/xen-x86_64"


def _guest_file(args: str, stage: str, monkeypatch, capsys) -> str:
    """``provisioner-agent guest ... --print-xml STAGE | provisioner-agent xen from-xml -``"""
    argv = ["guest", *args.split(), "--caps", str(XEN_HOST / "caps.xml"),
            "--domcaps", str(XEN_HOST / "domcaps.xml"), "--print-xml", stage]
    assert cli.main(argv) == 0
    xml = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(xml.encode())))
    assert cli.main(["xen", "from-xml", "-"]) == 0
    return capsys.readouterr().out


def test_the_agents_guests_as_etc_xen_files(monkeypatch, capsys) -> None:
    """Issue 14: /etc/xen/<guest> for the guests the agent defines: PV install (kernel and
    ramdisk), PV after install (pygrub), HVM (builder='hvm', vnc); 00:16:3e MACs, bridge, disk
    prefixes; each file parses back without running it."""
    pv = "--name pv1 --paravirt --memory 512 --location http://10.0.0.1/rhel5/ --disk size=4 " \
         "--network bridge=xenbr0 --osinfo rhel5.4"
    hvm = "--name hv1 --hvm --memory 1024 --pxe --disk size=4 --network bridge=xenbr0 " \
          "--osinfo rhel5.4"
    install = parse_xmcfg(_guest_file(pv, "1", monkeypatch, capsys), "pv1").values
    final = parse_xmcfg(_guest_file(pv, "2", monkeypatch, capsys), "pv1").values
    full = parse_xmcfg(_guest_file(hvm, "2", monkeypatch, capsys), "hv1").values
    assert (install["name"], install["memory"], install["vcpus"]) == ("pv1", 512, 1)
    assert install["kernel"].endswith("pv1-vmlinuz") and install["ramdisk"].endswith(".img")
    assert "http://10.0.0.1/rhel5/" in install["extra"] and install["on_reboot"] == "destroy"
    assert final["bootloader"] == "/usr/bin/pygrub" and "kernel" not in final
    assert final["disk"][0].startswith("tap:aio:/var/lib/libvirt/images/pv1.img,xvda")
    assert full["builder"] == "hvm" and full["vnc"] == 1
    assert full["disk"][0].startswith("file:/var/lib/libvirt/images/hv1.img,hda")
    for cfg in (install, final, full):
        assert re.match(r"^(type=ioemu, )?mac=00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}, "
                        r"bridge=xenbr0", cfg["vif"][0]), cfg["vif"]
