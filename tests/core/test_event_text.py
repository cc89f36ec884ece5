"""Timeline events for people (issue 15 item 8): one sentence per kind, never raw JSON."""

from __future__ import annotations

import pytest

from provisioner.core.event_text import TEXT, describe, duration, size
from provisioner.models import EventKind

# (kind, detail, sentence): what the appliance's services and the agent really record
CASES = [
    (EventKind.DHCP_ACK, {"mac": "52:54:00:00:00:01", "ip": "10.79.0.100",
                          "bootfile": "undionly.kpxe", "next_server": "10.79.0.1",
                          "install": True},
     "DHCP gave 10.79.0.100, boot loader undionly.kpxe from 10.79.0.1"),
    (EventKind.DHCP_OFFER, {"ip": "10.79.0.100", "bootfile": None},
     "DHCP offered 10.79.0.100"),
    (EventKind.PROXY_ACK, {"bootfile": "bootx64.efi", "next_server": "10.0.0.1"},
     "proxyDHCP: boot loader bootx64.efi from 10.0.0.1"),
    (EventKind.DHCP6_REPLY, {"mac": "52:54:00:00:00:01", "ip": ["fd00:77::100"]},
     "DHCPv6 gave fd00:77::100"),
    (EventKind.DHCP6_ADVERTISE, {"ip": []}, "DHCPv6 offered no address"),
    (EventKind.BOOT_FILE_MISSING, {"arch": 11, "file": "shim/shimaa64.efi"},
     "no boot file for architecture 11: shim/shimaa64.efi is not in the TFTP root "
     "(provisioner bootloaders install)"),
    (EventKind.BOOT_CONFIG, {"kind": "ipxe", "mac": "52:54:00:00:00:01", "netboot": True},
     "iPXE boot config served: install"),
    (EventKind.BOOT_CONFIG, {"kind": "pxelinux", "netboot": False},
     "pxelinux boot config served: boot from the local disk (netboot off)"),
    (EventKind.TFTP, {"path": "assets/lab/kernel", "outcome": "ok", "bytes": 9_437_184,
                      "seconds": 2.0, "blksize": 1468, "retransmits": 3},
     "TFTP sent kernel assets/lab/kernel: 9.0 MiB in 2.0 s (4.5 MiB/s), blksize 1468, "
     "3 retransmitted"),
    (EventKind.TFTP, {"path": "pxelinux.0", "outcome": "error", "bytes": 512,
                      "error": "timed out"},
     "TFTP pxelinux.0 failed after 512 B: timed out"),
    (EventKind.HTTP_ASSET, {"path": "/assets/rhel9/initrd", "bytes": 1024, "seconds": 0.25,
                            "range": "bytes=0-1023"},
     "HTTP sent initrd /assets/rhel9/initrd: 1.0 KiB in 0.2 s (4.0 KiB/s) (range bytes=0-1023)"),
    (EventKind.KICKSTART, {"template": "rhel9-guest.ks", "bytes": 2100},
     "kickstart rhel9-guest.ks fetched (2.1 KiB)"),
    (EventKind.RENDER_ERROR, {"kind": "ks", "template": "x.ks", "line": 3, "message": "boom"},
     "ks template x.ks line 3 failed: boom"),
    (EventKind.CALLBACK_DONE, {"status": "installed", "netboot": False},
     "installer finished; netboot switched off"),
    (EventKind.ORDER_PLACED, {"host": "lab-host", "warnings": ["a"]},
     "placed on lab-host (1 warning)"),
    (EventKind.GUEST_STARTED, {"uuid": "u", "host": "hv1"}, "guest started on hv1"),
    (EventKind.GUEST_STATE, {"from": "running", "to": "shutoff"}, "guest running -> shutoff"),
    (EventKind.GUEST_FAILED, {"error": "no pool", "code": "DISK_OVER_POOL"},
     "guest failed: no pool (DISK_OVER_POOL)"),
    (EventKind.MIGRATION_DONE, {"from": "a", "to": "b", "total_s": 12.5, "downtime_ms": 40},
     "migration a -> b done in 12 s (40 ms down)"),
    (EventKind.POWER_ACTION, {"action": "cycle", "by": "admin", "result": "ok", "seconds": 0.42},
     "power cycle by admin (0.4 s)"),
    (EventKind.POWER_ACTION, {"action": "boot", "device": "pxe", "once": True, "by": "reinstall"},
     "boot device set to pxe for the next boot by reinstall"),
    (EventKind.POWER_FAILED, {"action": "on", "by": "admin", "error": "connection refused",
                              "cause": "unreachable"},
     "power on by admin failed: connection refused [unreachable]"),
    (EventKind.POWER_CONFIGURED, {"by": "admin", "driver": "redfish",
                                  "fields": ["address", "password"], "warnings": []},
     "power control set to redfish by admin (address, password)"),
    (EventKind.POWER_CONFIGURED, {"by": "admin", "driver": None, "fields": ["removed"]},
     "power control removed by admin"),
    (EventKind.POWER_STATE, {"from": None, "to": "on"}, "power unknown -> on"),
    (EventKind.REINSTALL_STARTED, {"by": "ops", "boot": "pxe", "timeout": 1800},
     "reinstall started by ops (boot pxe, up to 30 min 00 s)"),
    (EventKind.REINSTALL_PROGRESS, {"stage": "cycling", "message": "power-cycled"},
     "reinstall: cycling, power-cycled"),
    (EventKind.REINSTALL_DONE, {"by": "ops", "seconds": 312.4},
     "reinstalled in 5 min 12 s by ops; boots from its disk again"),
    (EventKind.REINSTALL_FAILED, {"stage": "cycling", "reason": "no Reset action",
                                  "restored": {"netboot": False, "boot": "disk"}},
     "reinstall failed at cycling: no Reset action; put back: netboot off, boot from disk"),
    ("agent.custom", {"x": 1}, "agent.custom: x=1"),
    ("agent.bare", {}, "agent.bare"),
]


@pytest.mark.parametrize("kind,detail,text", CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                          enumerate(CASES)])
def test_each_kind_reads_as_a_sentence(kind, detail, text) -> None:
    assert describe(kind, detail) == text


def test_every_event_kind_has_a_sentence() -> None:
    assert set(EventKind) <= set(TEXT)


@pytest.mark.parametrize("kind", list(EventKind))
def test_hostile_details_never_raise(kind) -> None:
    for detail in ({}, None, {"bytes": "lots", "seconds": None, "warnings": 3, "paths": 7},
                   {"fields": "x", "from": {"a": 1}}):
        assert isinstance(describe(kind, detail), str)


def test_units() -> None:
    assert [size(n) for n in (0, 1023, 1024, 8_500_000, 3 * 2**30)] == \
        ["0 B", "1023 B", "1.0 KiB", "8.1 MiB", "3.0 GiB"]
    assert [duration(s) for s in (0.04, 12, 185, 43_190)] == \
        ["0.0 s", "12 s", "3 min 05 s", "11 h 59 min"]
