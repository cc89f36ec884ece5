"""Power drivers (the ``PowerDrivers`` port of ``core/ports.py``) and the power CLI.

* ``redfish.py``: Redfish through sushy (reset types, boot override Once/Continuous, UEFI or
  legacy, session or basic auth, TLS verified against a per-BMC CA bundle);
* ``ipmi.py`` (+ ``ipmi_call.py``, its child process): IPMI 2.0 through pyghmi;
* ``agentwork.py``: libvirt guests through their host's agent (``guest.power`` work);
* ``deadline.py``: a deadline around calls that cannot be cancelled;
* ``drivers.py``: picks the driver for a system's settings;
* ``poller.py``: the serve process's background refresh of every system's power state;
* ``cli.py``: ``provisioner power ...`` and ``provisioner reinstall NAME...``.

The use-cases (roles, credentials, the timeline, reinstall) are in ``core/power.py`` and
``core/reinstall.py``; they see drivers only through the port.
"""
