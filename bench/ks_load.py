"""Kickstart load: GET /ks/mac/<mac> at a fixed rate, one new connection per request (as
installers do), until SIGINT/SIGTERM; then one JSON line with the latency figures.

    python bench/ks_load.py BASE_URL MACS_FILE [--rate 50] [--threads 8]

Requests are scheduled on a fixed clock (request k at start + k / rate), so a slow server does not
lower the offered rate; a request that fails or is not a 200 counts as an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import statistics
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("macs_file")
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    url = urllib.parse.urlsplit(args.base_url)
    macs = [m for m in open(args.macs_file).read().split() if m]
    rng = random.Random(1)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def one(mac: str) -> None:
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
            conn.request("GET", f"/ks/mac/{mac}")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            ok = resp.status == 200 and b"%packages" in body
        except OSError:
            ok = False
        dt = time.perf_counter() - t0
        with lock:
            if ok:
                lat.append(dt)
            else:
                errors[0] += 1

    start = time.monotonic()
    k = 0
    with ThreadPoolExecutor(args.threads) as pool:
        while not stop.is_set():
            due = start + k / args.rate
            wait = due - time.monotonic()
            if wait > 0 and stop.wait(wait):
                break
            pool.submit(one, rng.choice(macs))
            k += 1
    lat.sort()

    def pct(p: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else 0.0

    print(json.dumps({"requests": k, "ok": len(lat), "errors": errors[0],
                      "seconds": round(time.monotonic() - start, 1), "p50_ms": pct(0.50),
                      "p99_ms": pct(0.99), "max_ms": pct(1.0),
                      "mean_ms": round(1000 * statistics.fmean(lat), 2) if lat else 0.0}),
          flush=True)


if __name__ == "__main__":
    main()
