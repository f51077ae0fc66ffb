"""`python -m vlpbench` is the same as the `bench` console script."""

import sys

from vlpbench.app.cli import main

sys.exit(main())
