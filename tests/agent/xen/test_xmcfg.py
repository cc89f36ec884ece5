"""/etc/xen/<guest>: read without executing, the setters and rules of Tables 27.2-27.4, render,
edit as a plan, and the seed's defective examples refused line by line (D2 §7, §12 oracles
1-6 and 22-34; E §23 and T14-T19, T47)."""

from __future__ import annotations

import ast
import random
import re
import uuid as uuidlib
from pathlib import Path

import pytest

from agent import cli
from agent.guest.ids import random_mac
from agent.plan.steps import PlanError
from agent.plan.xencfg import XenCfgWant, plan_xencfg
from agent.xen import specs
from agent.xen.xmcfg import (
    XenCfgError,
    XmCfgEdit,
    parse_xmcfg,
    render_xmcfg,
    resolve_config,
    set_bool,
    set_float,
    set_int,
)
from provisioner.platform.xencfg import xen_defaults
from tests.agent.fixtures.hosts import copy_root

DATA = Path(__file__).resolve().parent / "data"
PV = (DATA / "rhel5vm01").read_text()
FV = (DATA / "rhel5u5-x86_64").read_text()


# ---- D2 oracles 1-6: UUID, MAC, units ------------------------------------------------------------

def test_uuid_normalised_and_validated() -> None:
    assert specs.normalize_uuid("4a4c59a7ee3fc78196e4288f2862f011") == \
        "4a4c59a7-ee3f-c781-96e4-288f2862f011"
    assert specs.normalize_uuid("a984a14f-4191-4d14-868e-329906b211e5") == \
        "a984a14f-4191-4d14-868e-329906b211e5"
    with pytest.raises(specs.SpecError):                      # E T14: 'o' is not hex
        specs.normalize_uuid("b10372f9-91d7-ao5f-12ff-372100c99af5")
    a, b = str(uuidlib.uuid4()), str(uuidlib.uuid4())          # oracle 4: generated, distinct
    assert a != b and specs.normalize_uuid(a) == a


def test_xen_mac_rule_e_t11_t12() -> None:
    rng = random.Random(14)
    macs = [random_mac("xen", rng.randint) for _ in range(10000)]
    assert all(re.fullmatch(r"00:16:3e:[0-7][0-9a-f](:[0-9a-f]{2}){2}", m) for m in macs)
    for octets, want in (([0x20, 0xB0, 0x11], "00:16:3e:20:b0:11"),
                         ([0, 0, 0], "00:16:3e:00:00:00"),
                         ([0x7F, 0xFF, 0xFF], "00:16:3e:7f:ff:ff")):
        it = iter(octets)
        assert random_mac("xen", lambda lo, hi, it=it: next(it)) == want


def test_units() -> None:
    assert specs.kib_to_mib(512000) == 500 and specs.mib_to_kib(500) == 512000
    assert specs.parse_xen_size("800M") == 800 * 2**20
    assert specs.parse_xen_size("2G") == 2 * 2**30 and specs.parse_xen_size("4G") == 4 * 2**30
    assert specs.parse_xen_size("1024") == 1024 * 1024            # no suffix: KiB
    assert specs.parse_xen_size("512B") == 512
    with pytest.raises(specs.SpecError):
        specs.parse_xen_size("10X")


# ---- D2 oracles 22-34 -------------------------------------------------------------------------

def test_defaults_of_table_27_4() -> None:
    d = xen_defaults()
    want = {"memory": 128, "vcpus": 1, "builder": "linux", "boot": "c", "interface": "eth0",
            "dhcp": "off", "vncunused": 1, "nics": -1, "shadow_memory": 0, "pae": 0, "acpi": 0,
            "apic": 0, "ramdisk": "", "extra": "", "root": "", "device_model": "", "disk": [],
            "vif": [], "pci": [], "vfb": [], "uuid": None, "kernel": None, "bootloader": None,
            "on_poweroff": None}
    assert {k: d[k] for k in want} == want


def test_set_bool_int_float() -> None:
    assert [set_bool("k", v) for v in ("yes", "y", "no", "n", 1, 0)] == [1, 1, 0, 0, 1, 0]
    with pytest.raises(specs.SpecError, match="maybe"):
        set_bool("vnc", "maybe")
    for text in ("3.14", "10.", ".001", "1e100", "3.14e-10"):
        assert set_float("cpu_weight", text) == float(text)
    with pytest.raises(specs.SpecError):
        set_int("memory", "12.5")
    with pytest.raises(XenCfgError, match=r"guest:1: vncunused: 'maybe'"):
        parse_xmcfg("vncunused = 'maybe'\n")


@pytest.mark.parametrize(("value", "ok"), [("rename-restart", True), ("preserve", True),
                                           ("reboot", False)])
def test_on_crash_values(value: str, ok: bool) -> None:
    text = f"name = 'g'\non_crash = '{value}'\n"
    if ok:
        assert parse_xmcfg(text).values["on_crash"] == value
    else:
        with pytest.raises(XenCfgError, match=r":2: on_crash: 'reboot': one of destroy, "
                                              r"restart, preserve, rename-restart"):
            parse_xmcfg(text)


def test_deprecated_keys_warn() -> None:
    cfg = parse_xmcfg("name = 'g'\nrestart = 'always'\nnics = 2\nbootentry = 'x'\n")
    assert any("restart is deprecated: use on_poweroff" in w for w in cfg.warnings)
    assert any("nics is deprecated: use empty vif entries" in w for w in cfg.warnings)
    assert any("bootentry is deprecated: use bootargs" in w for w in cfg.warnings)


def test_disk_specs() -> None:
    assert specs.parse_disk("phy:/dev/sdb1,xvdb,r") == specs.Disk("phy", "/dev/sdb1", "xvdb",
                                                                  "r")
    assert specs.parse_disk("phy:/dev/sdb1,xvdb,w,1").backend == 1
    with pytest.raises(specs.SpecError, match="mode 'x'"):
        specs.parse_disk("phy:/dev/sdb1,xvdb,x")
    with pytest.raises(specs.SpecError, match="needs a prefix"):     # E §23 FV disk
        specs.parse_disk("/var/lib/libvirt/images/rhel5u5-x86_64.dsk,hda,w")


def test_pci_ioports_irq() -> None:
    assert specs.parse_pci("c0:02.1a") == (0xC0, 0x02, 0x1A)
    assert specs.parse_ioports("02f8-02ff") == (0x2F8, 0x2FF)
    assert specs.parse_ioports("02f8") == (0x2F8, 0x2F8)
    assert parse_xmcfg("irq = 7\nirq = 7\n").values["irq"] == [7, 7]   # append_value


def test_vif_specs() -> None:
    assert specs.parse_vif("mac=00:16:3e:2e:c5:a9,bridge=xenbr0") == {
        "mac": "00:16:3e:2e:c5:a9", "bridge": "xenbr0"}                # no type: netfront
    assert specs.render_kv({"type": "ioemu", "mac": "M", "bridge": "xenbr0"}) == \
        "type=ioemu,mac=M,bridge=xenbr0"
    assert specs.parse_vif("rate=10MB/s , mac=00:16:3e:7a:55:1c, bridge=xenbr1") == {
        "rate": "10MB/s", "mac": "00:16:3e:7a:55:1c", "bridge": "xenbr1"}      # E T15
    assert specs.render_vif("00:16:3e:49:1d:11", "xenbr0") == \
        "mac=00:16:3e:49:1d:11, bridge=xenbr0"                                  # E T17
    assert specs.vif_for_pv_drivers("type=ioemu, mac=00:16:3e:09:f0:12, bridge=xenbr0") == \
        "mac=00:16:3e:09:f0:12, bridge=xenbr0"                                  # E T47


def test_rates_e_t16() -> None:
    assert specs.parse_rate("10MB/s@50ms") == (10 * 2**20, 50)
    assert specs.parse_rate("250KB/s") == (250 * 1024, 50)
    assert specs.parse_rate("10Mb/s") == (10 * 2**20 // 8, 50)
    with pytest.raises(specs.SpecError):
        specs.parse_rate("fast")


def test_vnc_ports_and_vnc_only_keys() -> None:
    assert specs.vnc_port(None, domid=3) == 5903
    assert specs.vnc_port(None, domid=3, vncunused=True) is None      # first free from 5900
    assert specs.vncviewer_port(1) == 5501
    cfg = parse_xmcfg("name = 'g'\nvncviewer = 'yes'\n")
    assert any("vncviewer is valid only with vnc=1" in w for w in cfg.warnings)


@pytest.mark.parametrize(("text", "key"), [("boot = 'e'\n", "boot"), ("dhcp = 'on'\n", "dhcp")])
def test_boot_and_dhcp_values(text: str, key: str) -> None:
    with pytest.raises(XenCfgError, match=f":1: {key}:"):
        parse_xmcfg(text)


def test_render_quotes_every_string_and_reads_back() -> None:
    values = parse_xmcfg(PV).values
    text = render_xmcfg(values)
    for line in text.splitlines():
        key, _, value = line.partition(" = ")
        literal = ast.literal_eval(value)
        if isinstance(literal, str):
            assert value.startswith("'") and value.endswith("'")
        if isinstance(literal, list):
            assert all(isinstance(x, str) for x in literal) and value.startswith("[")
    assert parse_xmcfg(text).values == values


def test_memory_512mb_is_refused_naming_memory() -> None:
    with pytest.raises(XenCfgError, match=r"guest:2: memory: invalid syntax"):
        parse_xmcfg("name = 'g'\nmemory = 512MB\n")


# ---- E §23 / T18-T19: the seed's own examples, each defect refused with its line -------------

def test_seed_examples_verbatim_are_refused_at_the_broken_line() -> None:
    for name, line, key in (("rhel5vm01.seed", 4, "vif"), ("rhel5u5-86_64.seed", 6, "uuid")):
        with pytest.raises(XenCfgError) as exc:
            parse_xmcfg((DATA / name).read_text(), f"/etc/xen/{name}")
        assert exc.value.line == line and f"{key}: invalid syntax" in str(exc.value)


FV_DEFECTS = [
    ("type=ieomu", FV.replace("type=ioemu, mac=00:16:3e:09:f0:13",
                              "type=ieomu, mac=00:16:3e:09:f0:13"), 5, "type 'ieomu'"),
    ("uuid not hex", FV.replace("a05f", "ao5f"), 6, "uuid"),
    ("unbalanced quote", FV.replace('af5"', "af5'"), 6, "invalid syntax"),
    ("on_boot", FV.replace("on_reboot = 'restart'", "on_boot = 'restart'"), 16,
     "unknown key 'on_boot'"),
    ("disk without prefix", FV.replace("file:/var/lib/libvirt/images/rhel5u5-x86_64.dsk,hda",
                                       "/var/lib/libvirt/images/rhel5u5-x86_64.dsk.hda"), 4,
     "disk"),
    ("hvmloader/ directory", FV.replace("hvmloader\"", "hvmloader/\""), 8, "not a directory"),
    ("vif comma missing", PV.replace("00:16:3e:09:f0:12, bridge", "00:16:3e:09:f0:12 bridge"),
     4, "a comma is missing"),
    ("non-ASCII (E8)", "\xc0" + PV, 1, "non-ASCII character '\\xc0'"),
    ("binary junk", PV + "\x00\x01\x02", 12, "binary data"),
    ("code, not a value", PV + "import os\n", 12, "only 'name = value'"),
    ("a call", PV + "extra = __import__('os').system('id')\n", 12, "not a plain value"),
]


@pytest.mark.parametrize(("text", "line", "message"), [d[1:] for d in FV_DEFECTS],
                         ids=[d[0] for d in FV_DEFECTS])
def test_each_defect_named_with_file_and_line(text: str, line: int, message: str) -> None:
    path = "/etc/xen/win2k3xen12"
    with pytest.raises(XenCfgError) as exc:
        parse_xmcfg(text, path)
    assert str(exc.value).startswith(f"{path}:{line}: ") and message in str(exc.value)


def test_xm_create_looks_in_the_working_directory_first() -> None:
    both = {"/root/win2k3xen12", "/etc/xen/win2k3xen12"}
    assert resolve_config("win2k3xen12", "/root", both.__contains__) == "/root/win2k3xen12"
    assert resolve_config("win2k3xen12", "/tmp", both.__contains__) == "/etc/xen/win2k3xen12"
    assert resolve_config("nope", "/tmp", both.__contains__) is None


# ---- edit as a plan ---------------------------------------------------------------------------

def test_edit_keeps_comments_and_other_lines() -> None:
    text = (DATA / "mySQL01").read_text().replace(
        "vif = ['mac=00:16:3e:49:1d:11, bridge=xenbr0',]",
        "vif = ['mac=00:16:3e:49:1d:11, bridge=xenbr1',]  # moved from another host")
    out = XmCfgEdit((("vif", ["mac=00:16:3e:49:1d:11, bridge=xenbr0"]), ("memory", 1024))
                    ).apply(text)
    assert out is not None
    assert "vif = [ 'mac=00:16:3e:49:1d:11, bridge=xenbr0' ]  # moved from another host" in out
    assert "memory = 1024" in out.splitlines() and out.startswith("# seed 30.14 (E7)")
    assert len(out.splitlines()) == len(text.splitlines())


def test_plan_refuses_a_corrupt_file_and_bad_values() -> None:
    with pytest.raises(PlanError, match=r"E_GUEST_FILE_CORRUPT.*/etc/xen/g:4"):
        plan_xencfg((DATA / "rhel5vm01.seed").read_text(), XenCfgWant("g", (("memory", 1),)))
    with pytest.raises(PlanError, match="E_BAD_VALUE"):
        plan_xencfg(PV, XenCfgWant("rhel5vm01", (("on_crash", "reboot"),)))
    with pytest.raises(PlanError, match="E_BAD_KEY"):
        plan_xencfg(PV, XenCfgWant("rhel5vm01", (("on_boot", "restart"),)))
    with pytest.raises(PlanError, match="E_BAD_GUEST_NAME"):
        plan_xencfg(PV, XenCfgWant("../shadow", (("memory", 1),)))


def test_cli_plan_apply_xencfg(tmp_path: Path, capsys) -> None:
    root = copy_root("rhel5-xen", tmp_path)
    f = root / "etc/xen/mySQL01"
    f.write_text((DATA / "mySQL01").read_text().replace("xenbr0", "xenbr1"))
    args = ["--root", str(root), "--guest", "mySQL01",
            "--set", "vif=['mac=00:16:3e:49:1d:11, bridge=xenbr0']"]
    assert cli.main(["plan", "xencfg", *args]) == 0
    out = capsys.readouterr().out
    assert "+vif = [ 'mac=00:16:3e:49:1d:11, bridge=xenbr0' ]" in out and "advises" in out
    assert "xenbr1" in f.read_text()
    assert cli.main(["apply", "xencfg", "--state-dir", str(tmp_path / "s"), *args]) == 0
    assert parse_xmcfg(f.read_text()).values["vif"] == ["mac=00:16:3e:49:1d:11, bridge=xenbr0"]


def test_cli_refuses_corrupt_guest_file(tmp_path: Path, capsys) -> None:
    root = copy_root("rhel5-xen", tmp_path)
    (root / "etc/xen/rhel5vm01").write_text((DATA / "rhel5vm01.seed").read_text())
    rc = cli.main(["apply", "xencfg", "--root", str(root), "--state-dir", str(tmp_path / "s"),
                   "--guest", "rhel5vm01", "--set", "memory=1024"])
    assert rc == cli.EXIT_REFUSED
    assert "/etc/xen/rhel5vm01:4: vif: invalid syntax" in capsys.readouterr().err
    assert (root / "etc/xen/rhel5vm01").read_text() == (DATA / "rhel5vm01.seed").read_text()
