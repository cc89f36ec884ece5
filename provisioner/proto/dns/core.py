"""Authoritative answers for the appliance's domain; everything else is marked for forwarding.

``answer(query, zone) -> Decision``: sans-IO. The zone is built per request from the inventory
(systems with addresses) and the active DHCP leases, so a change there is live at once.

* names under ``zone.domain``: A and AAAA from the records (IPv4 and IPv6 addresses; other types:
  NOERROR, no data), the SOA for the apex, NXDOMAIN with the SOA for unknown names; always with
  the AA flag;
* ``in-addr.arpa`` and ``ip6.arpa`` (32 nibbles) names: PTR for known addresses; NXDOMAIN for
  other addresses inside the served subnets (we are authoritative there); anything else is
  forwarded;
* any other name: ``Decision("forward")``; the transport relays the query to the upstream
  resolvers of resolv.conf;
* malformed query: FORMERR (or a drop when not even the header is there); not a QUERY: NOTIMP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.flags
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from provisioner.proto.dns import codec
from provisioner.proto.errors import PeerError

TTL = 60


@dataclass(frozen=True)
class Zone:
    """Forward and reverse data for one domain (names are lower-case, without trailing dot)."""

    domain: str
    a: dict[str, str] = field(default_factory=dict)
    ptr: dict[str, str] = field(default_factory=dict)  # address (canonical text) -> name
    reverse_nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    aaaa: dict[str, str] = field(default_factory=dict)


def build_zone(domain: str, records: Iterable[tuple[str, str]],
               reverse_nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
               ) -> Zone:
    """``records`` are ``(name, ip)`` (IPv4 or IPv6); a bare host name gets ``.domain``."""
    domain = domain.strip(".").lower()
    a: dict[str, str] = {}
    aaaa: dict[str, str] = {}
    ptr: dict[str, str] = {}
    for name, ip in records:
        if not name or not ip:
            continue
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            continue
        fqdn = name.strip(".").lower()
        if fqdn != domain and not fqdn.endswith("." + domain):
            fqdn = f"{fqdn.split('.')[0]}.{domain}"
        (aaaa if addr.version == 6 else a).setdefault(fqdn, str(addr))
        ptr.setdefault(str(addr), fqdn)
    return Zone(domain, a, ptr, tuple(reverse_nets), aaaa)


@dataclass(frozen=True)
class Decision:
    """``reply`` (send ``data``), ``forward`` (relay the query upstream) or ``drop``."""

    kind: str
    data: bytes = b""


def _soa(zone: Zone) -> dns.rrset.RRset:
    soa = f"ns.{zone.domain}. hostmaster.{zone.domain}. 1 3600 600 86400 {TTL}"
    return dns.rrset.from_text(f"{zone.domain}.", TTL, "IN", "SOA", soa)


def _reverse_ip(qname: str) -> str | None:
    labels = qname.split(".")
    try:
        if len(labels) == 6 and labels[4:] == ["in-addr", "arpa"]:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if len(labels) == 34 and labels[32:] == ["ip6", "arpa"] and all(
                len(x) == 1 for x in labels[:32]):
            return str(ipaddress.IPv6Address(int("".join(reversed(labels[:32])), 16)))
    except ValueError:
        return None
    return None


def answer(query: bytes, zone: Zone) -> Decision:
    try:
        msg = codec.parse(query)
    except PeerError:
        qid = codec.header_id(query)
        if qid is None or query[2] & 0x80:  # too short, or a response: never answer those
            return Decision("drop")
        flags = (query[2] & 0x79) << 8 | 0x8000 | dns.rcode.FORMERR
        return Decision("reply", qid.to_bytes(2, "big") + flags.to_bytes(2, "big") + bytes(8))
    if msg.flags & dns.flags.QR:
        return Decision("drop")
    if msg.opcode() != dns.opcode.QUERY or len(msg.question) != 1:
        resp = dns.message.make_response(msg)
        resp.set_rcode(dns.rcode.NOTIMP if msg.opcode() != dns.opcode.QUERY
                       else dns.rcode.FORMERR)
        return Decision("reply", codec.encode(resp))
    q = msg.question[0]
    qname = q.name.to_text(omit_final_dot=True).lower()
    in_zone = qname == zone.domain or qname.endswith("." + zone.domain)
    rev = _reverse_ip(qname)
    if not in_zone and rev is None:
        return Decision("forward")
    if rev is not None and rev not in zone.ptr and not any(
            ipaddress.ip_address(rev) in n for n in zone.reverse_nets):
        return Decision("forward")
    resp = dns.message.make_response(msg)
    resp.flags |= dns.flags.AA | dns.flags.RA
    if q.rdclass != dns.rdataclass.IN:
        resp.set_rcode(dns.rcode.REFUSED)
    elif rev is not None:
        name = zone.ptr.get(rev)
        if name is None:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        elif q.rdtype in (dns.rdatatype.PTR, dns.rdatatype.ANY):
            resp.answer.append(dns.rrset.from_text(q.name, TTL, "IN", "PTR", f"{name}."))
    elif qname == zone.domain:
        if q.rdtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
            resp.answer.append(_soa(zone))
        else:
            resp.authority.append(_soa(zone))
    elif qname in zone.a or qname in zone.aaaa:
        for kind, table in ((dns.rdatatype.A, zone.a), (dns.rdatatype.AAAA, zone.aaaa)):
            if qname in table and q.rdtype in (kind, dns.rdatatype.ANY):
                resp.answer.append(dns.rrset.from_text(q.name, TTL, "IN", kind.name,
                                                       table[qname]))
        if not resp.answer:
            resp.authority.append(_soa(zone))
    else:
        resp.set_rcode(dns.rcode.NXDOMAIN)
        resp.authority.append(_soa(zone))
    return Decision("reply", codec.encode(resp, max(512, msg.payload) if msg.edns >= 0 else 512))
