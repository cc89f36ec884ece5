"""Live migration between two libvirt daemons: total time and downtime, ours vs ``virsh migrate``.

    .venv/bin/python bench/migration_bench.py [--repeats 3] [--out bench/results/migration.txt]

The two-host lab of the tests (``tests/integration/twohosts.py``: two libvirtd in their own
network and mount namespaces, TLS certificates from the appliance's CA installed by the agent's
plan, sshd with the appliance's key, a shared directory) with one TCG guest (160 MiB, 1 vCPU,
busybox init answering ping and a TCP echo). Each repeat moves the guest A -> B and back with
each tool, over each transport, side by side in the same run:

* ``ours``: ``provisioner.remote.migrate.migrate`` (libvirt managed migration: migrate3 with
  the appliance holding both connections, progress sampled every 0.25 s);
* ``virsh``: ``virsh -c SRC migrate --live ... DST`` (the guide's command, §4.5), also client
  managed, started from the same namespace with the same URIs.

``tls`` also encrypts the migration stream (``VIR_MIGRATE_TLS`` / ``--tls``); ``ssh`` carries
only libvirt's control connection over SSH (the stream is plain TCP, as ``virsh`` does without
``--tunnelled``). ``p2p`` is libvirt's peer-to-peer migration (the source's libvirtd connects
to the destination over ``qemu+tls://`` with its own certificate; plain TCP stream) and
``tunnelled`` the same with the memory inside that connection (``--p2p [--tunnelled]`` for
virsh). ``total s`` is end to end for both (opening the two connections included;
virsh's also includes its process start); ``migrate s`` is our migrate3 call alone.
Downtime: libvirt's own (``VIR_DOMAIN_JOB_DOWNTIME`` of the completed job; after ``virsh``
exits the destination no longer reports it, so only ours has it) and, for both, the longest
silence a 50 ms ping saw. Medians of ``--repeats``; needs root. The machine is shared (2
cores), so single runs vary by 2x: compare medians of the same run only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioner.remote import migrate as mig  # noqa: E402
from provisioner.remote.libvirt_conn import open_uri  # noqa: E402
from provisioner.remote.migration import Options  # noqa: E402
from provisioner.remote.uri import parse  # noqa: E402
from tests.integration.holder import in_netns  # noqa: E402
from tests.integration.twohosts import GUEST_IP, PingStream, two_hosts_lab  # noqa: E402
from tests.procs import wait_until  # noqa: E402

GUEST = "pt-bench"


TRANSPORTS = ("tls", "ssh", "p2p", "tunnelled")


def _uri(host, transport: str) -> str:
    return host.ssh_uri() if transport == "ssh" else host.tls_uri()


def _options(dst, transport: str) -> Options:
    peer = transport in ("p2p", "tunnelled")
    return Options(unsafe=True, data_address=dst.addr, tls_stream=transport == "tls",
                   p2p=peer, p2p_uri=dst.tls_uri() if peer else None,
                   tunnelled=transport == "tunnelled")


def ours(lab, src, dst, transport: str) -> dict:
    t0 = time.monotonic()
    s = open_uri(parse(_uri(src, transport)), lab.files, timeout=10)
    d = open_uri(parse(_uri(dst, transport)), lab.files, timeout=10)
    try:
        out = mig.migrate(s, d, GUEST, _options(dst, transport))
    finally:
        s.close()
        d.close()
    if not out.ok:
        raise RuntimeError(out.summary())
    return {"total_s": time.monotonic() - t0, "migrate_s": out.total_s,
            "downtime_ms": out.downtime_ms}


def virsh(lab, src, dst, transport: str) -> dict:
    su = lab.files.connect_uri(parse(_uri(src, transport)))
    du = lab.files.connect_uri(parse(_uri(dst, transport)))
    how = {"tls": ["--tls"], "ssh": [], "p2p": ["--p2p"], "tunnelled": ["--p2p", "--tunnelled"]}
    data = [] if transport == "tunnelled" else ["--migrateuri", f"tcp://{dst.addr}"]
    if transport in ("p2p", "tunnelled"):
        du = dst.tls_uri()  # the source's libvirtd connects, with its own certificate
    argv = ["ip", "netns", "exec", lab.client.name, "virsh", "-c", su, "migrate", "--live",
            "--persistent", "--undefinesource", "--unsafe", *data, *how[transport], GUEST, du]
    t0 = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300)
    total = time.monotonic() - t0
    info = subprocess.run(["ip", "netns", "exec", lab.client.name, "virsh", "-c",
                           lab.files.connect_uri(parse(_uri(dst, transport))),
                           "domjobinfo", "--completed", GUEST], capture_output=True, text=True,
                          timeout=60).stdout
    m = re.search(r"Total downtime:\s+(\d+) ms", info)
    return {"total_s": total, "migrate_s": None, "downtime_ms": int(m.group(1)) if m else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="migbench-") as tmp, \
            two_hosts_lab(Path(tmp)) as lab, in_netns(lab.client):
        lab.make_disk(GUEST)
        conn = lab.a.libvirtd.open()
        conn.defineXML(lab.domain_xml(GUEST)).create()
        conn.close()
        wait_until(lambda: "MIG: up" in lab.a.console(GUEST), 120, "the guest")
        time.sleep(2)
        for _ in range(args.repeats):
            for transport in TRANSPORTS:
                for tool, fn in (("ours", ours), ("virsh", virsh)):
                    for src, dst in ((lab.a, lab.b), (lab.b, lab.a)):
                        ping = PingStream(lab.client, GUEST_IP)
                        time.sleep(0.5)
                        t0 = time.time()
                        r = fn(lab, src, dst, transport)
                        time.sleep(1.0)
                        ping.stop()
                        r["ping_gap_s"] = ping.max_gap(t0)
                        rows.setdefault((transport, tool), []).append(r)
    lines = [f"# {' '.join(['bench/migration_bench.py', *sys.argv[1:]])}",
             f"# {time.strftime('%Y-%m-%d %H:%M')}; TCG guest 160 MiB/1 vCPU; medians of "
             f"{args.repeats} repeats x 2 directions",
             f"{'transport':<10}{'tool':<8}{'n':>3}{'total s':>10}{'migrate s':>11}"
             f"{'downtime ms':>13}{'ping gap s':>12}"]

    def med(rs: list[dict], key: str) -> float:
        vals = [r[key] for r in rs if r[key] is not None]
        return statistics.median(vals) if vals else float("nan")

    for (transport, tool), rs in sorted(rows.items()):
        lines.append(f"{transport:<10}{tool:<8}{len(rs):>3}{med(rs, 'total_s'):>10.2f}"
                     f"{med(rs, 'migrate_s'):>11.2f}{med(rs, 'downtime_ms'):>13.0f}"
                     f"{med(rs, 'ping_gap_s'):>12.2f}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        Path(args.out).write_text(text + "\nraw: " + json.dumps(
            {f"{t}/{k}": v for (t, k), v in rows.items()}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
