"""The :class:`~provisioner.remote.hosts.Hypervisors` port over libvirt: the appliance's client
files are written (0600, under ``runtime_dir``) from the decrypted credentials for each call,
every connection is opened with a deadline (``libvirt_conn.open_uri``) and closed after it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from provisioner.remote import preflight
from provisioner.remote.credentials import ClientFiles, Credentials
from provisioner.remote.errors import ConnectError
from provisioner.remote.libvirt_conn import classify, open_uri
from provisioner.remote.migrate import migrate as run_migration
from provisioner.remote.migration import Options, Outcome, Progress
from provisioner.remote.observe import observe
from provisioner.remote.probe import capacity, probe
from provisioner.remote.uri import check_host, parse


class LibvirtHypervisors:
    def __init__(self, runtime_dir: str | Path, *, timeout: float = 15.0) -> None:
        self.files = ClientFiles(Path(runtime_dir) / "client")
        self.timeout = timeout

    @contextlib.contextmanager
    def _conn(self, uri: str, creds: Credentials) -> Iterator[Any]:
        conn = open_uri(parse(uri), self.files.write(creds, int(self.timeout)),
                        timeout=self.timeout)
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def connect_uri(self, uri: str, creds: Credentials) -> str:
        return self.files.write(creds, int(self.timeout)).connect_uri(parse(uri))

    def probe(self, uri: str, creds: Credentials) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._conn(uri, creds) as conn:
            facts = probe(conn)
        return facts, capacity(facts)

    def scan_host_key(self, host: str, port: int) -> str:
        check_host(host)
        try:
            res = subprocess.run(["ssh-keyscan", "-T", str(int(self.timeout)), "-p", str(port),
                                  "-t", "ed25519,ecdsa,rsa", host.strip("[]")],
                                 capture_output=True, text=True, timeout=self.timeout + 5)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConnectError("unreachable", host, f"ssh-keyscan: {exc}") from None
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith("#"):
                return f"{parts[1]} {parts[2]}"
        raise ConnectError("unreachable", host, f"no SSH host key from {host}:{port} "
                                                f"({res.stderr.strip()[-200:] or 'no answer'})")

    def push_tls(self, uri: str, creds: Credentials, script: str) -> str:
        """Run ``script`` with ``sh`` on the host over the appliance's SSH (certificate
        rotation, ``remote/rotation.py``); a failure names its cause as a connection does."""
        u = parse(uri)
        wrapper = str(self.files.write(creds, int(self.timeout)).wrapper)
        argv = [wrapper, "-p", str(u.effective_port or 22),
                *(["-l", u.user] if u.user else []), u.host.strip("[]"), "sh -s"]
        try:
            res = subprocess.run(argv, input=script, capture_output=True, text=True,
                                 timeout=self.timeout * 4)
        except subprocess.TimeoutExpired:
            raise ConnectError("timeout", u.host, f"ssh to {u.host}: no end within "
                                                  f"{self.timeout * 4:g}s") from None
        if res.returncode == 255:  # ssh itself failed
            raise classify(res.stderr, u.host, u.effective_port)
        if res.returncode != 0:
            raise ConnectError("remote-command", u.host, f"on {u.host}: exit "
                               f"{res.returncode}: {res.stderr.strip()[-300:]}")
        return res.stdout

    def preflight(self, src: str, dst: str, guest: str, creds: Credentials, *,
                  copy_storage: bool, force: bool) -> list[preflight.Check]:
        with self._conn(src, creds) as s, self._conn(dst, creds) as d:
            g, seen = observe(s, d, guest, dst_host=parse(dst).host, timeout=self.timeout)
            return preflight.preflight(probe(s), probe(d), g, seen,
                                       copy_storage=copy_storage, force=force)

    def migrate(self, src: str, dst: str, guest: str, opts: Options, creds: Credentials,
                on_progress: Callable[[Progress], None] | None) -> Outcome:
        with self._conn(src, creds) as s, self._conn(dst, creds) as d:
            return run_migration(s, d, guest, opts, on_progress=on_progress)
