"""The appliance's own TFTP service (``provisioner serve`` with tftp enabled) in a namespace:
per-request configs, assets over TFTP, the TFTP root over HTTP, and timeline events."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from provisioner.core.app import Core
from provisioner.models import Distro, Interface, Profile, System
from tests.e2e.appliance import appliance
from tests.netns import have_root_netns, lan

NETNS = [pytest.mark.netns,
         pytest.mark.skipif(not have_root_netns(), reason="needs root and ip netns")]

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
MAC = "52:54:00:ab:cd:01"


@NETNS[0]
@NETNS[1]
def test_tftp_service_renders_per_request_and_records_the_timeline(tmp_path: Path) -> None:
    kernel = os.urandom(3 * 1024 * 1024 + 11)
    (tmp_path / "k").write_bytes(kernel)
    (tmp_path / "i").write_bytes(b"initrd" * 1000)

    def fill(core: Core) -> None:
        core.add_distro(Distro(name="fx", os_version="rhel9", kernel=str(tmp_path / "k"),
                               initrd=str(tmp_path / "i"), tree_url="http://10.77.0.1/tree"))
        core.add_profile(Profile(name="p", distro="fx", kickstart="rhel9-guest.ks",
                                 metadata={"pxe_transport": "tftp"}))
        core.add_system(System(name="m1", profile="p",
                               interfaces=(Interface(mac=MAC, ip=CLIENT),)))

    with lan("ts") as (server, client):
        client.ip("link", "set", "eth0", "address", MAC)
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "eth0")
        (tmp_path / "tftpboot" / "pxelinux.cfg").mkdir(parents=True)
        shipped = Path(__file__).resolve().parents[2] / "tftpboot" / "pxelinux.cfg" / "default"
        (tmp_path / "tftpboot" / "pxelinux.cfg" / "default").write_bytes(shipped.read_bytes())
        (tmp_path / "tftpboot" / "pxelinux.0").write_bytes(b"loader" * 50)
        with appliance(server, tmp_path, SERVER, fill, interfaces=("br0",),
                       tftp_enabled=True) as app:
            cfg = client.run(["curl", "-sS", f"tftp://{SERVER}/pxelinux.cfg/01-52-54-00-ab-cd-01"])
            assert "KERNEL assets/fx/kernel" in cfg.stdout, cfg.stdout + app.log()
            assert "inst.ks=http://10.77.0.1:8080/ks/token/" in cfg.stdout
            out = tmp_path / "kernel.out"
            r = client.run(["atftp", "--option", "blksize 1468", "--option", "tsize 0", "-g",
                            "-r", "assets/fx/kernel", "-l", str(out), SERVER], check=False)
            assert r.returncode == 0, r.stderr + app.log()
            assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(kernel).digest()
            r = client.run(["tftp", SERVER, "-c", "get", "pxelinux.cfg/01-52-54-00-ff-ff-ff",
                            str(tmp_path / "x")], check=False)
            assert "Error code 1" in r.stdout + r.stderr  # unknown MAC: pxelinux moves on
            default = client.run(["curl", "-sS", f"tftp://{SERVER}/pxelinux.cfg/default"])
            assert "LOCALBOOT 0" in default.stdout
            http = client.run(["curl", "-sS", f"http://{SERVER}:8080/tftpboot/pxelinux.0"])
            assert http.stdout == "loader" * 50
            events = []
            for _ in range(50):  # events are written off the event loop: poll briefly
                events = app.timeline("m1")
                if any(e["kind"] == "tftp" for e in events):
                    break
                client.run(["sleep", "0.2"])
    kinds = [e["kind"] for e in events]
    assert "boot-config" in kinds
    (tftp,) = [e for e in events
               if e["kind"] == "tftp" and e["detail"]["path"] == "assets/fx/kernel"]
    assert tftp["detail"]["bytes"] == len(kernel) and tftp["detail"]["outcome"] == "done"
    assert tftp["detail"]["blksize"] == 1468 and tftp["detail"]["client"] == CLIENT


@pytest.mark.parametrize("enabled", [{}, {"tftp_enabled": True}],
                         ids=["nothing enabled", "tftp without interfaces"])
def test_nothing_listens_unless_interfaces_are_listed(tmp_path: Path, enabled: dict,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    from provisioner.net.supervisor import Supervisor
    from provisioner.settings import Settings

    supervisor = Supervisor(Settings(data_dir=str(tmp_path), **enabled), lambda event: None)
    try:
        supervisor.start()
        assert supervisor.workers == []
    finally:
        supervisor.close()
    if enabled:
        assert "no interfaces listed" in caplog.text


def test_a_failing_start_leaves_nothing_running(tmp_path: Path) -> None:
    from provisioner.errors import Invalid
    from provisioner.net.supervisor import Supervisor
    from provisioner.settings import Settings

    before = {t.name for t in threading.enumerate()}
    supervisor = Supervisor(Settings(data_dir=str(tmp_path), tftp_enabled=True,
                                     interfaces=("no-such-if0",)), lambda event: None)
    with pytest.raises(Invalid):
        supervisor.start()
    after = {t.name for t in threading.enumerate()}
    assert not {n for n in after - before if n.startswith(("watch-", "event-"))}
    assert supervisor.workers == []
