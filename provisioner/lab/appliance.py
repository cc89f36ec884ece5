"""The lab's appliance: its settings file, its seed data (distro, profile, admin, host token),
starting and restarting ``provisioner serve`` in the namespace, and what it reports."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from provisioner.core import orders
from provisioner.core.users import Users
from provisioner.lab.procs import dead, python_argv, spawn, stop, wait_for
from provisioner.lab.state import DISTRO, HOST, HTTP_PORT, PROFILE, LabError, LabState, lab_dir
from provisioner.main import build_core
from provisioner.models import Distro, Profile, VmDefaults
from provisioner.settings import Settings
from provisioner.store import open_store


def settings_toml(state: LabState) -> str:
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


def seed(state: LabState, settings: Settings) -> str:
    """Distro, profile, admin user and host token, written before the appliance starts;
    returns the local agent's host token."""
    core = build_core(settings)
    try:
        # the lab installer never reads the tree, but the kickstart names one: a kickstart
        # without its install source is invalid for the release and is not served
        core.add_distro(Distro(name=DISTRO, os_version="rhel9", breed="redhat",
                               tree_url=f"{state.appliance_url.rstrip('/')}/lab-tree/",
                               kernel_options="console=ttyS0,115200 panic=5"))
        core.add_profile(Profile(name=PROFILE, distro=DISTRO,
                                 vm=VmDefaults(ram_mb=512, vcpus=1, disk_gb=1, bridge=state.bridge,
                                               hypervisor="kvm", virt_type="hvm",
                                               disk_bus="virtio")))
        Users(core.store).create("admin", state.admin_password, "admin")
        return orders.create_host_token(core.store, HOST, now=time.time())
    finally:
        core.store.close()


def start_appliance(state: LabState) -> None:
    config = Path(state.dir) / "provisioner.toml"
    spawn(state, "appliance", [*python_argv(), "-m", "provisioner.cli", "--config", str(config),
                               "serve"], env={"PYTHONUNBUFFERED": "1"})


def restart_appliance(data_dir: str | Path, say: Callable[[str], None] = print) -> LabState:
    """Stop the lab's appliance and start it again on the same data (orders, leases, users):
    what an upgrade or a crash does to a running appliance."""
    state = LabState.load(lab_dir(data_dir))
    if state is None:
        raise LabError("no lab is up")
    pid = state.pids.pop("appliance", None)
    if pid:
        stop([pid])
    start_appliance(state)
    wait_for("the appliance to answer again", lambda: http_ok(state.ui_url + "ui/login"), 120,
             dead=lambda: dead(state))
    say(f"lab: appliance restarted (pid {state.pids['appliance']})")
    return state


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def host_seen(settings: Settings) -> bool | None:
    """None until the agent registered; then whether it reported libvirt domain types."""
    store = open_store(settings.db_url, migrate=False)
    try:
        host = store.get_host(HOST)
        if not host or not host.facts:
            return None
        return bool(host.capacity.get("domain_types"))
    finally:
        store.close()
