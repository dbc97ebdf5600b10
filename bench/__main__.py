"""`python -m bench`: run every benchmark (`bench.run`)."""

from __future__ import annotations

from .run import main

raise SystemExit(main())
