"""``provisioner serve`` runs DHCP, DNS and TFTP as supervised worker processes
(``net/supervisor.py``).

In a test namespace, with real clients (curl/tftp-hpa for TFTP, dig for DNS, our scripted DHCP
probe and perfdhcp for DHCP):

* every role has its process(es), and they all answer;
* >= 10^5 garbage datagrams on ports 67, 69 and 53 leave every worker answering;
* a TFTP worker killed with SIGKILL is logged and restarted, and TFTP keeps answering meanwhile;
* the DHCP worker killed with SIGKILL under perfdhcp load is restarted: no acknowledged lease is
  lost, no address is given twice, and every timeline event that was stored is whole;
* Ctrl-C (SIGINT to the process group) stops everything within 5 s, nothing restarted (the
  appliance fixture stops it with SIGTERM the same way).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.main import build_core
from provisioner.models import Distro, Interface, Profile, System
from provisioner.net.dhcp import read_leases
from provisioner.settings import Settings, load
from tests.e2e.appliance import appliance
from tests.net.test_dhcp_perfdhcp import check_no_duplicates
from tests.net.workers import alive, flood, restarted, workers_of
from tests.netns import have_root_netns, lan
from tests.procs import wait_until

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or not shutil.which("dig")
                                 or not shutil.which("perfdhcp"),
                                 reason="needs root, ip netns, dig and perfdhcp")]

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
MAC = "52:54:00:ab:cd:01"


def _fill(tmp: Path, extra_macs: list[str] = ()):  # noqa: ANN202
    def fill(core: Core) -> None:
        (tmp / "k").write_bytes(b"kernel" * 1000)
        core.add_distro(Distro(name="fx", os_version="rhel9", kernel=str(tmp / "k"),
                               initrd=str(tmp / "k"), tree_url="http://10.77.0.1/tree"))
        core.add_profile(Profile(name="p", distro="fx", kickstart="rhel9-guest.ks"))
        core.add_system(System(name="m1", profile="p", interfaces=(Interface(mac=MAC, ip=CLIENT),)))
        for i, mac in enumerate(extra_macs):
            core.add_system(System(name=f"x{i}", profile="p", interfaces=(Interface(mac=mac),)))
    return fill


def _tftp_ok(client, n: int = 1) -> bool:  # noqa: ANN001
    for _ in range(n):
        r = client.run(["curl", "-sS", "--max-time", "10", f"tftp://{SERVER}/pxelinux.0"],
                       check=False, timeout=30)
        if r.returncode != 0 or r.stdout != "loader" * 50:
            return False
    return True


def test_workers_answer_survive_a_flood_restart_after_kill9_and_stop_on_sigterm(tmp_path) -> None:
    with lan("wk") as (server, client):
        client.ip("link", "set", "eth0", "address", MAC)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        (tmp_path / "tftpboot").mkdir()
        (tmp_path / "tftpboot" / "pxelinux.0").write_bytes(b"loader" * 50)
        with appliance(server, tmp_path, SERVER, _fill(tmp_path), interfaces=("br0",),
                       tftp_enabled=True, dhcp_enabled=True, dns_enabled=True, tftp_workers=2,
                       metrics_token="mt",
                       dhcp_ranges=("10.77.0.100,10.77.0.200,255.255.255.0,1h",)) as app:
            workers = wait_until(lambda: (w := workers_of(app.proc.pid)) and len(w) == 4 and w,
                                 30, "four workers")
            assert sorted(workers) == ["dhcp-0", "dns-0", "tftp-0", "tftp-1"], workers

            def all_answer() -> None:
                assert _tftp_ok(client, 4), app.log()
                dns = client.run(["dig", f"@{SERVER}", "+short", "+time=2", "+tries=3",
                                  "m1.lab.example"], timeout=30)
                assert dns.stdout.strip().splitlines()[-1:] == [CLIENT], dns.stdout + app.log()
                r = client.run(["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5",
                                "-T", "2", "-s", "/bin/true"], timeout=60, check=False)
                assert f"lease of {CLIENT} obtained" in r.stdout + r.stderr, r.stderr + app.log()

            all_answer()
            assert flood(client, SERVER, 100_000) >= 100_000
            assert workers_of(app.proc.pid) == workers  # nobody died of it
            all_answer()

            os.kill(workers["tftp-0"], signal.SIGKILL)
            assert _tftp_ok(client, 4), app.log()  # the other worker serves meanwhile
            wait_until(lambda: restarted(app.log(), "tftp-0"), 30, "tftp-0 restarted")
            now = workers_of(app.proc.pid)
            assert now["tftp-0"] != workers["tftp-0"] and now["tftp-1"] == workers["tftp-1"]
            assert _tftp_ok(client, 4)
            metrics = client.run(["curl", "-sS", "-H", "Authorization: Bearer mt",
                                  f"{app.url}/metrics"], timeout=30).stdout
            assert 'provisioner_worker_restarts_total{worker="tftp-0"} 1.0' in metrics, metrics

            before = app.log().count("restarting")
            os.killpg(app.proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group
            started = time.monotonic()
            app.proc.wait(timeout=5)
            assert time.monotonic() - started < 5.0
            assert not [p for p in now.values() if alive(p)], app.log()
            assert app.log().count("restarting") == before  # stopped, not restarted


RANGE = ("10.77.1.0,10.77.250.255,255.255.0.0,1h",)


def test_kill9_of_the_dhcp_worker_under_load_loses_no_ack_and_no_event(tmp_path) -> None:
    probe_macs = [f"02:00:00:aa:00:{i:02x}" for i in range(40)]  # systems: they get events
    with lan("wd", "10.77.0.1/16") as (server, client):
        client.ip("addr", "add", "10.77.0.2/16", "dev", "eth0")
        client.ip("addr", "add", "10.77.0.3/16", "dev", "eth0")
        with appliance(server, tmp_path, SERVER, _fill(tmp_path, probe_macs),
                       interfaces=("br0",), dhcp_enabled=True, dhcp_ranges=RANGE) as app:
            first = wait_until(lambda: workers_of(app.proc.pid).get("dhcp-0"), 30, "DHCP worker")
            perf = client.popen(["perfdhcp", "-4", "-l", "10.77.0.2", "-r", "300", "-R",
                                 "20000", "-p", "25", SERVER])
            acks = tmp_path / "acks.txt"
            probe = client.popen([sys.executable, "-m", "tests.net.dhcp_probe", "dora",
                                  "--server", SERVER, "--giaddr", "10.77.0.3", "--count", "300",
                                  "--out", str(acks), "--prefix", "02:00:00:aa"],
                                 cwd=Path(__file__).resolve().parents[2])
            wait_until(lambda: acks.exists() and len(acks.read_text().splitlines()) >= 60, 60,
                       "60 ACKs before the kill")
            os.kill(first, signal.SIGKILL)  # mid-run, no chance to flush anything
            wait_until(lambda: restarted(app.log(), "dhcp-0"), 30, "dhcp-0 restarted")
            out, _ = probe.communicate(timeout=240)
            assert b"DONE" in out, out
            perf.communicate(timeout=120)
            acked = dict(line.split() for line in acks.read_text().splitlines())
            assert len(acked) >= 250
            check = client.run([sys.executable, "-m", "tests.net.dhcp_probe", "reboot",
                                "--server", SERVER, "--giaddr", "10.77.0.3", "--infile",
                                str(acks)], timeout=300, cwd=Path(__file__).resolve().parents[2])
            lines = check.stdout.splitlines()
            assert len(lines) == len(acked)
            assert all(x.startswith("ACK ") and x.split()[2] == x.split()[3] for x in lines), [
                x for x in lines if not x.startswith("ACK ")][:5]
        leases = read_leases(Settings(data_dir=str(tmp_path / "data")))
        check_no_duplicates(leases)
        by_mac = {x["mac"]: x["ip"] for x in leases}
        assert all(by_mac.get(mac) == ip for mac, ip in acked.items())
        core = build_core(load(str(app.config), environ={}), migrate=False)
        try:
            events = [e for i in range(len(probe_macs)) for e in core.timeline(f"x{i}")]
        finally:
            core.store.close()
    dhcp = [e for e in events if e.kind.startswith("dhcp")]
    assert dhcp, "no DHCP event reached the store"
    for e in dhcp:  # whole events only: every field of the detail is there
        assert set(e.detail) >= {"mac", "ip", "bootfile", "next_server", "install"}, e
        assert e.detail["mac"] in probe_macs and e.at > 0
