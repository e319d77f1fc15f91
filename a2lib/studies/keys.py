"""Paths of keys into a results tree, with ``{name}`` placeholders: how records are found and claims read them."""
from __future__ import annotations

import re
from typing import Any, Collection, Mapping, Sequence

PLACEHOLDER = re.compile(r"\{(\*?)(\w+)\}")
"""``{name}`` matches one key segment (no ``/``) and gives one verdict per value; ``{*name}`` gathers every value
into one verdict (``Within`` over all η values)."""


def segment_pattern(template: str) -> re.Pattern:
    """The regular expression one key segment with placeholders matches, each placeholder a named group."""
    parts, position = [], 0
    for match in PLACEHOLDER.finditer(template):
        parts += [re.escape(template[position:match.start()]), f"(?P<{match[2]}>[^/]+)"]
        position = match.end()
    return re.compile("".join(parts + [re.escape(template[position:])]))


def matches(tree: Any, path: Sequence[str], bound: Mapping[str, str] | None = None,
            exclude: Collection[str] = ()) -> list[tuple[dict, Any]]:
    """Every ``(placeholder values, leaf)`` of ``tree`` that ``path`` reaches, consistent with ``bound``; a key in
    ``exclude`` is never a placeholder's value."""
    bound = dict(bound or {})
    if not path:
        return [(bound, tree)]
    if not isinstance(tree, Mapping):
        return []
    head, rest = path[0], path[1:]
    if not PLACEHOLDER.search(head):
        return matches(tree[head], rest, bound, exclude) if head in tree else []
    pattern, found = segment_pattern(head), []
    for key in tree:
        match = pattern.fullmatch(str(key))
        if match and str(key) not in exclude and all(bound.get(name, value) == value
                                                      for name, value in match.groupdict().items()):
            found += matches(tree[key], rest, {**bound, **match.groupdict()}, exclude)
    return found


__all__ = ["PLACEHOLDER", "matches", "segment_pattern"]
