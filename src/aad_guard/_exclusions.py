"""The paths served without a token: checked when configured, matched by whole segments."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

__all__ = ["Exclusions"]


class Exclusions:
    """Path prefixes that skip the token check, each covering itself and the paths below it.

    Paths are compared as the routes beside the middleware see them: under a `Mount` or a
    server's `root_path`, without that prefix (as Starlette's router matches them). A path
    with a `.` or `..` segment is never excluded, so `/health/../admin` is checked.

    Raises:
        TypeError: `paths` is a single string, or holds something other than strings.
        ValueError: an entry does not start with `/`, has an empty, `.` or `..` segment,
            or would cover every path (`"/"`, `""`, `"//"`), unprotecting the whole app.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        if isinstance(paths, str):
            raise TypeError("exclude_paths must be a collection of paths, not a string")
        self._prefixes = tuple(_prefix(path) for path in paths)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def cover(self, scope: Scope) -> bool:
        """Whether the request of `scope` is served without a token."""
        path = _route_path(scope)
        if not any(path == prefix or path.startswith(prefix + "/") for prefix in self._prefixes):
            return False
        segments = path.split("/")
        return "." not in segments and ".." not in segments


def _prefix(path: object) -> str:
    if not isinstance(path, str):
        raise TypeError(f"exclude_paths entries must be strings, not {type(path).__name__}")
    prefix = path.rstrip("/")
    if not prefix:
        raise ValueError(
            f"exclude_paths entry {path!r} would exclude every path and leave the whole app "
            "unprotected; name the paths served without a token, such as '/health'"
        )
    if not prefix.startswith("/"):
        raise ValueError(f"exclude_paths entries must start with '/', not {path!r}")
    if any(segment in ("", ".", "..") for segment in prefix[1:].split("/")):
        raise ValueError(
            f"exclude_paths entry {path!r} has an empty, '.' or '..' segment; no request "
            "path would match it"
        )
    return prefix


def _route_path(scope: Scope) -> str:
    """`path` without the app's `root_path`, as Starlette's routing computes it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if rest == "" or rest.startswith("/"):
            return rest
    return path
