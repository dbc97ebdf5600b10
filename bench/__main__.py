"""`python -m bench`: run the validate() benchmark."""

from __future__ import annotations

from .validate import main

raise SystemExit(main())
