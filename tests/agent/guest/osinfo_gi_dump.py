"""Dump what libosinfo itself (gir1.2-libosinfo-1.0 through the system python3-gi) resolves for
every OS of the installed osinfo-db, as JSON on stdout: the oracle for ``test_osinfo.py``.

Run by ``/usr/bin/python3`` (the distribution's interpreter has ``gi``; the virtualenv does not).
"""

from __future__ import annotations

import json
import sys

import gi

gi.require_version("Libosinfo", "1.0")
from gi.repository import Libosinfo  # noqa: E402


def _resources(lst) -> dict:
    out = {}
    for i in range(lst.get_length()):
        r = lst.get_nth(i)
        out[r.get_architecture()] = [r.get_n_cpus(), r.get_ram(), r.get_storage()]
    return out


def main() -> None:
    loader = Libosinfo.Loader()
    loader.process_default_path()
    oses = loader.get_db().get_os_list()
    dump = {}
    for i in range(oses.get_length()):
        o = oses.get_nth(i)
        devs = o.get_all_devices(None)
        dump[o.get_id()] = {
            "short": sorted(set(o.get_short_id_list())), "family": o.get_family(),
            "distro": o.get_distro(), "version": o.get_version(),
            "devices": sorted(devs.get_nth(j).get_id() for j in range(devs.get_length())),
            "min": _resources(o.get_minimum_resources()),
            "rec": _resources(o.get_recommended_resources()),
            "net": _resources(o.get_network_install_resources()),
            "fw": sorted([f.get_architecture(), f.get_firmware_type(), f.is_supported()]
                         for f in o.get_complete_firmware_list(None).get_elements()),
            "url": o.get_kernel_url_argument(),
        }
    json.dump(dump, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
