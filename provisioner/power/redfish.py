"""The Redfish power driver, through ``sushy`` (the client OpenStack Ironic uses).

* **Power**: ComputerSystem ``Reset`` with the types the BMC lists as allowed: ``On`` (or
  ``ForceOn``), ``ForceOff``, ``ForceRestart`` for a reset; a cycle is ``ForceOff``, waiting for
  ``PowerState: Off``, then ``On`` (a restart inside the BMC does not always apply a changed
  boot device; an off/on does everywhere).
* **Boot**: ``Boot.BootSourceOverrideTarget`` ``Pxe``/``UefiHttp``/``Hdd`` with
  ``BootSourceOverrideEnabled: Once`` (``Continuous`` when asked for a lasting change), and
  ``BootSourceOverrideMode`` ``UEFI``/``Legacy`` when the settings say so; a target the BMC
  does not list as allowed is refused before anything is sent.
* **Auth**: a Redfish session (``auth=session``), HTTP basic (``basic``) or a session with basic
  as the fallback (``auto``, sushy's SessionOrBasicAuth).
* **TLS**: certificates are verified by default, against the system CA store or the BMC's own
  CA bundle from the settings (written to a 0600 file under the runtime directory);
  ``verify_tls=false`` only when set explicitly (the UI and API show a warning).
* **Network**: straight to the BMC, never through a proxy named in the environment (the
  password travels in those requests).
* **Deadlines**: sushy's own retries are turned off (one attempt, connect and read timeouts
  from the settings) and each driver call runs under :func:`~provisioner.power.deadline.within`.

Errors become :class:`~provisioner.errors.PowerError` with a kind (``unreachable``, ``tls``,
``auth``, ``rejected``, ``missing``, ``unsupported``, ``failed``); the password never appears
in one (sushy's debug log masks it; nothing here logs it).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sushy
from sushy import auth as sushy_auth
from sushy import exceptions as sx
from sushy.connector import Connector

from provisioner.errors import PowerError
from provisioner.models import PowerConfig
from provisioner.power.deadline import within

T = TypeVar("T")
TARGETS = {"pxe": sushy.BootSource.PXE, "http": sushy.BootSource.UEFI_HTTP,
           "disk": sushy.BootSource.HDD}
MODES = {"uefi": sushy.BootSourceOverrideMode.UEFI,
         "legacy": sushy.BootSourceOverrideMode.LEGACY}
ON_STATES = (sushy.PowerState.ON, sushy.PowerState.POWERING_ON, sushy.PowerState.POWERING_OFF,
             sushy.PowerState.PAUSED)
AUTH = {"session": sushy_auth.SessionAuth, "basic": sushy_auth.BasicAuth,
        "auto": sushy_auth.SessionOrBasicAuth}
#: (address, user) of BMCs that refused a session under ``auth=auto`` and took basic auth: not
#: asked for a session again by this process (sushy logs each refusal as an error)
_BASIC_ONLY: set[tuple[str, str]] = set()


def ca_file(directory: Path, pem: str) -> str:
    """The CA bundle as a file sushy/requests can read (named by its hash, 0600)."""
    path = directory / f"redfish-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pem)
        tmp.replace(path)
    return str(path)


def classify(exc: Exception, where: str) -> PowerError:
    """A sushy (or requests) exception as a PowerError that says what went wrong."""
    text = str(exc)
    if isinstance(exc, PowerError):
        return exc
    if isinstance(exc, sx.ConnectionError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "certificate" in text:
            return PowerError("tls", f"{where}: the BMC's TLS certificate is not trusted "
                                     f"({_short(text)})",
                              hint="give the BMC's CA bundle in its power settings (or, "
                                   "knowingly, verify_tls=false)")
        if "connect timeout" in text.lower() or "ConnectTimeout" in text:
            return PowerError("unreachable", f"{where}: cannot reach the BMC (no answer to the "
                                             "connection)")
        if "timed out" in text.lower() or "Timeout" in text:
            return PowerError("timeout", f"{where}: the BMC did not answer in time")
        return PowerError("unreachable", f"{where}: cannot reach the BMC ({_short(text)})")
    if isinstance(exc, sx.AccessError) or isinstance(exc, sx.MissingXAuthToken):
        return PowerError("auth", f"{where}: the BMC refused the credentials (HTTP "
                                  f"{getattr(exc, 'status_code', '401')})",
                          hint="check the user name and password in the power settings")
    if isinstance(exc, sx.ResourceNotFoundError):
        return PowerError("missing", f"{where}: not found on the BMC ({_short(text)})")
    if isinstance(exc, sx.BadRequestError | sx.InvalidParameterValueError):
        return PowerError("rejected", f"{where}: the BMC refused it ({_short(text)})")
    if isinstance(exc, sx.MissingAttributeError | sx.MissingActionError
                  | sx.MalformedAttributeError | sx.UnknownDefaultError):
        return PowerError("missing", f"{where}: the Redfish service lacks what is needed "
                                     f"({_short(text)})")
    if isinstance(exc, sx.HTTPError):
        return PowerError("failed", f"{where}: the BMC answered with an error ({_short(text)})")
    return PowerError("failed", f"{where}: {type(exc).__name__}: {_short(text)}")


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


class RedfishDriver:
    def __init__(self, config: PowerConfig, password: str, ca_dir: Path,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config, self._password, self._ca_dir, self._sleep = config, password, ca_dir, sleep

    def __repr__(self) -> str:  # never the password
        return f"RedfishDriver({self.config.address}, user={self.config.username!r})"

    # ---- plumbing ----------------------------------------------------------------------------

    def _verify(self) -> bool | str:
        if not self.config.verify_tls:
            return False
        if self.config.ca_bundle:
            return ca_file(self._ca_dir, self.config.ca_bundle)
        return True

    def _root(self) -> Any:
        c = self.config
        kind = "basic" if c.auth == "auto" and (c.address, c.username) in _BASIC_ONLY else c.auth
        auth = AUTH[kind](username=c.username, password=self._password)
        per_request = max(1.0, c.timeout / 2)
        conn = Connector(c.address.rstrip("/"), verify=self._verify(), server_side_retries=1,
                         server_side_retries_delay=1, default_request_timeout=per_request,
                         connect_timeout=min(per_request, 10.0))
        conn._session.trust_env = False  # straight to the BMC: no proxy from the environment
        root = sushy.Sushy(c.address.rstrip("/"), auth=auth, connector=conn)
        if kind == "auto" and getattr(auth, "_session_key", None) is None:
            _BASIC_ONLY.add((c.address, c.username))
        return root

    def _system(self, root: Any) -> Any:
        if self.config.system_id:
            base = root.get_system_collection().path.rstrip("/")
            return root.get_system(f"{base}/{self.config.system_id}")
        members = root.get_system_collection().members_identities
        if len(members) != 1:
            raise PowerError("missing", f"the Redfish service lists {len(members)} systems: "
                                        "say which one (system_id)",
                             hint="system ids: " + ", ".join(m.rsplit("/", 1)[-1]
                                                             for m in members[:10]))
        return root.get_system(members[0])

    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        def run() -> T:
            root = None
            try:
                root = self._root()
                return fn(self._system(root))
            except Exception as exc:
                raise classify(exc, f"Redfish {what} at {self.config.address}") from None
            finally:
                if root is not None:
                    _close(root)
        return within(self.config.timeout, f"Redfish {what} at {self.config.address}", run)

    # ---- the driver --------------------------------------------------------------------------

    def status(self) -> str:
        return self._call("status", _state)

    def power(self, action: str) -> None:
        if action == "cycle":
            if self.status() == "on":
                self._call("power off", lambda s: _reset(s, sushy.ResetType.FORCE_OFF))
                self._wait_off()
            self._call("power on", _on)
        elif action == "on":
            self._call("power on", _on)
        elif action == "off":
            self._call("power off", lambda s: _reset(s, sushy.ResetType.FORCE_OFF))
        elif action == "reset":
            self._call("reset", lambda s: _reset(s, sushy.ResetType.FORCE_RESTART))
        else:
            raise PowerError("unsupported", f"Redfish has no power action {action!r}")

    def _wait_off(self) -> None:
        end = time.monotonic() + self.config.timeout
        while self.status() != "off":
            if time.monotonic() > end:
                raise PowerError("timeout", f"Redfish at {self.config.address}: still on "
                                            f"{self.config.timeout:g} s after ForceOff")
            self._sleep(0.5)

    def set_boot(self, device: str, *, once: bool) -> None:
        target = TARGETS.get(device)
        if target is None:
            raise PowerError("unsupported", f"Redfish has no boot device {device!r}")
        mode = MODES.get(self.config.boot_mode)
        if device == "http":
            if mode == sushy.BootSourceOverrideMode.LEGACY:
                raise PowerError("unsupported", "UEFI HTTP boot needs boot_mode uefi or auto")
            mode = sushy.BootSourceOverrideMode.UEFI
        enabled = (sushy.BootSourceOverrideEnabled.ONCE if once
                   else sushy.BootSourceOverrideEnabled.CONTINUOUS)

        def apply(system: Any) -> None:
            if system.boot is None:
                raise sx.MissingAttributeError(attribute="Boot", resource=system.path)
            allowed = _values(system.boot.allowed_values)
            if allowed and target.value not in allowed:
                raise PowerError("rejected", f"the BMC does not offer boot target "
                                             f"{target.value} (it allows "
                                             f"{', '.join(sorted(allowed))})")
            system.set_system_boot_options(target=target, enabled=enabled, mode=mode)

        self._call(f"boot override {target.value}", apply)


def _close(root: Any) -> None:
    """End the Redfish session now (BMCs allow only a few at once), then the HTTP session."""
    try:
        if root._auth is not None:
            root._auth.close()
            root._auth = None
        root._conn.close()
    except Exception:  # a BMC that already dropped it: nothing to end
        pass


def _state(system: Any) -> str:
    state = system.power_state
    if state is None:
        raise sx.MissingAttributeError(attribute="PowerState", resource=system.path)
    return "on" if state in ON_STATES else "off"


def _values(allowed: Any) -> set[str]:
    """Allowed values as their Redfish strings (sushy gives enums or plain strings)."""
    return {str(getattr(a, "value", a)) for a in allowed or ()}


def _reset(system: Any, reset: Any) -> None:
    allowed = _values(system.get_allowed_reset_system_values())
    if allowed and reset.value not in allowed:
        raise PowerError("unsupported", f"the BMC does not allow reset type {reset.value} "
                                        f"(it allows {', '.join(sorted(allowed))})")
    system.reset_system(reset)


def _on(system: Any) -> None:
    if _state(system) == "on":
        return
    allowed = _values(system.get_allowed_reset_system_values())
    reset = sushy.ResetType.ON
    if allowed and reset.value not in allowed and sushy.ResetType.FORCE_ON.value in allowed:
        reset = sushy.ResetType.FORCE_ON
    _reset(system, reset)
