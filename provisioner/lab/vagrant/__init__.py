"""The Vagrant lab: boxes built here (``lab box build``) and ``Vagrantfile`` run in a contained
libvirtd (``lab vagrant up|down|run|status``). See docs/ui-and-lab.md, "The Vagrant lab", and
docs/architecture.md for the modules."""
