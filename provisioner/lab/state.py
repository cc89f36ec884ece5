"""What a lab is: its constants, its state file (written after every step so ``down`` can
always clean up) and the error the user can act on."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "lab.json"


DEFAULT_CACHE = Path("/var/cache/provisioner/lab")


DEFAULT_SUBNET = "10.79.0"


HTTP_PORT = 8080
DISTRO, PROFILE, HOST = "lab", "lab-guest", "lab-host"
LIBVIRT_ROOTS = "/run/provisioner-lab"  # one embedded-libvirt root per lab, named by namespace


class LabError(Exception):
    """Something the user can act on (already up, not root, a step failed)."""


@dataclass
class LabState:
    """Everything ``up`` made; written after every step so ``down`` can always clean up."""

    dir: str
    netns: str
    subnet: str
    mode: str
    created: float = 0.0
    bridge: str = "br0"
    ui_port: int = 0
    admin_password: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    guests: list[dict[str, Any]] = field(default_factory=list)
    cache: str = str(DEFAULT_CACHE)
    libvirt_root: str = ""  # short path: QEMU's monitor sockets live under it (108-byte limit)
    ready: bool = False

    @property
    def server(self) -> str:
        return f"{self.subnet}.1"

    @property
    def appliance_url(self) -> str:
        return f"http://{self.server}:{HTTP_PORT}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}/" if self.ui_port else ""

    def save(self) -> None:
        path = Path(self.dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, lab_dir: Path) -> LabState | None:
        try:
            data = json.loads((lab_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def lab_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lab"
