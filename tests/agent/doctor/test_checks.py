"""``provisioner-agent doctor`` on fixture roots: a healthy Xen host and a healthy KVM host
report nothing; one change to the root (the situation the guide describes) makes exactly the
row it names appear, with its details. Every catalogue row with a fact check has a case here.
The fixture hosts' command output is canned (tests/agent/fixtures/*/commands.json)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agent import cli
from agent.doctor.cli import doctor_report
from agent.facts.probe import probe
from provisioner.platform.doctor import catalogue
from tests.agent.fixtures.hosts import copy_root, runner_for

HOSTS_OK = "127.0.0.1               localhost.localdomain localhost\n"  # seed 31.9, correct
HOSTS_BAD = ("# Do not remove the following line, or various programs\n"  # seed 31.9, incorrect
             "# that require network functionality will fail.\nlocalhost.localdomain localhost\n")
GIB = 2**30


def _statvfs(free: int) -> Callable[[str], os.statvfs_result]:
    return lambda _p: os.statvfs_result((4096, 4096, 0, 0, free // 4096, 0, 0, 0, 0, 255))


def _write(root: Path, rel: str, text: str | bytes) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)


def _healthy(tmp: Path, host: str) -> Path:
    """The fixture host with its daemons running, /etc/hosts as the guide wants it."""
    root = copy_root(host, tmp)
    daemons = ["ntpd", "xend"] if host == "rhel5-xen" else ["ntpd", "libvirtd"]
    for pid, name in enumerate(daemons, 101):
        _write(root, f"proc/{pid}/comm", name + "\n")
    _write(root, "etc/hosts", HOSTS_OK)
    if host == "rhel54-kvm":
        _write(root, "etc/libvirt/libvirtd.conf", "")
    return root


def _report(root: Path, host: str, free: int = 50 * GIB) -> dict:
    facts = probe(root, runner_for(host), statvfs=_statvfs(free))
    return doctor_report(str(root), facts=facts)


def _sed(root: Path, rel: str, old: str, new: str) -> None:
    p = root / rel
    text = p.read_text()
    assert old in text, (rel, old)
    p.write_text(text.replace(old, new))


def _guests(n: int) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        for i in range(n):
            _write(root, f"etc/xen/g{i}", f"name = 'g{i}'\nmemory = 512\n"
                   f"disk = ['file:/var/lib/xen/images/g{i}.img,xvda,w']\n"
                   "vif = ['mac=00:16:3e:00:00:01, bridge=virbr0']\n")
    return make


def _domain(name: str, body: str) -> str:
    return (f"<domain type='kvm'><name>{name}</name><memory>524288</memory><devices>{body}"
            "</devices></domain>")


XEND_OPEN = "\n(xend-relocation-server yes)\n(xend-relocation-hosts-allow '')\n"

#: (row, fixture host, change to the healthy root, details the finding carries, free bytes)
CASES: list[tuple[str, str, Callable[[Path], None], dict[str, str]]] = [
    ("E1", "rhel5-xen", lambda r: (r / "proc/102/comm").unlink(), {}),
    ("E1b", "rhel54-kvm", lambda r: (_write(r, "usr/sbin/xend", ""),
                                     _write(r, "proc/modules", "bridge 5 0 - Live 0\n")), {}),
    ("E2", "rhel5-xen", lambda r: _write(r, "etc/sysconfig/kernel",
                                         "UPDATEDEFAULT=yes\nDEFAULTKERNEL=kernel\n"),
     {"default_kernel": "kernel"}),
    ("E6", "rhel5-xen", lambda r: _write(r, "etc/hosts", HOSTS_BAD), {}),
    ("E7", "rhel5-xen", lambda r: _write(r, "etc/xen/mySQL01", (
        Path(__file__).parents[1] / "xen/data/mySQL01").read_text().replace(
        "bridge=xenbr0", "bridge=xenbr1")), {"guest": "mySQL01", "bridge": "xenbr1"}),
    ("E7", "rhel54-kvm", lambda r: _write(r, "etc/libvirt/qemu/web1.xml", _domain(
        "web1", "<interface type='bridge'><source bridge='br9'/></interface>")),
     {"guest": "web1", "bridge": "br9"}),
    ("E8", "rhel5-xen", lambda r: _write(r, "etc/xen/win2k3xen12", b"name = '\xc0'\n"),
     {"guest": "win2k3xen12", "line": "1"}),
    ("E10", "rhel5-xen", _guests(9), {"file_disks": "9"}),
    ("E12", "rhel5-xen", lambda r: _write(r, "proc/xen/capabilities", ""), {"nic": "eth0"}),
    ("E15", "rhel5-xen", lambda r: _write(r, "proc/modules", "".join(   # all four loaded
        f"{m} 1 0 - Live 0\n" for m in ("xen_vnif", "xen_platform_pci", "xen_balloon",
                                       "xen_vbd"))), {}),
    ("E17", "rhel5-xen", lambda r: (  # T42 lsmod sample less xen_vbd; T29 /proc/partitions
        _write(r, "proc/modules", "xen_vnif 28385 0 - Live 0\nxen_balloon 15209 1 xen_vnif, "
               "Live 0\nxen_platform_pci 98784 3 xen_vnif,xen_balloon, Live 0\n"),
        _write(r, "proc/partitions", "major minor  #blocks   name \n\n 202    16  104857600"
               "  xvdb\n   3     0    8175688  hda\n")),
     {"missing": "xen-vbd", "load_args": "--load xen_vbd"}),
    ("E16", "rhel54-kvm", lambda r: _write(r, "etc/libvirt/qemu/web1.xml", _domain(
        "web1", "<interface type='network'><model type='rtl8139'/></interface>")),
     {"guest": "web1"}),
    ("H1", "rhel54-kvm", lambda r: _sed(r, "proc/cpuinfo", " vmx", ""), {}),
    ("H1b", "rhel54-kvm", lambda r: _sed(r, "proc/cpuinfo", " vmx", " hypervisor"), {}),
    ("H2", "rhel54-kvm", lambda r: _write(r, "proc/modules", "kvm 222368 0 - Live 0\n"), {}),
    ("H3", "rhel54-kvm", lambda r: _write(r, "proc/modules", "bridge 5 0 - Live 0\n"),
     {"extension": "vmx", "module": "kvm_intel"}),
    ("H4", "rhel54-kvm", lambda r: (r / "proc/102/comm").unlink(), {}),
    ("H5", "rhel54-kvm", lambda r: (_write(r, "sys/fs/selinux/enforce", "1"), _write(
        r, "etc/libvirt/qemu/db.xml", _domain(
            "db", "<disk type='file'><source file='/srv/vm/db.img'/></disk>")),
        _write(r, "srv/vm/db.img", "")), {"path": "/srv/vm/db.img", "directory": "/srv/vm"}),
    ("H6", "rhel54-kvm", lambda r: None, {"free_gib": "1.0", "min_gib": "6"}),
    ("H7", "rhel5-xen", lambda r: _write(r, "etc/xen/xend-config.sxp", (
        r / "etc/xen/xend-config.sxp").read_text() + XEND_OPEN), {"port": "8002"}),
    ("H8", "rhel5-xen", lambda r: _write(r, "etc/xen/xend-config.sxp",
                                         "(xend-http-server no\n(dom0-min-mem 256)\n"), {}),
    ("H11", "rhel54-kvm", lambda r: _write(r, "etc/exports", "/var/lib/libvirt/images "
                                           "*.example.com(rw,no_root_squash,async)\n"
                                           "/var/lib/xen/ *(rw)  # shared\n"),
     {"path": "/var/lib/xen"}),
    ("H12", "rhel5-xen", lambda r: _write(r, "etc/xen/xend-config.sxp", (
        r / "etc/xen/xend-config.sxp").read_text() + "(vnc-listen '0.0.0.0')\n"),
     {"listen": "0.0.0.0"}),
    ("H9", "rhel54-kvm", lambda r: (r / "proc/101/comm").unlink(), {}),
    ("H10", "rhel54-kvm", lambda r: _sed(r, "proc/cpuinfo", " constant_tsc", ""), {}),
]


def test_every_check_row_has_a_case() -> None:
    assert {e.id for e in catalogue() if e.check} == {c[0] for c in CASES}


@pytest.mark.parametrize("host", ["rhel5-xen", "rhel54-kvm"])
def test_healthy_host_reports_nothing(tmp_path: Path, host: str) -> None:
    rep = _report(_healthy(tmp_path, host), host)
    assert (rep["status"], rep["findings"]) == ("healthy", [])


@pytest.mark.parametrize("row,host,change,details", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_row_found_on_fixture_root(tmp_path: Path, row: str, host: str,
                                   change: Callable[[Path], None],
                                   details: dict[str, str]) -> None:
    root = _healthy(tmp_path, host)
    change(root)
    rep = _report(root, host, free=GIB if row == "H6" else 50 * GIB)
    found = [f for f in rep["findings"] if f["id"] == row]
    assert found, [f["id"] for f in rep["findings"]]
    got = found[0]["details"]
    assert {k: got.get(k) for k in details} == details
    assert found[0]["evidence"]
    assert "{" not in found[0]["fix"] + found[0]["cause"] + (found[0]["plan"] or "")
    assert rep["status"] == ("healthy" if found[0]["severity"] == "info" else "findings")


@pytest.mark.parametrize("host,change", [
    ("rhel5-xen", _guests(8)),                                           # T28: 8 loops suffice
    ("rhel5-xen", lambda r: (_write(r, "proc/xen/capabilities", ""),    # T46: aliased PV NIC
                             _write(r, "etc/modprobe.conf", "alias eth0 xen-vnif\n"))),
    ("rhel5-xen", lambda r: (_guests(9)(r), _write(                     # the plan's own file
        r, "etc/modprobe.d/provisioner-agent.conf", "options loop max_loop=64\n"))),
    ("rhel5-xen", lambda r: _write(r, "etc/xen/xend-config.sxp", (     # restricted relocation
        r / "etc/xen/xend-config.sxp").read_text() + XEND_OPEN.replace("''", "'^peer$'"))),
    ("rhel54-kvm", lambda r: (_write(r, "sys/fs/selinux/enforce", "1"), _write(
        r, "etc/libvirt/qemu/db.xml", _domain(   # images in the labelled directory
            "db", "<disk type='file'><source file='/var/lib/libvirt/images/db.img'/></disk>"
                  "<interface type='network'><model type='virtio'/></interface>")))),
    ("rhel54-kvm", lambda r: (_sed(r, "proc/cpuinfo", " constant_tsc", ""),     # H10 fixed
                              _write(r, "proc/cmdline", "ro processor.max_cstate=1"))),
    ("rhel54-kvm", lambda r: _write(r, "proc/101/comm", "chronyd\n")),      # NTP by chronyd
    ("rhel54-kvm", lambda r: ((r / "proc/102/comm").unlink(), _write(   # socket-activated
        r, "etc/systemd/system/sockets.target.wants/libvirtd.socket", "[Socket]\n"))),
    ("rhel54-kvm", lambda r: _write(r, "etc/exports", "/var/lib/libvirt/images "   # D1 §9.5
                                    "*.example.com(rw,no_root_squash,async)\n/var/lib/xenfoo *\n")),
    ("rhel5-xen", lambda r: _write(r, "etc/xen/xend-config.sxp", (   # TLS on the VNC consoles
        r / "etc/xen/xend-config.sxp").read_text() + "(vnc-listen '0.0.0.0')\n(vnc-tls 1)\n")),
], ids=["8-loop-disks", "vnif-alias", "max-loop-in-modprobe.d", "relocation-restricted",
        "labelled-images",
        "max-cstate", "chronyd", "libvirtd-socket", "images-exported", "vnc-tls"])
def test_fixed_situations_stay_healthy(tmp_path: Path, host: str,
                                       change: Callable[[Path], None]) -> None:
    root = _healthy(tmp_path, host)
    change(root)
    rep = _report(root, host)
    assert rep["findings"] == [], [f["id"] for f in rep["findings"]]


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_cli_exit_status_json_and_nothing_changed(tmp_path: Path, capsys) -> None:
    root = _healthy(tmp_path, "rhel5-xen")
    assert cli.main(["doctor", "--root", str(root)]) == 0
    assert "healthy" in capsys.readouterr().out
    (root / "proc/101/comm").unlink()                          # no ntpd
    _write(root, "etc/xen/xend-config.sxp", "(xend-http-server no\n")
    log = tmp_path / "xend.log"
    log.write_text("DEBUG (balloon:133) Balloon: 558432 KiB free; 0 to scrub; need 1048576;\n")
    before = _tree(root)
    assert cli.main(["doctor", "--root", str(root), "--json", "--log", str(log)]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["status"] == "findings"
    assert [f["id"] for f in rep["findings"]] == ["E3", "H8", "H9"]   # errors first
    assert rep["findings"][1]["plan"] == \
        "provisioner-agent xen check /etc/xen/xend-config.sxp"
    assert "xend-config.sxp" in rep["findings"][1]["cause"] and rep["facts"]["xend"] is None
    assert _tree(root) == before                               # doctor never changes the host


def test_cli_cannot_run_is_2(tmp_path: Path, capsys) -> None:
    assert cli.main(["doctor", "--root", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert cli.main(["doctor", "--root", str(tmp_path), "--log", str(tmp_path / "x.log")]) == 2
    assert "no such log file" in capsys.readouterr().err
    root = _healthy(tmp_path, "rhel54-kvm")
    assert cli.main(["doctor", "--root", str(root), "--send", "http://127.0.0.1:9",
                     "--token-file", str(tmp_path / "missing.token")]) == 2
    assert "report not sent" in capsys.readouterr().err.splitlines()[-1]
    assert cli.main(["doctor", "--root", str(root), "--send", "ftp://x", "--token", "t"]) == 2
    assert "bad appliance URL" in capsys.readouterr().err


def test_many_guest_consoles_do_not_crowd_out_the_system_log(tmp_path: Path) -> None:
    """The log budget (doctor.toml [logs] max_files) is shared per glob: 100 guest console logs
    still leave /var/log/messages read (where "kvm: disabled by bios" appears)."""
    root = _healthy(tmp_path, "rhel54-kvm")
    for i in range(100):
        _write(root, f"var/log/xen/console/guest-g{i}.log", "login:\n")
    _write(root, "var/log/messages", "Dec  3 17:00:00 hv kernel: kvm: disabled by bios\n")
    rep = _report(root, "rhel54-kvm")
    assert "/var/log/messages" in rep["facts"]["logs_read"]
    assert len(rep["facts"]["logs_read"]) <= 64
    assert [f["id"] for f in rep["findings"]] == ["H2"]
