"""The appliance as the CA for libvirt's TLS transport (seed §20.2), with ``cryptography``.

Seed §20.2 only says that libvirt over TLS needs x509 certificates from a CA and points to
libvirt's ``remote.html``. Where the files go on a host (``/etc/pki/CA/cacert.pem``,
``/etc/pki/libvirt/servercert.pem``, ...) is the agent's plan (``agent/plan/libvirt_tls.py``);
the appliance's own client files go in a ``pkipath=`` directory (:data:`PKIPATH_FILES`).

Everything here is pure: keys, certificates and the clock come in as arguments, PEM text goes
out; where the CA's key is kept (encrypted) is the caller's business.

* :func:`create_ca` - a self-signed CA (basicConstraints CA, keyCertSign/cRLSign).
* :func:`issue_host` - a host's certificate: the host's names and addresses as SANs (libvirt
  checks the URI's host against them), usable as TLS server *and* client (a host is the client
  of the other host in a peer-to-peer migration).
* :func:`issue_client` - the appliance's client certificate.
* :func:`cert_status` - is an installed certificate still fine (issuer, names, expiry margin)?
  The rotation decision: anything but ``ok`` means issue and install a new one.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioner.errors import Invalid

#: Names of the files a ``pkipath=`` directory holds for a client.
PKIPATH_FILES = {"cacert": "cacert.pem", "clientcert": "clientcert.pem",
                 "clientkey": "clientkey.pem"}
#: Renew a certificate this long before it expires.
DEFAULT_MARGIN = dt.timedelta(days=30)


class PkiError(Invalid, ValueError):
    """A certificate or key that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class KeyPair:
    cert_pem: str
    key_pem: str


def new_key(kind: str = "ec") -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """ECDSA P-256 (fast, GnuTLS and OpenSSL both take it) or RSA 3072 for old peers."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise PkiError(f"key kind {kind!r}: ec or rsa")


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def load_cert(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from None


def _load_key(pem: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"a {type(key).__name__} key: only EC and RSA keys are used")
    return key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=not ca, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def create_ca(now: dt.datetime, *, cn: str = "provisioner libvirt CA",
              org: str = "provisioner", days: int = 3650, key_kind: str = "ec") -> KeyPair:
    key = new_key(key_kind)
    name = _name(cn, org)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


def _san(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n.strip("[]"))))
        except ValueError:
            if not n or any(c in n for c in " /;@:") or n.startswith("-"):
                raise PkiError(f"name {n!r}: a host name or an IP address") from None
            out.append(x509.DNSName(n))
    return out


def _issue(ca: KeyPair, cn: str, now: dt.datetime, days: int | dt.timedelta,
           usages: list[x509.ObjectIdentifier], sans: Sequence[str], key_kind: str,
           org: str, public_key: Any = None) -> KeyPair:
    """A certificate, with a new key (``key_pem``) unless ``public_key`` (a request's) is
    given: then the key stays where it was made and ``key_pem`` is empty."""
    general = _san(sans)  # refuse bad names before anything is made
    if not cn or len(cn) > 64:
        raise PkiError(f"common name {cn!r}: 1 to 64 characters")
    ca_cert, ca_key = load_cert(ca.cert_pem), _load_key(ca.key_pem)
    life = days if isinstance(days, dt.timedelta) else dt.timedelta(days=days)
    life = min(life, ca_cert.not_valid_after_utc - now)  # never outlive the CA
    key = new_key(key_kind) if public_key is None else None
    builder = (x509.CertificateBuilder().subject_name(_name(cn, org))
               .issuer_name(ca_cert.subject)
               .public_key(key.public_key() if key is not None else public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + life)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_key_usage(ca=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(),
                   "" if key is None else _pem_key(key))


def issue_host(ca: KeyPair, names: Sequence[str], now: dt.datetime, *,
               days: int | dt.timedelta = 365,
               key_kind: str = "ec", org: str = "provisioner") -> KeyPair:
    """A host certificate: CN = the first name, every name/address a SAN. ``days`` may be a
    timedelta (tests make certificates that expire in seconds)."""
    if not names:
        raise PkiError("a host certificate needs at least one host name or address")
    return _issue(ca, names[0], now, days,
                  [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                  names, key_kind, org)


def request_names(csr_pem: str) -> tuple[x509.CertificateSigningRequest, list[str]]:
    """A host's certificate request (its key made on the host) and the names it asks for;
    a request that does not parse or whose signature is wrong is refused."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise PkiError("the certificate request is not a PEM CSR") from None
    if not csr.is_signature_valid:
        raise PkiError("the certificate request's signature is wrong")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PkiError("the certificate request names no host (no subjectAltName)") from None
    names = [*san.get_values_for_type(x509.DNSName),
             *(str(a) for a in san.get_values_for_type(x509.IPAddress))]
    if not names:
        raise PkiError("the certificate request names no host (no subjectAltName)")
    return csr, names


def sign_host_request(ca: KeyPair, csr_pem: str, allowed: Sequence[str], now: dt.datetime, *,
                      days: int | dt.timedelta = 365, org: str = "provisioner") -> str:
    """A host certificate for a request (rotation by the agent: the new key never leaves the
    host), only for ``allowed`` names (those of the certificate the appliance issued before:
    a host cannot ask for another host's name)."""
    csr, names = request_names(csr_pem)
    extra = sorted(set(names) - {n.strip("[]") for n in allowed})
    if extra:
        raise PkiError(f"the request asks for {extra}, not names of this host "
                       f"({', '.join(allowed)})")
    return _issue(ca, names[0], now, days,
                  [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
                  names, "ec", org, public_key=csr.public_key()).cert_pem


def issue_client(ca: KeyPair, cn: str, now: dt.datetime, *, days: int | dt.timedelta = 365,
                 key_kind: str = "ec", org: str = "provisioner") -> KeyPair:
    """A client certificate (the appliance's), with no SANs."""
    return _issue(ca, cn, now, days, [ExtendedKeyUsageOID.CLIENT_AUTH], (), key_kind, org)


# ---- inspection and the rotation decision --------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    subject_cn: str
    issuer_cn: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int
    sha256: str


def info(pem: str) -> CertInfo:
    cert = load_cert(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple([*san.get_values_for_type(x509.DNSName),
                       *(str(a) for a in san.get_values_for_type(x509.IPAddress))])
    except x509.ExtensionNotFound:
        names = ()

    def cn(n: x509.Name) -> str:
        attrs = n.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""

    return CertInfo(cn(cert.subject), cn(cert.issuer), names, cert.not_valid_before_utc,
                    cert.not_valid_after_utc, cert.serial_number,
                    cert.fingerprint(hashes.SHA256()).hex(":"))


def issued_by(pem: str, ca_pem: str) -> bool:
    cert, ca = load_cert(pem), load_cert(ca_pem)
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_matches(cert_pem: str, key_pem: str) -> bool:
    pub = load_cert(cert_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    mine = _load_key(key_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pub == mine


class Status(enum.Enum):
    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    WRONG_CA = "wrong-ca"
    NAMES_CHANGED = "names-changed"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"


def cert_status(pem: str | None, ca_pem: str, names: Sequence[str], now: dt.datetime,
                margin: dt.timedelta = DEFAULT_MARGIN) -> tuple[Status, str]:
    """``(status, reason)`` of an installed host certificate; rotate unless ``Status.OK``."""
    if not pem:
        return Status.MISSING, "no certificate installed"
    try:
        i = info(pem)
    except PkiError as exc:
        return Status.UNREADABLE, str(exc)
    if not issued_by(pem, ca_pem):
        return Status.WRONG_CA, f"issued by {i.issuer_cn!r}, not by this appliance's CA"
    want = {n.strip("[]") for n in names}
    if want - set(i.names):
        return Status.NAMES_CHANGED, (f"names {sorted(want - set(i.names))} are not in the "
                                      f"certificate ({', '.join(i.names)})")
    if now < i.not_before:
        return Status.NOT_YET_VALID, f"valid only from {i.not_before:%Y-%m-%d %H:%M} UTC"
    if now >= i.not_after:
        return Status.EXPIRED, f"expired on {i.not_after:%Y-%m-%d %H:%M} UTC"
    if now + margin >= i.not_after:
        return Status.EXPIRING, (f"expires on {i.not_after:%Y-%m-%d} UTC, within "
                                 f"{margin.days} days")
    return Status.OK, f"valid until {i.not_after:%Y-%m-%d} UTC"
