"""Which tests share a pytest-xdist worker (``scripts/test.sh`` runs ``-n 2 --dist loadgroup``).

Under ``--dist loadgroup`` every test carrying ``xdist_group(name)`` runs on the one worker that
gets that group, in collection order; other tests go to whichever worker is free. Groups are given
here, once, by rule rather than by hand on each test:

1. a test's own ``@pytest.mark.xdist_group`` wins;
2. tests marked with a machine-wide resource in :data:`MACHINE_GROUPS` share that group: there is
   one system libvirtd per machine (``tests/integration/libvirtd.py`` also locks it), and QEMU
   boots under TCG each want a whole core, so two at once only make both slower and their
   timeouts tighter;
3. tests using one of our session-scoped fixtures share a group named after it, so the fixture
   is set up once (e.g. one PostgreSQL server, not one per worker);
4. tests using one of our module-scoped fixtures stay together by module (one boot, one root,
   one dnsmasq per module instead of one per worker).

Without xdist (``pytest -n 0`` or plain ``pytest``) the marks are inert.
"""

from __future__ import annotations

import pytest

MACHINE_GROUPS = {"libvirtd": "machine-vm", "qemu": "machine-vm"}


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
        return f"module-{item.nodeid.split('::')[0]}"
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups = {item: group_for(item) for item in items
              if item.get_closest_marker("xdist_group") is None}
    # a module whose shared fixture some machine-group tests use joins that group whole
    machine = {item.nodeid.split("::")[0]: g for item, g in groups.items()
               if g in MACHINE_GROUPS.values()}
    for item, group in groups.items():
        if group is not None and group.startswith("module-"):
            group = machine.get(item.nodeid.split("::")[0], group)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
