"""The provisioning appliance: inventory, rendering and the network-boot protocols."""

__version__ = "0.1.0"
