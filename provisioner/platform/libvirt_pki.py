"""Where libvirt, QEMU and Xen read the TLS files of a host (seed §20.2; file names from
libvirt, D1 §6), as data shared by the agent's ``tls`` plan (``agent/plan/libvirt_tls.py``) and
the appliance's certificate rotation over SSH (``provisioner/remote/rotation.py``): one table,
two writers. The host certificate is both server and client (a host is the TLS client of its
peer in a peer-to-peer migration).

    /etc/pki/CA/cacert.pem                      CA certificate (libvirt, client and server)
    /etc/pki/libvirt/servercert.pem             host certificate
    /etc/pki/libvirt/private/serverkey.pem      host key (0600)
    /etc/pki/libvirt/clientcert.pem             host certificate (as a client)
    /etc/pki/libvirt/private/clientkey.pem      host key (0600)
    /etc/pki/qemu/{ca-cert,server-cert,server-key,client-cert,client-key}.pem
                                                QEMU's migration stream TLS (VIR_MIGRATE_TLS)
    /etc/xen/vnc/{ca-cert,server-cert,server-key}.pem
                                                Xen hosts: VNC over TLS (seed §20.2 step 2)
"""

from __future__ import annotations

CA_CERT = "/etc/pki/CA/cacert.pem"
LIBVIRT_DIR = "/etc/pki/libvirt"
QEMU_DIR = "/etc/pki/qemu"
XEN_VNC_DIR = "/etc/xen/vnc"
#: libvirt >= 6.2 reloads its TLS files without a restart (connections and guests stay)
RELOAD_TLS = ("virt-admin", "server-update-tls", "libvirtd")


def tls_files(ca_cert: str, cert: str, key: str, *, hypervisor: str = "kvm",
              qemu_tls: bool = True) -> list[tuple[str, str, bool]]:
    """``(path, PEM text, secret)`` of every file a host's TLS setup consists of."""
    out = [(CA_CERT, ca_cert, False),
           (f"{LIBVIRT_DIR}/servercert.pem", cert, False),
           (f"{LIBVIRT_DIR}/private/serverkey.pem", key, True),
           (f"{LIBVIRT_DIR}/clientcert.pem", cert, False),
           (f"{LIBVIRT_DIR}/private/clientkey.pem", key, True)]
    if qemu_tls and hypervisor == "kvm":
        out += [(f"{QEMU_DIR}/ca-cert.pem", ca_cert, False),
                (f"{QEMU_DIR}/server-cert.pem", cert, False),
                (f"{QEMU_DIR}/server-key.pem", key, True),
                (f"{QEMU_DIR}/client-cert.pem", cert, False),
                (f"{QEMU_DIR}/client-key.pem", key, True)]
    if hypervisor == "xen":
        out += [(f"{XEN_VNC_DIR}/ca-cert.pem", ca_cert, False),
                (f"{XEN_VNC_DIR}/server-cert.pem", cert, False),
                (f"{XEN_VNC_DIR}/server-key.pem", key, True)]
    return out
