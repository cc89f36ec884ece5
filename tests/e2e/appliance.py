"""Run the real appliance (``provisioner serve``) inside a test network namespace.

The inventory is written first through a :class:`Core` on the same SQLite file; then the
appliance process starts inside the namespace with the settings given (DHCP/TFTP on the
namespace's bridge), and the test talks to it as clients would. Its log is kept for failures.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.core.app import Core
from provisioner.lab import DEFAULT_CACHE
from provisioner.main import build_core
from provisioner.settings import load
from tests.netns import Netns
from tests.procs import poll, stop

ROOT = Path(__file__).resolve().parents[2]
PROVISIONER = [sys.executable, "-m", "provisioner.cli"]


def _toml(values: dict[str, Any]) -> str:
    return "".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}\n"
                   for k, v in values.items())


@dataclass
class Running:
    ns: Netns
    proc: subprocess.Popen
    url: str
    log_path: Path
    config: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 30) -> str:
        r = self.ns.run(["curl", "-sS", "--max-time", str(int(timeout)), f"{self.url}{path}"],
                        timeout=timeout + 10)
        return r.stdout

    def timeline(self, system: str) -> list[dict[str, Any]]:
        return json.loads(self.get(f"/api/v1/systems/{system}/timeline"))

    def system(self, name: str) -> dict[str, Any]:
        return json.loads(self.get(f"/api/v1/systems/{name}"))


@contextlib.contextmanager
def appliance(ns: Netns, tmp: Path, address: str, fill: Callable[[Core], None],
              launcher: tuple[str, ...] = (), **settings: Any) -> Iterator[Running]:
    """``provisioner serve`` in ``ns``, HTTP on ``address:8080``, inventory from ``fill(core)``;
    ``launcher`` is put before the command (e.g. ``setpriv`` to run it unprivileged)."""
    values: dict[str, Any] = {"data_dir": str(tmp / "data"), "http_host": address,
                              "http_port": 8080, "tftp_root": str(tmp / "tftpboot"),
                              "assets_dir": str(tmp / "assets"),
                              "templates_dir": str(ROOT / "templates"),
                              # the tests' kernels: files in tmp, the boot kit in the lab cache
                              "asset_roots": (str(tmp), str(DEFAULT_CACHE))}
    values.update(settings)
    for key in ("data_dir", "tftp_root", "assets_dir"):
        Path(values[key]).mkdir(parents=True, exist_ok=True)
    config = tmp / "provisioner.toml"
    config.write_text(_toml(values))
    core = build_core(load(str(config), environ={}))
    try:
        fill(core)
    finally:
        core.store.close()
    log_path = tmp / "appliance.log"
    with open(log_path, "wb") as log:
        proc = ns.popen([*launcher, *PROVISIONER, "--config", str(config), "serve"], stdout=log,
                        stderr=subprocess.STDOUT, cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://{address}:8080"
    running = Running(ns, proc, url, log_path, config)

    def up() -> bool:
        r = ns.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                    f"{url}/api/openapi.json"], check=False, timeout=20)
        return r.stdout == "200" or proc.poll() is not None

    try:
        if not poll(up, 60, step=0.3) or proc.poll() is not None:
            raise RuntimeError(f"appliance did not start:\n{running.log()}")
        yield running
    finally:
        stop(proc)
