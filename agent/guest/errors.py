"""The one error type of the guest model: bad options or a broken seed rule, with a code."""

from __future__ import annotations


class GuestError(ValueError):
    """Rejected guest definition. ``code`` is stable (tests and the appliance match on it)."""

    def __init__(self, message: str, code: str = "INVALID") -> None:
        super().__init__(message)
        self.code = code
