"""The appliance's own credentials for agentless hosts, as files libvirt's client can use.

* **SSH** (seed §20.1): the appliance's key pair (its public key is what the admin appends to
  ``/root/.ssh/authorized_keys`` on the host, the guide's ``ssh-copy-id`` step), a known_hosts
  file holding each host's recorded key, and an ``ssh_config`` + wrapper that make libvirt's
  ``ssh`` use exactly those (``BatchMode``, strict host key checking, a connect timeout) and
  never root's own ``~/.ssh``. The wrapper is passed as the URI's ``command=`` parameter, which
  only the appliance sets (an admin's URI may not carry it: ``uri.check_host_uri``).
* **TLS** (seed §20.2): a ``pkipath=`` directory with ``cacert.pem``, ``clientcert.pem`` and
  ``clientkey.pem`` (libvirt's names).

The texts are pure functions; :class:`ClientFiles` writes them (0600/0700) into a directory the
caller owns, normally a tmpfs below the appliance's runtime directory, so the decrypted keys
never reach the disk the store lives on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provisioner.remote.pki import PKIPATH_FILES
from provisioner.remote.uri import LibvirtUri, UriError, check_host

SSH = "/usr/bin/ssh"


@dataclass(frozen=True)
class Credentials:
    """Everything the appliance presents to hosts (decrypted, in memory; ``repr`` hides it)."""

    ssh_private: str = field(repr=False)
    known_hosts: tuple[str, ...] = ()
    ca_cert: str = field(default="", repr=False)
    client_cert: str = field(default="", repr=False)
    client_key: str = field(default="", repr=False)


def new_ssh_key(comment: str = "provisioner-appliance") -> tuple[str, str]:
    """A fresh Ed25519 key pair: (OpenSSH private key, ``ssh-ed25519 AAAA... comment``)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def public_ssh_key(private: str, comment: str = "provisioner-appliance") -> str:
    key = serialization.load_ssh_private_key(private.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return f"{public} {comment}"


def known_hosts_line(host: str, key: str, port: int = 22) -> str:
    """``host keytype base64`` (``[host]:port`` for another port), from a public key line."""
    check_host(host)
    parts = key.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise UriError(f"{key[:40]!r} is not an SSH public key line ('ssh-ed25519 AAAA...')")
    name = host if port == 22 else f"[{host.strip('[]')}]:{port}"
    return f"{name} {parts[0]} {parts[1]}"


def ssh_config(key: str, known_hosts: str, *, connect_timeout: int = 10) -> str:
    return (f"# written by provisioner: used only through the wrapper next to it\n"
            f"Host *\n"
            f"  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
            f"  StrictHostKeyChecking yes\n  BatchMode yes\n"
            f"  ConnectTimeout {connect_timeout}\n  ServerAliveInterval 5\n"
            f"  ServerAliveCountMax 3\n")


def ssh_wrapper(config: str) -> str:
    return f'#!/bin/sh\nexec {SSH} -F {config} "$@"\n'


@dataclass(frozen=True)
class ClientFiles:
    """Where the appliance's client files are: ``root/ssh/...`` and ``root/pki/...``."""

    root: Path

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def wrapper(self) -> Path:
        return self.ssh_dir / "ssh"

    def write_ssh(self, private_key: str, known_hosts: list[str], timeout: int = 10) -> None:
        d = self.ssh_dir
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(d / "id", private_key, 0o600)
        _write(d / "known_hosts", "".join(line + "\n" for line in known_hosts), 0o600)
        _write(d / "config", ssh_config(str(d / "id"), str(d / "known_hosts"),
                                        connect_timeout=timeout), 0o600)
        _write(self.wrapper, ssh_wrapper(str(d / "config")), 0o700)

    def write_pki(self, ca_cert: str, client_cert: str, client_key: str) -> None:
        d = self.pki_dir
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(d / PKIPATH_FILES["cacert"], ca_cert, 0o644)
        _write(d / PKIPATH_FILES["clientcert"], client_cert, 0o644)
        _write(d / PKIPATH_FILES["clientkey"], client_key, 0o600)

    def write(self, creds: Credentials, timeout: int = 10) -> ClientFiles:
        self.write_ssh(creds.ssh_private, list(creds.known_hosts), timeout)
        if creds.ca_cert:
            self.write_pki(creds.ca_cert, creds.client_cert, creds.client_key)
        return self

    def connect_uri(self, u: LibvirtUri) -> str:
        """The URI libvirt is given: the admin's URI plus the appliance's own parameters."""
        t = u.effective_transport
        if t == "ssh":
            return str(u.with_params(command=str(self.wrapper), no_tty="1"))
        if t == "tls":
            return str(u.with_params(pkipath=str(self.pki_dir)))
        return str(u)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
