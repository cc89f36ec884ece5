"""Install media and images the generated command lines point at, at fixed paths.

Fixed paths keep virt-install's output (and so the result cache) independent of the run.
The trees carry a ``.treeinfo`` whose family libosinfo does not know, so neither side detects
an OS from them (the agent does not detect media; the OS always comes from --osinfo). An HTTP
server serves the x86-64 tree for network ``--location`` cases; its URL is substituted for
``{url}`` after the cache key is taken.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path("/tmp/provisioner-virtinst-equiv")
TREEINFO = """[general]
family = Provisioner Test Tree
version = 1.0
arch = {arch}
[images-{arch}]
kernel = images/pxeboot/vmlinuz
initrd = images/pxeboot/initrd.img
[images-xen]
kernel = images/xen/vmlinuz
initrd = images/xen/initrd.img
"""
#: Placeholders a generated command line may use.
PATHS = {
    "iso": ROOT / "install.iso",
    "tree": ROOT / "tree-x86_64",
    "tree_arm": ROOT / "tree-aarch64",
    "raw": ROOT / "existing.img",
    "qcow2": ROOT / "existing.qcow2",
    "share": ROOT / "share",
}


def prepare() -> dict[str, str]:
    """Create the files once (idempotent); return the placeholder values (without {url})."""
    ROOT.mkdir(parents=True, exist_ok=True)
    if not PATHS["iso"].exists():
        PATHS["iso"].write_bytes(b"\0" * 2048)
    for key, arch in (("tree", "x86_64"), ("tree_arm", "aarch64")):
        tree = PATHS[key]
        for sub in ("pxeboot", "xen"):
            (tree / "images" / sub).mkdir(parents=True, exist_ok=True)
            (tree / "images" / sub / "vmlinuz").write_bytes(b"kernel")
            (tree / "images" / sub / "initrd.img").write_bytes(b"initrd")
        (tree / ".treeinfo").write_text(TREEINFO.format(arch=arch))
    if not PATHS["raw"].exists():
        PATHS["raw"].write_bytes(b"\0" * 65536)
    if not PATHS["qcow2"].exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(PATHS["qcow2"]), "64M"],
                       check=True, timeout=60)
    PATHS["share"].mkdir(exist_ok=True)
    return {k: str(v) for k, v in PATHS.items()}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def tree_server() -> Iterator[str]:
    """Serve the x86-64 tree over HTTP on 127.0.0.1 for the run; yield its base URL."""
    handler = functools.partial(_Quiet, directory=str(PATHS["tree"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
