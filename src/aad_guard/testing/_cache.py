"""The local issuer's folder of lasting material: its CA, its `localhost` certificate, its keys.

Kept between runs so that a browser or trust store is told about the CA once, and so that
`aad-guard token mint` can sign, without a running issuer, what a later issuer will accept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_DIR_VARIABLE", "CacheFolder", "default_cache_dir"]

CACHE_DIR_VARIABLE = "AAD_GUARD_CACHE_DIR"
"""The environment variable that names another folder than the platform's user cache."""

logger = logging.getLogger("aad_guard.testing")


def default_cache_dir() -> Path:
    r"""`$AAD_GUARD_CACHE_DIR`, or the platform's user cache folder's `aad-guard`.

    Linux and other Unixes: `$XDG_CACHE_HOME/aad-guard`, else `~/.cache/aad-guard` (XDG Base
    Directory spec); macOS: `~/Library/Caches/aad-guard`; Windows:
    `%LOCALAPPDATA%\aad-guard\Cache`.
    """
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":  # pragma: no cover - the suite runs on Linux
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "aad-guard" / "Cache"
    if sys.platform == "darwin":  # pragma: no cover - the suite runs on Linux
        return Path.home() / "Library" / "Caches" / "aad-guard"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "aad-guard"


class CacheFolder:
    """One folder of named files: created private (0700), written atomically, read leniently.

    Args:
        path: The folder. Default `default_cache_dir()`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_dir()

    def file(self, name: str) -> Path:
        """The path of the file `name` in the folder (which may not exist yet)."""
        return self.path / name

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or `None` if it is missing or cannot be read."""
        try:
            return self.file(name).read_bytes()
        except OSError:
            return None

    def write(self, name: str, data: bytes, *, private: bool) -> Path:
        """Replace the file `name` at once (readers see the old or the new file, never half).

        `private` files (keys) are readable by their owner only (0600); others are 0644.
        """
        self._ensure()
        handle, temporary = tempfile.mkstemp(dir=self.path, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            Path(temporary).chmod(0o600 if private else 0o644)
            Path(temporary).replace(self.file(name))
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
        return self.file(name)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock, so that two processes do not make two sets at once."""
        self._ensure()
        with os.fdopen(os.open(self.file(".lock"), os.O_RDWR | os.O_CREAT, 0o600), "r+b") as handle:
            try:
                import fcntl  # noqa: PLC0415 (POSIX only; Windows has none)
            except ImportError:  # pragma: no cover - Windows: no advisory locks; last one wins
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _ensure(self) -> None:
        if not self.path.is_dir():
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            logger.info("Created the local issuer's folder %s", self.path)
