"""Per guest, a small JSON state file (``<state_dir>/guests/<name>.json``) remembering the
phase (install/final), whether it was started and the final definition: written atomically
(temporary file, fsync, rename), so a crash leaves the old state or the new one, never half."""

from __future__ import annotations

import json
import os
from typing import Any

from agent.loopconfig import LoopConfig


class GuestStateFiles:
    """The state-file part of ``agent.loop.Agent``."""

    config: LoopConfig

    def _state_path(self, name: str) -> str:
        return os.path.join(self.config.state_dir, "guests", f"{name}.json")

    def _load(self, name: str) -> dict[str, Any] | None:
        try:
            with open(self._state_path(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _save(self, state: dict[str, Any]) -> None:
        path = self._state_path(state["name"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _forget(self, name: str) -> None:
        try:
            os.unlink(self._state_path(name))
        except FileNotFoundError:
            pass

    def managed(self) -> list[dict[str, Any]]:
        d = os.path.join(self.config.state_dir, "guests")
        if not os.path.isdir(d):
            return []
        names = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json"))
        return [s for s in (self._load(n) for n in names) if s]
