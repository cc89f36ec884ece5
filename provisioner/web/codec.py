"""JSON <-> inventory values for the REST API, driven by one field table per kind.

The same tables produce the OpenAPI schemas (``web/openapi.py``), so the document cannot drift
from what the API accepts. Parsing rejects unknown fields and wrong JSON types with
:class:`Invalid` naming the field; value rules (MAC syntax, URL schemes, limits) are the models'.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from provisioner.errors import Invalid
from provisioner.models import Distro, Interface, Profile, System, VmDefaults

# field -> (JSON type, nullable, description)
FieldSpec = tuple[str, bool, str]

VM_FIELDS: dict[str, FieldSpec] = {
    "ram_mb": ("integer", True, "guest RAM in MiB"),
    "vcpus": ("integer", True, "virtual CPUs"),
    "disk_gb": ("integer", True, "disk size in GiB"),
    "disk_bus": ("string", True, "virtio, ide, scsi, xen or sata"),
    "bridge": ("string", True, "host bridge for the guest NIC"),
    "hypervisor": ("string", True, "kvm or xen"),
    "virt_type": ("string", True, "hvm (full) or pv (para-virtualised, Xen only)"),
}
INTERFACE_FIELDS: dict[str, FieldSpec] = {
    "mac": ("string", False, "MAC address, any common spelling"),
    "ip": ("string", True, "static IPv4 address (unique)"),
    "name": ("string", False, "interface name, default eth0"),
    "bridge": ("string", True, "bridge the NIC sits on"),
    "netmask": ("string", True, "IPv4 netmask"),
    "gateway": ("string", True, "IPv4 gateway"),
    "ipv6": ("string", True, "reserved DHCPv6 address (unique)"),
    "duid": ("string", True, "DHCPv6 client DUID in hex: reservation by DUID (unique)"),
}
FIELDS: dict[str, dict[str, FieldSpec]] = {
    "distro": {
        "name": ("string", False, "unique name"),
        "arch": ("string", False, "x86_64, i386, ia64, aarch64, ppc64le, s390x"),
        "os_version": ("string", False, "e.g. rhel5.4, rhel9"),
        "breed": ("string", False, "redhat, debian, suse, windows, generic"),
        "kernel": ("string", False, "kernel: http(s) URL or absolute path"),
        "initrd": ("string", False, "initrd: http(s) URL or absolute path"),
        "tree_url": ("string", False, "install tree: http, https, ftp or nfs URL"),
        "kernel_options": ("string", False, "kernel options for every install of this distro"),
    },
    "profile": {
        "name": ("string", False, "unique name"),
        "distro": ("string", True, "distro (exactly one of distro or parent)"),
        "parent": ("string", True, "parent profile to inherit from"),
        "kickstart": ("string", True, "kickstart template under templates/kickstarts"),
        "kernel_options": ("string", True, "merged over the distro's, key by key"),
        "metadata": ("object", False, "free-form values for templates"),
        "vm": ("vm", False, "virtual-machine defaults"),
    },
    "system": {
        "name": ("string", False, "unique name"),
        "profile": ("string", False, "profile to install"),
        "hostname": ("string", True, "host name (default: the system name)"),
        "interfaces": ("interfaces", False, "network interfaces"),
        "netboot_enabled": ("boolean", False, "install on next network boot (one-shot)"),
        "kernel_options": ("string", True, "merged over the profile's, key by key"),
        "metadata": ("object", False, "free-form values for templates"),
        "vm": ("vm", False, "virtual-machine settings"),
        "status": ("string", False, "new, installing, installed, failed, discovered"),
        "token": ("string", False, "per-system secret for /ks/token and /cb (generated)"),
    },
}
REQUIRED = {"distro": ("name",), "profile": ("name",), "system": ("name", "profile")}
READ_ONLY_ON_UPDATE = ("name",)
_PY = {"string": str, "integer": int, "boolean": bool, "object": dict}
_ARTICLE = {"string": "a string", "integer": "an integer", "boolean": "a boolean",
            "object": "an object", "vm": "an object", "interfaces": "a list of objects"}


def _check(field: str, value: Any, spec: FieldSpec) -> Any:
    kind, nullable, _ = spec
    if value is None:
        if nullable:
            return None
        raise Invalid(f"field {field!r} must not be null", field=field)
    if kind == "vm":
        return parse_vm(value, field)
    if kind == "interfaces":
        if not isinstance(value, list):
            raise Invalid(f"field {field!r} must be {_ARTICLE[kind]}", field=field)
        return tuple(parse_interface(v, f"{field}[{i}]") for i, v in enumerate(value))
    ok = isinstance(value, _PY[kind]) and not (kind == "integer" and isinstance(value, bool))
    if not ok:
        raise Invalid(f"field {field!r} must be {_ARTICLE[kind]}, not {type(value).__name__}",
                      field=field)
    return value


def _fields(body: Any, table: dict[str, FieldSpec], where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(f"{where} must be a JSON object", field=where if where != "body" else None)
    out = {}
    for key, value in body.items():
        if key not in table:
            raise Invalid(f"unknown field {key!r} in {where}; known: {', '.join(table)}", field=key)
        out[key] = _check(key, value, table[key])
    return out


def parse_vm(body: Any, where: str = "vm") -> VmDefaults:
    return VmDefaults(**_fields(body, VM_FIELDS, where))


def parse_interface(body: Any, where: str = "interface") -> Interface:
    values = _fields(body, INTERFACE_FIELDS, where)
    if "mac" not in values:
        raise Invalid(f"{where}: field 'mac' is required", field="mac")
    return Interface(**values)


_MODELS = {"distro": Distro, "profile": Profile, "system": System}


def parse_new(kind: str, body: Any) -> Any:
    """A new Distro/Profile/System from a JSON body (all model rules applied)."""
    values = _fields(body, FIELDS[kind], "body")
    for key in REQUIRED[kind]:
        if key not in values:
            raise Invalid(f"field {key!r} is required", field=key)
    return _MODELS[kind](**values)


def parse_changes(kind: str, body: Any) -> dict[str, Any]:
    """Field changes for an update (PATCH); ``vm`` is merged into the current value."""
    values = _fields(body, FIELDS[kind], "body")
    if isinstance(body.get("vm"), dict):
        values["vm"] = {k: v for k, v in body["vm"].items()}
    return values


def to_json(obj: Any, *, secrets: bool = True) -> dict[str, Any]:
    """A JSON-able dict of a Distro/Profile/System (``token`` left out unless ``secrets``)."""
    data = asdict(obj)
    if "interfaces" in data:
        data["interfaces"] = list(data["interfaces"])
    if not secrets:
        data.pop("token", None)
    return data
