"""A griffe extension: corral's docstrings' cross-reference roles as links on the site.

corral's docstrings name other objects the way Sphinx does, e.g.
``:class:`~corral.Connection``` or ``:meth:`close```, which a terminal's ``help()``
shows readably. On the site each becomes a link: the target is resolved the way
Python would resolve the name where the docstring is (relative names included),
``~`` shows only its last part. A target in corral's public API (``corral.X``,
``corral.sync``, ``corral.options``, ``corral.errors``) must exist on the site, so
``mkdocs build --strict`` fails on a stale one; any other target (a private module,
a backend internal) links when the site has it and stays code otherwise.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj|py:\w+):`(~?)([\w.]+)(\(\))?`")
_PUBLIC = re.compile(r"corral\.(?:sync\.|options\.|errors\.)?[A-Z]\w*(?:\.[a-z]\w*)?$")


class CrossReferenceRoles(griffe.Extension):
    """Rewrites ``:role:`target``` in every docstring of the package as an autorefs link."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(functools.partial(_link, obj), obj.docstring.value)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            found.extend(_walk(member))
    return found


def _link(obj: griffe.Object, match: re.Match[str]) -> str:
    short, target, call = match.group(1), match.group(2), match.group(3) or ""
    shown = target.rsplit(".", 1)[-1] if short else target
    path = _resolve(obj, target)
    text = f"<code>{shown}{call}</code>"
    if path is None or "._" in path or path.startswith("_"):
        return text
    if _PUBLIC.match(path):
        return f"[`{shown}{call}`][{path}]"
    return f'<autoref identifier="{path}" optional>{text}</autoref>'


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path of ``target`` as seen from ``obj``'s docstring, if it can be found."""
    if target.startswith("corral"):
        return target
    first, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        if first in scope.members:
            base = scope.members[first].path
            return f"{base}.{rest}" if rest else base
        try:
            resolved: str | None = scope.resolve(first)
        except (griffe.NameResolutionError, AttributeError):
            resolved = None
        if resolved is not None:
            return f"{resolved}.{rest}" if rest else resolved
        scope = scope.parent
    return None
