"""How the suite shares two cores (``scripts/test.sh`` runs ``pytest -n 2 --dist loadgroup``).

Under ``--dist loadgroup`` every test carrying ``xdist_group(name)`` runs on the one worker that
gets that group, in collection order; other tests go to whichever worker is free. Groups are given
here, once, by rule rather than by hand on each test:

1. a test's own ``@pytest.mark.xdist_group`` wins;
2. tests marked with a machine-wide resource in :data:`MACHINE_GROUPS` share that group: there is
   one system libvirtd per machine (``tests/integration/libvirtd.py`` also locks it, so two
   workers would only wait on each other);
3. tests using one of our session-scoped fixtures share a group named after it, so the fixture
   is set up once;
4. tests using one of our module-scoped fixtures stay together by module (one QEMU boot, one
   Debian root, one dnsmasq per module instead of one per worker).

QEMU boots are not serialised: each takes one core under TCG, two at once fit two cores.
Under xdist the modules holding :data:`HEAVY` tests are collected first (stable, module order
kept) so the long units start at once and the many short tests fill the gaps; without xdist
(``-n 0`` or plain ``pytest``) nothing is reordered and the marks are inert.
"""

from __future__ import annotations

import pytest

MACHINE_GROUPS = {"libvirtd": "machine-libvirtd"}
HEAVY = ("qemu", "libvirtd", "slow")


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def group_for(item: pytest.Item) -> str | None:
    """The xdist group ``item`` should run in, or None to be scheduled freely."""
    for marker, group in MACHINE_GROUPS.items():
        if item.get_closest_marker(marker) is not None:
            return group
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs if info is not None else {}
    by_scope: dict[str, str] = {}
    for name, fixturedefs in sorted(defs.items()):
        for fd in fixturedefs:
            if not getattr(fd.func, "__module__", "").startswith("tests"):
                continue  # pytest's and plugins' own (tmp_path_factory, ...): cheap
            by_scope.setdefault(fd.scope, name)
    if "session" in by_scope:
        return f"session-{by_scope['session']}"
    if "package" in by_scope or "module" in by_scope:
        return f"module-{_module(item)}"
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item: group_for(item) for item in items
              if item.get_closest_marker("xdist_group") is None}
    # a module whose shared fixture some machine-group tests use joins that group whole
    machine = {_module(item): g for item, g in groups.items() if g in MACHINE_GROUPS.values()}
    for item, group in groups.items():
        if group is not None and group.startswith("module-"):
            group = machine.get(_module(item), group)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts the same way
        heavy = {_module(i) for i in items if any(i.get_closest_marker(m) for m in HEAVY)}
        items.sort(key=lambda i: _module(i) not in heavy)
