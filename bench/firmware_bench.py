"""Boot time per firmware path: ``provisioner serve`` against dnsmasq + tftpd-hpa + a static HTTP
server serving the same files, same run.

    sudo .venv/bin/python bench/firmware_bench.py [--repeat 3] [--paths "BIOS iPXE;BIOS pxelinux"]

The paths are the real-boot test table (``tests/e2e/test_boot.py``, ``PATHS``): BIOS pxelinux,
BIOS iPXE, UEFI x86-64 over TFTP (GRUB), UEFI Secure Boot (shim -> GRUB -> signed kernel), UEFI
HTTP boot over IPv4, UEFI IPv6 PXE, UEFI IPv6 HTTP boot, arm64 UEFI. Each is timed from QEMU start
to the lab installer's "kickstart fetched" line (QEMU TCG), alternating the two server sets
``--repeat`` times on the same namespace, bridge and tap.

Reference, per lab: dnsmasq for DHCPv4 or DHCPv6 with ``enable-ra`` (same ranges, the same boot
file for each machine, user class ``iPXE`` -> its script, ``HTTPClient`` echoed), tftpd-hpa on
the same address (the same TFTP root, filled by ``provisioner bootloaders install``), and
``python -m http.server`` on port 8080 serving, as static files, exactly what the appliance
renders for these machines (per-MAC pxelinux/GRUB/iPXE configs, kickstarts, callback URLs,
kernels and initrds). dnsmasq runs with ``--dhcp-no-override`` so the boot file is in the BOOTP
``file`` field: shim takes GRUB's directory from that field, and without it loads the unsigned
``/grubx64.efi`` (Security Violation). The appliance also advertises on the IPv4 links
("no router, no DHCPv6", ``--no-ra`` to leave that out), which dnsmasq cannot do without an IPv6
prefix. Medians of the repeats; results in ``bench/results/firmware_bench.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner.bootloaders import install, signed  # noqa: E402
from provisioner.lab import kit as labkit  # noqa: E402
from provisioner.main import build_core  # noqa: E402
from provisioner.settings import load  # noqa: E402
from tests.e2e import fixture  # noqa: E402
from tests.e2e.appliance import appliance  # noqa: E402
from tests.e2e.machines import available, boot, qemu_argv  # noqa: E402
from tests.e2e.test_boot import LABS, PATHS, FirmwarePath, LabSpec, _fill  # noqa: E402
from tests.netns import Netns, netns  # noqa: E402

MARK = fixture.KICKSTART_FETCHED
HTTP_PORT = 8080


def _server(spec: LabSpec) -> str:
    return f"[{spec.v6}]" if spec.v6 else spec.v4


def _first_file(row: FirmwarePath) -> str:
    return next(s.split(":", 1)[1].lstrip("/") for s in row.served)


def render_reference(spec: LabSpec, rows: list[FirmwarePath], kits: dict[str, Any],
                     tftp_root: Path, work: Path) -> Path:
    """The static HTTP tree and per-MAC TFTP configs the reference serves (rendered once by the
    appliance's own renderer from the same inventory)."""
    config = work / "render.toml"
    config.write_text(f'data_dir = "{work / "render-data"}"\n'
                      f'templates_dir = "{ROOT / "templates"}"\n'
                      f'asset_roots = ["{fixture.CACHE}"]\n')
    core = build_core(load(str(config), environ={}))
    _fill(spec, kits)(core)
    server = f"http://{_server(spec)}:{HTTP_PORT}"
    http = work / "http"
    for row in rows:
        dashed = row.mac.replace(":", "-")
        files = {http / "boot" / "ipxe" / row.mac: core.boot_config("ipxe", row.mac, server),
                 http / "ks" / "token" / f"tok-{row.system}": core.kickstart_for(
                     token=f"tok-{row.system}", server=server),
                 http / "cb" / f"tok-{row.system}" / "started": "ok\n",
                 http / "cb" / f"tok-{row.system}" / "done": "ok\n",
                 tftp_root / "pxelinux.cfg" / f"01-{dashed}": core.boot_config(
                     "pxelinux", row.mac, server),
                 tftp_root / "grub" / f"grub.cfg-01-{dashed}": core.boot_config(
                     "grub", row.mac, server),
                 tftp_root / "grub" / f"grub.cfg-01-{row.mac}": core.boot_config(
                     "grub", row.mac, server)}
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    core.store.close()
    for distro, kit in (("fixture", kits["amd64"]), ("fixture-arm64", kits.get("arm64"))):
        if kit is None:
            continue
        for where in (http / "assets" / distro, tftp_root / "assets" / distro):
            where.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kit.kernel, where / "kernel")
            shutil.copyfile(kit.initrd, where / "initrd")
    (http / "tftpboot").symlink_to(tftp_root)
    return http


def dnsmasq_args(spec: LabSpec, rows: list[FirmwarePath]) -> list[str]:
    host = _server(spec)
    args = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
            "--pid-file", "--interface=br0", "--bind-interfaces", "--log-facility=-",
            "--dhcp-userclass=set:ipxe,iPXE",
            # the boot file in the BOOTP file field, not only in option 67: shim derives
            # its directory (and so GRUB's path) from that field; without this dnsmasq leaves
            # it empty for clients asking for option 67 and shim loads /grubx64.efi (unsigned)
            "--dhcp-no-override"]
    if spec.dhcp4:
        net = spec.v4.rsplit(".", 1)[0]
        args += [f"--dhcp-range={net}.100,{net}.150,255.255.255.0,1h",
                 "--dhcp-vendorclass=set:httpc,HTTPClient",
                 "--dhcp-option-force=tag:httpc,60,HTTPClient"]
        for n, row in enumerate(rows):
            tag = f"r{n}"
            args += [f"--dhcp-host={row.mac},set:{tag}"]
            if row.profile == "http":
                args += [f"--dhcp-boot=tag:{tag},tag:ipxe,http://{host}:{HTTP_PORT}/boot/ipxe/"
                         f"{row.mac}"]
            if "http4" in row.protocols:
                args += [f"--dhcp-boot=tag:{tag},tag:httpc,tag:!ipxe,http://{host}:{HTTP_PORT}/"
                         "tftpboot/ipxe.efi"]
            elif row.profile == "http":
                args += [f"--dhcp-boot=tag:{tag},tag:!ipxe,{_first_file(row)},,{spec.v4}"]
            else:  # whatever asks (the BIOS ROM is iPXE too): the row's own first file
                args += [f"--dhcp-boot=tag:{tag},{_first_file(row)},,{spec.v4}"]
    if spec.v6:
        prefix = spec.v6.rsplit("::", 1)[0]
        http_client = ":".join(f"{b:02x}" for b in b"\x00\x00\x01\x57\x00\x0aHTTPClient")
        args += ["--enable-ra", "--ra-param=br0,10,0",
                 f"--dhcp-range={prefix}::100,{prefix}::1ff,slaac,64,1h",
                 "--dhcp-vendorclass=set:httpc,enterprise:343,HTTPClient",
                 f"--dhcp-option-force=tag:httpc,option6:16,{http_client}"]
        for row in rows:
            args += [f"--dhcp-option=tag:ipxe,option6:bootfile-url,http://{host}:{HTTP_PORT}/"
                     f"boot/ipxe/{row.mac}",
                     f"--dhcp-option=tag:httpc,tag:!ipxe,option6:bootfile-url,http://{host}:"
                     f"{HTTP_PORT}/tftpboot/ipxe.efi",
                     f"--dhcp-option=tag:!httpc,tag:!ipxe,option6:bootfile-url,tftp://{host}/"
                     "ipxe.efi"]
    return args


@contextlib.contextmanager
def reference(ns: Netns, spec: LabSpec, rows: list[FirmwarePath], kits: dict[str, Any],
              tftp_root: Path, work: Path):
    http = render_reference(spec, rows, kits, tftp_root, work)
    procs = [ns.popen(dnsmasq_args(spec, rows), stdout=open(work / "dnsmasq.log", "wb"))]
    bind = spec.v6 or spec.v4
    procs.append(ns.popen([sys.executable, "-m", "http.server", str(HTTP_PORT), "--bind", bind,
                           "--directory", str(http)], stdout=open(work / "http.log", "wb")))
    if spec.tftp:
        address = f"[{spec.v6}]:69" if spec.v6 else f"{spec.v4}:69"
        procs.append(ns.popen(["in.tftpd", "--listen", "--foreground", "--address", address,
                               "--secure", "--user", "root", str(tftp_root)],
                              stdout=open(work / "tftpd.log", "wb")))
    time.sleep(2)
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)
            ns.procs.remove(p)


def _boot(ns: Netns, row: FirmwarePath, work: Path, name: str) -> float | None:
    b = boot(ns, qemu_argv(row.firmware, row.mac, work, row.protocols), work / f"{name}.log",
             MARK, (MARK,), timeout=row.timeout, stop_on=("Access Denied", fixture.FAILED))
    return b.markers.get(MARK)


def _settings(spec: LabSpec, tftp_root: Path, ra: bool = True) -> dict[str, Any]:
    s: dict[str, Any] = {"interfaces": ("br0",), "tftp_root": str(tftp_root),
                         "tftp_enabled": spec.tftp, "api_token": "bench"}
    if spec.dhcp4:
        net = spec.v4.rsplit(".", 1)[0]
        # router advertisements on the IPv4 links too ("no router, no DHCPv6"): iPXE's IPv6
        # autoconfiguration ends at once instead of after ~13 s (--no-ra: the old behaviour)
        s.update(dhcp_enabled=True, ra_enabled=ra,
                 dhcp_ranges=(f"{net}.100,{net}.150,255.255.255.0,1h",))
    if spec.v6:
        prefix = spec.v6.rsplit("::", 1)[0]
        s.update(dhcp6_enabled=True, ra_enabled=True, ra_router_lifetime=0,
                 dhcp6_ranges=(f"{prefix}::100,{prefix}::1ff,1h",), http_host6=spec.v6)
    return s


def run_lab(name: str, rows: dict[str, FirmwarePath], kits: dict[str, Any], repeat: int,
            work: Path, ra: bool = True) -> dict[str, dict[str, list[float | None]]]:
    spec = LABS[name]
    out: dict[str, dict[str, list[float | None]]] = {p: {"reference": [], "appliance": []}
                                                     for p in rows}
    tftp_root = work / "tftpboot"
    with netns(f"fb{name}") as ns:
        ns.add_bridge("br0", f"{spec.v4}/24")
        if spec.v6:
            ns.ip("addr", "add", f"{spec.v6}/64", "dev", "br0", "nodad")
        ns.add_tap("tap0", "br0")
        for i in range(repeat):
            ref_work = work / f"ref-{i}"
            ref_work.mkdir()
            with reference(ns, spec, list(rows.values()), kits, tftp_root, ref_work):
                for path, row in rows.items():
                    secs = _boot(ns, row, ref_work, row.system)
                    out[path]["reference"].append(secs)
                    print(f"  reference  {path:<58} {secs}s", flush=True)
            app_work = work / f"app-{i}"
            app_work.mkdir()
            with appliance(ns, app_work, spec.v4, _fill(spec, kits),
                           **_settings(spec, tftp_root, ra)):
                for path, row in rows.items():
                    secs = _boot(ns, row, app_work, row.system)
                    out[path]["appliance"].append(secs)
                    print(f"  appliance  {path:<58} {secs}s", flush=True)
    return out


def _median(values: list[float | None]) -> str:
    ok = [v for v in values if v is not None]
    if not ok:
        return "failed"
    spread = f" ({min(ok)}-{max(ok)})" if len(ok) > 1 else ""
    return f"{statistics.median(ok):.1f}s{spread}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="boots per path and server set")
    ap.add_argument("--paths", default="", help="path names separated by \";\" (default: all)")
    ap.add_argument("--no-ra", action="store_true",
                    help="no router advertisements on the IPv4 links (iPXE then waits for one)")
    args = ap.parse_args(argv)
    wanted = [p.strip() for p in args.paths.split(";") if p.strip()] or list(PATHS)
    kits = {"amd64": fixture.build()}
    if available("aavmf"):
        kits["arm64"] = labkit.ensure_kit(fixture.CACHE, arch="arm64")
    results: dict[str, dict[str, list[float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="fwbench") as t:
        tmp = Path(t)
        os.chmod(tmp, 0o755)
        for lab in LABS:
            rows = {p: r for p, r in PATHS.items() if r.lab == lab and p in wanted
                    and available(r.firmware)}
            if not rows:
                continue
            work = tmp / lab
            (work / "tftpboot").mkdir(parents=True)
            report = install(work / "tftpboot")
            signed.install(work / "tftpboot", ("amd64", "arm64"), report=report)
            for d in (work, work / "tftpboot"):
                os.chmod(d, 0o755)
            results.update(run_lab(lab, rows, kits, args.repeat, work, not args.no_ra))
    print(f"\nQEMU start -> kickstart fetched (TCG), median of {args.repeat} (min-max)")
    print(f"{'path':<58}{'dnsmasq+tftpd-hpa+http.server':>32}{'provisioner serve':>22}"
          f"{'ratio':>8}")
    for path, r in results.items():
        ref = [v for v in r["reference"] if v is not None]
        ours = [v for v in r["appliance"] if v is not None]
        ratio = (f"{statistics.median(ours) / statistics.median(ref):.2f}x"
                 if ref and ours else "-")
        print(f"{path:<58}{_median(r['reference']):>32}{_median(r['appliance']):>22}{ratio:>8}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
