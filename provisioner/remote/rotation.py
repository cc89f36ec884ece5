"""Automatic rotation of the hosts' libvirt TLS certificates (seed §20.2), before they expire.

The appliance issued each host's certificate (``provisioner host cert``) and keeps the last
one it issued (``RemoteHosts.issued``). :func:`plan_rotations` (pure) decides, with the same
``pki.cert_status`` as the appliance's own client certificate, which hosts need a new one and
how it gets there:

* ``agent``  -- a host running our agent: work kind ``tls.rotate`` is queued (one per
  certificate: the idempotency key names its serial); the agent makes a new key, the appliance
  signs its request (``RemoteHosts.sign_request``) and the agent's ``tls`` plan installs it
  (``agent/tlsrotate.py``);
* ``ssh``    -- an agentless host reached over SSH: the appliance makes key and certificate and
  writes the files libvirt reads (``platform/libvirt_pki.py``, the agent plan's table) with one
  ``sh`` script over its SSH connection, then libvirtd reloads them (``virt-admin
  server-update-tls``, libvirt >= 6.2: no restart, guests and connections stay);
* ``manual`` -- an agentless host reached only over TLS: libvirt's API cannot write files on
  its host, so the timeline says so with the commands that fix it.

:func:`rotate` runs a plan (``provisioner host rotate``, and ``serve`` every few hours from
``remote/loops.py``); each step is recorded in the host's timeline (``host:NAME``).
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.core.events import record
from provisioner.core.orders import enqueue
from provisioner.errors import ProvisionerError
from provisioner.models import EventKind, Host
from provisioner.models.events import host_subject
from provisioner.platform.libvirt_pki import RELOAD_TLS, tls_files
from provisioner.remote import pki
from provisioner.remote.uri import parse

log = logging.getLogger("provisioner.remote")
HOWS = ("agent", "ssh", "manual")
_EOF = "PROVISIONER_PEM_END"


@dataclass(frozen=True)
class Rotation:
    host: str
    how: str      # one of HOWS
    status: str   # pki.Status value
    reason: str
    serial: int


def how_for(host: Host) -> str:
    if not host.uri:
        return "agent"
    return "ssh" if parse(host.uri).effective_transport == "ssh" else "manual"


def plan_rotations(hosts: Sequence[Host], issued: Mapping[str, str], ca_pem: str,
                   now: dt.datetime, margin: dt.timedelta = pki.DEFAULT_MARGIN
                   ) -> list[Rotation]:
    """The hosts whose issued certificate must be replaced now, and how (pure)."""
    out = []
    for h in sorted(hosts, key=lambda h: h.name):
        pem = issued.get(h.name)
        if pem is None:  # never given a certificate by this appliance: nothing to keep up
            continue
        names = [parse(h.uri).host.strip("[]")] if h.uri else []
        status, reason = pki.cert_status(pem, ca_pem, names, now, margin)
        if status is pki.Status.OK:
            continue
        serial = pki.info(pem).serial if status is not pki.Status.UNREADABLE else 0
        out.append(Rotation(h.name, how_for(h), status.value, reason, serial))
    return out


def push_script(files: Sequence[tuple[str, str, bool]],
                reload: Sequence[str] = RELOAD_TLS) -> str:
    """A POSIX ``sh`` script that writes ``files`` (``(path, PEM, secret)``) next to their
    places, moves them in only when all are written (keys 0600), and reloads libvirtd's TLS
    files; it fails (non-zero, before anything moved) if a write fails."""
    lines = ["set -eu", "umask 077"]
    for path, text, secret in files:
        if _EOF in text or not text.lstrip().startswith("-----BEGIN "):
            raise ValueError(f"{path}: not PEM text")
        tmp = shlex.quote(path + ".provisioner-new")
        body = text if text.endswith("\n") else text + "\n"
        lines += [f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])}",
                  f"cat > {tmp} <<'{_EOF}'", body.rstrip("\n"), _EOF,
                  f"chmod {'600' if secret else '644'} {tmp}"]
    lines += [f"mv -f {shlex.quote(p + '.provisioner-new')} {shlex.quote(p)}"
              for p, _, _ in files]
    lines.append(" ".join(shlex.quote(a) for a in reload))
    return "\n".join(lines) + "\n"


def _names(host: Host, pem: str) -> list[str]:
    try:
        return list(pki.info(pem).names)
    except pki.PkiError:
        return [parse(host.uri).host.strip("[]")] if host.uri else []


def _run_one(remote: Any, host: Host, r: Rotation) -> tuple[str, dict[str, Any]]:
    """Carry out one rotation; ``(event kind, detail)`` for the host's timeline."""
    pem = remote.issued(host.name) or ""
    names = _names(host, pem)
    if r.how == "agent":
        item = enqueue(remote.store, host.name, "tls.rotate", {"names": names},
                       key=f"tls.rotate:{host.name}:{r.serial:x}", now=remote.clock())
        return EventKind.TLS_ROTATION_QUEUED, {"reason": r.reason, "work": item.id,
                                               "state": item.state}
    if r.how == "ssh":
        bundle = remote.host_bundle(host.name, names, record=False)
        script = push_script(tls_files(bundle["ca_cert"], bundle["cert"], bundle["key"]))
        remote.backend.push_tls(host.uri, remote.credentials(), script)
        remote.record_issued(host.name, bundle["cert"])  # only once the host has it
        return EventKind.TLS_ROTATED, {
            "reason": r.reason, "over": "ssh",
            "not_after": pki.info(bundle["cert"]).not_after.isoformat(timespec="seconds")}
    return EventKind.TLS_ROTATION_MANUAL, {
        "reason": r.reason,
        "fix": f"provisioner host cert {host.name} --out {host.name}.json, then on the host "
               f"provisioner-agent apply tls --bundle {host.name}.json --service reload"}


def rotate(remote: Any, *, margin: dt.timedelta = pki.DEFAULT_MARGIN,
           dry_run: bool = False) -> list[tuple[Rotation, str]]:
    """Rotate every certificate :func:`plan_rotations` names; ``(rotation, outcome)`` each.
    ``remote`` is the :class:`~provisioner.remote.hosts.RemoteHosts` use-cases."""
    hosts = remote.store.list_hosts()
    issued = {h.name: pem for h in hosts if (pem := remote.issued(h.name)) is not None}
    now = dt.datetime.fromtimestamp(remote.clock(), dt.UTC)
    plan = plan_rotations(hosts, issued, remote.ca_certificate(), now, margin)
    done: list[tuple[Rotation, str]] = []
    for r in plan:
        if dry_run:
            done.append((r, f"would rotate ({r.how})"))
            continue
        host = next(h for h in hosts if h.name == r.host)
        try:
            kind, detail = _run_one(remote, host, r)
        except (ProvisionerError, ValueError) as exc:
            kind, detail = EventKind.TLS_ROTATION_FAILED, {"reason": r.reason,
                                                           "error": str(exc)}
            log.error("TLS rotation of %s failed: %s", r.host, exc)
        record(remote.store, host_subject(r.host), kind, detail, remote.clock())
        done.append((r, str(kind)))
    return done
