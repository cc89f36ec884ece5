"""Two appliances on one segment over one PostgreSQL, for the tests in this package.

Network: a hub namespace holds bridge ``br0``; appliance namespaces ``a`` (10.77.0.1/16) and
``b`` (10.77.0.2/16) and a client namespace (``eth0``, relay addresses 10.77.0.3 and .4) hang
on it by veth pairs. The database is a throw-away cluster (``tests/pg.py``) on a Unix socket in
its temporary directory, which every namespace reaches (they share the file system). Both
appliances run ``provisioner serve`` (``tests/e2e/appliance.py``) with the same
``database_url``: the inventory, the events and the DHCP leases are the database's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.core.app import Core
from provisioner.models import Distro, Profile
from tests import pg
from tests.e2e.appliance import Running, appliance
from tests.netns import Netns, netns, veth_between

ADDRS = {"a": "10.77.0.1", "b": "10.77.0.2"}
RELAYS = ("10.77.0.3", "10.77.0.4", "10.77.0.5")
RANGE = "10.77.1.0,10.77.40.255,255.255.0.0,1h"
TOKEN = "m" * 40


@dataclass
class Site:
    db: pg.PgCluster
    url: str
    hub: Netns
    client: Netns
    nss: dict[str, Netns]
    tmp: Path
    apps: dict[str, Running] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # for every start()
    _stacks: dict[str, contextlib.ExitStack] = field(default_factory=dict)

    def start(self, name: str, fill: Any = None, **settings: Any) -> Running:
        """``provisioner serve`` as appliance ``name`` (``a`` or ``b``)."""
        self.stop(name)
        tmp = self.tmp / name
        (tmp / "tftpboot").mkdir(parents=True, exist_ok=True)
        stack = contextlib.ExitStack()
        values: dict[str, Any] = {"database_url": self.url, "interfaces": ("eth0",),
                                  "dhcp_enabled": True, "dhcp_ranges": (RANGE,),
                                  "api_token": TOKEN, "appliance_id": name,
                                  "metrics_token": TOKEN,
                                  "agent_loops": False, **self.settings, **settings}
        self.apps[name] = stack.enter_context(
            appliance(self.nss[name], tmp, ADDRS[name], fill or (lambda core: None), **values))
        self._stacks[name] = stack
        return self.apps[name]

    def stop(self, name: str) -> None:
        stack = self._stacks.pop(name, None)
        self.apps.pop(name, None)
        if stack is not None:
            stack.close()

    def kill(self, name: str) -> None:
        """kill -9 appliance ``name`` (its supervisor and workers: one process group)."""
        proc = self.apps[name].proc
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
        self.stop(name)

    def dora(self, server: str, relay: str, count: int, prefix: str, out: Path,
             wait: float = 60) -> list[tuple[str, str]]:
        """Relay-style DISCOVER/REQUEST for ``count`` MACs; the ACKed (mac, ip) pairs."""
        self.client.run([sys.executable, "-m", "tests.net.dhcp_probe", "dora", "--server", server,
                         "--giaddr", relay, "--count", str(count), "--prefix", prefix,
                         "--out", str(out), "--wait", str(wait)],
                        timeout=count * wait * 2 + 30, check=False)
        return acks(out)

    def dora_bg(self, server: str, relay: str, count: int, prefix: str, out: Path) -> Any:
        return self.client.popen([sys.executable, "-m", "tests.net.dhcp_probe", "dora",
                                  "--server", server, "--giaddr", relay, "--count", str(count),
                                  "--prefix", prefix, "--out", str(out)])

    def bound(self) -> dict[str, str]:
        """mac -> address of every bound, unexpired lease in the database."""
        out = self.db.psql("SELECT mac, address FROM dhcp_leases WHERE state = 'bound' "
                           "AND expires > extract(epoch from now())")
        return dict(line.split("|") for line in out.splitlines() if "|" in line)


def metrics(s: Site, name: str) -> dict[str, float]:
    """Appliance ``name``'s /metrics (scraped from the client namespace with the token)."""
    r = s.client.run(["curl", "-sS", "--fail", "-H", f"Authorization: Bearer {TOKEN}",
                      f"{s.apps[name].url}/metrics"], timeout=30)
    out = {}
    for line in r.stdout.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def acks(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(m, ip) for m, ip in (line.split() for line in path.read_text().splitlines()
                                  if len(line.split()) == 2)]


@contextlib.contextmanager
def site(tmp: Path) -> Iterator[Site]:
    db = pg.PgCluster()
    try:
        with netns("mh") as hub, netns("ma") as a, netns("mb") as b, netns("mc") as client:
            hub.add_bridge("br0")
            for name, ns in (("a", a), ("b", b), ("c", client)):
                veth_between(hub, f"v{name}", ns, "eth0")
                hub.ip("link", "set", f"v{name}", "master", "br0")
            for name, ns in (("a", a), ("b", b)):
                ns.ip("addr", "add", f"{ADDRS[name]}/16", "dev", "eth0")
            for relay in RELAYS:
                client.ip("addr", "add", f"{relay}/16", "dev", "eth0")
            s = Site(db, db.url, hub, client, {"a": a, "b": b}, tmp)
            try:
                yield s
            finally:
                for name in list(s._stacks):
                    s.stop(name)
    finally:
        db.close()


def api(s: Site, name: str, method: str, path: str, body: dict[str, Any]) -> str:
    """One API call to appliance ``name`` from the client namespace (curl)."""
    r = s.client.run(["curl", "-sS", "--fail-with-body", "-X", method, "-H",
                      f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json",
                      "-d", json.dumps(body), f"{s.apps[name].url}/api/v1/{path}"],
                     check=False, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def fill_inventory(tmp: Path) -> Any:
    """A distro and profile ``p`` for the systems the tests add through the API."""
    def fill(core: Core) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "k").write_bytes(b"kernel")
        core.add_distro(Distro(name="fx", os_version="rhel9", kernel=str(tmp / "k"),
                               initrd=str(tmp / "k"), tree_url="http://10.77.0.1/tree"))
        core.add_profile(Profile(name="p", distro="fx", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
    return fill
