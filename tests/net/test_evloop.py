"""FastLoop (``net/evloop.py``): the TFTP workers' event loop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from provisioner.net.evloop import FastLoop


def test_timers_fire_in_order_cancelled_ones_never_and_errors_do_not_stop_it(caplog) -> None:
    loop = FastLoop()
    fired: list[str] = []
    now = loop.time()
    loop.call_at(now + 0.03, fired.append, "c")
    loop.call_at(now + 0.01, fired.append, "a")
    loop.call_later(0.02, lambda: 1 / 0)  # logged, the loop goes on
    loop.call_at(now + 0.015, fired.append, "x").cancel()
    loop.call_later(0.02, fired.append, "b")
    loop.call_later(0.05, loop.stop)
    with caplog.at_level(logging.ERROR):
        loop.run_forever()
    assert fired == ["a", "b", "c"]
    assert "timer callback failed" in caplog.text
    loop.close()


def test_readers_threadsafe_calls_and_signals_wake_it() -> None:
    loop = FastLoop()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    got: list[bytes] = []
    loop.add_reader(a.fileno(), lambda: got.append(a.recv(100)))
    b.send(b"one")
    loop.call_later(0.02, loop.remove_reader, a.fileno())
    loop.call_later(0.03, b.send, b"after removal: not read")
    threading.Timer(0.05, loop.call_soon_threadsafe, (loop.stop,)).start()
    loop.run_forever()  # stopped from another thread
    assert got == [b"one"]
    seen: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, lambda: (seen.append("usr1"), loop.stop()))
    loop.call_later(0.01, os.kill, os.getpid(), signal.SIGUSR1)
    loop.call_later(5.0, loop.stop)  # a bound, in case the signal never wakes it
    loop.run_forever()
    assert seen == ["usr1"]
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    loop.close()
    a.close()
    b.close()
