"""The lab's guests: through a local agent (orders placed by the scheduler, executed through an
embedded libvirt QEMU driver) or booted by the lab itself on taps; and how far each got."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner.core import orders
from provisioner.core.event_text import describe
from provisioner.core.order_progress import derive_state
from provisioner.core.ordering import Ordering
from provisioner.core.ports import PowerStore
from provisioner.core.rules import check
from provisioner.lab.procs import alive, ip, python_argv, run, spawn
from provisioner.lab.state import HOST, LIBVIRT_ROOTS, PROFILE, LabError, LabState
from provisioner.main import build_core
from provisioner.models import Interface, PowerConfig, System, system_subject
from provisioner.settings import Settings, load
from provisioner.store import open_store

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


def agent_available() -> bool:
    """This installation has the agent's work loop (``provisioner-agent run``)."""
    res = run([*python_argv(), "-m", "agent.cli", "run", "--help"], check=False, timeout=60)
    return res.returncode == 0


def ensure_qemu_account(say: Callable[[str], None]) -> None:
    """libvirt's QEMU driver looks the ``libvirt-qemu`` account up before it reads qemu.conf
    (libvirt recipe, gotcha 1); Debian creates it with libvirt-daemon-system, which the lab
    does not need otherwise. A prerequisite like a package: ``lab down`` leaves it."""
    if run(["getent", "passwd", "libvirt-qemu"], check=False).returncode == 0:
        return
    say("lab: creating the system account libvirt-qemu (libvirt's QEMU driver needs it)")
    if run(["getent", "group", "libvirt-qemu"], check=False).returncode != 0:
        run(["groupadd", "--system", "libvirt-qemu"])
    run(["useradd", "--system", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt", "-s",
         "/usr/sbin/nologin", "libvirt-qemu"])


def start_agent(state: LabState, token: str) -> None:
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
    spawn(state, "agent", [*python_argv(), "-c", AGENT_BOOT, "run",
                           "--appliance", state.appliance_url, "--host", HOST,
                           "--token-file", str(d / "agent" / "token"), "--connect", uri,
                           "--state-dir", str(d / "agent"), "--image-dir", str(d / "images"),
                           "--virt-type", "qemu", "--serial-dir", str(d / "consoles"),
                           "--poll-timeout", "5"],
          env={"PYTHONUNBUFFERED": "1"})


def order_guests(state: LabState, settings: Settings, n: int) -> None:

    store = open_store(settings.db_url, migrate=False)
    try:
        admin = store.get_user("admin")
        if admin is None:
            raise LabError("the lab's admin user is missing; run `lab down` and `lab up`")
        ordering = Ordering(store, rules_check=check, clock=time.time, domain=settings.domain,
                            enqueue=lambda host, kind, payload, key: orders.enqueue(
                                store, host, kind, payload, key=key, now=time.time()))
        for i in range(1, n + 1):
            name = f"guest{i}"
            order = ordering.submit({"name": name, "profile": PROFILE, "host": HOST,
                                     "network": state.bridge}, admin, key=f"lab:{name}")
            # power control through the lab's agent: the system page's Reinstall works
            power: PowerStore = store  # type: ignore[assignment]  # SqlStore is both
            power.put_power_config(PowerConfig(system=order.system or name, driver="libvirt",
                                               address=HOST))
            state.guests.append({"name": name, "order": order.id})
            state.save()
    finally:
        store.close()


def boot_qemu_guests(state: LabState, settings: Settings, n: int) -> None:

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
            run(["ip", "netns", "exec", state.netns, "ip", "tuntap", "add", "dev", tap,
                 "mode", "tap"])
            ip("-n", state.netns, "link", "set", tap, "master", state.bridge)
            ip("-n", state.netns, "link", "set", tap, "up")
            disk = d / "images" / f"{name}.qcow2"
            run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"])
            guest: dict[str, Any] = {"name": name, "mac": mac, "tap": tap}
            state.guests.append(guest)
            spawn(state, f"qemu-{name}", [
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


def guest_states(state: LabState) -> list[dict[str, Any]]:
    """Each guest's progress, read from the appliance's store."""
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
                events = list(p.events)
                row.update(state=p.state, address=p.address, host=order.host,
                           since=order.created)
            else:
                system = store.get_system(g["name"])
                events = store.list_events(system_subject(g["name"]))
                st = derive_state([(e.kind, e.at) for e in events])[0]
                if system is not None and system.status == "installed":
                    st = "installed"
                ip = next((e.detail.get("ip") for e in reversed(events) if e.detail.get("ip")),
                          None)
                row.update(state=st, address=ip, since=events[0].at if events else None)
            if events:  # what it did last, for people (the progress display, `lab status`)
                row["activity"] = describe(events[-1].kind, events[-1].detail)
            if g.get("pid"):
                row["running"] = alive(int(g["pid"]))
            out.append(row)
    finally:
        store.close()
    return out
