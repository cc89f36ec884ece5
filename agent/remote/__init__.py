"""The agent's work loop for a host it does not run on (an *agentless* host of the appliance).

The appliance supervises one ``provisioner-agent run --remote --connect qemu+ssh://...`` per
agentless host, on the appliance's machine. The loop, the guest model, the defaults and the
work queue are the agent's own (one code path); only the connection differs, and with it where
facts come from (libvirt instead of /proc and /sys: :mod:`agent.remote.facts`) and how files
reach the host (libvirt storage volumes instead of local files: :mod:`agent.remote.virt`).
"""
