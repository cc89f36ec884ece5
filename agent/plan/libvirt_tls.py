"""Install the appliance-issued TLS certificates on a host and make libvirtd listen on TLS
(seed §20.2; file names from libvirt, D1 §6): a pure plan, printed with diffs, applied
idempotently (a certificate rotation is the same plan with new PEM text: only the files that
differ change, and the daemon restarts only when something changed).

Files: ``provisioner/platform/libvirt_pki.py`` (shared with the appliance's rotation over SSH).

``/etc/libvirt/libvirtd.conf`` gets ``listen_tls = 1`` (and ``listen_addr`` when asked). How
the daemon starts listening depends on the host: a SysV host (the seed's RHEL 5) needs
``LIBVIRTD_ARGS="--listen"`` in ``/etc/sysconfig/libvirtd`` and ``service libvirtd restart``; a
systemd host with socket activation needs ``libvirtd-tls.socket`` enabled; ``service="reload"``
(a rotation on libvirt >= 6.2) reloads the files with ``virt-admin server-update-tls``, no
restart. ``service="none"``
leaves the restart to whoever runs the daemon (a manual step; the tests restart their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.plan.steps import (
    Command,
    Content,
    FileStep,
    LineRule,
    Lines,
    Manual,
    Plan,
    PlanError,
    Step,
)
from agent.xen.sxp import XendEdit
from provisioner.platform.libvirt_pki import RELOAD_TLS, tls_files

LIBVIRTD_CONF = "/etc/libvirt/libvirtd.conf"
SYSCONFIG = "/etc/sysconfig/libvirtd"
XEND_CONFIG = "/etc/xen/xend-config.sxp"
SERVICES = ("sysv", "systemd", "reload", "none")
_CERT_HEAD = "-----BEGIN CERTIFICATE-----"
_KEY_HEADS = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----",
              "-----BEGIN RSA PRIVATE KEY-----")


@dataclass(frozen=True)
class TlsBundle:
    """PEM text the appliance issued for this host (``provisioner host cert``)."""

    ca_cert: str
    cert: str
    key: str

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TlsBundle:
        try:
            bundle = cls(str(data["ca_cert"]), str(data["cert"]), str(data["key"]))
        except KeyError as exc:
            raise PlanError("TLS_BUNDLE", f"the bundle has no {exc.args[0]!r}") from None
        bundle.check()
        return bundle

    def check(self) -> None:
        for what, text, heads in (("ca_cert", self.ca_cert, (_CERT_HEAD,)),
                                  ("cert", self.cert, (_CERT_HEAD,)),
                                  ("key", self.key, _KEY_HEADS)):
            if not text.lstrip().startswith(heads) or "-----END " not in text:
                raise PlanError("TLS_BUNDLE", f"{what} is not PEM ({heads[0]} ...)")
            if text.count("-----BEGIN ") != 1:
                raise PlanError("TLS_BUNDLE", f"{what} must hold exactly one PEM block")


@dataclass(frozen=True)
class TlsWant:
    hypervisor: str = "kvm"            # kvm | xen
    service: str = "systemd"           # sysv | systemd | reload | none (see the module docstring)
    listen_addr: str | None = None     # None: libvirt's default (all addresses)
    qemu_tls: bool = True              # QEMU migration-stream certificates


def _files(b: TlsBundle, want: TlsWant) -> list[tuple[str, str, bool]]:
    return tls_files(b.ca_cert, b.cert, b.key, hypervisor=want.hypervisor,
                     qemu_tls=want.qemu_tls)


def _conf_rule(key: str, value: str) -> LineRule:
    return LineRule(f"{key} = {value}", match=rf"^\s*#?\s*{key}\s*=")


def plan_libvirt_tls(bundle: TlsBundle, want: TlsWant) -> Plan:
    if want.service not in SERVICES:
        raise PlanError("TLS_SERVICE", f"service {want.service!r}: one of {', '.join(SERVICES)}")
    if want.hypervisor not in ("kvm", "xen"):
        raise PlanError("TLS_HYPERVISOR", f"hypervisor {want.hypervisor!r}: kvm or xen")
    if want.listen_addr is not None and \
            not all(c.isalnum() or c in ".:-" for c in want.listen_addr):
        raise PlanError("TLS_LISTEN_ADDR", f"listen_addr {want.listen_addr!r}: an address")
    bundle.check()
    steps: list[Step] = [FileStep(path, Content(text if text.endswith("\n") else text + "\n"),
                            mode=0o600 if secret else 0o644, secret=secret,
                            why="appliance-issued " + ("key" if secret else "certificate"))
                   for path, text, secret in _files(bundle, want)]
    rules = [_conf_rule("listen_tls", "1")]
    if want.listen_addr:
        rules.append(_conf_rule("listen_addr", f'"{want.listen_addr}"'))
    steps.append(FileStep(LIBVIRTD_CONF, Lines(tuple(rules)),
                          why="libvirtd accepts TLS connections on port 16514 (seed §20.3)"))
    if want.hypervisor == "xen":
        steps.append(FileStep(XEND_CONFIG, XendEdit((("vnc-tls", "1"),
                                                     ("vnc-x509-verify", "1"))),
                              why="VNC consoles over TLS, clients must present a certificate "
                                  "(seed §20.2)"))
    steps += _restart(want)
    return Plan("libvirt TLS (certificates + listen_tls)", tuple(steps))


def _restart(want: TlsWant) -> list[Step]:
    if want.service == "sysv":
        return [FileStep(SYSCONFIG, Lines((LineRule('LIBVIRTD_ARGS="--listen"',
                                                    match=r"^\s*#?\s*LIBVIRTD_ARGS="),)),
                         why="libvirtd listens on TCP/TLS only when started with --listen"),
                Command(("service", "libvirtd", "restart"), only_if_changed=True,
                        why="load the new certificates")]
    if want.service == "systemd":
        return [Command(("systemctl", "enable", "--now", "libvirtd-tls.socket"),
                        check=("systemctl", "is-active", "--quiet", "libvirtd-tls.socket"),
                        why="socket activation: the TLS listener is a systemd socket unit"),
                Command(("systemctl", "try-restart", "libvirtd.service"), only_if_changed=True,
                        why="load the new certificates")]
    if want.service == "reload":
        return [Command(RELOAD_TLS, only_if_changed=True,
                        why="libvirt >= 6.2 reloads its TLS files, no restart")]
    return [Manual("restart libvirtd (with --listen) so it loads the certificates")]
