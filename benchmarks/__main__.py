"""``python -m benchmarks`` (``make bench``): the foundation benchmark. ``--help`` for options."""

import sys

from benchmarks.foundation import main

sys.exit(main())
