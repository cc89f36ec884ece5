"""Prometheus metrics with ``prometheus-client`` (issue 19), served at ``/metrics``.

``provisioner serve`` runs its protocols in worker processes (``net/supervisor.py``), so the
metrics use prometheus-client's multiprocess mode, the library's own answer for this: before the
workers start, :func:`prepare` empties ``<data_dir>/metrics``; the supervisor starts each worker
with ``PROMETHEUS_MULTIPROC_DIR`` pointing there (:func:`worker_env`; only the workers' own
environment, never the calling process's), so they write their values to memory-mapped files
there; :func:`exposition` merges every process's files (``MultiProcessCollector``). Without
``serve`` (tests, the standalone DHCP server) the values stay in the process.

The metrics (``provisioner_`` prefix):

* ``dhcp_received_total{type}``: DHCP datagrams received, by message type (``malformed`` when
  none can be read); ``dhcp_replies_total{type}``: replies sent (``offer``, ``ack``, ``nak``);
* ``dhcp_lease_claims_total{outcome}``: lease changes claimed in the shared database, ``won``
  or ``lost`` to another appliance (a conflict, answered again);
* ``dhcp_pool_size{range}``, ``dhcp_pool_used{range}``: pool utilisation per ``dhcp_range``;
* ``dhcp_degraded``: 1 while the shared lease database is unreachable (``net/leasedb.py``);
* ``worker_restarts_total{worker}`` (the supervisor); at each scrape from the store
  (``web/health.py``): ``orders{state}``, ``host_last_seen_age_seconds{host}``.

``/metrics`` is protected (``web/health.py``): with ``metrics_token`` set it needs
``Authorization: Bearer <metrics_token>``, else it answers only clients on loopback.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

ENV = "PROMETHEUS_MULTIPROC_DIR"

DHCP_RECEIVED = Counter("provisioner_dhcp_received", "DHCP datagrams received, by message type",
                        ["type"])
DHCP_REPLIES = Counter("provisioner_dhcp_replies", "DHCP replies sent, by message type", ["type"])
LEASE_CLAIMS = Counter("provisioner_dhcp_lease_claims",
                       "Lease changes claimed in the shared database: won, or lost to another "
                       "appliance (answered again)", ["outcome"])
DHCP_POOL_SIZE = Gauge("provisioner_dhcp_pool_size", "Addresses in each dhcp_range", ["range"],
                       multiprocess_mode="livemax")
DHCP_POOL_USED = Gauge("provisioner_dhcp_pool_used",
                       "Addresses of each dhcp_range offered or leased (this appliance's view, "
                       "every appliance's leases when shared), refreshed every few seconds",
                       ["range"], multiprocess_mode="livemax")
DHCP_DEGRADED = Gauge("provisioner_dhcp_degraded",
                      "1 while the shared lease database is unreachable (degraded mode)",
                      multiprocess_mode="livemax")


#: metrics of the serve process itself (the supervisor), next to the workers' files
SERVE = CollectorRegistry()
WORKER_RESTARTS = Counter("provisioner_worker_restarts",
                          "Network worker processes restarted by the supervisor", ["worker"],
                          registry=SERVE)


def directory(data_dir: str) -> str:
    return os.path.join(data_dir, "metrics")


def prepare(data_dir: str) -> str:
    """A fresh multiprocess directory for the workers about to start (old values removed)."""
    path = directory(data_dir)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


def worker_env(data_dir: str) -> dict[str, str]:
    """The environment of a worker process: this one's, writing metrics to the directory."""
    return {**os.environ, ENV: directory(data_dir)}


def exposition(data_dir: str, extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (``serve``; else this process's), the
    serve process's own (:data:`SERVE`) and ``extra`` collectors (computed at scrape)."""
    path = directory(data_dir)
    if os.path.isdir(path):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)
        parts = [generate_latest(registry)]
    else:
        parts = [generate_latest(REGISTRY)]
    scrape = CollectorRegistry()
    for collector in extra:
        scrape.register(collector)
    return b"".join([*parts, generate_latest(SERVE), generate_latest(scrape)]), \
        CONTENT_TYPE_LATEST
