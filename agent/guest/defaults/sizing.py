"""RAM, vCPUs (and topology) and the CPU mode, as virt-install 4.1 fills them in.

* RAM: ``--memory`` as given; without it libosinfo's recommended RAM for the OS and arch
  (virt-install prints "Using rhel9.0 default --memory 2048"; here it goes into the plan);
* vCPUs: ``--vcpus`` or the topology's product, else libosinfo's recommended count, else 1;
  a partial topology is completed the way virt-install does (cores first, then sockets);
* CPU: nothing when ``--cpu`` was given; on KVM x86 ``host-passthrough`` when the domain
  capabilities say it is safe (libvirt reports hostPassthroughMigratable), else ``host-model``;
  on KVM ARM ``host-passthrough``, on TCG ARM ``cortex-a57``.
"""

from __future__ import annotations

from agent.guest.defaults.context import Ctx
from agent.guest.domain import Cpu
from agent.guest.errors import GuestError

MIB = 1024 * 1024


def memory(ctx: Ctx) -> None:
    g = ctx.guest
    if ctx.limits and g.memory_given and 0 in (g.current_memory_kib, g.memory_kib):
        raise GuestError("--memory 0: a guest needs RAM (virt-install would use libosinfo's "
                         "recommendation or the other size instead, without saying so)",
                         "RAM_ZERO")
    if g.current_memory_kib or g.memory_kib:
        return
    ram = ctx.osinfo.recommended_of("ram", ctx.arch)
    if not ram:
        raise GuestError("--memory is required: no RAM given and libosinfo recommends none for "
                         f"{ctx.osinfo.name}", "MEMORY_REQUIRED")
    g.current_memory_kib = g.memory_kib = ram // 1024
    g.explain("memory", f"{ram // MIB} MiB: libosinfo's recommendation for {ctx.osinfo.name} "
                        f"on {ctx.arch}")


def vcpus(ctx: Ctx) -> None:
    """Recommended count first (set_cli_defaults), then the fallback of 1 (set_defaults)."""
    g = ctx.guest
    if ctx.limits and g.vcpus_zero:
        raise GuestError("--vcpus 0: a guest needs at least one vCPU (virt-install would "
                         "silently use libosinfo's recommendation instead)", "VCPU_ZERO")
    if not g.vcpus:
        total = g.cpu.topology_total()
        if total:
            g.vcpus = total
        else:
            ncpus = ctx.osinfo.recommended_of("ncpus", ctx.arch)
            if ncpus:
                g.vcpus = ncpus
                g.explain("vcpus", f"{ncpus}: libosinfo's recommendation for "
                                   f"{ctx.osinfo.name}")
            else:
                g.vcpus = 1
    if ctx.limits and g.vcpu_current is not None and g.vcpu_current > g.vcpus:
        raise GuestError(f"--vcpus: {g.vcpu_current} vCPUs to start with but a maximum of "
                         f"{g.vcpus} (maxvcpus)", "VCPU_CURRENT_OVER_MAX")
    _topology(ctx)


def _topology(ctx: Ctx) -> None:
    cpu, n = ctx.guest.cpu, ctx.guest.vcpus or 1
    if cpu.sockets is None and cpu.cores is None and cpu.threads is None and cpu.dies is None:
        return

    def total() -> int:
        return (cpu.sockets or 1) * (cpu.dies or 1) * (cpu.cores or 1) * (cpu.threads or 1)

    if not cpu.cores:
        cpu.cores = n // total()
    if not cpu.sockets:
        cpu.sockets = n // total()
    if not cpu.dies:
        cpu.dies = 1
    if not cpu.threads:
        cpu.threads = n // total()
    if total() != n:
        raise GuestError(f"CPU topology sockets={cpu.sockets} x dies={cpu.dies} x "
                         f"cores={cpu.cores} x threads={cpu.threads} = {total()} does not match "
                         f"the {n} vCPUs", "TOPOLOGY_MISMATCH")


def cpu_mode(ctx: Ctx) -> None:
    g = ctx.guest
    if g.cpu_special == "host-model-only":
        _host_model_only(ctx)
        return
    if not ctx.qemu or g.cpu_given or not g.cpu.is_empty():  # virt-install: any <cpu> content
        return
    if ctx.is_arm_machvirt and g.type == "kvm":
        g.cpu.mode = "host-passthrough"
        g.explain("cpu", "host-passthrough: KVM on ARM (virt-install)")
    elif ctx.arch == "aarch64" and ctx.is_arm_machvirt:
        g.cpu.mode, g.cpu.match, g.cpu.model = "custom", "exact", "cortex-a57"
        g.explain("cpu", "cortex-a57: TCG's 'virt' machine defaults to a 32-bit CPU")
    elif ctx.is_x86 and g.type == "kvm" and ctx.arch == ctx.host.caps.host_arch:
        _x86_kvm(ctx)


def _x86_kvm(ctx: Ctx) -> None:
    g, dc = ctx.guest, ctx.domcaps()
    if dc is not None and dc.supports_safe_host_passthrough():
        g.cpu.mode = "host-passthrough"
        g.explain("cpu", "host-passthrough: KVM on x86; the domain capabilities report it "
                         "migratable-safe (hostPassthroughMigratable)")
    elif dc is None or dc.supports_safe_host_model():
        g.cpu.mode = "host-model"
        g.explain("cpu", "host-model: KVM on x86; " + (
            "no domain capabilities to vouch for host-passthrough" if dc is None
            else "host-passthrough is not reported safe, host-model is"))
    else:
        _host_model_only(ctx)


def _host_model_only(ctx: Ctx) -> None:
    """The host's CPU model by name (custom/exact): a named model, so the guest can move to
    hosts that have it. When the domain capabilities say the capabilities' model is not usable
    here, libvirt's own host-model approximation (its ``<model>``) is used instead; without
    either, no CPU element (virt-install unsets the model in that case)."""
    g, model = ctx.guest, ctx.host.caps.host_cpu_model
    dc = ctx.domcaps()
    why = "the host's CPU model by name (capabilities)"
    if dc is not None and dc.cpu_modes.get("custom") and model not in dc.usable_models():
        hm = dc.cpu_modes.get("host-model")
        model = hm.models[0][0] if hm and hm.supported and hm.models else None
        why = "libvirt's named approximation of this host's CPU (domain capabilities host-model)"
    if not model:
        g.explain("cpu", "no CPU element: no usable named model for this host")
        return
    topo = (g.cpu.sockets, g.cpu.dies, g.cpu.cores, g.cpu.threads)
    g.cpu = Cpu(mode="custom", match="exact", model=model)
    g.cpu.sockets, g.cpu.dies, g.cpu.cores, g.cpu.threads = topo
    g.explain("cpu", f"{model}: {why}")
