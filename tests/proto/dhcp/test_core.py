"""DhcpCore scenarios (sans-IO): full and proxy mode, relays, leases, boot decisions."""

from __future__ import annotations

import ipaddress

import pytest

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp.codec import (
    ACK,
    DECLINE,
    DISCOVER,
    FLAG_BROADCAST,
    INFORM,
    NAK,
    OFFER,
    RELEASE,
    REQUEST,
    decode,
)
from provisioner.proto.dhcp.core import Meta
from provisioner.proto.dhcp.leases import LeaseTable

from .helpers import (
    BIOS_PXE,
    EFI_PXE,
    HTTP,
    IPXE,
    META,
    SERVER,
    UDHCPC,
    Inventory,
    b,
    make_core,
    request,
)

MAC = "52:54:00:12:34:56"
SYS = DhcpRecord(mac=MAC, system="web1", ip="10.1.1.100", hostname="web1.lab.example")


def dora(core, mac: str, now: float = 1000.0, opts: dict | None = None, **kw):
    offer = core.handle(request(DISCOVER, mac, opts=opts, **kw), META, now)
    assert offer is not None, core.last_drop
    ip = str(ipaddress.IPv4Address(offer.packet.yiaddr))
    ack = core.handle(request(REQUEST, mac, opts=opts, requested=ip, server_id=SERVER, **kw),
                      META, now)
    assert ack is not None, core.last_drop
    return offer, ack


def test_reserved_system_gets_its_address_options_and_events() -> None:
    core, inv = make_core(Inventory(SYS))
    offer, ack = dora(core, MAC, opts=UDHCPC)
    for reply, kind in ((offer, OFFER), (ack, ACK)):
        p = reply.packet
        assert p.msg_type == kind and p.yiaddr == b("10.1.1.100")
        assert p.options[54] == b(SERVER) and p.options[3] == b(SERVER)
        assert p.options[1] == b("255.255.255.0") and p.options[51] == (43200).to_bytes(4, "big")
        assert p.options[12] == b"web1" and p.options[15] == b"lab.example"
        assert p.file == bytes(128) and 60 not in p.options  # udhcpc: no boot file
        assert (reply.dest_ip, reply.dest_port, reply.neigh_mac) == ("10.1.1.100", 68, MAC)
    assert [(s, k) for s, k, _ in inv.events] == [("system:web1", "dhcp-offer"),
                                                  ("system:web1", "dhcp-ack")]
    assert core.leases.lease_of(MAC).state == "bound"


def test_pool_gives_41_addresses_then_exhausts_without_server_router_or_reserved(caplog) -> None:
    router = DhcpRecord(mac="02:00:00:00:00:01", system="r", ip="10.1.1.12")
    core, _ = make_core(Inventory(router), ranges=("10.1.1.1,10.1.1.20,255.255.255.0,12h",),
                        options=("3,10.1.1.2",))
    got = set()
    for i in range(17):
        _, ack = dora(core, f"02:00:00:00:01:{i:02x}")
        got.add(ack.packet.yiaddr)
    assert len(got) == 17  # 20 minus server .1, router .2, reserved .12
    assert not {b("10.1.1.1"), b("10.1.1.2"), b("10.1.1.12")} & got
    assert core.handle(request(DISCOVER, "02:00:00:00:02:00"), META, 1000) is None
    assert "pool exhausted" in caplog.text


def test_seed_pool_is_41_addresses() -> None:
    core, _ = make_core()
    addrs = {dora(core, f"02:00:00:00:01:{i:02x}")[1].packet.yiaddr for i in range(41)}
    assert len(addrs) == 41
    assert all(b("10.1.1.10") <= a <= b("10.1.1.50") for a in addrs)
    assert core.handle(request(DISCOVER, "02:00:00:00:02:00"), META, 1000) is None


def test_same_mac_gets_same_address_back_after_expiry_and_restart() -> None:
    core, _ = make_core()
    _, ack = dora(core, "02:00:00:00:00:aa")
    first = ack.packet.yiaddr
    table = LeaseTable()
    table.load(core.leases.drain())  # a restart: replay what was persisted
    core2, _ = make_core(leases=table)
    dora(core2, "02:00:00:00:00:bb")  # another client must not get it
    _, again = dora(core2, "02:00:00:00:00:aa", now=1000 + 86400)  # even after expiry
    assert again.packet.yiaddr == first


def test_expired_lease_is_reused_when_pool_is_full() -> None:
    core, _ = make_core(ranges=("10.1.1.10,10.1.1.11,255.255.255.0,2m",))
    dora(core, "02:00:00:00:00:01")
    dora(core, "02:00:00:00:00:02")
    assert core.handle(request(DISCOVER, "02:00:00:00:00:03"), META, 1000) is None
    offer, _ = dora(core, "02:00:00:00:00:03", now=1000 + 121)
    assert offer.packet.yiaddr in (b("10.1.1.10"), b("10.1.1.11"))


def test_renew_rebind_and_nak() -> None:
    core, _ = make_core()
    _, ack = dora(core, "02:00:00:00:00:01")
    ip = str(ipaddress.IPv4Address(ack.packet.yiaddr))
    renew = core.handle(request(REQUEST, "02:00:00:00:00:01", ciaddr=ip), META, 2000)
    assert renew.packet.msg_type == ACK and (renew.dest_ip, renew.dest_port) == (ip, 68)
    assert core.leases.lease_of("02:00:00:00:00:01").expires == 2000 + 43200
    # someone else asking for that address (init-reboot) is refused with a broadcast NAK
    nak = core.handle(request(REQUEST, "02:00:00:00:00:02", requested=ip), META, 2000)
    assert nak.packet.msg_type == NAK and nak.dest_ip == "255.255.255.255"
    # an address outside the pool is refused too
    nak = core.handle(request(REQUEST, "02:00:00:00:00:02", requested="10.1.1.200"), META, 2000)
    assert nak.packet.msg_type == NAK


def test_request_for_another_server_drops_our_offer() -> None:
    core, _ = make_core()
    offer = core.handle(request(DISCOVER, "02:00:00:00:00:01"), META, 1000)
    ip = str(ipaddress.IPv4Address(offer.packet.yiaddr))
    assert core.handle(request(REQUEST, "02:00:00:00:00:01", requested=ip,
                               server_id="10.1.1.254"), META, 1000) is None
    assert core.leases.lease_of("02:00:00:00:00:01") is None


def test_decline_quarantines_and_release_frees() -> None:
    core, _ = make_core(ranges=("10.1.1.10,10.1.1.11",))
    _, ack = dora(core, "02:00:00:00:00:01")
    ip = str(ipaddress.IPv4Address(ack.packet.yiaddr))
    assert core.handle(request(DECLINE, "02:00:00:00:00:01", requested=ip, server_id=SERVER),
                       META, 1000) is None
    offer, _ = dora(core, "02:00:00:00:00:01")
    assert offer.packet.yiaddr != ack.packet.yiaddr  # quarantined address is skipped
    other = str(ipaddress.IPv4Address(offer.packet.yiaddr))
    assert core.handle(request(DISCOVER, "02:00:00:00:00:02"), META, 1000) is None  # full
    core.handle(request(RELEASE, "02:00:00:00:00:01", ciaddr=other), META, 1001)
    offer2, _ = dora(core, "02:00:00:00:00:02", now=1001)
    assert offer2.packet.yiaddr == b(other)
    states = [x.state for x in core.leases.drain()]
    assert states == ["bound", "declined", "bound", "released", "bound"]


def test_inform_gets_options_without_lease() -> None:
    core, _ = make_core()
    reply = core.handle(request(INFORM, "02:00:00:00:00:01", ciaddr="10.1.1.77"), META, 1000)
    p = reply.packet
    assert p.msg_type == ACK and p.yiaddr == bytes(4) and 51 not in p.options
    assert p.options[3] == b(SERVER) and (reply.dest_ip, reply.dest_port) == ("10.1.1.77", 68)


def test_broadcast_flag_is_honoured() -> None:
    core, _ = make_core()
    reply = core.handle(request(DISCOVER, "02:00:00:00:00:01", flags=FLAG_BROADCAST), META, 1)
    assert reply.dest_ip == "255.255.255.255" and reply.neigh_mac is None
    assert reply.packet.flags == FLAG_BROADCAST


def test_relayed_request_selects_subnet_by_giaddr_and_keeps_option_82() -> None:
    core, _ = make_core(ranges=("10.1.1.10,10.1.1.50", "10.9.0.10,10.9.0.20,255.255.255.0,1h"))
    agent = b"\x01\x04port\x02\x03sw1"
    meta = Meta("br0", SERVER, "10.9.0.1", 67)
    reply = core.handle(request(DISCOVER, "02:00:00:00:00:01", giaddr="10.9.0.1",
                                opts={82: agent}), meta, 1)
    p = reply.packet
    assert b("10.9.0.10") <= p.yiaddr <= b("10.9.0.20")
    assert (reply.dest_ip, reply.dest_port) == ("10.9.0.1", 67)
    assert p.giaddr == b("10.9.0.1") and p.options[82] == agent and list(p.options)[-1] == 82
    assert p.options[54] == b(SERVER) and p.options[1] == b("255.255.255.0")


def test_relay_from_unknown_subnet_is_dropped() -> None:
    core, _ = make_core()
    assert core.handle(request(DISCOVER, "02:00:00:00:00:01", giaddr="192.168.5.1"),
                       Meta("br0", SERVER, "192.168.5.1", 67), 1) is None


BOOT = {
    "bios pxe": (BIOS_PXE, True, "pxelinux.0", SERVER, None),
    "efi x86-64": (EFI_PXE, True, "ipxe.efi", SERVER, None),
    "firmware ipxe": (IPXE, True, f"http://{SERVER}:8080/boot/ipxe/{MAC}", SERVER, None),
    "uefi http": (HTTP, True, f"http://{SERVER}:8080/tftpboot/ipxe.efi", SERVER, b"HTTPClient"),
    "udhcpc in the installed os": (UDHCPC, True, None, None, None),
    "netboot disabled still gets loader": (BIOS_PXE, False, "pxelinux.0", SERVER, None),
}


@pytest.mark.parametrize(("opts", "netboot", "file", "siaddr", "vendor"), BOOT.values(), ids=BOOT)
def test_boot_information_in_offer_and_ack(opts, netboot, file, siaddr, vendor) -> None:
    rec = DhcpRecord(mac=MAC, system="web1", ip="10.1.1.100", netboot_enabled=netboot)
    core, inv = make_core(Inventory(rec))
    for reply in dora(core, MAC, opts=opts):
        p = reply.packet
        assert (p.file.rstrip(b"\0").decode() or None) == file
        assert p.siaddr == (b(siaddr) if siaddr else bytes(4))
        assert p.options.get(60) == vendor
    assert inv.events[-1][2]["bootfile"] == file and inv.events[-1][2]["install"] == (
        netboot and file is not None)


POLICY = {"ignore": ("ignore", None, []), "menu": ("menu", "pxelinux.0", []),
          "discover": ("discover", "pxelinux.0", [(f"discovered:{MAC}", "discovered")])}


@pytest.mark.parametrize(("policy", "file", "events"), POLICY.values(), ids=POLICY)
def test_unknown_mac_policy(policy, file, events) -> None:
    core, inv = make_core(policy=policy)
    offer, _ = dora(core, MAC, opts=BIOS_PXE)
    assert offer.packet.yiaddr != bytes(4)  # full mode always gives unknown clients an address
    assert (offer.packet.file.rstrip(b"\0").decode() or None) == file
    assert [(s, k) for s, k, _ in inv.events] == events


def test_proxy_mode_offers_boot_only_and_answers_4011() -> None:
    rec = DhcpRecord(mac=MAC, system="web1")
    core, _ = make_core(Inventory(rec), mode="proxy")
    offer = core.handle(request(DISCOVER, MAC, opts={**BIOS_PXE, 97: bytes(17)}), META, 1)
    p = offer.packet
    assert p.msg_type == OFFER and p.yiaddr == bytes(4) and p.siaddr == b(SERVER)
    assert p.file.rstrip(b"\0") == b"pxelinux.0" and p.options[60] == b"PXEClient"
    assert p.options[43] == b"\x06\x01\x08\xff" and p.options[97] == bytes(17)
    assert 51 not in p.options and 3 not in p.options and offer.dest_ip == "255.255.255.255"
    # not firmware, or a REQUEST on port 67: silent (the real DHCP server handles those)
    assert core.handle(request(DISCOVER, MAC, opts=UDHCPC), META, 1) is None
    assert core.handle(request(REQUEST, MAC, opts=BIOS_PXE, requested="10.1.1.5"), META, 1) is None
    pxe = Meta("br0", SERVER, "10.1.1.5", 68, 4011)
    ack = core.handle(request(REQUEST, MAC, ciaddr="10.1.1.5", opts=BIOS_PXE), pxe, 1)
    assert ack.packet.msg_type == ACK and (ack.dest_ip, ack.dest_port) == ("10.1.1.5", 68)
    assert ack.packet.file.rstrip(b"\0") == b"pxelinux.0"
    assert not core.leases.by_ip  # proxy mode never leases


def test_proxy_mode_ignores_unknown_by_default() -> None:
    core, _ = make_core(mode="proxy")
    assert core.handle(request(DISCOVER, MAC, opts=BIOS_PXE), META, 1) is None


def test_per_system_options_and_bad_ones_ignored() -> None:
    rec = DhcpRecord(mac=MAC, system="web1", ip="10.1.1.100",
                     options={3: "10.1.1.254", 26: "not-a-number"})
    core, _ = make_core(Inventory(rec))
    _, ack = dora(core, MAC)
    assert ack.packet.options[3] == b("10.1.1.254") and 26 not in ack.packet.options


def test_reservation_outside_subnet_falls_back_to_pool() -> None:
    rec = DhcpRecord(mac=MAC, system="web1", ip="192.168.0.5")
    core, _ = make_core(Inventory(rec))
    _, ack = dora(core, MAC)
    assert b("10.1.1.10") <= ack.packet.yiaddr <= b("10.1.1.50")


def test_bootfile_also_in_option_67_when_asked() -> None:
    core, _ = make_core(Inventory(SYS))
    offer, _ = dora(core, MAC, opts={**BIOS_PXE, 55: bytes([1, 3, 66, 67])})
    assert offer.packet.options[67] == b"pxelinux.0"
    assert offer.packet.file.rstrip(b"\0") == b"pxelinux.0"


def test_decoded_reply_round_trips() -> None:
    core, _ = make_core(Inventory(SYS))
    offer, _ = dora(core, MAC, opts=IPXE)
    assert decode(offer.data) == offer.packet


def test_configured_option_67_overrides_the_boot_file() -> None:
    rec = DhcpRecord(mac=MAC, system="web1", ip="10.1.1.100", options={67: "custom.0"})
    core, _ = make_core(Inventory(rec))
    offer, _ = dora(core, MAC, opts=BIOS_PXE)
    assert offer.packet.file.rstrip(b"\0") == b"custom.0"
    assert offer.packet.siaddr == b(SERVER)


def test_inform_without_ciaddr_from_nowhere_is_broadcast() -> None:
    core, _ = make_core()
    reply = core.handle(request(INFORM, "02:00:00:00:00:01"), Meta("br0", SERVER), 1000)
    assert (reply.dest_ip, reply.dest_port) == ("255.255.255.255", 68)


def test_relay_loop_is_dropped() -> None:
    core, _ = make_core()
    raw = bytearray(request(DISCOVER, "02:00:00:00:00:01", giaddr="10.1.1.254"))
    raw[3] = 17  # hops
    assert core.handle(bytes(raw), Meta("br0", SERVER, "10.1.1.254", 67), 1) is None
    assert "hops" in core.last_drop
