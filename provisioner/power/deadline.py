"""A deadline around a blocking call that cannot be cancelled (an HTTP exchange, a library's
retry loop): the call runs in a worker thread joined with the time left; when the time is up
the caller gets :class:`~provisioner.errors.PowerError` ``timeout`` at once and the thread is
left to end with its own socket timeouts (set those too: it must not live forever)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from provisioner.errors import PowerError

T = TypeVar("T")


def within(seconds: float, what: str, fn: Callable[[], T]) -> T:
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=work, name=f"power {what}", daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise PowerError("timeout", f"{what}: no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
