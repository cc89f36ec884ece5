"""Start the standalone DHCP server (``python -m provisioner.net.standalone``) in a namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.netns import Netns


def wait_for(path: Path, want: str, proc: subprocess.Popen | None = None,
             timeout: float = 30) -> str:
    """Poll a log file until it contains ``want``; fail with its text if not."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if want in text:
            return text
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {want!r} in {path} within {timeout}s:\n{text}")


def start_server(ns: Netns, tmp: Path, settings: dict, records: list[dict] = (),
                 name: str = "dhcp", dnsmasq_conf: str | None = None) -> subprocess.Popen:
    base = {"data_dir": str(tmp / f"{name}-data")}
    if dnsmasq_conf is None:
        base.update({"interfaces": ["br0"], "dhcp_enabled": True})
    cfg = {"settings": {**base, **settings}, "records": list(records),
           "events_path": str(tmp / f"{name}-events.jsonl")}
    if dnsmasq_conf is not None:
        (tmp / f"{name}-dnsmasq.conf").write_text(dnsmasq_conf)
        cfg["dnsmasq_conf"] = str(tmp / f"{name}-dnsmasq.conf")
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(cfg))
    log = tmp / f"{name}.log"
    with open(log, "ab") as fh:  # a file, not a pipe: a chatty server never blocks
        proc = ns.popen([sys.executable, "-m", "provisioner.net.standalone", str(path)], stdout=fh)
    wait_for(log, "READY", proc)
    return proc


def events(tmp: Path, name: str = "dhcp") -> list[dict]:
    path = tmp / f"{name}-events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
