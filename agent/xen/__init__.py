"""Xen's own configuration files: ``/etc/xen/xend-config.sxp`` (:mod:`agent.xen.sxp`) and
``/etc/xen/<guest>`` (:mod:`agent.xen.xmcfg`, :mod:`agent.xen.convert`): parsed without
executing them, edited in place as plans, converted to and from libvirt domain XML."""
