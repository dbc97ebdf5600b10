"""The task service as configured by the environment: `uvicorn examples.fastapi_api.app:app`.

Importing it reads the `AAD_GUARD_*` variables (settings.py) and raises `SettingsError`,
naming the variable, when they name neither a real app registration nor a local issuer
(`AAD_GUARD_LOCAL_ISSUER`):
the server stops before it listens, instead of guarding with a guess.
"""

from __future__ import annotations

from examples.fastapi_api.service import create_app
from examples.fastapi_api.settings import Settings

app = create_app(Settings.from_env())
