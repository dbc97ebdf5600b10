"""`python -m aad_guard.cli`: the `aad-guard` command."""

import sys

from . import main

sys.exit(main())
