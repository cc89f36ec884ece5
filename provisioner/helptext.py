"""Help that answers: an example on every ``provisioner`` command's ``--help``, and the next
step after an error.

:data:`EXAMPLES` holds, per command path (``"system add"``), the command lines shown under
"examples:" in its help; :func:`add_examples` puts them on the parser tree after every module
has added its subcommands (so a module need not know about this table), and
``tests/test_help.py`` fails for a (sub)command without one. :func:`next_step` turns an error
the command line often meets into what to run next.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

P = "provisioner"
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (f"{P} status                          # services, addresses, counts, last events",
         f"{P} --data-dir ./data demo          # a sample distro, profiles and a system",
         f"{P} --config /etc/provisioner/provisioner.toml serve",
         f"{P} timeline web01                  # what happened to a machine that did not boot"),
    "serve": (f"{P} --config /etc/provisioner/provisioner.toml serve",
              f"{P} --data-dir ./data serve --host 0.0.0.0 --port 8080 --workers 2"),
    "status": (f"{P} status", f"{P} --config /etc/provisioner/provisioner.toml status --json"),
    "timeline": (f"{P} timeline web01", f"{P} timeline web01 --limit 20 --json"),
    "db": (f"{P} db upgrade",),
    "db upgrade": (f"{P} --data-dir ./data db upgrade",),
    "distro": (f"{P} distro list", f"{P} distro show rhel9-x86_64"),
    "distro list": (f"{P} distro list",),
    "distro show": (f"{P} distro show rhel9-x86_64",),
    "distro remove": (f"{P} distro remove rhel9-x86_64",),
    "distro add": (f"{P} distro add rhel9 --os-version rhel9 --arch x86_64 "
                   "--tree-url http://mirror.example/rhel9/os",
                   f"{P} import /mnt/rhel9-iso        # reads .treeinfo and copies the kernel"),
    "distro edit": (f"{P} distro edit rhel9 --kernel-options 'inst.text'",),
    "profile": (f"{P} profile list", f"{P} profile show rhel9-guest --resolved"),
    "profile list": (f"{P} profile list",),
    "profile show": (f"{P} profile show rhel9-guest --resolved",),
    "profile remove": (f"{P} profile remove old-guest",),
    "profile add": (f"{P} profile add web --distro rhel9 --kickstart rhel9-guest.ks "
                    "--ram-mb 2048 --vcpus 2 --disk-gb 20 --bridge br0",
                    f"{P} profile add db --parent web --ram-mb 8192"),
    "profile edit": (f"{P} profile edit web --ram-mb 4096",),
    "system": (f"{P} system list", f"{P} system show web01 --resolved"),
    "system list": (f"{P} system list",),
    "system show": (f"{P} system show web01 --resolved",),
    "system remove": (f"{P} system remove web01",),
    "system add": (f"{P} system add web01 --profile web --mac 52:54:00:12:34:56 "
                   "--ip 10.1.1.20",),
    "system edit": (f"{P} system edit web01 --netboot     # install again at the next boot",),
    "render": (f"{P} render ks web01", f"{P} render ipxe web01 --server http://10.1.1.1:8080"),
    "import": (f"{P} import /mnt/rhel9-iso",
               f"{P} import http://mirror.example/rocky/9/BaseOS/x86_64/os --name rocky9",
               f"{P} import /srv/trees/rhel5 --os-version rhel5.4 --arch i386 --dry-run"),
    "validate": (f"{P} validate", f"{P} validate --system web01"),
    "token": (f"{P} token create ci",),
    "token create": (f"{P} token create ci               # printed once, stored hashed",),
    "demo": (f"{P} --data-dir ./data demo",),
    "bootloaders": (f"{P} bootloaders install",),
    "bootloaders install": (f"{P} bootloaders install --dry-run",
                            f"{P} bootloaders install --root /srv/tftp"),
    "leases": (f"{P} leases", f"{P} leases --json"),
    "lab": (f"{P} --data-dir /tmp/lab lab up --guests 1 --wait installed",
            f"{P} --data-dir /tmp/lab lab down"),
    "lab up": (f"{P} --data-dir /tmp/lab lab up --guests 2 --wait installed",),
    "lab status": (f"{P} --data-dir /tmp/lab lab status --json",),
    "lab restart": (f"{P} --data-dir /tmp/lab lab restart",),
    "lab down": (f"{P} --data-dir /tmp/lab lab down --purge-cache",),
    "lab box": (f"{P} lab box build --role appliance",),
    "lab box build": (f"{P} lab box build --role host",),
    "lab vagrant": (f"{P} lab vagrant up appliance host1",),
    "lab vagrant up": (f"{P} lab vagrant up appliance host1 pxe1",),
    "lab vagrant down": (f"{P} lab vagrant down",),
    "lab vagrant run": (f"{P} lab vagrant run ssh appliance",),
    "lab vagrant status": (f"{P} lab vagrant status",),
    "user": (f"{P} user add admin --role admin", f"{P} user list"),
    "user list": (f"{P} user list",),
    "user add": (f"{P} user add admin --role admin     # prints a generated password once",
                 f"{P} user add alice --password-file pw.txt"),
    "user passwd": (f"{P} user passwd admin",),
    "user role": (f"{P} user role alice admin",),
    "user remove": (f"{P} user remove alice",),
    "host": (f"{P} host list", f"{P} host add hv5 --uri qemu+ssh://root@10.0.0.5/system --scan"),
    "host key": (f"{P} host key                 # the appliance's SSH public key",),
    "host ca": (f"{P} host ca                  # the appliance's CA certificate",),
    "host renew-client": (f"{P} host renew-client",),
    "host list": (f"{P} host list",),
    "host remove": (f"{P} host remove hv5",),
    "host doctor": (f"{P} host doctor hv1", f"{P} host doctor hv1 --json"),
    "host rotate": (f"{P} host rotate --dry-run", f"{P} host rotate --margin-days 14"),
    "host add": (f"{P} host add hv5 --uri qemu+ssh://root@10.0.0.5/system --scan",
                 f"{P} host add hv6 --uri qemu+tls://10.0.0.6/system"),
    "host cert": (f"{P} host cert hv6 --out bundle.json",),
    "migrate": (f"{P} migrate check web01 --to hv6",
                f"{P} migrate web01 --to hv6"),
    "power": (f"{P} power list                # every controller and its last state",
              f"{P} power cycle web01"),
    "power set": (f"{P} power set web01 --driver redfish --address https://10.0.0.21 "
                  "--username admin --password-prompt --ca-bundle bmc-ca.pem",
                  f"{P} power set db1 --driver ipmi --address 10.0.0.22 --username admin "
                  "--password-file pw.txt",
                  f"{P} power set guest1 --driver libvirt --address hv1"),
    "power show": (f"{P} power show web01          # settings; never the password",),
    "power remove": (f"{P} power remove web01",),
    "power list": (f"{P} power list",),
    "power on": (f"{P} power on web01",),
    "power off": (f"{P} power off web01",),
    "power cycle": (f"{P} power cycle web01",),
    "power reset": (f"{P} power reset web01",),
    "power status": (f"{P} power status web01        # ask the controller now",),
    "power boot": (f"{P} power boot web01 pxe       # the next boot only",
                   f"{P} power boot web01 disk --persistent"),
    "reinstall": (f"{P} reinstall web01",
                  f"{P} reinstall web01 web02 web03 --concurrency 2 --timeout 1800"),
}


def walk(parser: argparse.ArgumentParser,
         path: tuple[str, ...] = ()) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the tree with its command path (``"lab up"``; ``""`` for the root)."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def add_examples(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Put each command's examples under its help (kept as written: no re-wrapping)."""
    for path, p in walk(parser):
        lines = EXAMPLES.get(path)
        if not lines:
            continue
        block = "examples:\n" + "\n".join(f"  {line}" for line in lines)
        p.epilog = f"{p.epilog}\n\n{block}" if p.epilog else block
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


#: (pattern on the error message, what to run next); {0}, {1}... are the pattern's groups
NEXT_STEPS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rx), text) for rx, text in (
        (r"^(distro|profile|system) '[^']*' not found",
         "`provisioner {0} list` shows the {0}s; `provisioner {0} add --help` shows how to "
         "make one"),
        (r"^(?:parent )?(distro|profile) '[^']*' does not exist",
         "`provisioner {0} list` shows the {0}s"),
        (r"^no user ", "`provisioner user list` shows the users"),
        (r"^no order ", "the web UI's order list (/ui/) shows the orders you may see"),
        (r"^cannot read settings file",
         "give an existing TOML file with --config (see the README's Configuration), or leave "
         "it out to use the defaults"),
        (r"no such directory \(give an install tree",
         "mount the ISO first (mount -o loop,ro FILE.iso /mnt/iso), then "
         "`provisioner import /mnt/iso`"),
        (r"(Permission denied|Operation not permitted)",
         "run it as root (or with sudo), or give --data-dir a directory you can write"),
        (r"(Address already in use)",
         "another process has the port: `ss -ltnup` shows it; `provisioner status` shows this "
         "appliance's services"),
    ))


def next_step(message: str) -> str | None:
    """What to run next after an error with this message, when the table knows."""
    for rx, text in NEXT_STEPS:
        m = rx.search(message)
        if m:
            return text.format(*m.groups())
    return None
