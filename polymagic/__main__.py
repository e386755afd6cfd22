"""``python -m polymagic``: the same command line as the ``polymagic`` script."""

import sys

from polymagic.cli.main import main

sys.exit(main())
