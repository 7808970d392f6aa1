"""``python -m bluegreen.sandbox``: the sandbox's own command line (see the package's doc)."""

import sys

from bluegreen.sandbox import _main

_main(sys.argv[1:])
