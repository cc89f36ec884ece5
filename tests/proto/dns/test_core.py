"""DNS answers (sans-IO): authoritative A/PTR/SOA for the domain, forward the rest."""

from __future__ import annotations

import ipaddress

import dns.flags
import dns.message
import dns.rcode
import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.proto.dns.core import answer, build_zone

ZONE = build_zone("lab.example", [("web1.lab.example", "10.77.0.100"), ("db1", "10.77.0.101"),
                                  ("", "10.77.0.9"), ("bad", "not-an-ip"),
                                  ("db1", "fd00:77:0:0::42"), ("v6only", "fd00:77::43")],
                  [ipaddress.IPv4Network("10.77.0.0/24"), ipaddress.IPv6Network("fd00:77::/64")])
REV42 = ".".join(reversed("fd000077000000000000000000000042")) + ".ip6.arpa"
REV44 = ".".join(reversed("fd000077000000000000000000000044")) + ".ip6.arpa"
REV_OUT = ".".join(reversed("20010db8000000000000000000000001")) + ".ip6.arpa"


def ask(name: str, rdtype: str = "A") -> dns.message.Message | str:
    d = answer(dns.message.make_query(name, rdtype).to_wire(), ZONE)
    return dns.message.from_wire(d.data) if d.kind == "reply" else d.kind


CASES = {
    "system A": ("web1.lab.example", "A", dns.rcode.NOERROR, ["10.77.0.100"]),
    "bare name gets the domain": ("db1.lab.example.", "A", dns.rcode.NOERROR, ["10.77.0.101"]),
    "case-insensitive": ("WEB1.Lab.Example", "A", dns.rcode.NOERROR, ["10.77.0.100"]),
    "PTR of a system": ("100.0.77.10.in-addr.arpa", "PTR", dns.rcode.NOERROR,
                        ["web1.lab.example."]),
    "AAAA of a system without IPv6: no data": ("web1.lab.example", "AAAA", dns.rcode.NOERROR,
                                                []),
    "AAAA of a system": ("db1.lab.example", "AAAA", dns.rcode.NOERROR, ["fd00:77::42"]),
    "A of a dual-stack system": ("db1.lab.example", "A", dns.rcode.NOERROR, ["10.77.0.101"]),
    "A of an IPv6-only system: no data": ("v6only.lab.example", "A", dns.rcode.NOERROR, []),
    "PTR in ip6.arpa": (REV42, "PTR", dns.rcode.NOERROR, ["db1.lab.example."]),
    "unknown PTR in a served IPv6 prefix": (REV44, "PTR", dns.rcode.NXDOMAIN, []),
    "unknown name in zone": ("nope.lab.example", "A", dns.rcode.NXDOMAIN, []),
    "unknown PTR in served subnet": ("7.0.77.10.in-addr.arpa", "PTR", dns.rcode.NXDOMAIN, []),
    "apex SOA": ("lab.example", "SOA", dns.rcode.NOERROR,
                 ["ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 60"]),
}


@pytest.mark.parametrize(("name", "rdtype", "rcode", "want"), CASES.values(), ids=CASES)
def test_authoritative(name, rdtype, rcode, want) -> None:
    resp = ask(name, rdtype)
    assert resp.rcode() == rcode and resp.flags & dns.flags.AA
    got = [r.to_text() for rrset in resp.answer for r in rrset]
    assert got == want


FORWARD = {"other domain": ("example.org", "A"),
           "PTR outside served subnets": ("4.3.2.1.in-addr.arpa", "PTR"),
           "suffix look-alike": ("notlab.example", "A"),
           "ip6.arpa PTR outside served prefixes": (REV_OUT, "PTR"),
           "ip6.arpa name of the wrong length": ("1.0.0.2.ip6.arpa", "PTR")}


@pytest.mark.parametrize(("name", "rdtype"), FORWARD.values(), ids=FORWARD)
def test_forwarded(name, rdtype) -> None:
    assert ask(name, rdtype) == "forward"


def test_formerr_and_drops() -> None:
    d = answer(b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\x05abc", ZONE)
    assert d.kind == "reply" and d.data[:2] == b"\x12\x34" and d.data[3] & 0x0F == 1
    assert answer(b"\x00\x01", ZONE).kind == "drop"
    resp = dns.message.make_response(dns.message.make_query("web1.lab.example", "A"))
    assert answer(resp.to_wire(), ZONE).kind == "drop"  # never answer a response


@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    assert answer(data, ZONE).kind in ("reply", "drop", "forward")
