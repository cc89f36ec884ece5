"""``lab up``, ``lab status`` and ``lab down``: the steps in order, each recorded in the state
file first, so ``down`` can undo a half-made lab."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner import bootloaders
from provisioner.lab import kit
from provisioner.lab.appliance import host_seen, http_ok, seed, settings_toml, start_appliance
from provisioner.lab.guests import (
    agent_available,
    boot_qemu_guests,
    ensure_qemu_account,
    guest_states,
    order_guests,
    start_agent,
)
from provisioner.lab.netns import check_subnet, make_network, netns_exists, netns_pids
from provisioner.lab.procs import alive, dead, ip, python_argv, spawn, stop, tail_logs, wait_for
from provisioner.lab.state import (
    DEFAULT_CACHE,
    DEFAULT_SUBNET,
    DISTRO,
    HTTP_PORT,
    LIBVIRT_ROOTS,
    LabError,
    LabState,
    lab_dir,
)
from provisioner.lab.watch import GuestWatch
from provisioner.settings import Settings, load


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
    check_subnet(subnet)
    agent = mode in ("auto", "agent") and agent_available()
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
            _wait_for_guests(state, guests, wait, timeout, say)
        return state
    except KeyboardInterrupt:  # Ctrl-C: not a failure, and nothing to keep
        say("lab: interrupted; taking down what was made")
        down(data_dir, say=lambda _m: None)
        say(f"lab: down (removed namespace {state.netns} and {d})")
        raise
    except BaseException:
        _failed(state, Path(data_dir), say)
        raise


def _wait_for_guests(state: LabState, n: int, wait: str, timeout: float,
                     say: Callable[[str], None]) -> None:
    """Wait, showing what each guest is doing (lab/watch.py), until all reached ``wait``."""
    say(f"lab: waiting for {n} guest(s) to reach {wait} (software emulation: minutes)")
    watch = GuestWatch(state)
    try:
        wait_for(f"{n} guest(s) to reach {wait}",
                 lambda: all(g.get("state") in _REACHED[wait] for g in watch.tick()),
                 timeout, dead=lambda: dead(state))
    finally:
        watch.close()


def _failed(state: LabState, data_dir: Path, say: Callable[[str], None]) -> None:
    """A real failure: keep the logs where ``down`` does not reach, name them, take it down
    (unless PROVISIONER_LAB_KEEP_FAILED=1 keeps the whole lab)."""
    logs = Path(state.dir) / "logs"
    if os.environ.get("PROVISIONER_LAB_KEEP_FAILED") == "1":
        say(f"lab: failed; left as it is (PROVISIONER_LAB_KEEP_FAILED=1), logs in {logs}; "
            "`provisioner lab down` removes it")
        return
    kept = data_dir / "lab-failed" / time.strftime("%Y%m%d-%H%M%S")
    tail = tail_logs(state)
    with contextlib.suppress(OSError):
        if logs.is_dir():
            shutil.copytree(logs, kept / "logs", dirs_exist_ok=True)
    down(data_dir, say=lambda _m: None)
    if tail:
        say(tail)
    say(f"lab: failed and taken down; its logs are kept in {kept / 'logs'}"
        if (kept / "logs").is_dir() else "lab: failed and taken down (it wrote no logs)")


_REACHED = {"kickstart": ("kickstart", "installing", "installed"), "installed": ("installed",)}


def _up(state: LabState, n: int, cache: Path, ui_port: int,
        say: Callable[[str], None]) -> None:
    d = Path(state.dir)
    say(f"lab: namespace {state.netns}, bridge {state.bridge} {state.server}/24")
    make_network(state)
    say("lab: boot kit (kernel + installer initrd)")
    _install_boot_files(d, cache)
    config = d / "provisioner.toml"
    config.write_text(settings_toml(state))
    settings = load(str(config), environ={})
    token = seed(state, settings)
    _start_services(state, ui_port, say)
    if state.mode == "agent":
        _start_agent_guests(state, settings, token, n, say)
    else:
        boot_qemu_guests(state, settings, n)
    state.ready = True
    state.save()
    say(f"lab: up. Web UI {state.ui_url} (user admin, password {state.admin_password})")


def _install_boot_files(d: Path, cache: Path) -> None:
    """The boot kit as distro ``lab``'s assets, and a TFTP root with the boot loaders."""
    boot_kit = kit.ensure_kit(cache)
    (d / "assets" / DISTRO).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(boot_kit.kernel, d / "assets" / DISTRO / "kernel")
    shutil.copyfile(boot_kit.initrd, d / "assets" / DISTRO / "initrd")
    report = bootloaders.install(d / "tftpboot")
    if not (d / "tftpboot" / "pxelinux.0").is_file():
        raise LabError(f"no pxelinux.0 for the TFTP root: {report}")


def _start_services(state: LabState, ui_port: int, say: Callable[[str], None]) -> None:
    """Router advertisements, the appliance, and the loopback forwarder to its web UI."""
    spawn(state, "router-adverts", [*python_argv(), "-m", "provisioner.lab", "router-adverts",
                                    "--ifname", state.bridge])
    say(f"lab: appliance on {state.appliance_url} (inside the namespace)")
    start_appliance(state)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", ui_port))
    listener.listen(64)
    state.ui_port = listener.getsockname()[1]
    try:
        spawn(state, "forwarder", [*python_argv(), "-m", "provisioner.lab", "forward",
                                   "--fd", str(listener.fileno()), "--netns", state.netns,
                                   "--to", f"{state.server}:{HTTP_PORT}"],
              netns=False, pass_fds=[listener.fileno()])
    finally:
        listener.close()
    wait_for("the appliance to answer", lambda: http_ok(state.ui_url + "ui/login"), 120,
             dead=lambda: dead(state))


def _start_agent_guests(state: LabState, settings: Settings, token: str, n: int,
                        say: Callable[[str], None]) -> None:
    """The local agent (registered, with its hypervisor reported), then the guests' orders."""
    ensure_qemu_account(say)
    start_agent(state, token)
    wait_for("the agent to register", lambda: host_seen(settings) is not None, 120,
             dead=lambda: dead(state))
    if not host_seen(settings):
        # a cold libvirt capability probe on a busy machine can come back empty: the
        # second start finds the probe cached under the embedded driver's root
        say("lab: the agent reported no domain types; restarting it once")
        stop([state.pids.pop("agent")])
        start_agent(state, token)
        wait_for("the agent to report its hypervisor", lambda: bool(host_seen(settings)),
                 120, dead=lambda: dead(state))
    order_guests(state, settings, n)


def status(data_dir: str | Path) -> dict[str, Any] | None:
    state = LabState.load(lab_dir(data_dir))
    if state is None:
        return None
    return {"dir": state.dir, "netns": state.netns, "netns_exists": netns_exists(state.netns),
            "mode": state.mode, "ui": state.ui_url, "appliance": state.appliance_url,
            "admin_password": state.admin_password,
            "processes": {role: {"pid": pid, "alive": alive(pid)}
                          for role, pid in state.pids.items()},
            "guests": guest_states(state)}


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
    stop([pid for r, pid in state.pids.items() if r == "agent"])
    stop([pid for r, pid in state.pids.items() if r != "agent"])
    if netns_exists(state.netns):
        leftovers = netns_pids(state.netns)  # e.g. QEMU started by the embedded libvirt
        if leftovers:
            stop(leftovers, grace=5)
        ip("netns", "del", state.netns, check=False)
    wait_for("the lab namespace to go away", lambda: not netns_exists(state.netns), 30)
    shutil.rmtree(d, ignore_errors=True)
    if state.libvirt_root:
        shutil.rmtree(state.libvirt_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(LIBVIRT_ROOTS)  # only when no other lab uses it
    if purge_cache:
        shutil.rmtree(state.cache, ignore_errors=True)
    say(f"lab: down (removed namespace {state.netns} and {d})")
    return True
