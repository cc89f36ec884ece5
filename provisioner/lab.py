"""``provisioner lab up|status|down``: the whole product on one machine, in a network namespace.

``lab up [--guests N]`` makes, in this order (each step recorded in the state file first, so
``down`` can undo a half-made lab):

1. a private network: namespace ``prlab-<id>`` with bridge ``br0`` at ``<subnet>.1/24``; no
   address, link or server is added to the machine's own namespace (only a loopback port);
2. the boot kit (``labkit.py``: a Debian kernel and a busybox "installer" initrd, cached) as the
   assets of distro ``lab``, and a TFTP root filled by ``bootloaders.install``;
3. an appliance data directory: settings (DHCP on ``br0`` for ``<subnet>.100-199``, TFTP, DNS,
   HTTP on ``<subnet>.1:8080``), distro ``lab``, profile ``lab-guest``, an ``admin`` user with a
   generated password and a host token for the local agent;
4. the appliance (``provisioner serve``) inside the namespace, a loopback forwarder so the web
   UI answers on ``http://127.0.0.1:<port>/`` of this machine, and an IPv6 router-advertisement
   sender on the bridge (:func:`router_adverts`: spares iPXE a 13 s wait per boot);
5. the guests: with ``--mode agent`` (default when ``provisioner-agent run`` exists) a local
   agent in the namespace registers as host ``lab-host`` and N orders are placed through the
   scheduler and executed by the agent through libvirt (an embedded QEMU driver under the lab
   directory); with ``--mode qemu`` the lab registers N systems and boots QEMU itself on taps.
   Either way the guests are software-emulated (TCG), network-boot from the appliance, fetch
   their kickstarts, call back and power off.

``lab status`` prints the processes and each guest's progress (from the appliance's store).
``lab down`` kills every process it started (by PID, then whatever is left in its namespace),
deletes the namespace and removes the lab directory. The kit cache (``--cache``, default
``/var/cache/provisioner/lab``) is kept for the next ``up``; ``down --purge-cache`` removes it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "lab.json"
DEFAULT_CACHE = Path("/var/cache/provisioner/lab")
DEFAULT_SUBNET = "10.79.0"
HTTP_PORT = 8080
DISTRO, PROFILE, HOST = "lab", "lab-guest", "lab-host"
LIBVIRT_ROOTS = "/run/provisioner-lab"  # one embedded-libvirt root per lab, named by namespace
CLONE_NEWNET = 0x40000000


#: How the lab starts the agent: ``provisioner-agent`` with libvirt's event loop running first,
#: which the embedded QEMU driver (``qemu:///embed?root=...``, no daemon) needs before it opens.
AGENT_BOOT = """\
import sys, threading, libvirt
libvirt.virEventRegisterDefaultImpl()
def _events():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=_events, name="libvirt-events", daemon=True).start()
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


class LabError(Exception):
    """Something the user can act on (already up, not root, a step failed)."""


@dataclass
class LabState:
    """Everything ``up`` made; written after every step so ``down`` can always clean up."""

    dir: str
    netns: str
    subnet: str
    mode: str
    created: float = 0.0
    bridge: str = "br0"
    ui_port: int = 0
    admin_password: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    guests: list[dict[str, Any]] = field(default_factory=list)
    cache: str = str(DEFAULT_CACHE)
    libvirt_root: str = ""  # short path: QEMU's monitor sockets live under it (108-byte limit)
    ready: bool = False

    @property
    def server(self) -> str:
        return f"{self.subnet}.1"

    @property
    def appliance_url(self) -> str:
        return f"http://{self.server}:{HTTP_PORT}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}/" if self.ui_port else ""

    def save(self) -> None:
        path = Path(self.dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, lab_dir: Path) -> LabState | None:
        try:
            data = json.loads((lab_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---- small system helpers -----------------------------------------------------------------

def _run(argv: Sequence[str], timeout: float = 60, check: bool = True,
         **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=check, **kw)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *args], timeout=30, check=check)


def _netns_exists(name: str) -> bool:
    return name in _ip("netns", "list", check=False).stdout.split()


def _netns_pids(name: str) -> list[int]:
    out = _ip("netns", "pids", name, check=False).stdout.split()
    return [int(p) for p in out if p.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _stop(pids: Sequence[int], grace: float = 10.0) -> None:
    """SIGTERM each PID, wait up to ``grace`` seconds, then SIGKILL the survivors."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        for pid in pids:  # reap our own children so they do not stay zombies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def _spawn(state: LabState, role: str, argv: Sequence[str], *, netns: bool = True,
           env: dict[str, str] | None = None, pass_fds: Sequence[int] = ()) -> int:
    """Start a background process (in the lab namespace), log to ``<dir>/logs/<role>.log``."""
    logs = Path(state.dir) / "logs"
    logs.mkdir(exist_ok=True)
    cmd = (["ip", "netns", "exec", state.netns] if netns else []) + list(argv)
    # the lab's own settings file decides; the caller's PROVISIONER_* variables must not
    # override it (they would point the appliance at another data directory)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROVISIONER_")}
    with open(logs / f"{role}.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env={**base, **(env or {})},
                                pass_fds=tuple(pass_fds))
    state.pids[role] = proc.pid
    state.save()
    return proc.pid


def _wait(what: str, check: Callable[[], bool], timeout: float,
          dead: Callable[[], str | None] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        why = dead()
        if why:
            raise LabError(f"{what}: {why}")
        time.sleep(0.25)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def _python() -> list[str]:
    return [sys.executable]


def _agent_available() -> bool:
    """This installation has the agent's work loop (``provisioner-agent run``)."""
    res = _run([*_python(), "-m", "agent.cli", "run", "--help"], check=False, timeout=60)
    return res.returncode == 0


def _check_subnet(subnet: str) -> str:
    """``10.79.0``: the first three octets of a private /24 (the lab's own network)."""
    import ipaddress

    try:
        net = ipaddress.IPv4Network(f"{subnet}.0/24")
    except ValueError:
        raise LabError(f"--subnet wants three octets like 10.79.0, not {subnet!r}") from None
    if not net.is_private or net.is_loopback:
        raise LabError(f"--subnet {subnet}: use a private range (10/8, 172.16/12, 192.168/16)")
    return subnet


# ---- the loopback forwarder (root namespace 127.0.0.1 -> the lab's appliance) -------------

def forward(listen_fd: int, netns: str, target: tuple[str, int]) -> None:
    """Serve connections accepted on ``listen_fd`` (a loopback socket made in the machine's
    namespace) by connecting to ``target`` from inside ``netns``.

    A socket stays in the namespace it was made in: the listening socket comes from the parent,
    then this process joins the lab namespace, so every outgoing connection starts there.
    """
    import asyncio

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")
    os.close(fd)
    listener = socket.socket(fileno=listen_fd)

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*target), 10)
        except (TimeoutError, OSError):
            writer.close()
            return
        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---- router advertisements on the lab bridge --------------------------------------------------

def router_adverts(ifname: str, period: float = 1.0) -> None:
    """Answer IPv6 Router Solicitations on ``ifname`` (and advertise every ``period`` s) with
    a Router Advertisement that offers nothing: lifetime 0 (not a default router), no prefix.

    Why: iPXE configures IPv6 next to DHCPv4 and waits for a router advertisement before it
    goes on; on a network without an IPv6 router that wait is about 13 s of every network boot
    (measured in the lab: QEMU start to kickstart 27 s without, 14 s with). The lab's network
    has no router, so the lab plays the part of an IPv6 router that routes nothing.
    """
    import select
    import struct

    index = socket.if_nametoindex(ifname)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    all_routers = socket.inet_pton(socket.AF_INET6, "ff02::2")
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                    all_routers + struct.pack("@I", index))
    # type 134, code 0, checksum (kernel), hop limit 64, flags 0, router lifetime 0,
    # reachable time 0, retransmit timer 0; no options
    advert = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0)

    def send() -> None:
        try:
            sock.sendto(advert, ("ff02::1", 0, 0, index))
        except OSError:
            pass  # no usable link-local address yet (bridge without carrier, DAD): next time

    next_periodic = 0.0
    while True:
        now = time.monotonic()
        if now >= next_periodic:
            send()
            next_periodic = now + period
        ready, _, _ = select.select([sock], [], [], max(0.0, next_periodic - now))
        if ready and sock.recv(2048)[:1] == b"\x85":  # type 133: a router solicitation
            send()


# ---- up -----------------------------------------------------------------------------------

def lab_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lab"


def _settings_toml(state: LabState) -> str:
    d = Path(state.dir)
    s = state.subnet
    return "\n".join([
        "[appliance]",
        f'data_dir = "{d / "data"}"',
        f'assets_dir = "{d / "assets"}"',
        f'tftp_root = "{d / "tftpboot"}"',
        'http_host = "0.0.0.0"',
        f"http_port = {HTTP_PORT}",
        f'public_url = "{state.appliance_url}"',
        f'interfaces = ["{state.bridge}"]',
        "dhcp_enabled = true",
        'dhcp_mode = "full"',
        f'dhcp_ranges = ["{s}.100,{s}.199,255.255.255.0,1h"]',
        f'dhcp_options = ["6,{state.server}"]',
        "tftp_enabled = true",
        "dns_enabled = true",
        'domain = "lab.example"',
        "",
    ])


def _network(state: LabState) -> None:
    _ip("netns", "add", state.netns)
    state.save()
    _ip("-n", state.netns, "link", "set", "lo", "up")
    _ip("-n", state.netns, "link", "add", state.bridge, "type", "bridge", "forward_delay", "0",
        "stp_state", "0")
    _ip("-n", state.netns, "addr", "add", f"{state.server}/24", "dev", state.bridge)
    _ip("-n", state.netns, "link", "set", state.bridge, "up")


def _seed(state: LabState, settings: Any, host_token_out: list[str]) -> None:
    """Distro, profile, admin user and host token, written before the appliance starts."""
    from provisioner.core import orders
    from provisioner.core.users import Users
    from provisioner.main import build_core
    from provisioner.models import Distro, Profile, VmDefaults

    core = build_core(settings)
    try:
        core.add_distro(Distro(name=DISTRO, os_version="rhel9", breed="redhat",
                               kernel_options="console=ttyS0,115200 panic=5"))
        core.add_profile(Profile(name=PROFILE, distro=DISTRO,
                                 vm=VmDefaults(ram_mb=512, vcpus=1, disk_gb=1, bridge=state.bridge,
                                               hypervisor="kvm", virt_type="hvm",
                                               disk_bus="virtio")))
        Users(core.store).create("admin", state.admin_password, "admin")
        host_token_out.append(orders.create_host_token(core.store, HOST, now=time.time()))
    finally:
        core.store.close()


def up(data_dir: str | Path, *, guests: int = 1, mode: str = "auto", subnet: str = DEFAULT_SUBNET,
       cache: Path = DEFAULT_CACHE, wait: str = "none", timeout: float = 600,
       ui_port: int = 0, say: Callable[[str], None] = print) -> LabState:
    """Bring the lab up (see the module docstring); ``wait`` = none|kickstart|installed."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, taps)")
    if not 0 <= guests <= 20:
        raise LabError("--guests must be between 0 and 20")
    d = lab_dir(data_dir)
    old = LabState.load(d)
    if old is not None:
        raise LabError(f"a lab is already up in {d} (namespace {old.netns}); run `lab down`")
    _check_subnet(subnet)
    agent = mode in ("auto", "agent") and _agent_available()
    if mode == "agent" and not agent:
        raise LabError("`provisioner-agent run` is not available in this installation")
    mode = "agent" if agent else "qemu"
    d.mkdir(parents=True, exist_ok=True)
    state = LabState(dir=str(d), netns=f"prlab-{secrets.token_hex(3)}", subnet=subnet,
                     mode=mode, created=time.time(), admin_password=secrets.token_urlsafe(12),
                     cache=str(cache))
    state.save()
    try:
        _up(state, guests, cache, ui_port, say)
        if wait != "none":
            _wait(f"{guests} guest(s) to reach {wait}",
                  lambda: all(g.get("state") in _REACHED[wait] for g in _guest_states(state)),
                  timeout, dead=lambda: _dead(state))
        return state
    except BaseException:
        say("lab: failed; the logs are in " + str(d / "logs"))
        if os.environ.get("PROVISIONER_LAB_KEEP_FAILED") != "1":
            logs = _tail_logs(state)
            down(data_dir, say=lambda _m: None)
            if logs:
                say(logs)
        raise


_REACHED = {"kickstart": ("kickstart", "installing", "installed"), "installed": ("installed",)}


def _tail_logs(state: LabState, lines: int = 15) -> str:
    out = []
    for log in sorted((Path(state.dir) / "logs").glob("*.log")):
        with contextlib.suppress(OSError):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(out)


def _dead(state: LabState) -> str | None:
    for role in ("appliance", "agent", "forwarder", "router-adverts"):
        pid = state.pids.get(role)
        if pid and not _alive(pid):
            return f"the {role} (pid {pid}) exited; see {state.dir}/logs/{role}.log"
    return None


def _up(state: LabState, n: int, cache: Path, ui_port: int,
        say: Callable[[str], None]) -> None:
    from provisioner import bootloaders, labkit
    from provisioner.settings import load

    d = Path(state.dir)
    say(f"lab: namespace {state.netns}, bridge {state.bridge} {state.server}/24")
    _network(state)

    say("lab: boot kit (kernel + installer initrd)")
    kit = labkit.ensure_kit(cache)
    (d / "assets" / DISTRO).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kit.kernel, d / "assets" / DISTRO / "kernel")
    shutil.copyfile(kit.initrd, d / "assets" / DISTRO / "initrd")
    report = bootloaders.install(d / "tftpboot")
    if not (d / "tftpboot" / "pxelinux.0").is_file():
        raise LabError(f"no pxelinux.0 for the TFTP root: {report}")

    config = d / "provisioner.toml"
    config.write_text(_settings_toml(state))
    settings = load(str(config), environ={})
    token: list[str] = []
    _seed(state, settings, token)

    _spawn(state, "router-adverts", [*_python(), "-m", "provisioner.lab", "router-adverts",
                                     "--ifname", state.bridge])
    say(f"lab: appliance on {state.appliance_url} (inside the namespace)")
    _start_appliance(state)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", ui_port))
    listener.listen(64)
    state.ui_port = listener.getsockname()[1]
    try:
        _spawn(state, "forwarder", [*_python(), "-m", "provisioner.lab", "forward",
                                    "--fd", str(listener.fileno()), "--netns", state.netns,
                                    "--to", f"{state.server}:{HTTP_PORT}"],
               netns=False, pass_fds=[listener.fileno()])
    finally:
        listener.close()
    _wait("the appliance to answer", lambda: _http_ok(state.ui_url + "ui/login"), 120,
          dead=lambda: _dead(state))

    if state.mode == "agent":
        _ensure_qemu_account(say)
        _start_agent(state, token[0])
        _wait("the agent to register", lambda: _host_seen(settings) is not None, 120,
              dead=lambda: _dead(state))
        if not _host_seen(settings):
            # a cold libvirt capability probe on a busy machine can come back empty: the
            # second start finds the probe cached under the embedded driver's root
            say("lab: the agent reported no domain types; restarting it once")
            _stop([state.pids.pop("agent")])
            _start_agent(state, token[0])
            _wait("the agent to report its hypervisor", lambda: bool(_host_seen(settings)),
                  120, dead=lambda: _dead(state))
        _order_guests(state, settings, n)
    else:
        _boot_qemu_guests(state, settings, n)
    state.ready = True
    state.save()
    say(f"lab: up. Web UI {state.ui_url} (user admin, password {state.admin_password})")


def _start_appliance(state: LabState) -> None:
    config = Path(state.dir) / "provisioner.toml"
    _spawn(state, "appliance", [*_python(), "-m", "provisioner.cli", "--config", str(config),
                                "serve"], env={"PYTHONUNBUFFERED": "1"})


def restart_appliance(data_dir: str | Path, say: Callable[[str], None] = print) -> LabState:
    """Stop the lab's appliance and start it again on the same data (orders, leases, users):
    what an upgrade or a crash does to a running appliance."""
    state = LabState.load(lab_dir(data_dir))
    if state is None:
        raise LabError("no lab is up")
    pid = state.pids.pop("appliance", None)
    if pid:
        _stop([pid])
    _start_appliance(state)
    _wait("the appliance to answer again", lambda: _http_ok(state.ui_url + "ui/login"), 120,
          dead=lambda: _dead(state))
    say(f"lab: appliance restarted (pid {state.pids['appliance']})")
    return state


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _host_seen(settings: Any) -> bool | None:
    """None until the agent registered; then whether it reported libvirt domain types."""
    from provisioner.store import open_store

    store = open_store(settings.db_url, migrate=False)
    try:
        host = store.get_host(HOST)
        if not host or not host.facts:
            return None
        return bool(host.capacity.get("domain_types"))
    finally:
        store.close()


def _ensure_qemu_account(say: Callable[[str], None]) -> None:
    """libvirt's QEMU driver looks the ``libvirt-qemu`` account up before it reads qemu.conf
    (libvirt recipe, gotcha 1); Debian creates it with libvirt-daemon-system, which the lab
    does not need otherwise. A prerequisite like a package: ``lab down`` leaves it."""
    if _run(["getent", "passwd", "libvirt-qemu"], check=False).returncode == 0:
        return
    say("lab: creating the system account libvirt-qemu (libvirt's QEMU driver needs it)")
    if _run(["getent", "group", "libvirt-qemu"], check=False).returncode != 0:
        _run(["groupadd", "--system", "libvirt-qemu"])
    _run(["useradd", "--system", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt", "-s",
          "/usr/sbin/nologin", "libvirt-qemu"])


def _start_agent(state: LabState, token: str) -> None:
    d = Path(state.dir)
    for sub in ("agent", "images", "consoles"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    root = Path(LIBVIRT_ROOTS) / state.netns
    state.libvirt_root = str(root)
    state.save()
    (root / "etc").mkdir(parents=True, exist_ok=True)
    # the embedded QEMU driver reads ROOT/etc/qemu.conf (libvirt recipe section 5)
    (root / "etc" / "qemu.conf").write_text(
        'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\n'
        'security_driver = "none"\ncgroup_controllers = [ ]\nnamespaces = [ ]\n'
        'stdio_handler = "file"\n')
    (d / "agent" / "token").write_text(token)
    (d / "agent" / "token").chmod(0o600)
    uri = f"qemu:///embed?root={root}"
    _spawn(state, "agent", [*_python(), "-c", AGENT_BOOT, "run",
                            "--appliance", state.appliance_url, "--host", HOST,
                            "--token-file", str(d / "agent" / "token"), "--connect", uri,
                            "--state-dir", str(d / "agent"), "--image-dir", str(d / "images"),
                            "--virt-type", "qemu", "--serial-dir", str(d / "consoles"),
                            "--poll-timeout", "5"],
           env={"PYTHONUNBUFFERED": "1"})


def _order_guests(state: LabState, settings: Any, n: int) -> None:
    from provisioner.core import orders
    from provisioner.core.ordering import Ordering
    from provisioner.core.rules import check
    from provisioner.store import open_store

    store = open_store(settings.db_url, migrate=False)
    try:
        admin = store.get_user("admin")
        ordering = Ordering(store, rules_check=check, clock=time.time, domain=settings.domain,
                            enqueue=lambda host, kind, payload, key: orders.enqueue(
                                store, host, kind, payload, key=key, now=time.time()))
        for i in range(1, n + 1):
            name = f"guest{i}"
            order = ordering.submit({"name": name, "profile": PROFILE, "host": HOST,
                                     "network": state.bridge}, admin, key=f"lab:{name}")
            state.guests.append({"name": name, "order": order.id})
            state.save()
    finally:
        store.close()


def _boot_qemu_guests(state: LabState, settings: Any, n: int) -> None:
    from provisioner.main import build_core
    from provisioner.models import Interface, System

    d = Path(state.dir)
    (d / "images").mkdir(exist_ok=True)
    (d / "consoles").mkdir(exist_ok=True)
    core = build_core(settings, migrate=False)
    try:
        for i in range(1, n + 1):
            name, tap = f"guest{i}", f"tap{i}"
            mac = f"52:54:00:79:{int(state.subnet.split('.')[-1]) % 256:02x}:{i:02x}"
            core.add_system(System(name=name, profile=PROFILE, hostname=name,
                                   interfaces=(Interface(mac=mac, bridge=state.bridge),)))
            _run(["ip", "netns", "exec", state.netns, "ip", "tuntap", "add", "dev", tap,
                  "mode", "tap"])
            _ip("-n", state.netns, "link", "set", tap, "master", state.bridge)
            _ip("-n", state.netns, "link", "set", tap, "up")
            disk = d / "images" / f"{name}.qcow2"
            _run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"])
            guest = {"name": name, "mac": mac, "tap": tap}
            state.guests.append(guest)
            _spawn(state, f"qemu-{name}", [
                "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
                "-display", "none", "-no-reboot", "-nodefaults",
                "-serial", f"file:{d / 'consoles' / (name + '.log')}",
                "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={mac}",
                "-drive", f"file={disk},if=virtio,format=qcow2", "-boot", "n"])
            guest["pid"] = state.pids[f"qemu-{name}"]
            state.save()
    finally:
        core.store.close()


# ---- status -------------------------------------------------------------------------------

def _guest_states(state: LabState) -> list[dict[str, Any]]:
    """Each guest's progress, read from the appliance's store."""
    from provisioner.core.events import system_subject
    from provisioner.core.ordering import Ordering, derive_state
    from provisioner.settings import load
    from provisioner.store import open_store

    config = Path(state.dir) / "provisioner.toml"
    if not config.is_file():
        return []
    settings = load(str(config), environ={})
    out = []
    store = open_store(settings.db_url, migrate=False)
    try:
        ordering = Ordering(store, clock=time.time, domain=settings.domain)
        for g in state.guests:
            row = {"name": g["name"], "state": "unknown", "address": None, "mac": g.get("mac")}
            order = store.get_order(g["order"]) if g.get("order") else None
            if order is not None:
                p = ordering.progress(order)
                row.update(state=p.state, address=p.address, host=order.host)
            else:
                system = store.get_system(g["name"])
                events = store.list_events(system_subject(g["name"]))
                st = derive_state([(e.kind, e.at) for e in events])[0]
                if system is not None and system.status == "installed":
                    st = "installed"
                ip = next((e.detail.get("ip") for e in reversed(events) if e.detail.get("ip")),
                          None)
                row.update(state=st, address=ip)
            if g.get("pid"):
                row["running"] = _alive(int(g["pid"]))
            out.append(row)
    finally:
        store.close()
    return out


def status(data_dir: str | Path) -> dict[str, Any] | None:
    state = LabState.load(lab_dir(data_dir))
    if state is None:
        return None
    return {"dir": state.dir, "netns": state.netns, "netns_exists": _netns_exists(state.netns),
            "mode": state.mode, "ui": state.ui_url, "appliance": state.appliance_url,
            "admin_password": state.admin_password,
            "processes": {role: {"pid": pid, "alive": _alive(pid)}
                          for role, pid in state.pids.items()},
            "guests": _guest_states(state)}


def format_status(info: dict[str, Any]) -> str:
    """``lab status`` for people: where things are, what runs, how far each guest got."""
    lines = [f"lab in {info['dir']} ({info['mode']} mode), namespace {info['netns']}"
             + ("" if info["netns_exists"] else " (MISSING)"),
             f"web UI      {info['ui']}  (admin / {info['admin_password']})",
             f"appliance   {info['appliance']} inside the namespace", "processes"]
    for role, p in info["processes"].items():
        lines.append(f"  {role:16} pid {p['pid']:<8} {'running' if p['alive'] else 'exited'}")
    lines.append("guests" if info["guests"] else "guests      none")
    for g in info["guests"]:
        lines.append(f"  {g['name']:16} {g['state']:11} {g.get('address') or '-':15} "
                     f"{g.get('host') or g.get('mac') or ''}")
    return "\n".join(lines)


# ---- down ---------------------------------------------------------------------------------

def down(data_dir: str | Path, *, purge_cache: bool = False,
         say: Callable[[str], None] = print) -> bool:
    """Remove everything ``up`` made; True if there was a lab. Safe to run twice."""
    d = lab_dir(data_dir)
    state = LabState.load(d)
    if state is None:
        if d.exists() and not any(d.iterdir()):
            d.rmdir()
        say("lab: nothing to take down")
        return False
    # the agent first (so it stops making guests), then guests, appliance, forwarder
    _stop([pid for r, pid in state.pids.items() if r == "agent"])
    _stop([pid for r, pid in state.pids.items() if r != "agent"])
    if _netns_exists(state.netns):
        leftovers = _netns_pids(state.netns)  # e.g. QEMU started by the embedded libvirt
        if leftovers:
            _stop(leftovers, grace=5)
        _ip("netns", "del", state.netns, check=False)
    _wait("the lab namespace to go away", lambda: not _netns_exists(state.netns), 30)
    shutil.rmtree(d, ignore_errors=True)
    if state.libvirt_root:
        shutil.rmtree(state.libvirt_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(LIBVIRT_ROOTS)  # only when no other lab uses it
    if purge_cache:
        shutil.rmtree(state.cache, ignore_errors=True)
    say(f"lab: down (removed namespace {state.netns} and {d})")
    return True


# ---- command line -------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lab up|status|down`` to the ``provisioner`` command."""
    p = sub.add_parser("lab", help="a private lab on this machine: appliance, agent, QEMU guests")
    acts = p.add_subparsers(dest="lab_action", required=True)
    u = acts.add_parser("up", help="create the lab network, appliance, agent and guests")
    u.add_argument("--guests", type=int, default=1, help="guests to boot (default 1)")
    u.add_argument("--mode", choices=("auto", "agent", "qemu"), default="auto",
                   help="agent: orders through the scheduler and a local agent (default when "
                        "available); qemu: the lab boots QEMU itself")
    u.add_argument("--subnet", default=DEFAULT_SUBNET, help="first three octets (10.79.0)")
    u.add_argument("--cache", default=str(DEFAULT_CACHE), help="boot kit cache directory")
    u.add_argument("--wait", choices=("none", "kickstart", "installed"), default="none",
                   help="return once every guest reached this stage")
    u.add_argument("--timeout", type=float, default=600)
    u.add_argument("--ui-port", type=int, default=0, help="loopback port of the web UI")
    st = acts.add_parser("status", help="processes and guests of the lab")
    st.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    acts.add_parser("restart", help="restart the appliance on the same data")
    dn = acts.add_parser("down", help="remove everything the lab made")
    dn.add_argument("--purge-cache", action="store_true", help="also remove the boot kit cache")
    p.set_defaults(func=cmd_lab)


def cmd_lab(args: argparse.Namespace) -> int:
    data_dir = args.settings.data_dir
    try:
        if args.lab_action == "up":
            up(data_dir, guests=args.guests, mode=args.mode, subnet=args.subnet,
               cache=Path(args.cache), wait=args.wait, timeout=args.timeout,
               ui_port=args.ui_port)
            return 0
        if args.lab_action == "status":
            info = status(data_dir)
            if info is None:
                print("lab: not up")
                return 1
            print(json.dumps(info, indent=2) if args.json else format_status(info))
            return 0
        if args.lab_action == "restart":
            restart_appliance(data_dir)
            return 0
        down(data_dir, purge_cache=args.purge_cache)
        return 0
    except LabError as exc:
        print(f"provisioner lab: error: {exc}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m provisioner.lab forward ...`` (the loopback forwarder process)."""
    ap = argparse.ArgumentParser(prog="provisioner.lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--fd", type=int, required=True)
    f.add_argument("--netns", required=True)
    f.add_argument("--to", required=True)
    r = sub.add_parser("router-adverts")
    r.add_argument("--ifname", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "router-adverts":
        router_adverts(args.ifname)
        return 0
    host, _, port = args.to.rpartition(":")
    forward(args.fd, args.netns, (host, int(port)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
