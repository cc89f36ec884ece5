"""``python -m provisioner.lab forward|router-adverts``: the lab's relay processes."""

from provisioner.lab.cli import main

raise SystemExit(main())
