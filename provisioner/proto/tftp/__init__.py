"""tftp package."""
