"""The option-set matrix shared by the golden, validation, lifecycle and checkprops tests."""

from __future__ import annotations

import shlex
from pathlib import Path

from agent.facts.model import Cpu, HostFacts
from agent.guest.build import build
from agent.guest.caps import XEN_CAPS, Caps, parse_caps
from agent.guest.host import Host
from agent.guest.ids import sequential
from agent.guest.osinfo import default_db

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
        "--name imported --memory 512 --import --virt-type qemu --osinfo detect=on,require=off "
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


def host_of(caps: Caps) -> Host:
    """A seed-era host: capabilities only (no domain capabilities), libosinfo's database."""
    return Host(caps=caps, facts=FACTS, osinfo=default_db())


def build_case(name: str):
    argv, caps = CASES[name]
    return build(shlex.split(argv), host_of(caps), sequential())


def documents(name: str) -> list[str]:
    """The install-phase and final documents of a case (one for --import)."""
    _, install, final = build_case(name)
    docs = [install.get_xml()]
    if final is not install:
        docs.append(final.get_xml())
    return docs


# -- one golden case per option (today's guests, the fixture hosts with domain capabilities) ---
HOSTS = DATA / "hosts"


def fixture_host(name: str) -> Host:
    """A fixture host with its domain capabilities, two pools and one existing volume
    (``NAME+no-autoselect``: the same without firmware autoselection)."""
    import dataclasses

    from agent.guest.domcaps import parse_domcaps
    from agent.guest.host import Pool

    base, _, variant = name.partition("+")
    caps = parse_caps((HOSTS / base / "caps.xml").read_text())
    dc = parse_domcaps((HOSTS / base / "domcaps.xml").read_text())
    if variant == "no-autoselect":  # an older libvirt: loader paths but no firmware enum
        dc = dataclasses.replace(dc, firmware=())
    pools = (Pool("default", IMG, 100 * 1024 ** 3), Pool("fast", "/srv/fast", 50 * 1024 ** 3))
    facts = HostFacts(cpu=Cpu(flags=("constant_tsc",)))
    return Host(caps=caps, facts=facts, domcaps_for=lambda *_: dc, pools=pools,
                volumes={"/srv/fast/base.qcow2": "qcow2", "/srv/fast/data.qcow2": "qcow2"},
                osinfo=default_db())


_B = ("--name opt --memory 1024 --osinfo rhel9.0 --import --disk /srv/fast/base.qcow2 "
      "--network bridge=br0 --graphics none ")
_L = "--name legacy --os-variant rhel9.0 "
#: name -> (command line, fixture host). One option (or sub-option family) per case.
OPTION_CASES: dict[str, tuple[str, str]] = {
    "defaults-rhel9": ("--name d --osinfo rhel9.0 --pxe --network bridge=br0", "kvm-x86_64"),
    "defaults-win11": ("--name w --osinfo win11 --memory 4096 --disk size=40 "
                       "--cdrom /srv/iso/win11.iso --network bridge=br0", "kvm-x86_64"),
    "defaults-generic": ("--name g --osinfo detect=on,require=off --memory 512 --pxe "
                         "--disk size=2 --network bridge=br0", "kvm-x86_64"),
    "defaults-tcg": ("--name t --osinfo debian11 --pxe --network bridge=br0", "tcg-x86_64"),
    "defaults-aarch64": ("--name a --arch aarch64 --osinfo fedora37 --pxe --network bridge=br0",
                         "kvm-aarch64"),
    "defaults-xen-hvm": ("--name x --osinfo rhel9.0 --hvm --pxe --memory 1024 --disk size=4 "
                         "--network bridge=xenbr0", "xen-x86_64"),
    "defaults-xen-pv": ("--name x --osinfo debian11 --paravirt --location http://10.0.0.1/tree/ "
                        "--memory 1024 --disk size=4 --network bridge=xenbr0", "xen-x86_64"),
    "memory-current-max": (_B + "--memory memory=1024,maxmemory=2048", "kvm-x86_64"),
    "memory-currentMemory": (_B + "--memory memory=2048,currentMemory=1024", "kvm-x86_64"),
    "vcpus-max": (_B + "--vcpus 2,maxvcpus=4", "kvm-x86_64"),
    "vcpus-topology": (_B + "--vcpus 4,sockets=1,dies=1,cores=2,threads=2", "kvm-x86_64"),
    "vcpus-placement": (_B + "--vcpus vcpus=2,placement=auto,vcpu.current=1", "kvm-x86_64"),
    "cpu-host-model": (_B + "--cpu host-model", "kvm-x86_64"),
    "cpu-named-model": (_B + "--cpu Skylake-Client-IBRS,require=vmx,disable=hle,"
                             "model.fallback=forbid,check=partial,match=minimum", "kvm-x86_64"),
    "cpu-migratable": (_B + "--cpu host-passthrough,migratable=on", "kvm-x86_64"),
    "cpu-host-model-only": (_B + "--cpu host-model-only,topology.sockets=1,topology.cores=2,"
                                 "topology.dies=1,topology.threads=1",
                            "kvm-x86_64"),
    "cpu-mode": (_B + "--cpu mode=host-model,forbid=svm,force=x2apic,optional=pcid",
                 "kvm-x86_64"),
    "machine-pc": (_B + "--machine pc", "kvm-x86_64"),
    "arch-i686": (_B + "--arch i686", "kvm-x86_64"),
    "uuid": (_B + "--uuid 5a1b2c3d-0000-4000-8000-00000000abcd", "kvm-x86_64"),
    "osinfo-id": (_B.replace("--osinfo rhel9.0", "--osinfo id=http://redhat.com/rhel/8.6,"
                                                  "detect=off,require=on"), "kvm-x86_64"),
    "install-pxe": (_B.replace("--import", "--pxe"), "kvm-x86_64"),
    "install-cdrom": (_B.replace("--import", "--cdrom /srv/iso/rhel9.iso"), "kvm-x86_64"),
    "install-location": (_B.replace("--import", "--location http://10.0.0.1/rhel9/,"
                                                "kernel=isolinux/vmlinuz,initrd=isolinux/initrd.img")
                         + "--extra-args inst.ks=http://10.0.0.1/ks/opt", "kvm-x86_64"),
    "boot-order-menu": (_B + "--boot network,hd,cdrom,fd,menu=on", "kvm-x86_64"),
    "boot-uefi": (_B + "--boot uefi", "kvm-x86_64"),
    "boot-uefi-secure": (_B + "--boot uefi,firmware.feature0.name=secure-boot,"
                              "firmware.feature0.enabled=yes,firmware.feature1.name=enrolled-keys,"
                              "firmware.feature1.enabled=yes", "kvm-x86_64"),
    "boot-uefi-xen-loader": ("--name x --osinfo rhel9.0 --hvm --import --memory 1024 "
                             "--disk /srv/fast/base.qcow2 --network bridge=xenbr0 --boot uefi",
                             "xen-x86_64"),
    "boot-uefi-explicit-loader": (_B + "--boot uefi", "kvm-x86_64+no-autoselect"),
    "boot-loader": (_B + "--boot loader=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd,"
                         "loader.readonly=yes,loader.type=pflash,loader.secure=yes,"
                         "nvram.template=/usr/share/OVMF/OVMF_VARS_4M.ms.fd,"
                         "nvram=/var/lib/libvirt/qemu/nvram/opt_VARS.fd", "kvm-x86_64"),
    "boot-firmware-efi": (_B + "--boot firmware=efi", "kvm-x86_64"),
    "boot-kernel": (_B + "--boot kernel=/srv/boot/vmlinuz,initrd=/srv/boot/initrd.img,"
                         "cmdline=console=ttyS0", "kvm-x86_64"),
    "misc-flags": (_B + "--noreboot --wait 10 --transient --autostart --noautoconsole",
                   "kvm-x86_64"),
    "disk-pool": (_B + "--disk pool=fast,size=2", "kvm-x86_64"),
    "disk-vol": (_B + "--disk vol=fast/data.qcow2,bus=sata", "kvm-x86_64"),
    "disk-options": (_B + "--disk size=2,bus=scsi,cache=none,io=native,discard=unmap,"
                          "format=raw,sparse=no", "kvm-x86_64"),
    "disk-aliases": (_B + "--disk size=2,target.bus=sata,driver.cache=writeback,driver.io=threads,"
                          "driver.discard=ignore,driver.type=qcow2", "kvm-x86_64"),
    "disk-block": (_B + "--disk /dev/vg0/data", "kvm-x86_64"),
    "disk-flags": (_B + "--disk size=1,readonly=on,shareable=on,type=file,target=vdz,"
                        "boot.order=1", "kvm-x86_64"),
    "disk-cdrom-usb": (_B + "--disk /srv/iso/tools.iso,device=cdrom --disk size=1,bus=usb",
                       "kvm-x86_64"),
    "disk-none": (_B.replace("--import --disk /srv/fast/base.qcow2", "--pxe --disk none"),
                  "kvm-x86_64"),
    "filesystem": (_B + "--filesystem /srv/share,/mnt/share --filesystem source=/srv/ro,"
                        "target=/mnt/ro,type=mount,accessmode=squash,readonly=on "
                        "--filesystem source=/srv/fs,target=fs,driver.type=virtiofs",
                   "kvm-x86_64"),
    "network-direct": (_B + "--network type=direct,source=eth0,source.mode=bridge,model=virtio",
                       "kvm-x86_64"),
    "network-user": (_B + "--network user,boot.order=2", "kvm-x86_64"),
    "network-default": (_B.replace("--network bridge=br0", "--network default"), "kvm-x86_64"),
    "network-none": (_B.replace("--network bridge=br0", "--network none"), "kvm-x86_64"),
    "network-model-mac": (_B + "--network network=default,model=e1000e,mac=52:54:00:12:34:56",
                          "kvm-x86_64"),
    "graphics-vnc": (_B.replace("--graphics none", "--graphics vnc,port=5901,listen=0.0.0.0,"
                                                   "password=s3cret,keymap=de"), "kvm-x86_64"),
    "graphics-spice": (_B.replace("--graphics none", "--graphics spice,port=5902,tlsport=5903"),
                       "kvm-x86_64"),
    "graphics-listen-none": (_B.replace("--graphics none", "--graphics spice,listen=none"),
                             "kvm-x86_64"),
    "graphics-default": (_B.replace("--graphics none", "--graphics default"), "kvm-x86_64"),
    "video-qxl": (_B.replace("--graphics none", "--graphics spice --video qxl"), "kvm-x86_64"),
    "video-heads": (_B.replace("--graphics none", "--graphics vnc --video model.type=virtio,"
                                                  "model.heads=2,vram=16384"), "kvm-x86_64"),
    "video-none-noop": (_B.replace("--graphics none", "--graphics vnc --video none"),
                        "kvm-x86_64"),
    "console-virtio": (_B + "--console pty,target.type=virtio", "kvm-x86_64"),
    "console-file": (_B + "--console file,path=/var/log/guests/opt.console", "kvm-x86_64"),
    "console-none": (_B + "--console none", "kvm-x86_64"),
    "serial-file": (_B + "--serial file,path=/var/log/guests/opt.log,append=on,target.port=1",
                    "kvm-x86_64"),
    "channel-qemu-ga": (_B + "--channel unix,target.type=virtio,name=org.qemu.guest_agent.0,"
                             "source.mode=bind,source.path=/run/opt.agent", "kvm-x86_64"),
    "channel-spicevmc": (_B.replace("--graphics none", "--graphics spice") + "--channel spicevmc",
                         "kvm-x86_64"),
    "channel-none": (_B + "--channel none", "kvm-x86_64"),
    "rng-random": (_B + "--rng /dev/random", "kvm-x86_64"),
    "rng-builtin": (_B + "--rng builtin,model=virtio", "kvm-x86_64"),
    "rng-device": (_B + "--rng backend.model=random,device=/dev/hwrng", "kvm-x86_64"),
    "rng-none": (_B + "--rng none", "kvm-x86_64"),
    "controller-usb3-ports": (_B + "--controller usb,model=qemu-xhci,ports=8,index=0",
                              "kvm-x86_64"),
    "controller-usb2": (_B + "--controller usb2", "kvm-x86_64"),
    "controller-usb-none": (_B + "--controller usb,model=none", "kvm-x86_64"),
    "controller-scsi": (_B + "--controller scsi,model=virtio-scsi --controller virtio-serial",
                        "kvm-x86_64"),
    "watchdog": (_B + "--watchdog i6300esb,action=poweroff", "kvm-x86_64"),
    "tpm-emulator": (_B + "--tpm emulator,model=tpm-tis,version=2.0", "kvm-x86_64"),
    "tpm-emulator-default": (_B + "--tpm emulator", "kvm-x86_64"),
    "tpm-passthrough": (_B + "--tpm /dev/tpm0", "kvm-x86_64"),
    "tpm-passthrough-keys": (_B + "--tpm type=passthrough,path=/dev/tpmrm0", "kvm-x86_64"),
    "osinfo-name-detect": (_B.replace("--osinfo rhel9.0", "--osinfo name=centos-stream9,"
                                                          "detect=on"), "kvm-x86_64"),
    "tpm-none-uefi": (_B + "--boot uefi --tpm none", "kvm-x86_64"),
    "memballoon-none": (_B + "--memballoon none", "kvm-x86_64"),
    "sound": (_B.replace("--graphics none", "--graphics spice --sound ich6"), "kvm-x86_64"),
    "sound-none": (_B.replace("--graphics none", "--graphics spice --sound none"), "kvm-x86_64"),
    "input": (_B + "--input keyboard,bus=virtio --input mouse", "kvm-x86_64"),
    "legacy-ram-file": (_L + "-r 768 -f /var/lib/libvirt/images/legacy.img -s 4 --nonsparse "
                        "--vnc --vncport 5905 --vnclisten 127.0.0.1 -k en-us -b br0 "
                        "-m 52:54:00:00:00:42 --pxe --accelerate --os-type linux",
                        "kvm-x86_64"),
    "legacy-nodisks-nonetworks": (_L + "--ram=512 --nodisks --nonetworks --nographics -c "
                                  "/srv/iso/rhel9.iso", "kvm-x86_64"),
    "legacy-location": (_L + "-n legacy2 -r 1024 -l http://10.0.0.1/rhel9/ -x "
                        "inst.ks=http://10.0.0.1/ks -w bridge:br0 --file-size 8", "kvm-x86_64"),
}


def build_option_case(name: str):
    argv, host = OPTION_CASES[name]
    return build(shlex.split(argv), fixture_host(host), sequential())


def option_documents(name: str) -> list[str]:
    _, install, final = build_option_case(name)
    return [install.get_xml()] + ([final.get_xml()] if final is not install else [])
