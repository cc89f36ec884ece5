"""DHCPv6, router advertisements, DNS/TFTP/HTTP on IPv6: ``provisioner serve`` and real clients.

One appliance (``provisioner serve``, tests/e2e/appliance.py) on a bridge with 10.77.0.1/24 and
fd00:77::1/64 in a server namespace; clients in a second namespace on a veth: ``rdisc6``
(ndisc6) reads our router advertisement, ISC ``dhclient -6`` takes addresses (reserved by MAC,
by DUID, from the pool) and releases them, ``perfdhcp -6`` runs relayed 4-way exchanges, ``dig``
asks AAAA and ip6.arpa PTR, ``curl`` fetches over TFTP and HTTP on IPv6. Then the appliance is
killed with SIGKILL and restarted: the acknowledged bindings are still there. A burst of random
and mutated datagrams does not stop it answering.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from provisioner.net import dhcp6 as dhcp6_mod
from provisioner.proto.dhcp.codec import DISCOVER, OFFER, decode
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.codec import decode as decode6
from provisioner.settings import load
from tests.e2e.appliance import Running, appliance
from tests.netns import Netns, have_root_netns, lan
from tests.procs import poll, stop_pid
from tests.proto.dhcp.helpers import request
from tests.proto.dhcp6.helpers import ia_na, msg, pxe_opts
from tests.proto.dhcp6.test_fuzz import packets

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

SERVER, SERVER6 = "10.77.0.1", "fd00:77::1"
MAC, MAC2 = "52:54:00:d6:00:01", "52:54:00:d6:00:02"
UUID_DUID = "0004" + "5a" * 16
SETTINGS = dict(interfaces=("br0",), dhcp_enabled=True,
                dhcp_ranges=("10.77.0.100,10.77.0.150,255.255.255.0,1h",), dhcp6_enabled=True,
                ra_enabled=True, ra_router_lifetime=0,
                dhcp6_ranges=("fd00:77::100,fd00:77::1ff,1h",), dns_enabled=True,
                tftp_enabled=True, http_host6=SERVER6)


@dataclass
class Lab:
    server: Netns
    client: Netns
    app: Running
    tmp: Path


def _fill(core: Core) -> None:
    boot = Path(core.settings.data_dir).parent / "boot"  # inside a directory the appliance serves
    boot.mkdir(exist_ok=True)
    for name in ("vmlinuz", "initrd.img"):
        (boot / name).write_bytes(b"not a real kernel\n")
    core.add_distro(Distro(name="d", os_version="rhel9", kernel=str(boot / "vmlinuz"),
                           initrd=str(boot / "initrd.img"), tree_url="http://x/"))
    core.add_profile(Profile(name="p", distro="d", kickstart="rhel9-guest.ks"))
    core.add_system(System(name="db1", profile="p", interfaces=(
        Interface(mac=MAC, ipv6="fd00:77::42"),)))
    core.add_system(System(name="dbduid", profile="p", interfaces=(
        Interface(mac="52:54:00:d6:00:09", ipv6="fd00:77::43", duid=UUID_DUID),)))


def _client_link(client: Netns, mac: str) -> None:
    client.run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
    client.ip("link", "set", "eth0", "down")
    client.ip("link", "set", "eth0", "address", mac)
    client.ip("link", "set", "eth0", "up")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("dhcp6")
    with lan("d6") as (server, client):
        server.ip("addr", "add", f"{SERVER6}/64", "dev", "br0", "nodad")
        _client_link(client, MAC)
        (tmp / "tftpboot").mkdir()
        (tmp / "tftpboot" / "hello.txt").write_text("over IPv6\n")
        with appliance(server, tmp, SERVER, _fill, **SETTINGS) as app:
            yield Lab(server, client, app, tmp)


def dhclient(lab: Lab, name: str, *extra: str, lease_text: str = "") -> str:
    """Run ``dhclient -6`` once in the client namespace; its lease file's text. The daemon it
    leaves behind is stopped and gone before this returns: while it lives it holds UDP port
    546, which the next test's own client binds."""
    d = lab.tmp / name
    d.mkdir(exist_ok=True)
    (d / "l").write_text(lease_text)
    lab.client.run(["dhclient", "-6", "-1", "-sf", "/bin/true", "-lf", str(d / "l"), "-pf",
                    str(d / "p"), *extra, "eth0"], timeout=60)
    # the daemon writes its pid file after the parent has exited: wait for it (bounded)
    poll(lambda: (d / "p").exists() and (d / "p").read_text().strip() != "", 5, step=0.05)
    pid = (d / "p").read_text().strip() if (d / "p").exists() else ""
    if pid:
        stop_pid(int(pid))
    return (d / "l").read_text()


def test_router_advertisement(lab: Lab) -> None:
    out = lab.client.run(["rdisc6", "-1", "-w", "3000", "eth0"], timeout=30).stdout
    assert "Stateful address conf.    :          Yes" in out
    assert "Stateful other conf.      :          Yes" in out
    assert "Router lifetime           :            0" in out
    assert "Prefix                   : fd00:77::/64" in out
    assert f"Recursive DNS server     : {SERVER6}" in out


def test_reservation_by_mac_then_dns_aaaa_and_ptr(lab: Lab) -> None:
    lease = dhclient(lab, "bymac", "-D", "LL")
    assert "iaaddr fd00:77::42 " in lease and f"dhcp6.name-servers {SERVER6}" in lease
    aaaa = lab.client.run(["dig", "+short", f"@{SERVER6}", "db1.lab.example", "AAAA"]).stdout
    assert aaaa.split() == ["fd00:77::42"]
    ptr = lab.client.run(["dig", "+short", f"@{SERVER6}", "-x", "fd00:77::42"]).stdout
    assert ptr.split() == ["db1.lab.example."]


def test_reservation_by_duid(lab: Lab) -> None:
    duid = "".join(f"\\{int(UUID_DUID[i:i + 2], 16):03o}" for i in range(0, len(UUID_DUID), 2))
    lease = dhclient(lab, "byduid", lease_text=f'default-duid "{duid}";\n')
    assert "iaaddr fd00:77::43 " in lease, lease


def test_pool_address_then_release(lab: Lab) -> None:
    _client_link(lab.client, MAC2)
    try:
        lease = dhclient(lab, "pool", "-D", "LL")
        assert "iaaddr fd00:77::1" in lease and "::42" not in lease
        addr = lease.split("iaaddr ")[1].split()[0]
        assert any(b["ip"] == addr for b in _bindings(lab))
        dhclient(lab, "pool", "-D", "LL", "-r", lease_text=lease)  # does not wait for the Reply
        assert poll(lambda: not any(b["ip"] == addr for b in _bindings(lab)), 10)
    finally:
        _client_link(lab.client, MAC)


def _bindings(lab: Lab) -> list[dict]:
    return dhcp6_mod.read_leases(load(str(lab.app.config), environ={}))


def test_leases_command_lists_bindings(lab: Lab) -> None:
    """``provisioner leases`` reads both journals: the DHCPv6 binding with its DUID and IAID."""
    dhclient(lab, "leasescli", "-D", "LL")
    r = subprocess.run([sys.executable, "-m", "provisioner.cli", "--config", str(lab.app.config),
                        "leases"], capture_output=True, text=True, timeout=60, check=True)
    line = next(x for x in r.stdout.splitlines() if x.startswith("fd00:77::42\t"))
    assert f"\t{MAC}\t" in line and "\tDUID 00030001" in line and " IAID " in line, r.stdout
    r = subprocess.run([sys.executable, "-m", "provisioner.cli", "--config", str(lab.app.config),
                        "leases", "--json"], capture_output=True, text=True, timeout=60, check=True)
    assert any(x["ip"] == "fd00:77::42" and x["mac"] == MAC for x in json.loads(r.stdout))


def test_tftp_http_on_ipv6(lab: Lab) -> None:
    got = lab.client.run(["curl", "-sS", "-g", f"tftp://[{SERVER6}]/hello.txt"]).stdout
    assert got == "over IPv6\n"
    code = lab.client.run(["curl", "-sS", "-g", "-o", "/dev/null", "-w", "%{http_code}",
                           f"http://[{SERVER6}]:8080/api/openapi.json"]).stdout
    assert code == "200"


def test_perfdhcp_relayed_exchanges(lab: Lab) -> None:
    """perfdhcp -6 -A1: 4-way exchanges through an emulated relay complete (a functional check
    at a low rate, not a throughput figure: that is bench/dhcp6_bench.py)."""
    r = lab.client.run(["perfdhcp", "-6", "-A1", "-l", "eth0", "-r", "20", "-R", "100",
                        "-n", "100", "-p", "10"], timeout=60, check=False)
    sent = [int(x) for x in r.stdout.split("sent packets: ")[1:] for x in [x.split()[0]]]
    received = [int(x.split()[0]) for x in r.stdout.split("received packets: ")[1:]]
    assert len(sent) == 2 and sent[0] >= 100, r.stdout  # Solicits, Requests
    assert received[1] >= sent[0] * 9 // 10, r.stdout  # Replies: (nearly) every exchange


def test_survives_a_fuzz_burst(lab: Lab) -> None:
    """5000 random and mutated datagrams over the socket; then a real client still binds."""
    script = ("import socket,sys; s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);"
              "[s.sendto(bytes.fromhex(l.strip()),('ff02::1:2%eth0',547)) for l in sys.stdin]")
    burst = "\n".join(p.hex() for p in packets(7, 5000) if p)
    lab.client.run([sys.executable, "-c", script], input=burst, timeout=120)
    assert "iaaddr fd00:77::42 " in dhclient(lab, "afterfuzz", "-D", "LL")
    assert lab.app.proc.poll() is None


def test_missing_loader_named_in_the_timeline(lab: Lab) -> None:
    """arm64 firmware asking (DHCPv4 and DHCPv6) while the TFTP root has no shimaa64.efi: an
    address, no boot file, and a timeline event naming the file."""
    pkt = request(DISCOVER, MAC, flags=0x8000,
                  opts={60: b"PXEClient:Arch:00011:UNDI:003000", 93: b"\x00\x0b"})
    out = lab.client.run([sys.executable, "-m", "tests.net.dhcp_probe", "one", pkt.hex()],
                         timeout=30).stdout.strip()
    offer = decode(bytes.fromhex(out))
    assert offer.msg_type == OFFER and offer.yiaddr != bytes(4)
    assert offer.file.strip(b"\0") == b"" and 67 not in offer.options
    solicit = msg(codec.SOLICIT, ia_na(), *pxe_opts("PXEClient:Arch:00011:UNDI:003000", 11),
                  duid=o.duid_ll(MAC))
    script = ("import socket,sys; s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);"
              "s.bind(('::',546)); s.settimeout(10);"
              "s.sendto(bytes.fromhex(sys.argv[1]),('ff02::1:2%eth0',547));"
              "print(s.recvfrom(4096)[0].hex())")
    out6 = lab.client.run([sys.executable, "-c", script, solicit.hex()], timeout=30, check=False)
    assert out6.returncode == 0, out6.stderr  # no Advertise in 10 s, or port 546 taken
    reply = decode6(bytes.fromhex(out6.stdout.strip()))
    assert reply.msg_type == codec.ADVERTISE and reply.get(o.BOOTFILE_URL) is None
    assert reply.get(o.IA_NA) is not None
    missing = [e for e in lab.app.timeline("db1")
               if e["kind"] == "boot-file-missing" and e["detail"]["arch"] == 11]
    assert len(missing) >= 2, missing  # one from DHCPv4, one from DHCPv6
    assert {e["detail"]["file"] for e in missing} == {"shim/shimaa64.efi"}


def test_bindings_survive_sigkill(lab: Lab, tmp_path: Path) -> None:
    dhclient(lab, "beforekill", "-D", "LL")
    before = {b["ip"] for b in _bindings(lab)}
    assert "fd00:77::42" in before
    lab.app.proc.send_signal(signal.SIGKILL)
    lab.app.proc.wait(timeout=20)
    with appliance(lab.server, lab.tmp, SERVER, lambda core: None, **SETTINGS):
        assert {b["ip"] for b in _bindings(lab)} >= before
        assert "iaaddr fd00:77::42 " in dhclient(lab, "afterkill", "-D", "LL")
