"""Run the real virt-install (virtinst 4.1, Debian's ``/usr/share/virt-manager``) on many
command lines in one process: the harness's batch mode.

Run by the system interpreter (``/usr/bin/python3``, which has Debian's ``python3-libvirt``
and ``python3-gi``), exactly as ``/usr/bin/virt-install`` runs: that script inserts
``/usr/share/virt-manager`` into ``sys.path`` and calls ``virtinstall.runcli()``; here
``virtinstall.main()`` is called once per command line with ``sys.argv`` set, and what
``runcli`` does with its outcome is repeated (exit code, error message on stderr). Loading
libosinfo's database once instead of once per case is the whole saving.

stdin: one JSON list per line (the arguments after ``virt-install``).
stdout: one JSON object per line: ``{"rc": int, "out": str, "err": str, "s": seconds}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

sys.path.insert(0, "/usr/share/virt-manager")
os.environ.pop("VIRTINST_TEST_SUITE", None)  # the suite's own hooks stay off

from virtinst import cli, virtinstall  # noqa: E402


def run_one(argv: list[str]) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    rc, t0 = 0, time.perf_counter()
    sys.argv = ["virt-install", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = virtinstall.main() or 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # noqa: BLE001 - runcli's own catch-all: fail(e) -> exit 1
            try:
                cli.fail(exc)
            except SystemExit as exit_exc:
                rc = exit_exc.code if isinstance(exit_exc.code, int) else 1
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue(),
            "s": round(time.perf_counter() - t0, 6)}


def main() -> None:
    real_stdout = sys.stdout
    for line in sys.stdin:
        if line.strip():
            result = run_one(json.loads(line))
            real_stdout.write(json.dumps(result) + "\n")
            real_stdout.flush()


if __name__ == "__main__":
    main()
