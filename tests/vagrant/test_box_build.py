"""``lab box build`` failing: the step is named, the log is kept, nothing half-made remains.

A real ``mmdebstrap`` runs against a mirror that refuses connections (a closed port on this
machine's loopback), so the root file system step fails the way an unreachable or broken mirror
does. The wheelhouse step is replaced by an empty directory (the step that fails comes after
it, and building libvirt-python's wheel for the host role would only cost time). The full,
successful build is exercised by ``test_vagrant_lab.py``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from provisioner.lab.vagrant import boxbuild, boxspec, session

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mmdebstrap") is None,
                                 reason="needs root and mmdebstrap")]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused at once
    return port


def test_unknown_distro_and_role_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(boxbuild.BoxError, match=r"unknown distro 'debian-13'; one of: debian-12"):
        boxbuild.build("debian-13", "appliance", tmp_path)
    with pytest.raises(boxbuild.BoxError, match=r"unknown role 'router'; one of: appliance, host"):
        boxbuild.build("debian-12", "router", tmp_path)
    assert not (tmp_path / "boxes").exists()


def test_a_failing_mirror_names_the_step_keeps_the_log_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    bad = dataclasses.replace(boxspec.DISTROS["debian-12"],
                              mirrors=(f"deb http://127.0.0.1:{port}/debian bookworm main",))
    monkeypatch.setitem(boxspec.DISTROS, "debian-12", bad)
    monkeypatch.setattr(boxbuild.wheelhouse, "build",
                        lambda dest, *_a, **_k: dest.mkdir(parents=True))
    said: list[str] = []
    with pytest.raises(boxbuild.BoxError) as err:
        boxbuild.build("debian-12", "host", tmp_path, say=said.append)
    msg = str(err.value)
    assert "box build failed at step 'root file system'" in msg
    assert "mmdebstrap exited with" in msg
    log = Path(msg.rsplit("; log: ", 1)[1])
    assert log.is_file() and f"127.0.0.1:{port}" in log.read_text()
    boxes = tmp_path / "boxes"
    assert not list(boxes.glob("*.box")) and not list(boxes.glob("work-*"))
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
    # the lab's own command line prints it as one clear error
    assert not any("built in" in s for s in said)


def test_work_directory_removal_never_descends_into_a_mount(tmp_path: Path) -> None:
    work = tmp_path / "work-x"
    (work / "rootfs" / "proc").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(work / "rootfs" / "proc")], check=True)
    marker = work / "rootfs" / "proc" / "inside-the-mount"
    marker.write_text("x")
    boxbuild._remove_workdir(work)
    assert not work.exists()
    assert str(work) not in Path("/proc/self/mountinfo").read_text()


def test_the_lab_refuses_without_vagrant_libvirt(tmp_path: Path) -> None:
    env = {**os.environ, "VAGRANT_NO_PLUGINS": "1", "VAGRANT_HOME": str(tmp_path),
           "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"), "VAGRANT_CHECKPOINT_DISABLE": "1"}
    with pytest.raises(session.LabError, match="apt-get install vagrant-libvirt"):
        session.check_plugin(env)


def test_pruning_keeps_the_new_build_and_any_box_used_within_the_hour(tmp_path: Path) -> None:
    name = "provisioner-appliance-debian-12"
    new, recent, stale = (tmp_path / f"{name}-{k}.box" for k in ("new", "recent", "stale"))
    other = tmp_path / "provisioner-host-debian-12-old.box"
    for f in (new, recent, stale, other):
        f.write_bytes(b"box")
    now = 1_000_000_000.0
    os.utime(recent, (now - 600, now - 600))  # another checkout reused it 10 min ago
    os.utime(stale, (now - 7200, now - 7200))
    os.utime(other, (now - 7200, now - 7200))
    boxbuild._prune(tmp_path, name, keep=new, now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (new, recent, other))
