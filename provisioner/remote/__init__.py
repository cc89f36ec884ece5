"""Remote hypervisor hosts: libvirt connection URIs, the libvirt TLS PKI, migration pre-flight
checks and live migration (seed D1: chapters 18-20).

Pure modules (no libvirt, no sockets): ``uri`` (Table 20.1), ``pki`` (the appliance's CA, with
``cryptography``), ``preflight`` (the guide's migration conditions as named checks),
``commands`` (virsh/xm command lines, NFS export lines). ``libvirt_conn`` is the only module
here that imports libvirt (open a URI with a deadline, name the failure); ``probe`` and
``migrate`` drive a connection it opened.
"""
