"""dhcp package."""
