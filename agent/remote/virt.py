"""``Virt`` for a host reached over a remote libvirt URI: the same define/start/watch calls, but
disk images and boot files are libvirt storage volumes (the agent has no shell and no file
system on that host). A disk's directory must be an active storage pool on the host (the image
directory is one on any host made for this; ``BRIDGE``-like, a missing pool is a clear error).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import libvirt

from agent.guest.domain import Guest
from agent.guest.errors import GuestError
from agent.guest.paths import under
from agent.guest.virt import Virt


@dataclass
class RemoteVirt(Virt):
    def _pool(self, directory: str) -> Any:
        want = posixpath.normpath(directory)
        for pool in self._call(self.conn.listAllStoragePools,
                               libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            target = ET.fromstring(self._call(pool.XMLDesc, 0)).findtext("target/path")
            if target and posixpath.normpath(target) == want:
                return pool
        raise GuestError(f"no active storage pool at {directory} on the host: define one "
                             "(virsh pool-define-as NAME dir --target DIR; pool-start)",
                             "NO_POOL")

    def _volume(self, path: str) -> Any | None:
        try:
            return self._call(self.conn.storageVolLookupByPath, path)
        except libvirt.libvirtError:
            return None

    def create_images(self, guest: Guest) -> list[str]:
        created = []
        for disk in guest.disk:
            if disk.is_cdrom or disk.type != "file" or disk.size_gb is None:
                continue
            pool = self._pool(posixpath.dirname(disk.source_file))
            self._call(pool.refresh, 0)
            if self._volume(disk.source_file) is not None:
                continue
            created.append(self.create_image(disk.source_file, disk.size_gb,
                                             disk.fmt or "qcow2", sparse=bool(disk.sparse)))
        return created

    def create_image(self, path: str, size_gb: float, fmt: str, *, sparse: bool,
                     dirs: tuple[str, ...] | None = None) -> str:
        if not under(path, self.image_dir):
            raise GuestError(f"{path!r} is outside the image directory {self.image_dir}",
                             "IMAGE_OUTSIDE_IMAGE_DIR")
        pool = self._pool(posixpath.dirname(path))
        size = int(size_gb * 1024 ** 3)
        xml = (f"<volume><name>{posixpath.basename(path)}</name><capacity>{size}</capacity>"
               f"<allocation>{0 if sparse else size}</allocation>"
               f"<target><format type='{fmt}'/></target></volume>")
        try:
            self._call(pool.createXML, xml, 0)
        except libvirt.libvirtError as exc:
            code = "NO_SPACE" if "space" in str(exc).lower() else "IMAGE_CREATE"
            raise GuestError(f"cannot create {path} on the host: {exc}", code) from None
        return path

    def fetch_boot_files(self, guest: Guest, timeout: float = 120) -> list[str]:
        """Download here, upload into a volume there (virStorageVolUpload)."""
        done = []
        for src, dest in guest.boot_files:
            if not under(dest, self.image_dir):
                raise GuestError(f"{dest!r} is outside the image directory", "BAD_PATH")
            with tempfile.NamedTemporaryFile(prefix="boot-") as tmp:
                try:
                    if src.startswith("/"):
                        with open(src, "rb") as fh:
                            tmp.write(fh.read())
                    else:
                        with urllib.request.urlopen(src, timeout=timeout) as r:
                            tmp.write(r.read())
                    tmp.flush()
                except OSError as exc:
                    raise GuestError(f"cannot fetch {src}: {exc}", "FETCH_FAILED") from None
                self._upload(tmp.name, dest)
            done.append(dest)
        return done

    def _upload(self, local: str, dest: str) -> None:
        size = os.path.getsize(local)
        old = self._volume(dest)
        if old is not None:
            self._call(old.delete, 0)
        pool = self._pool(posixpath.dirname(dest))
        vol = self._call(pool.createXML, f"<volume><name>{posixpath.basename(dest)}</name>"
                         f"<capacity>{size}</capacity><target><format type='raw'/></target>"
                         "</volume>", 0)
        stream = self.conn.newStream(0)
        try:
            self._call(vol.upload, stream, 0, size, 0)
            with open(local, "rb") as fh:
                stream.sendAll(lambda _s, n, f: f.read(n), fh)
            stream.finish()
        except libvirt.libvirtError as exc:
            with contextlib.suppress(libvirt.libvirtError):
                stream.abort()
            raise GuestError(f"cannot upload {dest} to the host: {exc}", "FETCH_FAILED") \
                from None

    def undefine(self, name: str, *, remove_storage: bool = True) -> list[str]:
        dom = self.lookup(name)
        if dom is None:
            return []
        root = ET.fromstring(self._call(dom.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE))
        super().undefine(name, remove_storage=False)
        removed = []
        if remove_storage:
            paths = [d.get("file") for d in root.findall("./devices/disk[@device='disk']/source")]
            paths += [root.findtext("./os/kernel"), root.findtext("./os/initrd")]
            for path in filter(None, paths):
                vol = self._volume(path) if under(path, self.image_dir) else None
                if vol is not None:
                    self._call(vol.delete, 0)
                    removed.append(path)
        return removed
