"""A registry: entries added by name where they are defined (their defaults beside the definition), looked up by
name with an error that lists the valid names. The data sets (``a2lib.data.registry``), the search methods of
Table 6 (``a2lib.efficiency``) and the kinds of ``a2lib.search.HammingIndex`` are each one registry.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Iterator, TypeVar

Entry = TypeVar("Entry")


class Registry(Mapping, Generic[Entry]):
    """Names -> entries in the order they were registered; a read-only mapping once filled.

    ``unknown`` is the message for a name that is not registered, formatted with ``name`` and ``names`` (the valid
    names joined by ", "), e.g. ``"unknown dataset {name!r}; valid names: {names}"``.
    """

    def __init__(self, what: str, unknown: str):
        self.what = what
        self.unknown = unknown
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, entry: Entry) -> Entry:
        """Register ``entry`` as ``name``; a name registered twice is an error."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} is registered by a non-empty string name; got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is registered twice; give one of them another name")
        self._entries[name] = entry
        return entry

    def lookup(self, name: str) -> Entry:
        """The entry registered as ``name``; ValueError with the ``unknown`` message otherwise."""
        if name not in self._entries:
            raise ValueError(self.unknown.format(name=name, names=", ".join(self._entries)))
        return self._entries[name]

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what}: {', '.join(self._entries)})"
