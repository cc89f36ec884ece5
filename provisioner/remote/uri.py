"""libvirt connection URIs as the guide defines them (seed D1 §5.3-5.5, ch.20.3-20.4).

The general form (exact, seed L6308)::

    driver[+transport]://[username@][hostname][:port]/[path][?extraparameters]

``parse(text)`` -> :class:`LibvirtUri` (or :class:`UriError` naming what is wrong);
``build(...)`` -> text; ``LibvirtUri.ssh_argv()`` -> the command libvirt runs for the ssh
transport (seed: ``command -p port [-l username] hostname netcat -U socket``).

The rules are data (``provisioner/platform/data/remote.toml``): :data:`TRANSPORTS` (seed table
§20.3, default ports) and :data:`PARAMS` (Table 20.1: which extra parameter is valid for which
transport). Parameters libvirt grew after the seed (``pkipath``, ``keyfile``, ``known_hosts``)
are listed with ``seed = false``. Where the
seed and today's libvirt differ, the seed wins (libvirt 9 also accepts ``no_verify`` for ssh;
the guide's table does not, so neither do we). Unknown parameters are ignored by libvirt; here
they parse with a warning (``LibvirtUri.warnings``).

Security (seed §8.4): ``command``, ``netcat`` and ``socket`` make libvirt run programs or use
paths of the caller's choosing, ``ext`` runs an arbitrary program, ``tcp`` is unencrypted and
``no_verify`` skips the server's certificate. :func:`check_host_uri` is the policy for a URI an
admin hands the appliance: it refuses all of those; the appliance adds its own parameters
(key file, PKI directory) itself when it connects.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote

from provisioner.errors import Invalid
from provisioner.platform.tables import table

_T = table("remote")
DRIVERS: tuple[str, ...] = tuple(_T["drivers"])


@dataclass(frozen=True)
class Transport:
    name: str
    port: int | None          # default TCP port (None: not a TCP transport)
    encrypted: bool
    seed: bool = True         # described in the seed's §20.3 table


@dataclass(frozen=True)
class Param:
    name: str
    transports: frozenset[str] | None   # None: every transport
    meaning: str
    example: str
    seed: bool = True                    # in the seed's Table 20.1
    required_for: frozenset[str] = frozenset()
    runs_or_names_paths: bool = False    # lets the URI's author choose a program or a path


#: Seed §20.3 (ports: tls 16514, tcp 16509, ssh 22; unix sockets; ext unsupported), plus the
#: two SSH-library transports of later libvirt (``platform/data/remote.toml``).
TRANSPORTS: dict[str, Transport] = {
    name: Transport(name, t.get("port"), t["encrypted"], t.get("seed", True))
    for name, t in _T["transports"].items()}
#: Table 20.1 (seed L6362-6390), then libvirt's later parameters (``seed=False``).
PARAMS: dict[str, Param] = {
    name: Param(name, None if p["transports"] == ["*"] else frozenset(p["transports"]),
                p["meaning"], p["example"], p.get("seed", True),
                frozenset(p.get("required_for", ())), p.get("runs_or_names_paths", False))
    for name, p in _T["params"].items()}
DEFAULT_REMOTE_TRANSPORT: str = _T["default_remote_transport"]
#: Seed §20.3: the daemon's sockets (read-write and read-only).
SOCKET: str = _T["socket"]
SOCKET_RO: str = _T["socket_ro"]
SSH_TRANSPORTS = frozenset({"ssh", "libssh2", "libssh"})

_DRIVER = r"(?P<driver>[A-Za-z][A-Za-z0-9]*)"
_URI = re.compile(
    _DRIVER + r"(?:\+(?P<transport>[A-Za-z0-9]*))?://"
    r"(?:(?P<user>[^@/?#]*)@)?"
    r"(?P<host>\[[^\]/?#]*\]|[^/:?#@\[\]]*)"
    r"(?::(?P<port>[^/?#]*))?"
    r"(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})"
                       r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_PATH = re.compile(r"^/[A-Za-z0-9_.~/-]*$")


class UriError(Invalid, ValueError):
    """A URI (or one of its parts) that libvirt would not accept, or that the policy refuses;
    the message names the part and says what is allowed."""


def _true(value: str) -> bool:
    """libvirt's reading of ``no_verify``/``no_tty``: a non-zero integer is true."""
    try:
        return int(value) != 0
    except ValueError:
        return False


def check_host(host: str) -> str:
    """A DNS name, an IPv4 address or a bracketed IPv6 address; anything else is refused
    (shell metacharacters, spaces, a leading ``-`` that ssh would read as an option)."""
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1].split("%")[0])
            return host
        except ValueError:
            raise UriError(f"host {host!r}: not an IPv6 address") from None
    if not _HOSTNAME.match(host) or host.startswith("-"):
        raise UriError(f"host {host!r}: not a host name or IP address (letters, digits, '-', "
                       "'_' and dots; IPv6 in brackets)")
    return host


def _check_user(user: str) -> str:
    if not _USER.match(user):
        raise UriError(f"user name {user!r}: letters, digits, '_', '.', '-' (not first), "
                       "at most 32")
    return user


def _port(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UriError(f"port {raw!r}: a number from 1 to 65535")
    return int(raw)


def _params(query: str | None) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for piece in re.split(r"[&;]", query or ""):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        key, value = unquote(key), unquote(value)
        if not key:
            raise UriError(f"extra parameter {piece!r} has no name")
        if any(k == key for k, _ in out):
            raise UriError(f"extra parameter {key!r} given twice")
        out.append((key, value))
    return tuple(out)


@dataclass(frozen=True)
class LibvirtUri:
    """One parsed URI. ``transport``/``port`` are what was written (None when left out); the
    ``effective_*`` properties apply the seed's defaults."""

    driver: str
    transport: str | None = None
    user: str | None = None
    host: str = ""
    port: int | None = None
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    # -- derived -------------------------------------------------------------------------------
    @property
    def remote(self) -> bool:
        """Seed: "to target an external location, the transport or the hostname must be
        supplied" (a transport other than the local unix socket)."""
        return bool(self.host) or self.transport not in (None, "unix")

    @property
    def effective_transport(self) -> str:
        if self.transport:
            return self.transport
        return DEFAULT_REMOTE_TRANSPORT if self.host else "unix"

    @property
    def effective_port(self) -> int | None:
        return self.port or TRANSPORTS[self.effective_transport].port

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    def socket_path(self, *, read_only: bool = False) -> str:
        return self.param("socket") or (SOCKET_RO if read_only else SOCKET)

    @property
    def insecure(self) -> tuple[str, ...]:
        """Why this URI is not fit for production (empty when it is)."""
        out = []
        if self.effective_transport == "tcp":
            out.append("the tcp transport is unencrypted and not recommended for production "
                       "(seed §20.3); use tls or ssh")
        if _true(self.param("no_verify") or "0"):
            out.append("no_verify=1: the server's certificate is not checked")
        if self.effective_transport == "ext":
            out.append("the ext transport is unsupported and runs an arbitrary program")
        return tuple(out)

    def ssh_argv(self, *, read_only: bool = False) -> list[str]:
        """The seed's ``command -p port [-l username] hostname netcat -U socket``."""
        if self.effective_transport != "ssh":
            raise UriError(f"{self}: not an ssh URI")
        argv = [self.param("command") or "ssh", "-p", str(self.effective_port)]
        if self.user:
            argv += ["-l", self.user]
        return argv + [self.host, self.param("netcat") or "nc", "-U",
                       self.socket_path(read_only=read_only)]

    # -- building --------------------------------------------------------------------------------
    def with_params(self, **extra: str) -> LibvirtUri:
        """A copy with ``extra`` parameters set (replacing same-named ones), validated again."""
        kept = tuple((k, v) for k, v in self.params if k not in extra)
        return _validated(replace(self, params=kept + tuple(extra.items())))

    def without_params(self, *names: str) -> LibvirtUri:
        return replace(self, params=tuple((k, v) for k, v in self.params if k not in names))

    def __str__(self) -> str:
        scheme = self.driver + (f"+{self.transport}" if self.transport else "")
        auth = f"{quote(self.user, safe='')}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.params)
        return f"{scheme}://{auth}{self.host}{port}{self.path}" + (f"?{query}" if query else "")


def _validated(u: LibvirtUri) -> LibvirtUri:
    if u.driver not in DRIVERS:
        raise UriError(f"driver {u.driver!r}: expected one of {', '.join(DRIVERS)}")
    if u.transport is not None and u.transport not in TRANSPORTS:
        raise UriError(f"transport {u.transport!r}: expected one of {', '.join(TRANSPORTS)}")
    if u.host:
        check_host(u.host)
    if u.user is not None:
        _check_user(u.user)
    if u.path and not _PATH.match(u.path):
        raise UriError(f"path {u.path!r}: '/' then letters, digits, '_', '.', '-', '/'")
    transport, warnings = u.effective_transport, []
    for key, _value in u.params:
        spec = PARAMS.get(key)
        if spec is None:
            warnings.append(f"extra parameter {key!r} is not one libvirt knows; it is ignored "
                            "(Table 20.1)")
        elif spec.transports is not None and transport not in spec.transports:
            raise UriError(f"extra parameter {key!r} is valid only for the "
                           f"{'/'.join(sorted(spec.transports))} transport, not {transport}")
    for spec in PARAMS.values():
        if transport in spec.required_for and u.param(spec.name) is None:
            raise UriError(f"the {transport} transport needs the {spec.name!r} parameter")
    return replace(u, warnings=tuple(warnings))


def parse(text: str) -> LibvirtUri:
    """Parse and validate; raises :class:`UriError` naming the bad part."""
    if not isinstance(text, str) or not text or len(text) > 2048:
        raise UriError("a libvirt URI is a non-empty string of at most 2048 characters")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise UriError(f"{text!r}: URIs contain no spaces or control characters")
    m = _URI.match(text)
    if not m:
        raise UriError(f"{text!r} is not of the form "
                       "driver[+transport]://[username@][hostname][:port]/[path][?parameters]")
    if m["transport"] == "":
        raise UriError(f"{text!r}: '+' must be followed by a transport")
    user = unquote(m["user"]) if m["user"] is not None else None
    if user == "":
        raise UriError(f"{text!r}: empty user name before '@'")
    return _validated(LibvirtUri(
        driver=m["driver"], transport=m["transport"], user=user, host=m["host"] or "",
        port=_port(m["port"]), path=m["path"] or "", params=_params(m["query"])))


def build(driver: str, transport: str | None = None, *, user: str | None = None,
          host: str = "", port: int | None = None, path: str = "",
          params: dict[str, str] | None = None) -> str:
    """The URI text for these parts (values escaped); raises :class:`UriError` as ``parse``."""
    if path and not path.startswith("/"):
        path = "/" + path
    if port is not None and not 0 < port < 65536:
        raise UriError(f"port {port!r}: a number from 1 to 65535")
    u = _validated(LibvirtUri(driver, transport, user, host, port, path,
                              tuple((params or {}).items())))
    return str(u)


def migration_target(target: str, hypervisor: str = "kvm") -> LibvirtUri:
    """A full URI, or (as the seed's ``virsh migrate``/``xm migrate`` examples) a bare host name,
    normalised by policy to ``qemu+ssh://HOST/system`` (KVM) or ``xen+ssh://HOST/`` (Xen)."""
    if "://" in target:
        return parse(target)
    check_host(target)
    if hypervisor == "xen":
        return parse(f"xen+ssh://{target}/")
    if hypervisor != "kvm":
        raise UriError(f"hypervisor {hypervisor!r}: expected kvm or xen")
    return parse(f"qemu+ssh://{target}/system")


def check_host_uri(u: LibvirtUri, *, allow_insecure: bool = False) -> LibvirtUri:
    """Policy for the URI an admin gives for an agentless host (UI/API/CLI): a remote qemu or
    xen hypervisor over ssh or tls, no parameter that names a program or path (the appliance
    adds its own key file and PKI directory), nothing insecure unless ``allow_insecure`` (lab).
    Returns the URI without the parameters the appliance manages itself."""
    if u.driver not in ("qemu", "xen"):
        raise UriError(f"driver {u.driver!r}: an agentless host is qemu or xen")
    if not u.host:
        raise UriError(f"{u}: give the host name (an agentless host is remote)")
    transport = u.effective_transport
    allowed = {"ssh", "tls"} | ({"tcp"} if allow_insecure else set())
    if transport not in allowed:
        raise UriError(f"transport {transport!r}: use {' or '.join(sorted(allowed))}"
                       + ("" if allow_insecure else " (tcp only with the lab setting)"))
    for key, _ in u.params:
        spec = PARAMS.get(key)
        if spec is None or spec.runs_or_names_paths or key in ("pkipath", "name"):
            raise UriError(f"extra parameter {key!r} is not accepted here: the appliance "
                           "builds the connection parameters itself")
    if u.insecure and not allow_insecure:
        raise UriError("; ".join(u.insecure))
    if u.driver == "qemu" and u.path != "/system":
        raise UriError(f"path {u.path or '(none)'!r}: a qemu host is managed as /system")
    if u.driver == "xen" and u.path not in ("", "/"):
        raise UriError(f"path {u.path!r}: a xen URI has no path ('xen+ssh://host/')")
    return u
