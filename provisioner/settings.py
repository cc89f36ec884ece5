"""Settings: one TOML file plus ``PROVISIONER_<SECTION>_<KEY>`` environment overrides.

Every default is written here and documented in README.md ("Configuration"). Only ``main.py``
and ``cli.py`` call :func:`load`; everything else receives a :class:`Settings` value.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from provisioner.errors import Invalid

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(name: str) -> str:
    """The shipped copy of ``templates``/``tftpboot``: in the wheel, or beside the package."""
    installed = PACKAGE_DIR / "_data" / name
    return str(installed if installed.is_dir() else PACKAGE_DIR.parent / name)


@dataclass(frozen=True)
class Settings:
    """All appliance settings; section ``[appliance]`` in the TOML file unless noted."""

    data_dir: str = "/var/lib/provisioner"  # SQLite database, leases, state
    database_url: str = ""  # default: sqlite:///<data_dir>/provisioner.db
    templates_dir: str = field(default_factory=lambda: _shipped("templates"))
    tftp_root: str = field(default_factory=lambda: _shipped("tftpboot"))
    assets_dir: str = ""  # kernels/initrds served over HTTP; default <data_dir>/assets
    asset_roots: tuple[str, ...] = ()  # more directories a distro's kernel/initrd may be in
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_host6: str = ""  # also serve HTTP on this IPv6 address (IPv6 network boot)
    public_url: str = ""  # base URL clients use; default http://<serving address>:<http_port>
    api_token: str = ""  # bootstrap bearer token for writes (also `provisioner token create`)
    # network boot: nothing is served on any interface unless listed here
    interfaces: tuple[str, ...] = ()
    dhcp_enabled: bool = False
    dhcp_mode: str = "full"  # "full" or "proxy"
    dhcp_ranges: tuple[str, ...] = ()  # dnsmasq syntax: start,end[,netmask][,lease]
    dhcp_options: tuple[str, ...] = ()  # dnsmasq syntax: "3,10.1.1.1"
    unknown_policy: str = "ignore"  # "ignore", "menu" or "discover"
    efi_loader: str = "ipxe"  # UEFI x86-64 PXE loader without Secure Boot: "ipxe" or "grub"
    menu_profile: str = ""  # profile the "menu" policy offers; default: the first by name
    # IPv6 (DHCPv6 and router advertisements on the same interfaces)
    dhcp6_enabled: bool = False
    dhcp6_ranges: tuple[str, ...] = ()  # start,end[,prefix-len][,lease], e.g. fd00::100,fd00::1ff
    dhcp6_rapid_commit: bool = True  # answer a Solicit with Rapid Commit by a Reply at once
    ra_enabled: bool = False  # router advertisements on the served interfaces
    ra_managed: bool = True  # M flag: addresses from DHCPv6
    ra_other: bool = True  # O flag: other configuration (DNS, boot file) from DHCPv6
    ra_autonomous: bool = True  # A flag on the prefixes: hosts may also use SLAAC
    ra_router_lifetime: int = 1800  # seconds; 0 = not a default router (isolated labs)
    ra_interval: int = 60  # seconds between unsolicited advertisements (>= 4)
    tftp_enabled: bool = False
    tftp_port: int = 69
    tftp_max_blksize: int = 1468
    tftp_max_transfers: int = 1024  # per TFTP worker process (each holds one socket)
    tftp_workers: int = 0  # TFTP worker processes; 0 = one per CPU core (`serve --workers`)
    tftp_cache_mb: int = 256  # per TFTP worker: ready-made DATA packets of hot files; 0 = off
    worker_start_timeout: int = 60  # s for every network worker to be ready (slow VMs: more)
    dns_enabled: bool = False
    dns_port: int = 53
    domain: str = "lab.example"
    upstream_resolv_conf: str = "/etc/resolv.conf"
    # agentless hosts and migration (provisioner/remote)
    secret_key_file: str = ""  # encrypts secrets at rest; default <data_dir>/secret.key (0600)
    runtime_dir: str = ""  # decrypted client keys for libvirt/ssh; default a dir under /run
    remote_timeout: int = 15  # seconds to reach a host (TCP, ssh, TLS, libvirt)
    remote_insecure: bool = False  # lab only: accept qemu+tcp:// and no_verify=1 host URIs
    agent_loops: bool = True  # serve runs one agent loop per agentless host
    agentless_virt_type: str = ""  # force the loops' domain type (qemu where KVM is unusable)
    # power control and reinstall (provisioner/power, core/power.py, core/reinstall.py)
    power_poll_interval: int = 60  # seconds between polls of every BMC's power state; 0 = off
    reinstall_timeout: int = 1800  # seconds for one machine's reinstall (power-on to done)
    reinstall_concurrency: int = 4  # machines reinstalled at once by a bulk reinstall
    host_stale_after: int = 120  # seconds without an agent's poll before a host is "stale"
    # several appliances over one PostgreSQL (README "Running two appliances")
    appliance_id: str = ""  # this appliance in the shared lease table; default host/address
    metrics_token: str = ""  # bearer token for /metrics; empty: loopback clients only

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'provisioner.db'}"

    @property
    def assets_path(self) -> str:
        return self.assets_dir or str(Path(self.data_dir) / "assets")

    @property
    def asset_dirs(self) -> tuple[str, ...]:
        """Where boot files may be served from: ``assets_dir`` and ``asset_roots``."""
        return (self.assets_path, *self.asset_roots)

    @property
    def secret_key_path(self) -> str:
        return self.secret_key_file or str(Path(self.data_dir) / "secret.key")

    @property
    def runtime_path(self) -> str:
        """Per data directory, on tmpfs: two appliances on one machine never share it."""
        if self.runtime_dir:
            return self.runtime_dir
        tag = hashlib.sha256(str(Path(self.data_dir).resolve()).encode()).hexdigest()[:10]
        return f"/run/provisioner-{tag}"


def _coerce(name: str, current: Any, raw: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "yes", "on"):
            return True
        if str(raw).lower() in ("0", "false", "no", "off", ""):
            return False
        raise Invalid(f"setting {name}: expected a boolean, got {raw!r}", field=name)
    if isinstance(current, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise Invalid(f"setting {name}: expected an integer, got {raw!r}", field=name) from None
    if isinstance(current, tuple):
        if isinstance(raw, str):
            return tuple(x.strip() for x in raw.split(";") if x.strip())
        return tuple(str(x) for x in raw)
    return str(raw)


def load(path: str | None = None, environ: dict[str, str] | None = None,
         **overrides: Any) -> Settings:
    """Defaults, then the TOML file (if any), then ``PROVISIONER_*`` env vars, then ``overrides``.

    List settings in the environment are ``;``-separated, e.g.
    ``PROVISIONER_DHCP_RANGES="10.1.1.10,10.1.1.50,255.255.255.0,12h"``.
    """
    env = os.environ if environ is None else environ
    base = Settings()
    known = {f.name: getattr(base, f.name) for f in fields(Settings)}
    path = path or env.get("PROVISIONER_CONFIG")
    values: dict[str, Any] = _file_values(path, known) if path else {}
    for key, current in known.items():
        raw = env.get(f"PROVISIONER_{key.upper()}")
        if raw is not None:
            values[key] = _coerce(key, current, raw)
    for key, raw in overrides.items():
        if key not in known:
            raise Invalid(f"unknown setting {key!r}", field=key)
        values[key] = _coerce(key, known[key], raw)
    settings = replace(base, **values)
    for check, field_name, message in RANGE_CHECKS:
        if not check(settings):
            raise Invalid(message, field=field_name)
    return settings


def _file_values(path: str, known: dict[str, Any]) -> dict[str, Any]:
    """What a TOML file sets (top level or in sections), coerced; an unknown key is refused."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Invalid(f"cannot read settings file {path}: {exc}") from None
    values: dict[str, Any] = {}
    for section in doc.values() if all(isinstance(v, dict) for v in doc.values()) else [doc]:
        for key, raw in section.items():
            if key not in known:
                raise Invalid(f"unknown setting {key!r} in {path}", field=key)
            values[key] = _coerce(key, known[key], raw)
    return values


# Each setting's allowed range: (holds for the settings, the setting's name, the refusal).
RANGE_CHECKS: tuple[tuple[Callable[[Settings], bool], str, str], ...] = (
    (lambda s: s.host_stale_after > 0, "host_stale_after",
     "host_stale_after must be a number of seconds above 0"),
    (lambda s: s.power_poll_interval >= 0, "power_poll_interval",
     "power_poll_interval must be 0 (off) or more seconds"),
    (lambda s: 30 <= s.reinstall_timeout <= 4 * 3600, "reinstall_timeout",
     "reinstall_timeout must be 30..14400 seconds"),
    (lambda s: 1 <= s.reinstall_concurrency <= 64, "reinstall_concurrency",
     "reinstall_concurrency must be 1..64"),
    (lambda s: s.tftp_workers >= 0, "tftp_workers",
     "tftp_workers must be 0 (one per core) or more"),
    (lambda s: s.dhcp_mode in ("full", "proxy"), "dhcp_mode",
     "dhcp_mode must be 'full' or 'proxy'"),
    (lambda s: s.unknown_policy in ("ignore", "menu", "discover"), "unknown_policy",
     "unknown_policy must be 'ignore', 'menu' or 'discover'"),
    (lambda s: 0 <= s.ra_router_lifetime <= 9000, "ra_router_lifetime",
     "ra_router_lifetime must be 0..9000 seconds"),
    (lambda s: s.ra_interval >= 4, "ra_interval", "ra_interval must be at least 4 seconds"),
    (lambda s: s.efi_loader in ("ipxe", "grub"), "efi_loader",
     "efi_loader must be 'ipxe' or 'grub' (Secure Boot machines get the signed "
     "shim chain through metadata secure_boot = true)"),
)
