"""Power control of a system: how to reach its power controller (:class:`PowerConfig`) and what
it last said (:class:`PowerStatus`).

A system's controller is its BMC (Redfish or IPMI 2.0) or, for a guest the appliance created,
the libvirt of its host (reached through that host's agent loop). The BMC password is not
here: it is a secret (``core/keyring.py``, name :func:`bmc_secret_name`), encrypted at rest and
never returned. Values validate themselves; :meth:`PowerConfig.parse` turns API/CLI/form input
into one, refusing wrong types and unknown fields instead of defaulting silently.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from provisioner.errors import Invalid
from provisioner.models.names import check_name

POWER_DRIVERS = ("redfish", "ipmi", "libvirt")
POWER_ACTIONS = ("on", "off", "cycle", "reset")
BOOT_DEVICES = ("pxe", "disk", "http")
BOOT_MODES = ("auto", "uefi", "legacy")
REDFISH_AUTH = ("auto", "session", "basic")
POWER_STATES = ("on", "off", "unknown")
MAX_TIMEOUT = 300.0
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}))$")


def bmc_secret_name(system: str) -> str:
    """The keyring name of a system's BMC password."""
    return f"bmc/{system}"


@dataclass(frozen=True)
class PowerConfig:
    """How the appliance reaches one system's power controller (no password here)."""

    system: str
    driver: str
    #: redfish: the BMC's base URL (``https://bmc.example.com[:port]``); ipmi: host name or IP;
    #: libvirt: the name of the host (agent or agentless) the guest runs on
    address: str = ""
    port: int = 0  # ipmi: UDP port (0: 623)
    username: str = ""
    #: redfish: the ComputerSystem's id (empty: the service's only system);
    #: libvirt: the domain name (empty: the system's name)
    system_id: str = ""
    auth: str = "auto"  # redfish: session, basic, or auto (a session, basic when refused)
    verify_tls: bool = True  # redfish over https: check the BMC's certificate
    ca_bundle: str = ""  # PEM: the CA(s) that signed this BMC's certificate
    boot_mode: str = "auto"  # uefi | legacy | auto (leave the BMC's mode alone)
    timeout: float = 20.0  # seconds for each request to the controller

    def __post_init__(self) -> None:
        check_name(self.system, "system")
        if self.driver not in POWER_DRIVERS:
            raise Invalid(f"driver must be one of {', '.join(POWER_DRIVERS)}, not "
                          f"{self.driver!r}", field="driver")
        for name, allowed in (("auth", REDFISH_AUTH), ("boot_mode", BOOT_MODES)):
            if getattr(self, name) not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", field=name)
        if not 0 <= self.port <= 65535:
            raise Invalid("port must be 0..65535 (0: the driver's default)", field="port")
        if not 1 <= self.timeout <= MAX_TIMEOUT:
            raise Invalid(f"timeout must be 1..{MAX_TIMEOUT:g} seconds", field="timeout")
        if self.ca_bundle and "-----BEGIN CERTIFICATE-----" not in self.ca_bundle:
            raise Invalid("ca_bundle must be PEM certificates (-----BEGIN CERTIFICATE-----)",
                          field="ca_bundle")
        if len(self.username) > 64 or any(c in self.username for c in "\r\n\0"):
            raise Invalid("username: at most 64 printable characters", field="username")
        getattr(self, f"_check_{self.driver}")()

    def _check_redfish(self) -> None:
        u = urlsplit(self.address)
        if u.scheme not in ("https", "http") or not u.hostname or u.query or u.fragment \
                or u.username or u.password:
            raise Invalid("a Redfish address is the BMC's base URL, e.g. https://bmc1.example.com "
                          "(no credentials, query or path beyond a prefix)", field="address")
        if self.system_id and not re.fullmatch(r"[A-Za-z0-9._~-]{1,128}", self.system_id):
            raise Invalid("system_id is the ComputerSystem's id (letters, digits, . _ ~ -)",
                          field="system_id")

    def _check_ipmi(self) -> None:
        if not _HOST_RE.match(self.address):
            raise Invalid("an IPMI address is the BMC's host name or IP address",
                          field="address")
        if not self.username:
            raise Invalid("IPMI needs a user name", field="username")

    def _check_libvirt(self) -> None:
        check_name(self.address, "address (the host the guest runs on)")
        if self.system_id:
            check_name(self.system_id, "system_id (the domain name)")

    @property
    def domain(self) -> str:
        """libvirt: the guest's domain name."""
        return self.system_id or self.system

    def warnings(self) -> list[str]:
        """What an admin should know about this configuration (shown in the UI and API)."""
        out = []
        if self.driver == "redfish":
            scheme = urlsplit(self.address).scheme
            if scheme == "http":
                out.append("plain HTTP: the BMC password crosses the network unencrypted")
            elif not self.verify_tls:
                out.append("TLS verification is off for this BMC: anyone on the path can "
                           "pose as it and read its password")
        if self.driver == "ipmi":
            out.append("IPMI 2.0 (RAKP) lets anyone who can reach the BMC test password "
                       "guesses offline: keep BMCs on a management network")
        return out

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def parse(cls, system: str, data: dict[str, Any],
              base: PowerConfig | None = None) -> PowerConfig:
        """A config from JSON-like ``data`` over ``base`` (an update keeps what is not given).

        Wrong types and unknown fields are refused (``password`` is handled by the caller)."""
        if not isinstance(data, dict):
            raise Invalid("power settings must be an object")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "system"}
        unknown = sorted(set(data) - set(fields) - {"password"})
        if unknown:
            raise Invalid(f"unknown power field(s): {', '.join(unknown)}", field=unknown[0])
        values: dict[str, Any] = base.as_dict() if base is not None else {}
        values.pop("system", None)
        for key, value in data.items():
            if key == "password":
                continue
            values[key] = _typed(key, value, fields[key].type)
        if "driver" not in values:
            raise Invalid("driver is required", field="driver")
        return cls(system=system, **values)


def _typed(key: str, value: Any, kind: Any) -> Any:
    kind = str(kind)
    if kind == "bool":
        if not isinstance(value, bool):
            raise Invalid(f"{key} must be true or false", field=key)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"{key} must be an integer", field=key)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{key} must be a number", field=key)
        return float(value)
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string", field=key)
    return value.strip() if key != "ca_bundle" else value.strip() + ("\n" if value.strip() else "")


@dataclass(frozen=True)
class PowerStatus:
    """The power state last read from a system's controller.

    ``checked``: when the appliance last asked; ``last_seen``: when the controller last
    answered (0: never); ``error``: why the last question failed ("" when it answered)."""

    system: str
    state: str = "unknown"
    checked: float = 0.0
    last_seen: float = 0.0
    error: str = ""

    def __post_init__(self) -> None:
        if self.state not in POWER_STATES:
            raise ValueError(f"bad power state {self.state!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "checked": self.checked, "last_seen": self.last_seen,
                "error": self.error}
