"""``provisioner lab up|status|down``: the whole product on one machine, in a network namespace.

``lab up [--guests N]`` makes, in this order (each step recorded in the state file first, so
``down`` can undo a half-made lab):

1. a private network: namespace ``prlab-<id>`` with bridge ``br0`` at ``<subnet>.1/24``; no
   address, link or server is added to the machine's own namespace (only a loopback port);
2. the boot kit (``kit.py``: a Debian kernel and a busybox "installer" initrd, cached) as the
   assets of distro ``lab``, and a TFTP root filled by ``bootloaders.install``;
3. an appliance data directory: settings (DHCP on ``br0`` for ``<subnet>.100-199``, TFTP, DNS,
   HTTP on ``<subnet>.1:8080``), distro ``lab``, profile ``lab-guest``, an ``admin`` user with a
   generated password and a host token for the local agent;
4. the appliance (``provisioner serve``) inside the namespace, a loopback forwarder so the web
   UI answers on ``http://127.0.0.1:<port>/`` of this machine, and an IPv6 router-advertisement
   sender on the bridge (:func:`router_adverts`: spares iPXE a 13 s wait per boot);
5. the guests: with ``--mode agent`` (default when ``provisioner-agent run`` exists) a local
   agent in the namespace registers as host ``lab-host`` and N orders are placed through the
   scheduler and executed by the agent through libvirt (an embedded QEMU driver under the lab
   directory); with ``--mode qemu`` the lab registers N systems and boots QEMU itself on taps.
   Either way the guests are software-emulated (TCG), network-boot from the appliance, fetch
   their kickstarts, call back and power off.

``lab status`` prints the processes and each guest's progress (from the appliance's store).
``lab down`` kills every process it started (by PID, then whatever is left in its namespace),
deletes the namespace and removes the lab directory. The kit cache (``--cache``, default
``/var/cache/provisioner/lab``) is kept for the next ``up``; ``down --purge-cache`` removes it.

Modules: ``state`` (LabState, constants), ``procs`` (spawn/stop/wait_for), ``netns`` (namespace,
bridge, subnet), ``relays`` (loopback forwarder, router advertisements), ``kit`` (the boot kit),
``appliance`` (settings, seed, serve), ``guests`` (agent or QEMU guests, their progress),
``session`` (up/status/down in order), ``cli`` (the commands).
"""

from provisioner.lab.appliance import restart_appliance
from provisioner.lab.cli import cmd_lab, format_status, register
from provisioner.lab.netns import check_subnet
from provisioner.lab.session import down, status, up
from provisioner.lab.state import (
    DEFAULT_CACHE,
    DEFAULT_SUBNET,
    DISTRO,
    HOST,
    HTTP_PORT,
    PROFILE,
    LabError,
    LabState,
    lab_dir,
)

__all__ = [
    "DEFAULT_CACHE", "DEFAULT_SUBNET", "DISTRO", "HOST", "HTTP_PORT", "PROFILE", "LabError",
    "LabState", "check_subnet", "cmd_lab", "down", "format_status", "lab_dir", "register",
    "restart_appliance", "status", "up",
]
