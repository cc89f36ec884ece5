"""DHCPv6 server policy (RFC 8415), table-tested with built and captured client messages."""

from __future__ import annotations

import pytest

from provisioner.models import DhcpRecord
from provisioner.proto.dhcp6 import codec
from provisioner.proto.dhcp6 import options as o
from provisioner.proto.dhcp6.codec import RelayMessage, decode
from provisioner.proto.dhcp6.core import Meta6
from tests.proto.dhcp6.helpers import (
    DUID,
    LINK_LOCAL,
    MAC,
    META,
    SERVER,
    SERVER_DUID,
    captured,
    core,
    ia_addresses,
    ia_na,
    ia_status,
    msg,
    pxe_opts,
    relay,
    reply_of,
)

NOW = 1000.0
FIRST = "fd00:77::100"
REC = DhcpRecord(MAC, "web1", hostname="web1")


def _bind(c, iaid: int = 1) -> str:
    r = reply_of(c.handle(msg(codec.SOLICIT, ia_na(iaid), (o.RAPID_COMMIT, b"")), META, NOW))
    return ia_addresses(r)[0][1]


# --- captured real clients -------------------------------------------------------------------

CAPTURED = {
    "dhclient -6": ("dhclient", codec.ADVERTISE, False),
    "perfdhcp -6": ("perfdhcp", codec.ADVERTISE, False),
    "perfdhcp -6 relayed (-A1)": ("perfdhcp-relay", codec.ADVERTISE, True),
}


@pytest.mark.parametrize(("name", "kind", "relayed"), CAPTURED.values(), ids=CAPTURED.keys())
def test_captured_solicit_gets_an_address(name: str, kind: int, relayed: bool) -> None:
    src, data = captured(name)
    c, _ = core()
    r = c.handle(data, Meta6("br0", src, 547 if relayed else 546), NOW)
    assert r is not None, c.last_drop
    assert r.dest_ip == src and r.dest_port == (547 if relayed else 546)
    m = reply_of(r)
    sent = decode(data)
    inner = decode(sent.get(o.RELAY_MSG) or b"") if relayed else sent
    assert m.msg_type == kind and m.txid == inner.txid  # type: ignore[union-attr]
    [(_, addr, pref, valid)] = ia_addresses(m)
    assert addr == FIRST and pref == valid == 3600
    assert m.get(o.SERVERID) == SERVER_DUID and m.get(o.PREFERENCE) == b"\xff"
    assert m.get(o.BOOTFILE_URL) is None  # an OS client never gets a boot file
    if relayed:
        outer = decode(r.data)
        assert isinstance(outer, RelayMessage) and outer.msg_type == codec.RELAY_REPL
        assert outer.peer_address == decode(data).peer_address  # type: ignore[union-attr]
        assert decode(outer.get(o.RELAY_MSG) or b"") == m


# --- the exchanges ---------------------------------------------------------------------------

def test_solicit_advertise_request_reply_is_persisted() -> None:
    c, _ = core(REC)
    adv = reply_of(c.handle(msg(codec.SOLICIT, ia_na(7)), META, NOW))
    assert adv.msg_type == codec.ADVERTISE and not c.leases.drain()  # offers persist nothing
    [(iaid, addr, _, _)] = ia_addresses(adv)
    r = c.handle(msg(codec.REQUEST, ia_na(7, addr), server=SERVER_DUID), META, NOW)
    assert r is not None and r.commit and reply_of(r).msg_type == codec.REPLY
    assert ia_addresses(reply_of(r))[0][:2] == (7, addr)
    [lease] = c.leases.drain()
    assert (lease.state, lease.mac, lease.hostname) == ("bound", f"{DUID.hex()}/7/{MAC}", "web1")


def test_rapid_commit_replies_at_once_and_binds() -> None:
    c, _ = core()
    r = c.handle(msg(codec.SOLICIT, ia_na(), (o.RAPID_COMMIT, b"")), META, NOW)
    m = reply_of(r)
    assert m.msg_type == codec.REPLY and m.get(o.RAPID_COMMIT) == b"" and r.commit
    assert c.leases.drain()[0].state == "bound"


def test_rapid_commit_off_advertises() -> None:
    c, _ = core(rapid=False)
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(), (o.RAPID_COMMIT, b"")), META, NOW))
    assert m.msg_type == codec.ADVERTISE and m.get(o.RAPID_COMMIT) is None


DROPS = {
    "solicit with a server id": msg(codec.SOLICIT, ia_na(), server=SERVER_DUID),
    "solicit without client id": msg(codec.SOLICIT, ia_na(), duid=None),
    "request for another server": msg(codec.REQUEST, ia_na(), server=b"\x00\x03\x00\x01abcdef"),
    "request without server id": msg(codec.REQUEST, ia_na()),
    "renew without server id": msg(codec.RENEW, ia_na(1, FIRST)),
    "rebind with server id": msg(codec.REBIND, ia_na(1, FIRST), server=SERVER_DUID),
    "confirm without addresses": msg(codec.CONFIRM, ia_na()),
    "information-request with an IA": msg(codec.INFORMATION_REQUEST, ia_na()),
    "a server message (advertise)": msg(codec.ADVERTISE, ia_na()),
    "a relay-reply": RelayMessage(codec.RELAY_REPL, 0, bytes(16), bytes(16),
                                  ((o.RELAY_MSG, msg(codec.SOLICIT, ia_na())),)).encode(),
    "relay-forward without relay message": RelayMessage(codec.RELAY_FORW, 0, bytes(16),
                                                         bytes(16)).encode(),
    "relay loop (hop count 33)": relay(msg(codec.SOLICIT, ia_na()), hops=33),
    "truncated option": msg(codec.SOLICIT)[:-3] + b"\x00\x03\x00\x40",
    "short datagram": b"\x01\x02",
    "duid of 2 bytes": msg(codec.SOLICIT, ia_na(), duid=b"\x00\x01"),
    "truncated IA_NA": msg(codec.SOLICIT, (o.IA_NA, b"\x00\x00\x00\x01")),
    "reconfigure": msg(codec.RECONFIGURE),
}


@pytest.mark.parametrize("data", DROPS.values(), ids=DROPS.keys())
def test_dropped_with_a_reason(data: bytes) -> None:
    c, _ = core()
    assert c.handle(data, META, NOW) is None and c.last_drop


def test_renew_extends_and_unknown_gets_no_binding() -> None:
    c, _ = core()
    addr = _bind(c)
    c.leases.drain()
    m = reply_of(c.handle(msg(codec.RENEW, ia_na(1, addr), server=SERVER_DUID), META, NOW + 100))
    assert ia_addresses(m)[0][1:] == (addr, 3600, 3600) and c.leases.drain()
    other = o.duid_ll("52:54:00:aa:bb:cc")
    m = reply_of(c.handle(msg(codec.RENEW, ia_na(1, addr), duid=other, server=SERVER_DUID),
                          META, NOW))
    assert ia_status(m) == [o.NO_BINDING] and not ia_addresses(m)


def test_rebind_off_link_gets_zero_lifetimes() -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.REBIND, ia_na(1, "2001:db8::5")), META, NOW))
    assert ia_addresses(m) == [(1, "2001:db8::5", 0, 0)]


def test_release_frees_and_decline_quarantines() -> None:
    c, _ = core()
    addr = _bind(c)
    r = c.handle(msg(codec.RELEASE, ia_na(1, addr), server=SERVER_DUID), META, NOW)
    assert r.commit and o.status_of(reply_of(r).options) == o.SUCCESS
    assert [x.state for x in c.leases.drain()][-1] == "released"
    addr = _bind(c, 2)
    c.handle(msg(codec.DECLINE, ia_na(2, addr), server=SERVER_DUID), META, NOW)
    assert c.leases.by_ip[int(__import__("ipaddress").IPv6Address(addr))].state == "declined"
    other = o.duid_ll("52:54:00:aa:bb:cc")
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(), (o.RAPID_COMMIT, b""), duid=other),
                          META, NOW + 1))
    assert ia_addresses(m)[0][1] != addr  # the declined address is not handed out again


@pytest.mark.parametrize(("addr", "want"), [(FIRST, o.SUCCESS), ("2001:db8::1", o.NOT_ON_LINK)])
def test_confirm(addr: str, want: int) -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.CONFIRM, ia_na(1, addr)), META, NOW))
    assert m.msg_type == codec.REPLY and o.status_of(m.options) == want


def test_information_request_gets_dns_and_no_address() -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.INFORMATION_REQUEST, duid=None), META, NOW))
    assert o.addresses(m.get(o.DNS_SERVERS) or b"") == [SERVER]
    assert m.get(o.DOMAIN_LIST) == b"\x03lab\x07example\x00" and not m.all(o.IA_NA)


def test_unicast_request_is_told_to_use_multicast() -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.REQUEST, ia_na(), server=SERVER_DUID),
                          Meta6("br0", LINK_LOCAL, multicast=False), NOW))
    assert o.status_of(m.options) == o.USE_MULTICAST and not c.leases.drain()


def test_ia_ta_and_ia_pd_are_refused() -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(), (o.IA_TA, b"\0\0\0\x09"),
                              (o.IA_PD, bytes(12))), META, NOW))
    assert len(ia_addresses(m)) == 1
    assert m.get(o.IA_TA)[:4] == b"\0\0\0\x09" and m.get(o.IA_PD) is not None


def test_exhausted_pool_says_no_addrs_avail() -> None:
    c, _ = core(ranges=("fd00:77::100,fd00:77::100,1h",))
    _bind(c)
    other = o.duid_ll("52:54:00:aa:bb:cc")
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(), duid=other), META, NOW))
    assert ia_status(m) == [o.NO_ADDRS_AVAIL] and not ia_addresses(m)


# --- reservations and who the client is --------------------------------------------------------

RESERVED = "fd00:77::42"
RESERVATIONS = {
    "by DUID (any DUID type)": (DhcpRecord("52:54:00:00:00:09", "db1", ipv6=RESERVED,
                                           duid="000400112233445566778899aabbccddeeff"),
                                bytes.fromhex("000400112233445566778899aabbccddeeff"), META),
    "by MAC from a DUID-LL": (DhcpRecord(MAC, "db1", ipv6=RESERVED), DUID, META),
    "by MAC from the EUI-64 link-local source": (
        DhcpRecord(MAC, "db1", ipv6=RESERVED), bytes.fromhex("0004" + "ab" * 16), META),
    "by MAC from a relay's link-layer option (RFC 6939)": (
        DhcpRecord(MAC, "db1", ipv6=RESERVED), bytes.fromhex("0004" + "ab" * 16),
        Meta6("br0", "fd00:77::fe", 547)),
}


@pytest.mark.parametrize(("record", "duid", "meta"), RESERVATIONS.values(),
                         ids=RESERVATIONS.keys())
def test_reservation(record: DhcpRecord, duid: bytes, meta: Meta6) -> None:
    c, inv = core(record)
    data = msg(codec.SOLICIT, ia_na(), (o.RAPID_COMMIT, b""), duid=duid)
    if meta.src_port == 547:
        data = relay(data, "fd00:77::fe", "fe80::9", 0,
                     (o.CLIENT_LINKLAYER, b"\x00\x01" + bytes.fromhex(MAC.replace(":", ""))))
    m = reply_of(c.handle(data, meta, NOW))
    assert [a[1] for a in ia_addresses(m)] == [RESERVED]
    assert ("system:db1", "dhcp6-reply") in [(s, k) for s, k, _ in inv.events]


def test_reserved_address_is_never_given_from_the_pool() -> None:
    c, _ = core(DhcpRecord("52:54:00:00:00:09", "db1", ipv6="fd00:77::100"))
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na()), META, NOW))
    assert ia_addresses(m)[0][1] == "fd00:77::101"


def test_nested_relays_link_address_picks_the_link() -> None:
    c, _ = core()
    inner = relay(msg(codec.SOLICIT, ia_na()), "fd00:77::fe", LINK_LOCAL, 0,
                  (o.INTERFACE_ID, b"port7"))
    r = c.handle(relay(inner, "2001:db8::1", "fd00:77::fe", 1), Meta6(None, "2001:db8::1", 547),
                 NOW)
    outer = decode(r.data)
    assert isinstance(outer, RelayMessage) and outer.hop_count == 1
    mid = decode(outer.get(o.RELAY_MSG) or b"")
    assert isinstance(mid, RelayMessage) and mid.get(o.INTERFACE_ID) == b"port7"
    assert ia_addresses(decode(mid.get(o.RELAY_MSG) or b""))[0][1] == FIRST


# --- boot (RFC 5970) ----------------------------------------------------------------------------

HOST = DhcpRecord(MAC, "pxe1")
BOOT = {
    "uefi pxe x86-64: tftp url": (pxe_opts("PXEClient:Arch:00007:UNDI:003016", 7), HOST,
                                  f"tftp://[{SERVER}]/ipxe.efi", None),
    "uefi http x86-64: http url, HTTPClient echoed": (
        pxe_opts("HTTPClient:Arch:00016:UNDI:003001", 16), HOST,
        f"http://[{SERVER}]:8080/tftpboot/ipxe.efi", o.build_vendor_class("HTTPClient")),
    "ipxe: its per-mac script": (pxe_opts("PXEClient:Arch:00007:UNDI:003010", 7, "iPXE"), HOST,
                                 f"http://[{SERVER}]:8080/boot/ipxe/{MAC}", None),
    "secure boot: shim": (pxe_opts("PXEClient:Arch:00007:UNDI:003016", 7),
                          DhcpRecord(MAC, "sb1", secure_boot=True),
                          f"tftp://[{SERVER}]/shim/shimx64.efi", None),
    "arm64: shimaa64": (pxe_opts("PXEClient:Arch:00011:UNDI:003000", 11), HOST,
                        f"tftp://[{SERVER}]/shim/shimaa64.efi", None),
    "os client: nothing": ([], HOST, None, None),
    "unknown mac, policy ignore: nothing": (pxe_opts("PXEClient:Arch:00007:UNDI:003016", 7),
                                            None, None, None),
}


@pytest.mark.parametrize(("opts", "record", "url", "vendor"), BOOT.values(), ids=BOOT.keys())
def test_boot_file_url(opts, record, url, vendor) -> None:
    c, _ = core(*([record] if record else []))
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(), *opts), META, NOW))
    assert m.get(o.BOOTFILE_URL) == (url.encode() if url else None)
    assert m.get(o.VENDOR_CLASS) == vendor


def test_boot_file_param_from_the_system() -> None:
    c, _ = core(DhcpRecord(MAC, "pxe1", boot_params=("console=ttyS0", "quiet")))
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(),
                              *pxe_opts("PXEClient:Arch:00007:UNDI:003016", 7)), META, NOW))
    assert m.get(o.BOOTFILE_PARAM) == b"\x00\x0dconsole=ttyS0\x00\x05quiet"


def test_missing_loader_gets_nothing_and_an_event_naming_it() -> None:
    c, inv = core(HOST, installed={"ipxe.efi": False})
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(),
                              *pxe_opts("PXEClient:Arch:00011:UNDI:003000", 11)), META, NOW))
    assert m.get(o.BOOTFILE_URL) is None and ia_addresses(m)  # still an address
    [(subject, kind, detail)] = [e for e in inv.events if e[1] == "boot-file-missing"]
    assert subject == "system:pxe1" and detail["file"] == "shim/shimaa64.efi"


def test_the_address_a_client_asks_for_is_honoured_when_free() -> None:
    c, _ = core()
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(1, "fd00:77::150")), META, NOW))
    assert ia_addresses(m)[0][1] == "fd00:77::150"
    m = reply_of(c.handle(msg(codec.SOLICIT, ia_na(1, "fd00:77::900")), META, NOW))
    assert ia_addresses(m)[0][1] == "fd00:77::150"  # outside the pool: its own lease instead


def test_a_reserved_client_cannot_renew_a_pool_address() -> None:
    c, _ = core(DhcpRecord(MAC, "db1", ipv6=RESERVED))
    m = reply_of(c.handle(msg(codec.RENEW, ia_na(1, FIRST), server=SERVER_DUID), META, NOW))
    assert ia_status(m) == [o.NO_BINDING] and not c.leases.drain()


FIRMWARE = {
    "OVMF PXEv6 (UEFI x86-64)": ("ovmf-pxe6", f"tftp://[{SERVER}]/ipxe.efi", None),
    "OVMF HTTPv6": ("ovmf-http6", f"http://[{SERVER}]:8080/tftpboot/ipxe.efi",
                    o.build_vendor_class("HTTPClient")),
    "iPXE (BIOS ROM, DUID-UUID: MAC from its link-local address)": (
        "ipxe-bios", f"http://[{SERVER}]:8080/boot/ipxe/52:54:00:12:34:60", None),
}


@pytest.mark.parametrize(("name", "url", "vendor"), FIRMWARE.values(), ids=FIRMWARE.keys())
def test_captured_firmware_gets_its_boot_file_url(name: str, url: str, vendor) -> None:
    src, data = captured(name)
    c, inv = core(DhcpRecord("52:54:00:12:34:60", "fw1"))
    m = reply_of(c.handle(data, Meta6("br0", src), NOW))
    assert m.get(o.BOOTFILE_URL) == url.encode() and m.get(o.VENDOR_CLASS) == vendor
    assert ia_addresses(m) and ("system:fw1", "dhcp6-advertise") in [e[:2] for e in inv.events]
