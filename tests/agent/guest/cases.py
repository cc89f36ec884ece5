"""The option-set matrix shared by the golden, validation, lifecycle and checkprops tests."""

from __future__ import annotations

import shlex
from pathlib import Path

from agent.facts.model import Cpu, HostFacts
from agent.guest.build import build
from agent.guest.caps import XEN_CAPS, Caps, parse_caps
from agent.guest.ids import sequential

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GOLDEN = HERE / "golden"
QEMU_CAPS = parse_caps((DATA / "caps-qemu-system.xml").read_text())
#: A host without constant TSC, so --location installs get the seed's clock arguments.
FACTS = HostFacts(cpu=Cpu(flags=("lm", "pae", "vmx")))
IMG = "/var/lib/libvirt/images"

# name -> (command line, caps). Seed examples keep the seed's spelling (both --opt=v and --opt v).
CASES: dict[str, tuple[str, Caps]] = {
    "pxe-kvm-seed-ex63": (
        "--accelerate --hvm --network=bridge:installation --pxe --name EL10 --ram=756 "
        "--vcpus=4 --os-type=linux --os-variant=rhel5 "
        f"--file={IMG}/EL10.img --file-size=6 --vnc", QEMU_CAPS),
    "pxe-qemu-serial-file": (
        "--name pxe1 --memory 256 --vcpus 1 --pxe --virt-type qemu "
        "--network bridge=br0,model=e1000,mac=52:54:00:79:00:11 "
        "--disk size=1,bus=virtio,format=qcow2,sparse=yes --graphics none "
        "--serial file,path=/var/log/provisioner/pxe1-console.log,append=on --os-variant rhel5.4",
        QEMU_CAPS),
    "location-ks-rhel54": (
        "--name rhel5fv --memory 1024 --virt-type kvm --os-variant rhel5.4 "
        "--location http://10.0.0.1/trees/rhel5.4/ "
        "--extra-args 'ks=http://10.0.0.1/ks/system/rhel5fv console=ttyS0,115200' "
        "--disk path=" + IMG + "/rhel5fv.img,size=8,format=raw,sparse=no "
        "--network bridge=br0 --graphics vnc,port=5901,listen=127.0.0.1 --serial pty",
        QEMU_CAPS),
    "location-ks-rhel48-clock": (
        "--name rhel48 --memory 512 --virt-type qemu --os-variant rhel4.8 "
        "--location ftp://10.1.1.1/trees/RHEL4.8-i386/ --extra-args ks=http://10.1.1.1/ks/x "
        "--disk size=4 --network bridge=br0 --nographics", QEMU_CAPS),
    "cdrom-winxp-network": (
        "--name WindowsGuest --memory 1024 --vcpus 2 --virt-type kvm "
        f"--cdrom {IMG}/winxp.iso --os-variant winxp --disk size=6 "
        "--network network=default --graphics vnc", QEMU_CAPS),
    "cdrom-win2k3-seed": (
        "--hvm --file-size 5 --file " + IMG + "/windows2003spi1.dsk --name windows2003sp1 "
        "--cdrom=/ISOs/WIN/en_windows_server_2003_sp1.iso --vnc --ram 1024 "
        "--os-variant win2k3 --virt-type kvm --network bridge=br0", QEMU_CAPS),
    "cdrom-win2k8-ide": (
        "--name win2k8 --memory 2048 --vcpus 2 --virt-type kvm --cdrom /dev/sr0 "
        "--os-variant win2k8 --disk size=20,bus=ide --network bridge=br0,model=rtl8139 "
        "--graphics vnc", QEMU_CAPS),
    "rhel3-seed-ex61": (
        "--accelerate --hvm --network network:default --name rhel3support --ram=756 "
        f"--file={IMG}/rhel3support.img --file-size=6 --vnc --cdrom=/dev/sr0 "
        "--os-variant rhel3", QEMU_CAPS),
    "import-boot-autostart": (
        "--name imported --memory 512 --import --virt-type qemu "
        f"--disk path={IMG}/base.qcow2 --disk size=2,bus=sata --boot cdrom,network,hd "
        f"--disk path={IMG}/tools.iso,device=cdrom "
        "--autostart --serial pty --graphics none --network bridge=br0,model=virtio",
        QEMU_CAPS),
    "xen-pv-rhel5-seed": (
        "-n rhel5PV -r 500 -f " + IMG + "/rhel5PV.dsk -s 3 --vnc -p "
        "-l ftp://10.1.1.1/trees/RHEL5-B2-Server-i386/ --virt-type xen --os-variant rhel5.0 "
        "--network bridge=xenbr0", XEN_CAPS),
    "xen-hvm-pxe-2disks": (
        "--name xenhvm --memory 1024 --hvm --virt-type xen --pxe --network bridge=xenbr0 "
        "--disk size=6 --disk size=2 --graphics vnc --os-variant rhel5.4", XEN_CAPS),
}


def build_case(name: str):
    argv, caps = CASES[name]
    return build(shlex.split(argv), FACTS, caps, sequential())


def documents(name: str) -> list[str]:
    """The install-phase and final documents of a case (one for --import)."""
    _, install, final = build_case(name)
    docs = [install.get_xml()]
    if final is not install:
        docs.append(final.get_xml())
    return docs
