"""The seed's platform rules, each held once as data, for the appliance and the agent alike.

Everything the RHEL 5 Virtualization Guide fixes as a number or a table lives in ``data/*.toml``
and is read through the small loaders here; both trees import this package (the agent imports
nothing else from ``provisioner``), so a fix to a rule lands everywhere at once.

* :mod:`~provisioner.platform.tables`: the TOML tables (limits, support matrices, constraint
  rules, paravirtual-driver matrix, MAC prefixes), loaded once;
* :mod:`~provisioner.platform.osversion`: the one parser of OS version strings (``rhel5.4``)
  and release numbers (``5.4``);
* :mod:`~provisioner.platform.clock`: the guest clock-parameter table (seed D1 §2.5).

Pure: standard library only, no I/O beyond reading the package's own data files.
"""
