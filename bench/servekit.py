"""The product as benchmarks run it: ``provisioner serve`` from a TOML config, a large inventory,
and a kickstart load over HTTP while the DHCP/TFTP load runs.

Used by ``bench/dhcp_bench.py``, ``bench/tftp_bench.py`` and ``bench/boot_storm.py``:

* :func:`write_config` writes the TOML file exactly as the README shows it (``[appliance]``);
* :func:`populate` fills the database with a distro, a profile and ``n`` systems (bulk insert,
  one transaction) whose MACs/IPs come from :func:`system_mac`/``ip_of``;
* :class:`Serve` starts ``provisioner --config FILE serve`` in a namespace, waits until HTTP
  answers and every network worker reported ready, and stops it (SIGTERM) afterwards; ``pin``
  moves the whole process tree to some CPUs (``taskset -a -p``);
* :class:`KsLoad` runs ``bench/ks_load.py`` in the client namespace: GET ``/ks/mac/<mac>`` for
  random known systems at a fixed rate; ``stop()`` returns its latency figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.netns import Netns  # noqa: E402

PROVISIONER = [sys.executable, "-m", "provisioner.cli"]
SYSTEMS = 10_000


def system_mac(i: int) -> str:
    return f"52:54:01:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"


def write_config(path: Path, **values: Any) -> Path:
    """``[appliance]`` TOML with ``values`` (lists as TOML arrays)."""
    lines = ["[appliance]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def populate(db_url: str, n: int, ip_of: Callable[[int], str | None],
             kernel: str = "", initrd: str = "", pxe_transport: str = "http",
             mac_of: Callable[[int], str] = system_mac) -> list[str]:
    """A distro, a profile and ``n`` systems (bulk insert); returns their MACs."""
    from sqlalchemy import insert

    from provisioner.models import Distro, Profile, VmDefaults
    from provisioner.store import open_store
    from provisioner.store import schema as t

    store = open_store(db_url)
    tree = "http://mirror.example/rocky/9/BaseOS/x86_64/os"
    store.put_distro(Distro("rocky9", os_version="rhel9", tree_url=tree,
                            kernel=kernel or f"{tree}/images/pxeboot/vmlinuz",
                            initrd=initrd or f"{tree}/images/pxeboot/initrd.img"))
    store.put_profile(Profile("guest", distro="rocky9", kickstart="rhel9-guest.ks",
                              metadata={"pxe_transport": pxe_transport},
                              vm=VmDefaults(ram_mb=2048, vcpus=2, disk_gb=20)))
    systems, ifaces, macs = [], [], []
    for i in range(n):
        mac = mac_of(i)
        macs.append(mac)
        systems.append({"name": f"s{i}", "profile": "guest", "hostname": f"s{i}",
                        "netboot_enabled": True, "kernel_options": None, "meta": {}, "vm": {},
                        "status": "new", "token": f"token{i:08d}"})
        ifaces.append({"system": f"s{i}", "position": 0, "name": "eth0", "mac": mac,
                       "ip": ip_of(i), "bridge": None, "netmask": None, "gateway": None})
    engine = store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(insert(t.systems), systems)
        conn.execute(insert(t.interfaces), ifaces)
    store.close()
    return macs


class Serve:
    """``provisioner --config CONFIG serve`` in ``ns``; see the module docstring."""

    def __init__(self, ns: Netns, config: Path, log: Path, http: str, *,
                 workers: int | None = None, cpus: str | None = None,
                 checkout: Path = ROOT) -> None:
        self.ns, self.config, self.log_path, self.http = ns, config, log, http
        argv = [*PROVISIONER, "--config", str(config), "serve"]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        with open(log, "wb") as fh:
            self.proc = ns.popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=checkout,
                                 env={**os.environ, "PYTHONPATH": str(checkout)})
        self._wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            text = self.log()
            if "provisioner: HTTP on" in text:
                return
            time.sleep(0.2)
        raise RuntimeError(f"provisioner serve did not start:\n{self.log()[-3000:]}")

    def pids(self) -> list[int]:
        """serve and its worker processes."""
        out = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    out.append(int(entry.name))
        return out

    def pin(self, cpus: str) -> None:
        for pid in self.pids():
            subprocess.run(["taskset", "-a", "-c", "-p", cpus, str(pid)], check=False,
                           capture_output=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc in self.ns.procs:
            self.ns.procs.remove(self.proc)


class KsLoad:
    """``bench/ks_load.py`` at ``rate`` requests/s from ``ns``; :meth:`stop` returns its stats."""

    def __init__(self, ns: Netns, base_url: str, macs: list[str], work: Path,
                 rate: float = 50.0, cpus: str | None = None) -> None:
        self.ns = ns
        (work / "ks-macs.txt").write_text("\n".join(macs) + "\n")
        argv = [sys.executable, str(ROOT / "bench" / "ks_load.py"), base_url,
                str(work / "ks-macs.txt"), "--rate", str(rate)]
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        self.proc = ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    @classmethod
    def warm(cls, ns: Netns, base_url: str, macs: list[str], work: Path,
             seconds: float = 5.0) -> None:
        """Run the load for a while and discard it: the first renders compile templates."""
        load = cls(ns, base_url, macs, work)
        time.sleep(seconds)
        load.stop()

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        if self.proc in self.ns.procs:
            self.ns.procs.remove(self.proc)
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                return dict(json.loads(line))
        return {"error": out[-500:]}
