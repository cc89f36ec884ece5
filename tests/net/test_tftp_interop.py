"""The TFTP server against real clients (tftp-hpa, atftp, curl) across network namespaces.

The server runs in this process, in a thread that has entered the server namespace (sockets
belong to the namespace of the thread that creates them); the clients run in the client
namespace over a veth/bridge with a 1500-byte MTU. Delay and loss come from ``bench/udp_relay.py``
(a user-space relay: ``tc netem`` is not available on this kind of machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.content.base import FileResponse, jail
from provisioner.content.hot import PacketCache
from provisioner.net.evloop import FastLoop
from provisioner.net.tftp import TftpServer
from provisioner.proto.tftp.session import SessionConfig, TransferStats
from tests.netns import Netns, have_root_netns, lan

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

ROOT = Path(__file__).resolve().parents[2]
SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
CLONE_NEWNET = 0x40000000


class ServerThread:
    """A TftpServer on its own event loop, in a thread inside namespace ``ns``: the TFTP
    workers' FastLoop and packet cache (``loop="asyncio"``: asyncio, reading every block)."""

    def __init__(self, ns: Netns, root: Path, loop: str = "fast", **kw) -> None:
        self.ns, self.root, self.kw = ns, root, kw
        self.done: list[TransferStats] = []
        self.cond = threading.Condition()
        self.loop: Any = FastLoop() if loop == "fast" else asyncio.new_event_loop()
        self.cache = PacketCache() if loop == "fast" else None
        self.server: TftpServer | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_done(self, stats: TransferStats) -> None:
        with self.cond:
            self.done.append(stats)
            self.cond.notify_all()

    def _run(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self.ns.name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            root, cache = self.root, self.cache
            self.server = TftpServer(lambda path, peer: FileResponse(jail(root, path), cache),
                                     loop=self.loop, on_transfer_done=self._on_done, **self.kw)
            self.server.listen(SERVER, 69)
            self.server.listen("127.0.0.1", 69)  # for the relay
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.server.close()
        self.loop.close()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert self.ready.wait(20)
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)

    def wait_done(self, n: int, timeout: float = 60) -> list[TransferStats]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.done) >= n, timeout), self.done
            return list(self.done)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tftproot")
    for name, size in (("1k.bin", 1024), ("1m.bin", 1 << 20), ("33m.bin", 33 * (1 << 20) + 7),
                       ("exact.bin", 512 * 128)):
        (root / name).write_bytes(os.urandom(size))
    (root / "sub").mkdir()
    (root / "sub" / "file.bin").write_bytes(os.urandom(3000))
    (root / "text.txt").write_bytes(b"line one\nline two\n")
    (root / "escape").symlink_to("/etc/passwd")
    (root / "inside").symlink_to("sub/file.bin")
    return root


@pytest.fixture
def net() -> Iterator[tuple[Netns, Netns]]:
    with lan("tf") as (server, client):
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        yield server, client


@contextlib.contextmanager
def serving(net, tree: Path, **kw) -> Iterator[ServerThread]:
    kw.setdefault("max_blksize", 65464)
    with ServerThread(net[0], tree, **kw) as st:
        yield st


def fetch(client: Netns, tool: str, name: str, out: Path, *opts: str, host: str = SERVER,
          port: int = 69, timeout: float = 180):
    if tool == "tftp":
        argv = ["tftp", "-m", "binary", host, str(port), "-c", "get", name, str(out)]
    elif tool == "atftp":
        argv = ["atftp", *[a for o in opts for a in ("--option", o)], "-g", "-r", name,
                "-l", str(out), host, str(port)]
    else:
        argv = ["curl", "-sS", "--max-time", str(int(timeout)), "-o", str(out),
                f"tftp://{host}:{port}/{name}"]
    return client.run(argv, timeout=timeout, check=False)


SIZES = ["1k.bin", "1m.bin", "exact.bin", "33m.bin"]


@pytest.mark.parametrize("tool,loop", [("tftp", "fast"), ("atftp", "fast"), ("curl", "fast"),
                                       ("atftp", "asyncio")])
def test_clients_get_files_intact_at_blksize_512(net, tree: Path, tmp_path: Path,
                                                 tool: str, loop: str) -> None:
    """1 KiB to 33 MiB at 512-byte blocks: the big one rolls the block number over twice."""
    with serving(net, tree, loop=loop) as st:
        for i, name in enumerate(SIZES):
            out = tmp_path / f"{tool}-{name}"
            r = fetch(net[1], tool, name, out)
            assert r.returncode == 0, r.stdout + r.stderr
            assert md5(out) == md5(tree / name), name
            stats = st.wait_done(i + 1)[-1]
            assert stats.outcome == "done" and stats.bytes_sent == (tree / name).stat().st_size
    assert stats.blocks > 65536 and stats.options.get("blksize", "512") == "512"


def test_atftp_negotiates_blksize_tsize_timeout_windowsize(net, tree: Path, tmp_path: Path) -> None:
    with serving(net, tree) as st:
        out = tmp_path / "o"
        r = fetch(net[1], "atftp", "33m.bin", out, "blksize 9000", "tsize 0", "timeout 2",
                  "windowsize 16")
        assert r.returncode == 0, r.stdout + r.stderr
        assert md5(out) == md5(tree / "33m.bin")
        (stats,) = st.wait_done(1)
    size = (tree / "33m.bin").stat().st_size
    # blksize is clamped to the veth's 1500-byte MTU: 1500 - 20 (IP) - 8 (UDP) - 4 (TFTP)
    assert stats.options == {"blksize": "1468", "tsize": str(size), "timeout": "2",
                             "windowsize": "16"}


def test_blksize_cap_from_settings(net, tree: Path, tmp_path: Path) -> None:
    with serving(net, tree, max_blksize=1024) as st:
        r = fetch(net[1], "atftp", "1m.bin", tmp_path / "o", "blksize 1468")
        assert r.returncode == 0 and md5(tmp_path / "o") == md5(tree / "1m.bin")
        assert st.wait_done(1)[0].options == {"blksize": "1024"}


def test_netascii_and_backslash_paths(net, tree: Path, tmp_path: Path) -> None:
    with serving(net, tree):
        r = net[1].run(["tftp", "-m", "netascii", SERVER, "-c", "get", "text.txt",
                        str(tmp_path / "t")], check=False)
        assert r.returncode == 0 and (tmp_path / "t").read_bytes() == b"line one\nline two\n"
        r = fetch(net[1], "curl", "sub\\file.bin", tmp_path / "b")
        assert r.returncode == 0, r.stderr
        assert md5(tmp_path / "b") == md5(tree / "sub" / "file.bin")
        r = fetch(net[1], "tftp", "inside", tmp_path / "s")  # a symlink that stays inside
        assert r.returncode == 0 and md5(tmp_path / "s") == md5(tree / "sub" / "file.bin")


HOSTILE = [
    ("dot-dot", "../../etc/passwd"),
    ("dot-dot inside", "sub/../../etc/passwd"),
    ("absolute host path", "/etc/passwd"),
    ("backslash dot-dot", "sub\\..\\..\\etc\\passwd"),
    ("percent-encoded dot-dot", "%2e%2e/%2e%2e/etc/passwd"),
    ("symlink out of the root", "escape"),
]


@pytest.mark.parametrize("path", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_paths_refused_with_error_2(net, tree: Path, tmp_path: Path, path: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with serving(net, tree) as st, caplog.at_level("WARNING", "provisioner.tftp"):
        r = fetch(net[1], "tftp", path, tmp_path / "o")
        assert "Error code 2" in r.stdout + r.stderr, r.stdout + r.stderr
        st.wait_done(1)
    assert f"refused {path!r}" in caplog.text


RAW_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 69))
data, _ = s.recvfrom(70000)
print(data.hex())
"""


def raw_request(client: Netns, datagram: bytes) -> bytes:
    r = client.run([sys.executable, "-c", RAW_CLIENT, datagram.hex(), SERVER], timeout=30)
    return bytes.fromhex(r.stdout.strip())


@pytest.mark.parametrize("name", [b"\xff\xfe.bin", b"sub/\x01file.bin", b"1k.bin\x7f"],
                         ids=["non-UTF-8", "control character", "DEL"])
def test_odd_encodings_refused_with_error_2(net, tree: Path, name: bytes) -> None:
    with serving(net, tree):
        reply = raw_request(net[1], b"\x00\x01" + name + b"\x00octet\x00")
    assert reply[:4] == b"\x00\x05\x00\x02", reply


@pytest.mark.parametrize("tool", ["tftp", "atftp"])
def test_write_requests_refused(net, tree: Path, tmp_path: Path, tool: str) -> None:
    src = tmp_path / "upload.bin"
    src.write_bytes(b"data")
    with serving(net, tree):
        if tool == "tftp":
            argv = ["tftp", SERVER, "-c", "put", str(src), "upload.bin"]
        else:
            argv = ["atftp", "-p", "-l", str(src), "-r", "upload.bin", SERVER]
        r = net[1].run(argv, check=False, timeout=60)
    assert "read-only server" in r.stdout + r.stderr or "Error code 2" in r.stdout + r.stderr, \
        r.stdout + r.stderr
    assert not (tree / "upload.bin").exists()


STALL = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"\x00\x01" + b"33m.bin\x00octet\x00", (sys.argv[1], 69))
s.settimeout(10)
data, _ = s.recvfrom(70000)
print("first", data[:4].hex(), flush=True)
time.sleep(60)  # never acknowledge: a stalled client
"""


def test_a_stalled_transfer_does_not_hold_up_others_and_the_cap_holds(net, tree: Path,
                                                                      tmp_path: Path) -> None:
    with serving(net, tree, max_transfers=2,
                 config=SessionConfig(give_up=120.0)) as st:
        stalled = net[1].popen([sys.executable, "-c", STALL, SERVER], text=True)
        assert stalled.stdout.readline().startswith("first 00030001")
        r = fetch(net[1], "atftp", "1m.bin", tmp_path / "a", "blksize 1468")
        assert r.returncode == 0 and md5(tmp_path / "a") == md5(tree / "1m.bin")
        assert st.wait_done(1)[0].outcome == "done"
        # two stalled transfers fill the cap of 2: the next request is told the server is busy
        stalled2 = net[1].popen([sys.executable, "-c", STALL, SERVER], text=True)
        assert stalled2.stdout.readline().startswith("first 00030001")
        reply = raw_request(net[1], b"\x00\x011k.bin\x00octet\x00")
        assert reply[:4] == b"\x00\x05\x00\x00" and b"busy" in reply


@contextlib.contextmanager
def relay(server: Netns, **link: float) -> Iterator[int]:
    argv = [sys.executable, str(ROOT / "bench" / "udp_relay.py"), "--listen", f"{SERVER}:0",
            "--upstream", "127.0.0.1:69"]
    for key, value in link.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    proc = server.popen(argv, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[:1] == ["ready"], line
        yield int(line[2])
    finally:
        proc.kill()
        proc.wait(10)


LOSSY = [
    ("tftp-hpa lock-step, delay and 2% loss both ways", "tftp", ()),
    ("atftp blksize 1468, delay and 2% loss", "atftp", ("blksize 1468",)),
    ("atftp windowsize 8, delay and 2% loss", "atftp", ("blksize 1468", "windowsize 8")),
    ("curl, delay and 2% loss", "curl", ()),
]


@pytest.mark.parametrize("tool,opts", [c[1:] for c in LOSSY], ids=[c[0] for c in LOSSY])
def test_transfers_complete_through_delay_and_loss(net, tree: Path, tmp_path: Path, tool: str,
                                                   opts: tuple[str, ...]) -> None:
    with serving(net, tree) as st, relay(net[0], delay_up=0.001, delay_down=0.001,
                                         loss_up=0.02, loss_down=0.02) as port:
        r = fetch(net[1], tool, "1m.bin", tmp_path / "o", *opts, port=port)
        assert r.returncode == 0, r.stdout + r.stderr
        assert md5(tmp_path / "o") == md5(tree / "1m.bin")
        stats = [s for s in st.wait_done(1) if s.outcome == "done"]
    assert stats and stats[-1].retransmits > 0
