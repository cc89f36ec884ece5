import sys

from provisioner.vlab.cli import main

sys.exit(main())
