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
from provisioner.remote.libvirt_conn import open_uri
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
