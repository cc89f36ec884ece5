"""Run the DHCP (and, if enabled, DNS) server alone, with reservations from a JSON file.

    python -m provisioner.net.standalone CONFIG.json

CONFIG.json: ``{"settings": {...Settings fields...}, "dnsmasq_conf": "optional dnsmasq.conf
path (interface=, dhcp-range=, dhcp-option=, domain=, port=...; "settings" win)", "records":
[{"mac", "system", "ip", "hostname", "netboot_enabled", "options"}...], "events_path":
"optional JSON-lines file"}``.
Used by the namespace tests and ``bench/dhcp_bench.py``, and usable as a small dnsmasq-like
DHCP/DNS server without the web appliance. Prints ``READY`` once its sockets are bound and runs
until SIGTERM/SIGINT; logs its counters on exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from provisioner import settings as settings_mod
from provisioner.models import DhcpRecord, normalize_mac
from provisioner.net.dhcp import start_dhcp
from provisioner.net.dns import start_dns
from provisioner.proto.dhcp.config import parse_dnsmasq_conf

log = logging.getLogger("provisioner.standalone")


def run(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    overrides: dict = {}
    if cfg.get("dnsmasq_conf"):  # dnsmasq.conf lines (interface=, dhcp-range=, dhcp-option=...)
        overrides, notes = parse_dnsmasq_conf(Path(cfg["dnsmasq_conf"]).read_text())
        for note in notes:
            log.info("%s: %s", cfg["dnsmasq_conf"], note)
    settings = settings_mod.load(environ={}, **{**overrides, **cfg.get("settings", {})})
    records = {normalize_mac(r["mac"]): DhcpRecord(**{**r, "mac": normalize_mac(r["mac"])})
               for r in cfg.get("records", [])}
    events_path = cfg.get("events_path")

    def record_event(subject: str, kind: str, detail: dict) -> None:
        if events_path:
            with open(events_path, "a") as fh:
                fh.write(json.dumps({"subject": subject, "kind": kind, "detail": detail}) + "\n")

    def dns_records() -> list[tuple[str, str]]:
        return [(r.hostname or r.system, r.ip) for r in records.values() if r.ip]

    async def main() -> None:
        dhcp = dns = None
        if settings.dhcp_enabled:
            dhcp = await start_dhcp(settings, records.get, record_event,
                                    reserved=lambda: [ip for _, ip in dns_records()])
        if settings.dns_enabled:
            dns = await start_dns(settings, dns_records, dhcp.lease_records if dhcp else None)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("READY", flush=True)
        await stop.wait()
        if dhcp is not None:
            log.info("DHCP stats: %s", dhcp.stats)
            dhcp.close()
        if dns is not None:
            dns.close()

    asyncio.run(main())


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("PROVISIONER_LOG", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m provisioner.net.standalone CONFIG.json")
    run(sys.argv[1])
