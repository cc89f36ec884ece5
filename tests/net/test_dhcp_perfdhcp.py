"""perfdhcp (Kea's load generator, relay-style) against our server; kill -9 and restart."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from collections import Counter

import pytest

from provisioner.net.dhcp import read_leases
from provisioner.settings import Settings
from tests.net.dhcp_helpers import start_server
from tests.netns import have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns() or shutil.which("perfdhcp") is None,
                                 reason="needs root, ip netns and perfdhcp (kea-admin)")]

RANGE = {"dhcp_ranges": ["10.77.1.0,10.77.250.255,255.255.0.0,1h"]}


def perfdhcp_stats(text: str) -> dict[str, int]:
    """Sent/received counts of the DISCOVER-OFFER and REQUEST-ACK phases."""
    sent = [int(x) for x in re.findall(r"sent packets: (\d+)", text)]
    received = [int(x) for x in re.findall(r"received packets: (\d+)", text)]
    assert len(sent) == 2 and len(received) == 2, text
    return {"discover": sent[0], "offer": received[0], "request": sent[1], "ack": received[1]}


def check_no_duplicates(leases: list[dict]) -> None:
    ips = Counter(x["ip"] for x in leases)
    macs = Counter(x["mac"] for x in leases)
    assert not [ip for ip, n in ips.items() if n > 1], "address leased twice"
    assert not [m for m, n in macs.items() if n > 1], "client holds two addresses"


@pytest.fixture
def relay_lan():
    with lan("pf", "10.77.0.1/16") as (server, client):
        client.ip("addr", "add", "10.77.0.2/16", "dev", "eth0")
        client.ip("addr", "add", "10.77.0.3/16", "dev", "eth0")
        yield server, client


def test_perfdhcp_thousands_of_clients(relay_lan, tmp_path) -> None:
    server, client = relay_lan
    proc = start_server(server, tmp_path, {**RANGE, "data_dir": str(tmp_path / "data")})
    # a modest rate: this checks correctness under load (throughput lives in bench/)
    out = client.run(["perfdhcp", "-4", "-l", "10.77.0.2", "-r", "250", "-R", "3000", "-p", "12",
                      "10.77.0.1"], timeout=120, check=False)
    stats = perfdhcp_stats(out.stdout)
    assert stats["request"] > 2000, out.stdout
    assert stats["ack"] >= 0.9 * stats["request"], out.stdout
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    leases = read_leases(Settings(data_dir=str(tmp_path / "data")))
    check_no_duplicates(leases)
    assert len(leases) >= 0.9 * min(3000, stats["ack"])  # perfdhcp re-uses its 3000 MACs


def test_kill9_during_perfdhcp_loses_no_ack_and_leases_nothing_twice(relay_lan, tmp_path) -> None:
    server, client = relay_lan
    settings = {**RANGE, "data_dir": str(tmp_path / "data")}
    first = start_server(server, tmp_path, settings, name="first")
    load = client.popen(["perfdhcp", "-4", "-l", "10.77.0.2", "-r", "300", "-R", "20000",
                         "-p", "25", "10.77.0.1"])
    acks = tmp_path / "acks.txt"
    probe = client.popen([sys.executable, "-m", "tests.net.dhcp_probe", "dora", "--server",
                          "10.77.0.1", "--giaddr", "10.77.0.3", "--count", "300", "--out",
                          str(acks), "--prefix", "02:00:00:aa"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not acks.exists() or
                                           len(acks.read_text().splitlines()) < 60):
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)  # mid-run, no chance to flush anything
    first.wait(timeout=10)
    time.sleep(1.0)
    second = start_server(server, tmp_path, settings, name="second")
    out, _ = probe.communicate(timeout=240)
    assert b"DONE" in out, out
    load.communicate(timeout=120)
    acked = dict(line.split() for line in acks.read_text().splitlines())
    assert len(acked) >= 250
    # every acknowledged lease survived: the restarted server re-acknowledges the same address
    check = client.run([sys.executable, "-m", "tests.net.dhcp_probe", "reboot", "--server",
                        "10.77.0.1", "--giaddr", "10.77.0.3", "--infile", str(acks)], timeout=300)
    lines = check.stdout.splitlines()
    assert len(lines) == len(acked)
    assert all(x.startswith("ACK ") and x.split()[2] == x.split()[3] for x in lines), [
        x for x in lines if not x.startswith("ACK ")][:5]
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=20)
    leases = read_leases(Settings(data_dir=str(tmp_path / "data")))
    check_no_duplicates(leases)
    by_mac = {x["mac"]: x["ip"] for x in leases}
    assert all(by_mac.get(mac) == ip for mac, ip in acked.items())
    assert len(leases) > len(acked)  # perfdhcp's clients are in the table too
