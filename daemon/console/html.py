"""HTML built by functions that escape every value (pure): no template engine, no raw strings.

``el("a", "text", href=url)`` escapes the text and the attribute; only :class:`Markup` (what these
functions return) passes through unescaped, so a tenant's name, a commit message or an error can
never become markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

__all__ = ["Markup", "el", "join", "text"]


class Markup(str):
    """Text that is already HTML."""

    __slots__ = ()


def text(value: object) -> Markup:
    return value if isinstance(value, Markup) else Markup(escape(str(value), quote=True))


def _children(children: Iterable[object]) -> str:
    out = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str | int | float):
            out.append(text(child))
        else:
            out.append(_children(child))  # type: ignore[arg-type]  # any other iterable of children
    return "".join(out)


_VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "rect", "circle", "line", "path", "polygon", "stop"})


def el(tag: str, /, *children: object, **attrs: object) -> Markup:
    """``<name attrs>children</name>``; attribute names use ``_`` for ``-`` and a trailing ``_``
    for Python keywords (``class_``); an attribute that is None or False is left out."""
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        parts.append(attr if value is True else f'{attr}="{escape(str(value), quote=True)}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in _VOID and not children:
        return Markup(opening[:-1] + "/>" if tag in ("rect", "circle", "line", "path", "polygon", "stop") else opening)
    return Markup(f"{opening}{_children(children)}</{tag}>")


def join(items: Iterable[object], separator: str = "") -> Markup:
    return Markup(text(separator).join(_children([i]) for i in items))
