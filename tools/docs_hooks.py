"""MkDocs hooks for `make docs`: the pages outside docs/, the API reference, the docstring gate.

The site is docs/ plus three files GitHub shows at the top of the repository: README.md (the
home page), SECURITY.md and CHANGELOG.md. Their links are written for GitHub (`docs/x.md`,
`../SECURITY.md`), so each page's relative links are re-aimed at where the target lands in the
site. The API reference has one page per public module (no part of its dotted name starts
with `_`), generated from the docstrings; a public name without a docstring fails the build,
so the reference cannot silently grow blank entries. The version is `aad_guard.__version__`.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from aad_guard import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "aad_guard"
# Repository path of a page outside docs/ -> its path in the site.
OUTSIDE_DOCS = {
    "README.md": "index.md",
    "SECURITY.md": "security-policy.md",
    "CHANGELOG.md": "changelog.md",
}
REFERENCE = "reference"
_LINK = re.compile(r"\]\((?P<target>[^)\s#]+\.md)(?P<anchor>#[^)\s]*)?\)")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Stamp the version into the footer, and refuse a public name without a docstring."""
    config.copyright = f"aad_guard {__version__} · MIT licence"
    missing = undocumented(_load())
    if missing:
        raise PluginError("public names without a docstring: " + ", ".join(missing))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the pages kept outside docs/ and one reference page per public module."""
    for source, site_path in OUTSIDE_DOCS.items():
        content = (ROOT / source).read_text(encoding="utf-8")
        files.append(File.generated(config, site_path, content=content))
    for module in public_modules(_load()):
        page = f"{REFERENCE}/{module.path}.md"
        content = f"# `{module.path}`\n\n::: {module.path}\n"
        files.append(File.generated(config, page, content=content))
    return files


def on_page_markdown(markdown: str, *, page: Page, **_: object) -> str:
    """Re-aim links written for GitHub at the pages' places in the site."""
    site_path = page.file.src_uri
    repo_path = _repository_path(site_path)

    def reaim(match: re.Match[str]) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(repo_path), match["target"]))
        if target in OUTSIDE_DOCS:
            target = OUTSIDE_DOCS[target]
        elif target.startswith("docs/"):
            target = target.removeprefix("docs/")
        else:
            return match[0]
        relative = posixpath.relpath(target, posixpath.dirname(site_path) or ".")
        return f"]({relative}{match['anchor'] or ''})"

    return _LINK.sub(reaim, markdown)


def on_page_content(html: str, *, page: Page, **_: object) -> str:
    """Refuse a reference page that leaves out a name its module exports."""
    if not page.file.src_uri.startswith(f"{REFERENCE}/"):
        return html
    module_path = page.file.src_uri.removeprefix(f"{REFERENCE}/").removesuffix(".md")
    absent = [
        name for name in _exports(_load(module_path)) if f'id="{module_path}.{name}"' not in html
    ]
    if absent:
        raise PluginError(f"{module_path}: the reference leaves out {', '.join(absent)}")
    return html


def public_modules(package: griffe.Module) -> list[griffe.Module]:
    """The package and every module under it whose dotted name has no `_` part."""
    found = [package]
    for member in package.modules.values():
        if not member.name.startswith("_"):
            found.extend(public_modules(member))
    return found


def undocumented(package: griffe.Module) -> list[str]:
    """Each name a public module exports (`__all__`) that has no docstring.

    The public methods of an exported class count too.
    """
    missing: list[str] = []
    for module in public_modules(package):
        if module.docstring is None:
            missing.append(module.path)
        for name in _exports(module):
            member = module[name]
            target = member.final_target if isinstance(member, griffe.Alias) else member
            if target.docstring is None:
                missing.append(f"{module.path}.{name}")
            if isinstance(target, griffe.Class):
                missing.extend(
                    f"{module.path}.{name}.{member.name}"
                    for member in target.members.values()
                    if not member.name.startswith("_")
                    and member.is_function
                    and member.docstring is None
                )
    return sorted(set(missing))


def _exports(module: griffe.Module) -> list[str]:
    return [str(name) for name in module.exports or ()]


def _repository_path(site_path: str) -> str:
    for source, destination in OUTSIDE_DOCS.items():
        if destination == site_path:
            return source
    return f"docs/{site_path}"


def _load(name: str = PACKAGE) -> griffe.Module:
    module = griffe.load(name, search_paths=[str(ROOT / "src")])
    if not isinstance(module, griffe.Module):
        raise PluginError(f"{name} is not a module")
    return module
