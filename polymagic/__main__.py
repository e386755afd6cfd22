"""``python -m polymagic``: the same command line as the ``polymagic`` script."""

import sys

from polymagic.cli import main

sys.exit(main())
