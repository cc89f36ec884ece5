"""From "order submitted" to "kickstart fetched", in the lab, and where the time goes.

    sudo .venv/bin/python bench/order_bench.py [--guests 1,5] [--reference] [--json FILE]

Brings up ``provisioner lab`` (agent mode: appliance with DHCP/TFTP/DNS/HTTP in a namespace, a
local agent with embedded libvirt, QEMU guests under TCG), then for each count N orders N VMs
at once through ``core/ordering.py`` (the web form's use-case) and waits until every guest has
fetched its kickstart. Per guest, from the timelines the appliance recorded:

    submit      order validated, placed on the host, system + work item written (appliance)
    queue       work item waiting until the agent leased it (agent long-poll)
    define      disk image, libvirt define, start (agent + libvirt)
    firmware    guest started -> its first DHCP packet (SeaBIOS + iPXE under TCG)
    dhcp        first DHCP offer -> ack (firmware's exchange; includes its waits)
    bootloader  ack -> per-MAC iPXE script fetched (HTTP /boot/ipxe/<mac>)
    kernel+initrd  script -> last boot asset served (HTTP /assets/lab/...)
    kernel boot kernel and installer start, installer DHCP, kickstart GET

Then the appliance's own share: the same requests (kickstart render, boot script, the 9 MB of
boot assets, a DHCP exchange by ``udhcpc`` from a second namespace) timed against the running
appliance with nothing else going on, next to the end-to-end time. With ``--reference`` one
guest is also booted by the recipe's reference servers (dnsmasq for DHCP+TFTP, python's
http.server) with the same kernel and initrd and the same IPv6 router advertisements, so the
firmware/kernel floor is measured in the same run. Nothing is asserted: this is a report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner import lab  # noqa: E402
from provisioner.core import orders  # noqa: E402
from provisioner.core.ordering import Ordering  # noqa: E402
from provisioner.core.rules import check  # noqa: E402
from provisioner.models import system_subject  # noqa: E402
from provisioner.settings import load  # noqa: E402
from provisioner.store import open_store  # noqa: E402

PHASES = ("submit", "queue", "define", "firmware", "dhcp", "bootloader", "kernel+initrd",
          "kernel boot", "total")


def _first(events: list, kind: str, after: float = 0.0) -> float | None:
    return next((e.at for e in events if e.kind == kind and e.at >= after), None)


def _last(events: list, kind: str) -> float | None:
    hits = [e.at for e in events if e.kind == kind]
    return hits[-1] if hits else None


def phases(submitted: float, placed_done: float, events: list, leased: float | None) -> dict:
    """Seconds per phase for one guest from its system timeline (None where an event is missing)."""
    ev = sorted(events, key=lambda e: e.at)
    agent_first = next((e.at for e in ev if e.kind.startswith("guest.")), None)
    started = _first(ev, "guest.started")
    offer = _first(ev, "dhcp-offer")
    ack = _first(ev, "dhcp-ack")
    script = _first(ev, "boot-config")
    asset = _last([e for e in ev if script is None or e.at >= script], "http-asset")
    ks = _first(ev, "kickstart")
    begin_define = leased or agent_first

    def span(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else max(0.0, b - a)

    return {"submit": placed_done - submitted, "queue": span(placed_done, begin_define),
            "define": span(begin_define, started), "firmware": span(started, offer),
            "dhcp": span(offer, ack), "bootloader": span(ack, script),
            "kernel+initrd": span(script, asset), "kernel boot": span(asset, ks),
            "total": span(submitted, ks)}


def run_round(store, ordering: Ordering, admin, n: int, tag: str, timeout: float) -> list[dict]:
    names = [f"{tag}g{i}" for i in range(1, n + 1)]
    rows = []
    for name in names:  # "at once": back to back, as fast as the use-case goes
        t0 = time.time()
        order = ordering.submit({"name": name, "profile": lab.PROFILE, "host": lab.HOST,
                                 "network": "br0"}, admin, key=f"bench:{name}")
        rows.append({"name": name, "order": order.id, "submitted": t0, "placed": time.time()})
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if any(e.kind == "kickstart" for e in store.list_events(system_subject(name))):
                pending.discard(name)
        time.sleep(0.5)
    if pending:
        raise SystemExit(f"timed out: no kickstart for {sorted(pending)}")
    for row in rows:  # the store keeps no lease time: the agent's first event marks it
        row["phases"] = phases(row["submitted"], row["placed"],
                               store.list_events(system_subject(row["name"])), None)
    # tear the guests down through the agent, as a user's delete would
    for row in rows:
        ordering.delete(row["order"], admin)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        work = [w for w in store.list_work(host=lab.HOST) if w.kind == "guest.delete"]
        if all(w.state in ("done", "failed") for w in work):
            break
        time.sleep(0.5)
    return rows


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def time_requests(state: lab.LabState, store, repeat: int = 5) -> dict[str, float]:
    """The appliance alone: each request a guest makes, timed from inside the namespace."""
    system = next((s for s in store.list_systems() if s.token), None)
    base = state.appliance_url
    urls = {"kickstart render": f"{base}/ks/token/{system.token}" if system else None,
            "iPXE script": f"{base}/boot/ipxe/{system.macs[0]}" if system and system.macs
            else None,
            "kernel (8 MB)": f"{base}/assets/lab/kernel",
            "initrd": f"{base}/assets/lab/initrd"}
    out: dict[str, float] = {}
    for what, url in urls.items():
        if url is None:
            continue
        times = []
        for _ in range(repeat):
            res = subprocess.run(["ip", "netns", "exec", state.netns, "curl", "-s", "-o",
                                  "/dev/null", "-w", "%{time_total} %{http_code}", url],
                                 capture_output=True, text=True, timeout=60)
            secs, code = res.stdout.split()
            if code == "200":
                times.append(float(secs))
        out[what] = _median(times)
    out["DHCP exchange (udhcpc)"] = time_dhcp(state, repeat)
    return out


def time_dhcp(state: lab.LabState, repeat: int) -> float:
    """A full DISCOVER..ACK by busybox udhcpc from a second namespace on the lab bridge."""
    ns = f"{state.netns}c"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", state.netns, "link", "add", "vb0", "type", "veth", "peer",
                        "name", "eth0", "netns", ns], check=True, timeout=30)
        for args in (["-n", state.netns, "link", "set", "vb0", "master", "br0"],
                     ["-n", state.netns, "link", "set", "vb0", "up"],
                     ["-n", ns, "link", "set", "eth0", "up"], ["-n", ns, "link", "set", "lo",
                                                                  "up"]):
            subprocess.run(["ip", *args], check=True, timeout=30)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = subprocess.run(["ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0",
                                  "-n", "-q", "-f", "-t", "3", "-T", "2", "-s", "/bin/true"],
                                 capture_output=True, text=True, timeout=30)
            if res.returncode == 0:
                times.append(time.perf_counter() - t0)
        return _median(times)
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=30)


def reference_boot(state: lab.LabState, cache: Path, timeout: float) -> float | None:
    """One guest booted by dnsmasq (DHCP+TFTP) and python http.server, same kit: seconds from
    QEMU start to the kickstart GET."""
    from provisioner.lab import kit as labkit

    kit = labkit.ensure_kit(cache)
    work = Path(tempfile.mkdtemp(prefix="order-bench-ref-"))
    ns = f"{state.netns}r"
    procs: list[subprocess.Popen] = []
    try:
        (work / "tftp" / "pxelinux.cfg").mkdir(parents=True)
        (work / "www").mkdir()
        for src in ("/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32"):
            shutil.copy(src, work / "tftp")
        shutil.copy(kit.kernel, work / "www" / "vmlinuz")
        shutil.copy(kit.initrd, work / "www" / "initrd.img")
        (work / "www" / "ks.cfg").write_text("# reference kickstart\n")
        (work / "tftp" / "boot.ipxe").write_text(
            "#!ipxe\nkernel http://10.78.0.1:8000/vmlinuz initrd=initrd.img console=ttyS0 "
            "inst.ks=http://10.78.0.1:8000/ks.cfg\ninitrd http://10.78.0.1:8000/initrd.img\n"
            "boot\n")
        subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
        for args in (["link", "set", "lo", "up"], ["link", "add", "br0", "type", "bridge",
                                                    "forward_delay", "0", "stp_state", "0"],
                     ["addr", "add", "10.78.0.1/24", "dev", "br0"], ["link", "set", "br0", "up"]):
            subprocess.run(["ip", "-n", ns, *args], check=True, timeout=30)
        subprocess.run(["ip", "netns", "exec", ns, "ip", "tuntap", "add", "dev", "tap0", "mode",
                        "tap"], check=True, timeout=30)
        subprocess.run(["ip", "-n", ns, "link", "set", "tap0", "master", "br0"], check=True,
                       timeout=30)
        subprocess.run(["ip", "-n", ns, "link", "set", "tap0", "up"], check=True, timeout=30)
        # the same IPv6 router advertisements as the lab, so both see the same firmware floor
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                                       "provisioner.lab", "router-adverts", "--ifname", "br0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        log = open(work / "http.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", "-m",
                                       "http.server", "8000", "--bind", "10.78.0.1",
                                       "--directory", str(work / "www")],
                                      stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([
            "ip", "netns", "exec", ns, "dnsmasq", "-k", "--conf-file=/dev/null",
            "--interface=br0", "--bind-interfaces", "--dhcp-range=10.78.0.100,10.78.0.150",
            "--dhcp-boot=boot.ipxe", "--enable-tftp", f"--tftp-root={work / 'tftp'}",
            "--port=0", "-u", "root", f"--pid-file={work / 'dnsmasq.pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(work / "d.qcow2"), "1G"],
                       check=True, timeout=60)
        time.sleep(1)
        t0 = time.time()
        qemu = subprocess.Popen([
            "ip", "netns", "exec", ns, "qemu-system-x86_64", "-accel", "tcg", "-m", "512",
            "-display", "none", "-no-reboot", "-nodefaults", "-serial", "null",
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
            "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:78:00:01",
            "-drive", f"file={work / 'd.qcow2'},if=virtio,format=qcow2", "-boot", "n"])
        procs.append(qemu)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "GET /ks.cfg" in (work / "http.log").read_text(errors="replace"):
                return time.time() - t0
            time.sleep(0.2)
        return None
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--guests", default="1,5", help="comma-separated counts (default 1,5)")
    ap.add_argument("--cache", default=str(lab.DEFAULT_CACHE))
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--reference", action="store_true",
                    help="also boot one guest from dnsmasq + http.server (same kit)")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.guests.split(",") if c.strip()]
    data_dir = Path(tempfile.mkdtemp(prefix="order-bench-"))
    results: dict[str, Any] = {"rounds": {}}
    try:
        state = lab.up(data_dir, guests=0, mode="agent", cache=Path(args.cache), say=print)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)  # up() already took its lab down
        raise
    try:
        settings = load(str(Path(state.dir) / "provisioner.toml"), environ={})
        store = open_store(settings.db_url, migrate=False)
        try:
            admin = store.get_user("admin")
            ordering = Ordering(store, rules_check=check, clock=time.time,
                                domain=settings.domain,
                                enqueue=lambda host, kind, payload, key: orders.enqueue(
                                    store, host, kind, payload, key=key, now=time.time()))
            for n in counts:
                rows = run_round(store, ordering, admin, n, f"n{n}", args.timeout)
                results["rounds"][n] = rows
                report_round(n, rows)
            results["appliance"] = time_requests(state, store) if store.list_systems() else {}
            if not results["appliance"]:
                # every bench system was deleted: make one to time the per-system requests
                ordering.submit({"name": "probe", "profile": lab.PROFILE, "host": lab.HOST},
                                admin, key="bench:probe")
                results["appliance"] = time_requests(state, store)
        finally:
            store.close()
        if args.reference:
            results["reference_s"] = reference_boot(state, Path(args.cache), args.timeout)
    finally:
        lab.down(data_dir, say=print)
        shutil.rmtree(data_dir, ignore_errors=True)
    report_appliance(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.2f}"


def report_round(n: int, rows: list[dict]) -> None:
    print(f"\n{n} guest(s) ordered at once: seconds per phase (median over guests; max)")
    for ph in PHASES:
        vals = [r["phases"][ph] for r in rows if r["phases"][ph] is not None]
        med = _median(vals) if vals else None
        print(f"  {ph:14} {_fmt(med)}   max {_fmt(max(vals) if vals else None)}")


def report_appliance(results: dict[str, Any]) -> None:
    app = results.get("appliance") or {}
    print("\nappliance alone (median of 5, from inside the namespace, seconds):")
    for what, secs in app.items():
        print(f"  {what:24} {secs:8.4f}")
    per_guest = sum(v for v in app.values() if v == v)  # NaN-safe
    for n, rows in results["rounds"].items():
        total = _median([r["phases"]["total"] for r in rows if r["phases"]["total"]])
        submit = _median([r["phases"]["submit"] for r in rows])
        own = per_guest + submit
        print(f"\n{n} guest(s): order->kickstart {total:.1f} s; the appliance's own work per "
              f"guest ~{own:.3f} s = {100 * own / total:.2f}% of it")
    ref = results.get("reference_s")
    if ref:
        one = _median([r["phases"]["total"] for r in results["rounds"].get(1, [])
                       if r["phases"]["total"]]) if 1 in results["rounds"] else None
        print(f"\nreference (dnsmasq + http.server, same kit, QEMU start -> kickstart GET): "
              f"{ref:.1f} s" + (f"; lab order->kickstart / reference = {one / ref:.2f}"
                                if one else ""))


if __name__ == "__main__":
    raise SystemExit(main())
