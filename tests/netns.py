"""Test-only network namespaces: the only place tests get addresses from.

Every namespace, veth, bridge and tap made here lives inside a namespace this module created, with
a unique name, and is removed (processes killed by PID first) when the context exits. Nothing is
created in the machine's own namespace except the veth peer ends, which are moved at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tests import procs


def have_root_netns() -> bool:
    """True when this process may create network namespaces (root and `ip` present)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=20)


def unique(prefix: str) -> str:
    """A short unique name usable as an interface or namespace name (<= 15 chars)."""
    return f"{prefix}{uuid.uuid4().hex[:15 - len(prefix)]}"[:15]


@dataclass
class Netns:
    """One namespace made by a test; run commands in it and start background processes."""

    name: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def run(self, argv: Sequence[str], timeout: float = 60, check: bool = True,
            **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], check=check,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def popen(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *argv],
                                start_new_session=True, **kw)
        self.procs.append(proc)
        return proc

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _ip("-n", self.name, *args, check=check)

    def add_bridge(self, name: str, cidr: str | None = None) -> str:
        self.ip("link", "add", name, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        if cidr:
            self.ip("addr", "add", cidr, "dev", name)
        self.ip("link", "set", name, "up")
        return name

    def add_tap(self, name: str, bridge: str | None = None) -> str:
        self.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"])
        if bridge:
            self.ip("link", "set", name, "master", bridge)
        self.ip("link", "set", name, "up")
        return name

    def stop_procs(self) -> None:
        """SIGTERM every process group started here at once, then reap each (SIGKILL at 5 s)."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            procs.stop(proc, grace=max(0.1, deadline - time.monotonic()))
        self.procs.clear()

    def pids(self) -> list[int]:
        out = _ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]


@contextlib.contextmanager
def netns(prefix: str = "pt") -> Iterator[Netns]:
    """A fresh namespace with loopback up; everything in it is killed and removed at exit."""
    ns = Netns(unique(prefix))
    _ip("netns", "add", ns.name)
    try:
        ns.ip("link", "set", "lo", "up")
        yield ns
    finally:
        ns.stop_procs()
        for pid in ns.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _ip("netns", "del", ns.name, check=False)


def veth_between(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair with one end in each namespace (created directly inside ``a``)."""
    a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
    a.ip("link", "set", a_if, "up")
    b.ip("link", "set", b_if, "up")


@contextlib.contextmanager
def lan(prefix: str = "pt", cidr: str = "10.77.0.1/24") -> Iterator[tuple[Netns, Netns]]:
    """A server namespace with bridge ``br0`` at ``cidr`` and a client namespace on it via veth.

    Yields ``(server, client)``; the client's interface is ``eth0`` (no address) with its peer
    ``vc0`` enslaved to ``br0`` in the server namespace.
    """
    with netns(prefix + "s") as server, netns(prefix + "c") as client:
        server.add_bridge("br0", cidr)
        veth_between(server, "vc0", client, "eth0")
        server.ip("link", "set", "vc0", "master", "br0")
        yield server, client
