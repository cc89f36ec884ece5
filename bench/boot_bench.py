"""End-to-end network boot time: the appliance against a dnsmasq-served reference, same run.

    sudo .venv/bin/python bench/boot_bench.py [--repeat N]

One namespace holds a bridge, a tap and the servers; QEMU (``-accel tcg``) boots the test
fixture (``tests/e2e/fixture.py``: Debian kernel + busybox initrd that fetches its kickstart)
from firmware start to the kickstart fetched, on two paths each:

* ``pxelinux/TFTP``: SeaBIOS + iPXE ROM -> pxelinux.0 -> kernel and initrd over TFTP;
* ``iPXE/HTTP``: the firmware's iPXE runs an iPXE script, kernel and initrd over HTTP.

Reference: dnsmasq (DHCP + TFTP) and ``python -m http.server`` serving the same files. Appliance:
``provisioner serve`` alone (DHCP + TFTP + HTTP + SQLite). Under software emulation the guest's
firmware and kernel dominate the wall time, so the appliance should add nothing measurable; the
last table is the appliance's own server-side time per served file, from its timeline (TFTP:
request to last ACK; HTTP: request to body sent).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner.bootloaders import install  # noqa: E402
from provisioner.core.app import Core  # noqa: E402
from provisioner.models import Distro, Interface, Profile, System  # noqa: E402
from tests.e2e import fixture  # noqa: E402
from tests.e2e.appliance import appliance  # noqa: E402
from tests.netns import Netns, netns  # noqa: E402

SERVER = "10.77.0.1"
MAC = {"pxelinux/TFTP": "52:54:00:be:00:01", "iPXE/HTTP": "52:54:00:be:00:02"}
MARK = fixture.KICKSTART_FETCHED


def boot(ns: Netns, mac: str, log: Path, timeout: float = 300) -> float | None:
    """Seconds from QEMU start to the kickstart fetched (None on timeout)."""
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-boot", "n",
            "-device", f"e1000,netdev=n0,mac={mac}"]
    start = time.monotonic()
    with open(log, "wb") as fh:
        proc = ns.popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < timeout:
            if MARK.encode() in log.read_bytes():
                return round(time.monotonic() - start, 1)
            if proc.poll() is not None:
                return None
            time.sleep(0.2)
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(timeout=20)
        ns.procs.remove(proc)


def reference_root(tmp: Path, fx: fixture.Fixture) -> Path:
    root = tmp / "ref"
    install(root)
    (root / "vmlinuz").write_bytes(fx.kernel.read_bytes())
    (root / "initrd.img").write_bytes(fx.initrd.read_bytes())
    (root / "ks.cfg").write_text("# reference kickstart\n")
    (root / "pxelinux.cfg").mkdir(exist_ok=True)
    (root / "pxelinux.cfg" / "default").write_text(
        "DEFAULT lab\nPROMPT 0\nTIMEOUT 1\nLABEL lab\n  KERNEL vmlinuz\n"
        f"  APPEND initrd=initrd.img console=ttyS0 quiet ks=http://{SERVER}:8000/ks.cfg\n")
    (root / "boot.ipxe").write_text(
        f"#!ipxe\nkernel http://{SERVER}:8000/vmlinuz initrd=initrd.img console=ttyS0 quiet "
        f"ks=http://{SERVER}:8000/ks.cfg\ninitrd http://{SERVER}:8000/initrd.img\nboot\n")
    return root


def run_reference(ns: Netns, tmp: Path, fx: fixture.Fixture, repeat: int) -> dict[str, list]:
    root = reference_root(tmp, fx)
    ns.popen(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--pid-file",
              "--user=root", "--interface=br0", "--bind-interfaces",
              "--dhcp-range=10.77.0.100,10.77.0.150,1h", "--enable-tftp", f"--tftp-root={root}",
              "--dhcp-userclass=set:ipxe,iPXE",
              f"--dhcp-mac=set:http,{MAC['iPXE/HTTP']}",
              f"--dhcp-boot=tag:ipxe,tag:http,http://{SERVER}:8000/boot.ipxe",
              "--dhcp-boot=tag:!http,pxelinux.0", "--log-facility=-"])
    ns.popen([sys.executable, "-m", "http.server", "8000", "--bind", SERVER, "--directory",
              str(root)])
    time.sleep(1.5)
    out: dict[str, list] = {}
    try:
        for i in range(repeat):
            for path, mac in MAC.items():
                secs = boot(ns, mac, tmp / f"ref-{i}-{path.replace('/', '-')}.log")
                out.setdefault(path, []).append(secs)
                print(f"  reference  {path:<14} {secs}s", flush=True)
    finally:
        ns.stop_procs()
    return out


def run_appliance(ns: Netns, tmp: Path, fx: fixture.Fixture, repeat: int
                  ) -> tuple[dict[str, list], list[dict]]:
    def fill(core: Core) -> None:
        core.add_distro(Distro(name="fixture", os_version="rhel9", kernel=str(fx.kernel),
                               initrd=str(fx.initrd), tree_url=f"http://{SERVER}:8080/tree",
                               kernel_options="console=ttyS0 quiet"))
        core.add_profile(Profile(name="tftp", distro="fixture", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_profile(Profile(name="http", distro="fixture", kickstart="rhel9-guest.ks"))
        core.add_system(System(name="tftp1", profile="tftp",
                               interfaces=(Interface(mac=MAC["pxelinux/TFTP"], ip="10.77.0.51"),),
                               metadata={"dhcp_options": {"67": "pxelinux.0"}}))
        core.add_system(System(name="http1", profile="http",
                               interfaces=(Interface(mac=MAC["iPXE/HTTP"], ip="10.77.0.52"),)))

    work = tmp / "app"
    work.mkdir()
    install(work / "tftpboot")
    out: dict[str, list] = {}
    with appliance(ns, work, SERVER, fill, interfaces=("br0",), dhcp_enabled=True,
                   dhcp_ranges=("10.77.0.100,10.77.0.150,255.255.255.0,1h",),
                   tftp_enabled=True, api_token="bench") as app:
        for i in range(repeat):
            for path, mac in MAC.items():
                # every boot installs: turn netboot back on first (as an admin would)
                system = "tftp1" if path.startswith("pxe") else "http1"
                app.ns.run(["curl", "-sS", "-X", "PATCH", "-H", "Content-Type: application/json",
                            "-H", "Authorization: Bearer bench", "-d",
                            '{"netboot_enabled": true}',
                            f"{app.url}/api/v1/systems/{system}"], check=False)
                secs = boot(ns, mac, tmp / f"app-{i}-{path.replace('/', '-')}.log")
                out.setdefault(path, []).append(secs)
                print(f"  appliance  {path:<14} {secs}s", flush=True)
        time.sleep(2)
        events = app.timeline("tftp1") + app.timeline("http1")
    return out, events


def _median(values: list) -> str:
    ok = [v for v in values if v is not None]
    if not ok:
        return "failed"
    spread = f" (min {min(ok)}, max {max(ok)})" if len(ok) > 1 else ""
    return f"{statistics.median(ok):.1f}s{spread}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="boots per path and server")
    args = ap.parse_args(argv)
    fx = fixture.build()
    with tempfile.TemporaryDirectory(prefix="bootbench") as t, netns("bb") as ns:
        tmp = Path(t)
        os.chmod(tmp, 0o755)
        ns.add_bridge("br0", f"{SERVER}/24")
        ns.add_tap("tap0", "br0")
        ref = run_reference(ns, tmp, fx, args.repeat)
        ours, events = run_appliance(ns, tmp, fx, args.repeat)
    print("\nfirmware start -> kickstart fetched (QEMU TCG, median of", args.repeat, "run(s))")
    print(f"{'path':<16}{'dnsmasq + http.server':>32}{'appliance':>32}")
    for path in MAC:
        print(f"{path:<16}{_median(ref[path]):>32}{_median(ours[path]):>32}")
    print("\nappliance server-side time per served file (from its timeline)")
    rows: dict[str, list[tuple[int, float]]] = {}
    for e in events:
        if e["kind"] in ("tftp", "http-asset") and "seconds" in e["detail"]:
            d = e["detail"]
            how = f" (blksize {d['blksize']})" if "blksize" in d else ""
            rows.setdefault(f"{e['kind']:<10} {d['path']}{how}", []).append((d["bytes"],
                                                                            d["seconds"]))
    for name, vals in sorted(rows.items()):
        size = vals[0][0]
        secs = statistics.median(v[1] for v in vals)
        rate = f"{size / secs / 1e6:6.1f} MB/s" if secs > 0 else ""
        print(f"  {name:<58} {size:>10} bytes  {secs:7.3f}s  {rate}")
    print(json.dumps({"reference": ref, "appliance": ours}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
