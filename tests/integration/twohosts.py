"""Two hypervisor hosts on one machine, for the remote-host and migration tests.

Topology (every address inside namespaces this fixture makes)::

    ns "client" (the appliance side)   eth0 10.91.0.10 --+
    ns A: br0 10.91.0.1 <- a0  ------------------- switch ns: bridge sw0
    ns B: br0 10.91.0.2 <- b0  ----------------------+
    guest 10.91.0.100 on br0 of whichever host runs it (same bridge name on both: seed §3.6)

Each host is a holder (``tests/integration/holder.py``) with its own libvirtd (distinct
``host_uuid``), listening on TLS with certificates the appliance's CA issued
(``provisioner.remote.pki``) and the agent installed with its ``tls`` plan (run inside the host:
``provisioner-agent apply tls``), and an sshd that knows only the appliance's test key. Both see
one shared directory (same path) holding the guest's disk, kernel and initrd, defined as storage
pool ``images`` on both. The appliance's client files (ssh wrapper/config/key/known_hosts and the
``pkipath`` directory) are written by ``provisioner.remote.credentials.ClientFiles``.

The guest: the lab kit's kernel and initrd (``tests/e2e/fixture.py``) plus a small cpio that
replaces ``/init``: a static address, a TCP echo server on port 7000 (busybox ``nc -ll -e cat``)
and a counter on the serial console every second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest

from provisioner.remote import pki
from provisioner.remote.credentials import ClientFiles, known_hosts_line
from tests.integration.holder import (
    Holder,
    PrivateLibvirtd,
    Sshd,
    holder,
    private_libvirtd,
    ssh_keypair,
    sshd,
)
from tests.netns import Netns, have_root_netns, netns, veth_between

NET = "10.91.0"
GUEST_IP = f"{NET}.100"
GUEST_MAC = "52:54:00:91:00:64"
ECHO_PORT = 7000
AGENT = str(Path(sys.executable).parent / "provisioner-agent")

GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done
addr=$(sed -n 's/.*mig\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
IF=""
for i in $(seq 1 100); do
  IF=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
  [ -n "$IF" ] && break
  sleep 0.1
done
ip link set lo up
ip link set "$IF" up
ip addr add "$addr" dev "$IF"
nc -ll -p 7000 -e /bin/cat &
echo "MIG: up $addr on $IF"
i=0
while true; do i=$((i+1)); echo "MIG: tick $i"; sleep 1; done
"""


@dataclass
class Host:
    name: str
    addr: str
    ns: Netns
    holder: Holder
    libvirtd: PrivateLibvirtd
    sshd: Sshd
    cert: pki.KeyPair

    def ssh_uri(self) -> str:
        return f"qemu+ssh://root@{self.addr}/system"

    def tls_uri(self) -> str:
        return f"qemu+tls://{self.addr}/system"

    def console(self, guest: str) -> str:
        p = self.holder.path(f"/var/log/libvirt/qemu/{guest}-console.log")
        return p.read_text(errors="replace") if p.exists() else ""


@dataclass
class TwoHosts:
    a: Host
    b: Host
    client: Netns
    switch: Netns
    files: ClientFiles
    ca: pki.KeyPair
    shared: Path
    kernel: Path
    initrd: Path
    workdir: Path

    def host(self, name: str) -> Host:
        return self.a if name == self.a.name else self.b

    def domain_xml(self, name: str, *, cpu_mode: str | None = None, mem_mib: int = 160) -> str:
        cpu = f"<cpu mode='{cpu_mode}'/>" if cpu_mode else ""
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem_mib}</memory><vcpu>1</vcpu>{cpu}
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{self.kernel}</kernel><initrd>{self.initrd}</initrd>
    <cmdline>console=ttyS0 quiet mig.ip={GUEST_IP}/24</cmdline></os>
  <features><acpi/><apic/></features><clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='{self.shared}/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <interface type='bridge'><source bridge='br0'/><mac address='{GUEST_MAC}'/>
      <model type='virtio'/></interface>
    <serial type='file'><source path='/var/log/libvirt/qemu/{name}-console.log'/>
      <target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>"""

    def make_disk(self, name: str) -> Path:
        path = self.shared / f"{name}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"],
                       check=True, timeout=30)
        return path


def guest_initrd(kit_initrd: Path, out: Path) -> Path:
    """The kit's initrd with our ``/init`` appended as a second cpio (the kernel unpacks both;
    the later file wins)."""
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tmp) / "init"
        init.write_text(GUEST_INIT)
        init.chmod(0o755)
        overlay = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=b"init\n",
                                 cwd=tmp, capture_output=True, check=True, timeout=30).stdout
    out.write_bytes(kit_initrd.read_bytes() + gzip.compress(overlay, mtime=0))
    return out


def _install_tls(h: Holder, ca: pki.KeyPair, cert: pki.KeyPair, addr: str) -> str:
    bundle = h.workdir / "tls-bundle.json"
    bundle.write_text(json.dumps({"ca_cert": ca.cert_pem, "cert": cert.cert_pem,
                                  "key": cert.key_pem}))
    bundle.chmod(0o600)
    res = h.run([AGENT, "apply", "tls", "--root", "/", "--state-dir",
                 str(h.workdir / "agent-state"), "--bundle", str(bundle), "--service", "none",
                 "--listen-addr", addr], check=False, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"agent tls plan failed: {res.stdout}{res.stderr}")
    return res.stdout


@contextlib.contextmanager
def _host(name: str, addr: str, switch: Netns, workdir: Path, ca: pki.KeyPair, now: dt.datetime,
          appliance_pub: str) -> Iterator[Host]:
    with netns(f"pm{name}") as ns:
        ns.add_bridge("br0", f"{addr}/24")
        veth_between(ns, f"{name}0", switch, f"sw{name}")
        ns.ip("link", "set", f"{name}0", "master", "br0")
        switch.ip("link", "set", f"sw{name}", "master", "sw0")
        with holder(ns, workdir / name, hostname=f"host{name}") as h:
            cert = pki.issue_host(ca, [f"host{name}", addr], now)
            d = PrivateLibvirtd(h, listen="tls", listen_addr=addr)
            h.workdir.joinpath("tls-plan.txt").write_text(_install_tls(h, ca, cert, addr))
            s = sshd(h, addr, [appliance_pub])
            with private_libvirtd(h, daemon=d) as d:
                yield Host(name, addr, ns, h, d, s, cert)


def define_pools(h: Host, shared: Path) -> None:
    """``images`` at the shared directory, ``default`` at the host's own image directory."""
    conn = h.libvirtd.open()
    try:
        for name, path in (("images", shared), ("default", "/var/lib/libvirt/images")):
            conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>"
                                      f"{path}</path></target></pool>").create()
    finally:
        conn.close()


@contextlib.contextmanager
def two_hosts_lab(workdir: Path) -> Iterator[TwoHosts]:
    from tests.e2e import fixture

    kit = fixture.build()
    now = dt.datetime.now(dt.UTC)
    ca = pki.create_ca(now)
    client_cert = pki.issue_client(ca, "provisioner appliance", now)
    shared = workdir / "shared"
    shared.mkdir(parents=True)
    kernel = shared / "vmlinuz"
    kernel.write_bytes(kit.kernel.read_bytes())
    initrd = guest_initrd(kit.initrd, shared / "initrd.img")
    appliance_key = workdir / "appliance-id"
    appliance_pub = ssh_keypair(appliance_key)
    with netns("pmsw") as switch, netns("pmc") as client:
        switch.add_bridge("sw0")
        veth_between(client, "eth0", switch, "swc")
        switch.ip("link", "set", "swc", "master", "sw0")
        client.ip("addr", "add", f"{NET}.10/24", "dev", "eth0")
        with _host("a", f"{NET}.1", switch, workdir, ca, now, appliance_pub) as a, \
                _host("b", f"{NET}.2", switch, workdir, ca, now, appliance_pub) as b:
            files = ClientFiles(workdir / "appliance")
            files.write_ssh(appliance_key.read_text(),
                            [known_hosts_line(h.addr, h.sshd.host_pub) for h in (a, b)])
            files.write_pki(ca.cert_pem, client_cert.cert_pem, client_cert.key_pem)
            for h in (a, b):
                define_pools(h, shared)
            yield TwoHosts(a, b, client, switch, files, ca, shared, kernel, initrd, workdir)


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory) -> Iterator[TwoHosts]:
    if not have_root_netns():
        pytest.skip("needs root and network namespaces")
    for tool in ("/usr/sbin/libvirtd", "/usr/sbin/sshd", "/usr/bin/qemu-system-x86_64"):
        if not Path(tool).exists():
            pytest.skip(f"needs {tool} (scripts/setup.sh installs it)")
    with two_hosts_lab(tmp_path_factory.mktemp("two-hosts")) as lab:
        yield lab


# ---- traffic to the guest while it moves --------------------------------------------------


class PingStream:
    """``ping -D -i 0.05`` from the client namespace; ``max_gap()`` is the longest silence
    between two replies (the network's view of the migration's downtime)."""

    def __init__(self, client: Netns, addr: str = GUEST_IP, interval: float = 0.05) -> None:
        self.proc = client.popen(["ping", "-n", "-D", "-i", str(interval), "-W", "1", addr],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.times: list[float] = []

    def stop(self) -> None:
        from tests import procs

        procs.stop(self.proc, grace=5)
        out = self.proc.stdout.read() if self.proc.stdout else ""
        self.times = [float(m) for m in re.findall(r"^\[(\d+\.\d+)\].* bytes from", out, re.M)]

    def max_gap(self, after: float = 0.0) -> float:
        ts = [t for t in self.times if t >= after]
        return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=float("inf"))


class EchoStream:
    """One TCP connection from the client namespace to the guest's echo server: a numbered line
    every 20 ms, each echo timed. ``lost`` counts lines whose echo never came back; the same
    connection carries on across the migration or ``error`` says why not."""

    def __init__(self, client: Netns, addr: str = GUEST_IP, port: int = ECHO_PORT) -> None:
        self.client, self.addr, self.port = client, addr, port
        self.stop_flag = threading.Event()
        self.replies: list[float] = []
        self.sent = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from tests.integration.holder import in_netns

        try:
            with in_netns(self.client):
                sock = socket.create_connection((self.addr, self.port), timeout=5)
            sock.settimeout(0.02)
            buf = b""
            with sock:
                while not self.stop_flag.is_set():
                    self.sent += 1
                    sock.sendall(f"{self.sent}\n".encode())
                    deadline = time.monotonic() + 0.02
                    while time.monotonic() < deadline:
                        try:
                            chunk = sock.recv(4096)
                        except TimeoutError:
                            break
                        if not chunk:
                            raise ConnectionError("the guest closed the connection")
                        buf += chunk
                        while b"\n" in buf:
                            _, buf = buf.split(b"\n", 1)
                            self.replies.append(time.time())
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        time.sleep(0.3)  # let the last echoes arrive
        self.stop_flag.set()
        self.thread.join(10)

    @property
    def lost(self) -> int:
        return self.sent - len(self.replies)

    def max_gap(self) -> float:
        ts = self.replies
        return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=float("inf"))


def domain_state(host: Host, name: str) -> str:
    """The guest's state on ``host``'s libvirtd: running, paused, other, or gone (not defined)."""
    conn = host.libvirtd.open()
    try:
        return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused"}.get(
            conn.lookupByName(name).state()[0], "other")
    except libvirt.libvirtError:
        return "gone"
    finally:
        conn.close()
