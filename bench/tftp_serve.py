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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.content.base import FileResponse, jail  # noqa: E402
from provisioner.net.tftp import TftpServer  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("listen")
    ap.add_argument("--max-blksize", type=int, default=65464)
    ap.add_argument("--max-transfers", type=int, default=256)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    root = Path(args.root)
    loop = asyncio.get_running_loop()
    server = TftpServer(lambda path, peer: FileResponse(jail(root, path)), loop=loop,
                        max_blksize=args.max_blksize, max_transfers=args.max_transfers)
    server.listen(host, int(port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
