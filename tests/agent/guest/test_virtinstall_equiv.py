"""Equivalence with the real ``virt-install --dry-run --print-xml`` for the same options.

virt-install runs against virt-manager's test-suite "magic URI" with the capabilities captured
once from a real libvirtd on this machine (``data/caps-qemu-system.xml``,
``data/domcaps-qemu-x86_64.xml``; see the libvirt recipe §4): its output is then what it prints
against qemu:///system, with a predictable UUID and MAC. Both documents (install phase and final
definition) go through libvirt's own parser (test driver define + ``XMLDesc(INACTIVE)``), so
spelling, units and element order do not matter; then they are diffed.

Intended differences, everywhere:
* ``<uuid>``: each side injects its own (virt-install ``predictable``, ours ``sequential``).
* ``<metadata>``: same libosinfo id; ElementTree declares the namespace one level higher, which
  libvirt keeps verbatim. The id itself is compared separately.

* ``<kernel>``/``<initrd>`` of a ``--location`` install: virt-install keeps the fetched files in
  its per-user cache under random names; the agent fetches them into the image directory as
  ``<name>-vmlinuz``/``<name>-initrd.img`` (so undefining the guest removes them). Both paths are
  replaced by a placeholder before the diff.

Intended differences per case are listed in ``EXPECTED`` with the reason; any other difference
fails the test.
"""

from __future__ import annotations

import difflib
import functools
import http.server
import re
import shlex
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET

import libvirt
import pytest

from agent.guest.build import build
from agent.guest.caps import parse_caps
from agent.guest.ids import sequential
from tests.agent.guest.cases import DATA, FACTS, QEMU_CAPS

pytestmark = pytest.mark.skipif(not shutil.which("virt-install"), reason="needs virtinst")

MAGIC = ("__virtinst_test__test:///default,predictable,fakeuri=qemu:///system,"
         f"caps={DATA}/caps-qemu-system.xml,domcaps={DATA}/domcaps-qemu-x86_64.xml")
# A Xen host: RHEL 5.4's capabilities (data/caps-xen-rhel54.xml, written from the seed).
XEN_MAGIC = ("__virtinst_test__test:///default,predictable,fakeuri=xen:///,"
             f"caps={DATA}/caps-xen-rhel54.xml")
XEN_CAPS = parse_caps((DATA / "caps-xen-rhel54.xml").read_text())
IMG = "/var/lib/libvirt/images"

# name -> (options, {phase index: expected diff lines ("-" virt-install, "+" ours)})
CASES: dict[str, tuple[str, dict[int, set[str]]]] = {
    "pxe-qemu-explicit-devices": (
        "--name t1 --memory 512 --vcpus 1 --pxe --virt-type qemu --os-variant rhel5.4 "
        "--network bridge=br0,model=virtio,mac=52:54:00:00:00:01 "
        f"--disk path={IMG}/t1.qcow2,size=1,bus=virtio,format=qcow2 --graphics none", {}),
    # The seed's driver plan (C.md §10): RHEL 5.3+ guests on KVM get virtio disk and NIC.
    # libosinfo lists no virtio support for RHEL 5.4, so virt-install stays on IDE and e1000
    # (and libvirt's parser then adds the IDE controller and the drive address for it).
    "pxe-kvm-rhel54-default-devices": (
        "--name t2 --memory 756 --vcpus 4 --pxe --virt-type kvm --os-variant rhel5.4 "
        f"--network bridge=installation,mac=52:54:00:00:00:02 --disk path={IMG}/t2.img,size=6 "
        "--graphics vnc", {i: {
            "-      <target dev='hda' bus='ide'/>", "+      <target dev='vda' bus='virtio'/>",
            "-      <model type='e1000'/>", "+      <model type='virtio'/>",
            "-      <address type='drive' controller='0' bus='0' target='0' unit='0'/>",
            "-    <controller type='ide' index='0'/>"} for i in (0, 1)}),
    "cdrom-winxp-vnc-serial": (
        "--name w1 --memory 1024 --vcpus 2 --cdrom {iso} --virt-type qemu --os-variant winxp "
        "--network network=default,mac=52:54:00:00:00:03 "
        f"--disk path={IMG}/w1.img,size=5,format=raw --graphics vnc --serial pty", {}),
    "cdrom-rhel3-kvm": (
        "--name r3 --memory 756 --cdrom {iso} --virt-type kvm --os-variant rhel3 "
        f"--network bridge=br0,mac=52:54:00:00:00:04 --disk path={IMG}/r3.qcow2,size=6 "
        "--graphics vnc", {}),
    "cdrom-win2k8-kvm": (
        "--name w8 --memory 2048 --vcpus 2 --cdrom {iso} --virt-type kvm --os-variant win2k8 "
        f"--network bridge=br0,mac=52:54:00:00:00:05 --disk path={IMG}/w8.qcow2,size=20 "
        "--graphics vnc,port=5901,listen=127.0.0.1", {}),
    # --location: the seed's timing table puts the clock arguments on the install kernel's
    # command line (RHEL 5.4 on QEMU has no kvm-clock; this host has no constant TSC).
    "location-ks-rhel54-qemu": (
        "--name l1 --memory 512 --location {tree} --extra-args ks=http://10.0.0.1/ks/l1 "
        "--virt-type qemu --os-variant rhel5.4 "
        "--network bridge=br0,mac=52:54:00:00:00:07,model=virtio "
        f"--disk path={IMG}/l1.qcow2,size=1,bus=virtio --graphics none", {0: {
            "-    <cmdline>ks=http://10.0.0.1/ks/l1</cmdline>",
            "+    <cmdline>ks=http://10.0.0.1/ks/l1 divider=10 notsc</cmdline>"}}),
    # Xen PV (seed §7.1, RHEL 5 as a PV guest, from a network tree served over HTTP here): the
    # seed's Xen uses the tap:aio PV disk driver (C.md §14.5.2; libvirt reads it back as the
    # tap driver on a raw image) and boots installed PV guests through pygrub (E.md §23);
    # virt-install writes today's libxl spelling (qemu/raw; its <boot dev='hd'/> has no meaning
    # for a PV guest and libvirt drops it).
    "xen-pv-location-rhel5": (
        "--name rhel5PV --memory 500 --paravirt --location {url} --virt-type xen "
        "--os-variant rhel5.4 --network bridge=xenbr0,mac=00:16:3e:00:00:01 "
        f"--disk path={IMG}/rhel5PV.dsk,size=3,format=raw --graphics vnc", {
            0: {"-      <driver name='qemu' type='raw'/>",
                "+      <driver name='tap' type='raw'/>"},
            1: {"-      <driver name='qemu' type='raw'/>",
                "+      <driver name='tap' type='raw'/>",
                "+  <bootloader>/usr/bin/pygrub</bootloader>"}}),
    # Xen HVM with two disks: the seed boots from emulated hda and gives further disks to the
    # guest as PV xvd* devices (C.md §14.5.2); virt-install makes both emulated IDE disks.
    "xen-hvm-pxe-two-disks": (
        "--name xenhvm --memory 1024 --hvm --pxe --virt-type xen --os-variant rhel5.4 "
        "--network bridge=xenbr0,mac=00:16:3e:00:00:02 "
        f"--disk path={IMG}/xenhvm.img,size=6,format=raw "
        f"--disk path={IMG}/xenhvm-1.img,size=2,format=raw --graphics vnc", {
            i: {"-      <driver name='qemu' type='raw'/>", "+      <driver name='file'/>",
                "+      <driver name='tap' type='raw'/>",
                "-      <target dev='hdb' bus='ide'/>", "+      <target dev='xvda' bus='xen'/>",
                "-      <address type='drive' controller='0' bus='0' target='0' unit='1'/>"}
            for i in (0, 1)}),
    "import-boot-serial-file": (
        "--name imp --memory 512 --import --virt-type qemu --os-variant rhel5.4 "
        "--network bridge=br0,mac=52:54:00:00:00:06,model=e1000 "
        f"--disk path={IMG}/imp.qcow2,size=1,bus=virtio --boot network,hd --graphics none "
        "--serial file,path=/var/log/provisioner/imp.log", {}),
}


TREEINFO = """[general]
family = Red Hat Enterprise Linux
version = 5.4
arch = x86_64
[images-x86_64]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
[images-xen]
kernel = images/xen/vmlinuz
initrd = images/xen/initrd.img
"""


def _canon(conn: libvirt.virConnect, xml: str) -> tuple[str, str | None]:
    """libvirt's canonical form, minus uuid and metadata; plus the libosinfo id."""
    dom = conn.defineXML(re.sub(r"\s*<uuid>.*?</uuid>", "", xml))  # never clash with others
    try:
        out = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        dom.undefine()
    root = ET.fromstring(out)
    os_id = root.find(".//{http://libosinfo.org/xmlns/libvirt/domain/1.0}os")
    out = re.sub(r"\s*<uuid>.*?</uuid>", "", out)
    out = re.sub(r"\s*<metadata.*?</metadata>", "", out, flags=re.S)
    out = re.sub(r"<(kernel|initrd)>[^<]*</", r"<\1>BOOT-FILE</", out)
    return out, None if os_id is None else os_id.get("id")


def _split_docs(text: str) -> list[str]:
    return [d + "</domain>\n" for d in text.split("</domain>") if d.strip()]


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_xml_as_virt_install(name: str, tmp_path) -> None:
    options, expected = CASES[name]
    iso = tmp_path / "install.iso"
    iso.write_bytes(b"")  # virt-install checks that install media exist
    tree = tmp_path / "tree"  # a minimal local install tree for --location
    for sub in ("pxeboot", "xen"):
        (tree / "images" / sub).mkdir(parents=True)
        (tree / "images" / sub / "vmlinuz").write_bytes(b"kernel")
        (tree / "images" / sub / "initrd.img").write_bytes(b"initrd")
    (tree / ".treeinfo").write_text(TREEINFO)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(tree)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        argv = shlex.split(options.format(iso=iso, tree=tree, url=url))
        _compare(argv, expected)
    finally:
        server.shutdown()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _compare(argv: list[str], expected: dict[int, set[str]]) -> None:
    xen = "--virt-type" in argv and argv[argv.index("--virt-type") + 1] == "xen"
    res = subprocess.run(["virt-install", "--connect", XEN_MAGIC if xen else MAGIC, *argv,
                          "--dry-run", "--print-xml"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    theirs = _split_docs(res.stdout)
    _, install, final = build(argv, FACTS, XEN_CAPS if xen else QEMU_CAPS, sequential())
    ours = [install.get_xml()] + ([final.get_xml()] if final is not install else [])
    assert len(ours) == len(theirs), "number of phases differs"
    conn = libvirt.open("test:///default")
    try:
        for i, (a, b) in enumerate(zip(theirs, ours, strict=True)):
            (ca, ida), (cb, idb) = _canon(conn, a), _canon(conn, b)
            assert ida == idb
            diff = {line for line in difflib.unified_diff(ca.splitlines(), cb.splitlines(),
                                                          lineterm="", n=0)
                    if line[:1] in "+-" and not line.startswith(("+++", "---"))}
            assert diff == expected.get(i, set()), f"phase {i}:\n" + "\n".join(sorted(diff))
    finally:
        conn.close()
