"""DHCPv6 (RFC 8415) sans-IO: codec, options, configuration and the server policy."""
