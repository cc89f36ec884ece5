"""Our TFTP server alone on a directory, for benchmarks.

``python bench/tftp_serve.py ROOT ADDR:PORT``.

Serves static files under ROOT (jailed) with the appliance's transport and session; prints
``READY`` once bound and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.content.base import FileResponse, jail  # noqa: E402
from provisioner.content.hot import PacketCache  # noqa: E402
from provisioner.net.evloop import FastLoop  # noqa: E402
from provisioner.net.tftp import TftpServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("listen")
    ap.add_argument("--max-blksize", type=int, default=65464)
    ap.add_argument("--max-transfers", type=int, default=256)
    ap.add_argument("--loop", choices=["fast", "asyncio"], default="fast",
                    help="net/evloop.FastLoop (as the TFTP workers) or asyncio")
    ap.add_argument("--no-cache", dest="cache", action="store_false",
                    help="read every block from the file (no content/hot.py packet cache)")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    root = Path(args.root)
    loop: Any = FastLoop() if args.loop == "fast" else asyncio.new_event_loop()
    cache = PacketCache() if args.cache else None
    server = TftpServer(lambda path, peer: FileResponse(jail(root, path), cache), loop=loop,
                        max_blksize=args.max_blksize, max_transfers=args.max_transfers)
    server.listen(host, int(port))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    print("READY", flush=True)
    loop.run_forever()
    server.close()


if __name__ == "__main__":
    main()
