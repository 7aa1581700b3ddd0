"""``python -m benchmark`` runs the ``rgbd-bench`` command line."""

import sys

from benchmark.cli import main

sys.exit(main())
