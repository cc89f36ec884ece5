"""The agent for an agentless host: facts read over libvirt (pure parsers, then the libvirt test
driver) and disks made as storage volumes (the test driver's pool). Uploading boot files needs a
real libvirtd: tests/integration/test_remote_hosts.py."""

from __future__ import annotations

import pytest

from agent.guest.errors import GuestError
from agent.remote.facts import cpu_from_caps, network_from_interfaces, pool_free, probe_libvirt
from agent.remote.virt import RemoteVirt

CAPS = """<capabilities><host><uuid>u1</uuid><cpu><arch>x86_64</arch><model>Broadwell</model>
<vendor>Intel</vendor><topology sockets='1' dies='1' cores='2' threads='1'/>
<feature name='vme'/><feature name='hypervisor'/></cpu></host></capabilities>"""
BRIDGE = """<interface type='bridge' name='br0'><bridge stp='off'>
<interface type='ethernet' name='eth0'><mac address='52:54:00:00:00:01'/></interface>
</bridge></interface>"""
ETH = "<interface type='ethernet' name='eth1'><mac address='52:54:00:00:00:02'/></interface>"
POOL = ("<pool type='dir'><name>default</name><available unit='bytes'>5000</available>"
        "<target><path>/var/lib/libvirt/images/</path></target></pool>")


def test_cpu_from_capabilities():
    cpu, arch = cpu_from_caps(CAPS, 4, ["nx", "lm", "vmx"])
    assert arch == "x86_64" and cpu.vendor == "GenuineIntel" and cpu.model_name == "Broadwell"
    assert (cpu.sockets, cpu.cores, cpu.threads) == (1, 2, 4)
    assert cpu.flags == ("hypervisor", "lm", "nx", "vme", "vmx")
    assert cpu.virt_extension == "vmx"


def test_network_from_interfaces():
    net = network_from_interfaces([BRIDGE, ETH])
    assert net.bridge("br0") is not None and net.bridge("br0").ports == ("eth0",)
    assert net.nic("eth0").master == "br0" and net.nic("eth1").mac == "52:54:00:00:00:02"


def test_pool_free_matches_the_image_directory():
    assert pool_free([POOL], "/var/lib/libvirt/images") == 5000
    assert pool_free([POOL], "/srv/images") is None


def test_probe_over_the_test_driver():
    v = RemoteVirt("test:///default", image_dir="/default-pool")
    try:
        f = probe_libvirt(v.conn, "/default-pool")
    finally:
        v.close()
    assert f.hostname and f.mem_kib > 0 and f.image_dir_free_bytes == 100 * 2**30
    assert f.libvirt_reachable and f.warnings  # says what libvirt cannot tell


def test_disks_are_storage_volumes():
    v = RemoteVirt("test:///default", image_dir="/default-pool")
    try:
        assert v.create_image("/default-pool/g1.qcow2", 0.5, "qcow2", sparse=False) == \
            "/default-pool/g1.qcow2"
        cap, alloc = v.conn.storageVolLookupByPath("/default-pool/g1.qcow2").info()[1:]
        assert cap == 2**29 and alloc == 2**29  # preallocated unless sparse
        with pytest.raises(GuestError, match="outside the image director"):
            v.create_image("/etc/g2.qcow2", 1, "qcow2", sparse=True)
        v.image_dir = "/"
        with pytest.raises(GuestError) as err:
            v.create_image("/srv/nopool/g3.qcow2", 1, "qcow2", sparse=True)
        assert err.value.code == "NO_POOL"
    finally:
        v.close()
