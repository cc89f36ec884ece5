"""The host-prep agent: probe a hypervisor host, plan and apply changes, spawn guests."""

__version__ = "0.1.0"
