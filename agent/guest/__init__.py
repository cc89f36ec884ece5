"""Guests with virt-install semantics, through libvirt.

Flow (virtinst's ``build_guest_instance`` order): ``options`` (one parser per virt-install
option) -> ``defaults`` (host facts, capabilities, injected MAC/UUID sources) -> ``rules`` (the
seed's limits) -> ``domain.install_and_final`` (the two phases) -> ``virt`` (the only libvirt
importer: images, define, start, watch, undefine). XML comes only from the declarations in
``xmlmodel``/``domain``/``devices``. ``cli`` is the ``provisioner-agent guest|run`` edge.
"""
