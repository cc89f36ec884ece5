"""The agent from work received to guest started: time and libvirt calls per guest.

    .venv/bin/python bench/agent_bench.py [--guests 1 20] [--tcg 1 2] [--no-tcg]

Per run, side by side on the same hypervisor:

* ``agent``: ``Agent.create(work)`` for N work items (options -> defaults -> rules -> XML ->
  disk image -> define -> start; events go to an in-memory outbox, so no HTTP is timed). Split
  into time inside libvirt calls, time in ``qemu-img`` (disk images) and the agent's own time.
* ``libvirt``: the floor: ``defineXML`` + ``create`` of the same documents with libvirt-python.
  The agent's own libvirt time is higher by design: it defines with
  ``VIR_DOMAIN_DEFINE_VALIDATE`` (libvirt checks the RNG schema) and reads every domain's XML
  once per guest to keep MACs unique on the host.
* ``virt-install``: the reference tool, ``virt-install --import --noautoconsole`` per guest on
  the test driver (it cannot share a test:/// connection, so each run is a fresh process and
  hypervisor; its time includes interpreter start-up, which the ratio says out loud).

On the libvirt test driver (``test:///default``) for 1 and 20 guests, and, when a real libvirtd
can be started (root, network namespaces), on QEMU/TCG for 1 and 2 guests in a bench namespace
(guests are destroyed and undefined at the end). Aim: the agent's own time is a small fraction
of libvirt's. Prints a table; not a test (numbers depend on the machine).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from agent.facts.model import HostFacts  # noqa: E402
from agent.guest.virt import Virt  # noqa: E402
from agent.loop import Agent, LoopConfig  # noqa: E402


class NullClient:
    """Takes the agent's events and results without a network (only agent time is measured)."""

    host = "bench"

    def __getattr__(self, name):
        return lambda *a, **k: None


def work_items(n: int, prefix: str, bridge: str, tcg: bool) -> list[dict]:
    out = []
    for i in range(n):
        name = f"{prefix}{i:03d}"
        argv = ["--name", name, "--memory", "64" if tcg else "256", "--pxe", "--network",
                f"bridge={bridge}", "--disk", "size=0.01,sparse=yes", "--graphics", "none"]
        out.append({"id": f"w{i}", "key": f"bench:{name}", "kind": "guest.create",
                    "payload": {"system": name, "argv": argv}})
    return out


def run_agent(uri: str, n: int, prefix: str, bridge: str, tcg: bool, images: Path) -> dict:
    img_time = [0.0]

    def timed_run(argv, **kw):  # qemu-img runs through here: time it apart from the agent's
        t0 = time.perf_counter()
        try:
            return subprocess.run(argv, **kw)
        finally:
            img_time[0] += time.perf_counter() - t0

    virt = Virt(uri, image_dir=str(images), runner=timed_run)
    facts = HostFacts(image_dir=str(images))
    agent = Agent(NullClient(), virt, facts, virt.caps(),  # type: ignore[arg-type]
                  LoopConfig(state_dir=str(images / "state"), virt_type="qemu" if tcg else None))
    rows = []
    try:
        for work in work_items(n, prefix, bridge, tcg):
            t0 = time.perf_counter()
            lv0, calls0 = virt.libvirt_seconds, sum(virt.calls.values())
            img0 = img_time[0]
            agent.create(work)
            total = time.perf_counter() - t0
            lv = virt.libvirt_seconds - lv0
            img = img_time[0] - img0
            rows.append({"total": total, "libvirt": lv, "images": img,
                         "agent": total - lv - img, "calls": sum(virt.calls.values()) - calls0})
        xmls = [virt.conn.lookupByName(f"{prefix}{i:03d}").XMLDesc(
            libvirt.VIR_DOMAIN_XML_INACTIVE) for i in range(n)]
    except BaseException:
        _cleanup(virt, prefix, n)
        raise
    return {"rows": rows, "xmls": xmls, "cleanup": lambda: _cleanup(virt, prefix, n)}


def _cleanup(virt: Virt, prefix: str, n: int) -> None:
    for i in range(n):
        with contextlib.suppress(Exception):
            virt.undefine(f"{prefix}{i:03d}")
    virt.close()


def run_libvirt_floor(uri: str, xmls: list[str], rename: str) -> list[float]:
    conn = libvirt.open(uri)
    times = []
    try:
        for xml in xmls:
            xml = xml.replace("<name>", f"<name>{rename}", 1)
            xml = xml.split("<uuid>")[0] + xml.split("</uuid>")[1]
            xml = _strip_macs(xml)
            # the agent's guest holds its image (QEMU's write lock): the floor runs diskless
            xml = re.sub(r"<disk .*?</disk>", "", xml, flags=re.S)
            t0 = time.perf_counter()
            dom = conn.defineXML(xml)
            dom.create()
            times.append(time.perf_counter() - t0)
            if not uri.startswith("test:"):
                dom.destroy()
                dom.undefine()
    finally:
        conn.close()
    return times


def _strip_macs(xml: str) -> str:
    return re.sub(r"<mac address='[^']*'/>", "", xml)


def run_virt_install(n: int, images: Path) -> list[float]:
    if not shutil.which("virt-install"):
        return []
    times = []
    for i in range(n):
        disk = images / f"vi{i}.qcow2"
        disk.write_bytes(b"")
        t0 = time.perf_counter()
        subprocess.run(["virt-install", "--connect", "test:///default", "--name", f"vi{i}",
                        "--memory", "256", "--import", "--disk", f"path={disk}", "--network",
                        "bridge=br0", "--graphics", "none", "--osinfo", "detect=on,require=off",
                        "--noautoconsole"], check=True, capture_output=True, timeout=120)
        times.append(time.perf_counter() - t0)
    return times


def report(label: str, n: int, res: dict, floor: list[float], vi: list[float]) -> None:
    rows = res["rows"]
    tot = sum(r["total"] for r in rows)
    lv = sum(r["libvirt"] for r in rows)
    img = sum(r["images"] for r in rows)
    ag = sum(r["agent"] for r in rows)
    calls = statistics.mean(r["calls"] for r in rows)
    print(f"{label:<22} guests={n:<3} per guest: total {1000 * tot / n:8.2f} ms | libvirt "
          f"{1000 * lv / n:8.2f} ms ({calls:.0f} calls) | qemu-img {1000 * img / n:7.2f} ms | "
          f"agent {1000 * ag / n:7.2f} ms | agent/libvirt {ag / lv if lv else float('nan'):5.2f}")
    if floor:
        fl = sum(floor) / len(floor)
        print(f"{'':<22} libvirt-python define+create floor {1000 * fl:8.2f} ms/guest; "
              f"agent total / floor = {tot / n / fl:5.1f}x")
    if vi:
        v = sum(vi) / len(vi)
        print(f"{'':<22} virt-install --import (own process each) {1000 * v:8.2f} ms/guest; "
              f"agent total / virt-install = {tot / n / v:5.2f}")


def bench_test_driver(counts: list[int]) -> None:
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
            images = Path(tmp)
            res = run_agent("test:///default", n, "b", "br0", False, images)
            floor = run_libvirt_floor("test:///default", res["xmls"], "f")
            res["cleanup"]()
            vi = run_virt_install(min(n, 5), images)
            report("test:///default", n, res, floor, vi)


def bench_tcg(counts: list[int]) -> None:
    try:
        from tests.integration.libvirtd import Unavailable, system_libvirtd
        from tests.netns import have_root_netns, netns
    except ImportError as exc:
        print(f"QEMU/TCG: skipped ({exc})")
        return
    if not have_root_netns():
        print("QEMU/TCG: skipped (needs root and network namespaces)")
        return
    with tempfile.TemporaryDirectory(prefix="agent-bench-tcg-") as tmp, netns("pvb") as ns:
        ns.add_bridge("br0", "10.79.9.1/24")
        try:
            with system_libvirtd(ns, Path(tmp) / "libvirtd", "bt", wait=60):
                uri = "qemu:///system"
                for n in counts:
                    images = Path(tmp) / f"images{n}"
                    res = run_agent(uri, n, f"bt{n}-", "br0", True, images)
                    try:
                        floor = run_libvirt_floor(uri, res["xmls"], "bt-floor-")
                    finally:
                        res["cleanup"]()
                    report("qemu:///system (TCG)", n, res, floor, [])
        except Unavailable as exc:
            print(f"QEMU/TCG: skipped ({exc})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--guests", type=int, nargs="+", default=[1, 20])
    ap.add_argument("--tcg", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-tcg", action="store_true")
    args = ap.parse_args()
    bench_test_driver(args.guests)
    if not args.no_tcg:
        bench_tcg(args.tcg)


if __name__ == "__main__":
    main()
