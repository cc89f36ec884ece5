"""Guests with virt-install 4.1 semantics, through libvirt.

Flow (virtinst's ``build_guest_instance`` order, ``build``): ``options`` (one parser per
virt-install option; legacy spellings rewritten first) -> ``defaults`` (the host's capabilities
and domain capabilities, libosinfo's OS knowledge from ``osinfo``, injected MAC/UUID sources;
every default records why) -> ``rules`` (the seed's rules, for the seed's guests) ->
``validate`` (size limits) -> ``install`` (the install-phase and final definitions) -> ``virt``
(the only libvirt importer: images, define, start, watch, undefine). XML comes only from the
declarations in ``xmlmodel``/``domain``/``devices``. ``cli`` is the ``provisioner-agent
guest|run`` edge; ``plan`` renders the dry-run plan.
"""
