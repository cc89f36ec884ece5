import sys

from provisioner.lab.vagrant.cli import main

sys.exit(main())
