"""Work kind ``tls.rotate``: the appliance asks an agent host to renew its libvirt TLS
certificate before it expires (``provisioner/remote/rotation.py`` decides when).

The agent makes a new key here, sends only a certificate request (CSR) for the names the
appliance gave to ``POST /api/agent/certificate`` (authenticated with the host token; the
appliance signs only this host's names), and installs key and certificate with the ``tls``
plan (``agent/plan/libvirt_tls.py``, the same plan as ``provisioner-agent apply tls``): only the
files that differ change, and the daemon reloads (``--tls-service reload``) or restarts only
when something changed. The new key never leaves the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.guest.errors import GuestError
from agent.plan.libvirt_tls import TlsBundle, TlsWant, plan_libvirt_tls
from agent.plan.steps import Plan, PlanError


class Signer(Protocol):
    def certificate(self, csr: str) -> dict[str, Any]: ...


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return x509.DNSName(name)


def new_request(names: Sequence[str]) -> tuple[str, str]:
    """``(key PEM, CSR PEM)``: a new EC key and a request for ``names`` (CN = the first)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def payload_names(payload: dict[str, Any]) -> list[str]:
    names = payload.get("names")
    if not isinstance(names, list) or not names or \
            not all(isinstance(n, str) and n and not n.startswith("-") for n in names):
        raise GuestError(f"tls.rotate needs the host's names, got {names!r}", "ORDER_FIELD")
    return names


def rotation_plan(signer: Signer, payload: dict[str, Any], want: TlsWant) -> tuple[Plan, str]:
    """Ask the appliance to sign a new key's request; the ``tls`` plan that installs both,
    and the new certificate."""
    key_pem, csr_pem = new_request(payload_names(payload))
    signed = signer.certificate(csr_pem)
    cert = str(signed.get("cert") or "")
    try:
        return plan_libvirt_tls(TlsBundle(str(signed.get("ca_cert") or ""), cert, key_pem),
                                want), cert
    except PlanError as exc:
        raise GuestError(f"the appliance's answer is not a usable certificate: {exc}",
                         "TLS_BUNDLE") from None


def rotate(signer: Signer, payload: dict[str, Any], want: TlsWant,
           apply_plan: Callable[[Plan], Any]) -> dict[str, Any]:
    """Run one ``tls.rotate`` work item; ``apply_plan`` applies a plan to this host and
    returns the applier's report."""
    plan, cert = rotation_plan(signer, payload, want)
    report = apply_plan(plan)
    if not report.ok:
        raise GuestError(f"the TLS plan failed:\n{report.text()}", "TLS_PLAN_FAILED")
    not_after = x509.load_pem_x509_certificate(cert.encode()).not_valid_after_utc
    return {"changed": report.changed, "service": want.service,
            "not_after": not_after.isoformat(timespec="seconds")}
