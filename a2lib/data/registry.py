"""The data sets ``a2lib.data.load`` knows, each registered where its loader is defined with the facts about it.

``@register_dataset(name, source=..., facts=..., paper_name=...)`` on a loader adds it to ``DATASETS``. ``source``
says where the data come from: ``"published"`` (a real data set read from disk; ``facts`` are its published
training split, which ``a2lib.workbook.plan`` uses when the data are absent), ``"embedded"`` (generated here;
``facts`` are the split the loader's default options generate) or ``"user"`` (the user's own images; nothing is
known before they are read, so no facts). ``paper_name`` is the paper's spelling (``a2lib.studies.paper``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..registry import Registry

SOURCES = ("published", "embedded", "user")


@dataclass(frozen=True)
class DataFacts:
    """What the configs of a data set take from it before it is read: class count, training items, model input
    (C, H, W) under the loader's default transforms."""

    num_classes: int
    train_items: int
    image_shape: tuple[int, int, int]

    def __post_init__(self):
        shape = self.image_shape if isinstance(self.image_shape, tuple) and len(self.image_shape) == 3 else None
        values = (self.num_classes, self.train_items, *(shape or ()))
        if shape is None or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"data facts need positive integer num_classes and train_items and an image_shape "
                             f"(C, H, W) of positive integers; got {self}")


@dataclass(frozen=True)
class DatasetEntry:
    """One registered data set: ``loader(root=..., split=..., **options)`` builds a split; ``in_subfolder``: the
    loader gets ``<root>/<name>`` (else the data root itself)."""

    name: str
    loader: Callable
    source: str
    facts: DataFacts | None
    paper_name: str | None
    in_subfolder: bool


DATASETS: Registry[DatasetEntry] = Registry("dataset", "unknown dataset {name!r}; valid names: {names}")


def register_dataset(name: str, *, source: str, facts: DataFacts | None = None, paper_name: str | None = None,
                     in_subfolder: bool = False) -> Callable[[Callable], Callable]:
    """Register the decorated loader as data set ``name`` (module docstring); published and embedded data sets
    must state their facts, a user's folder has none."""
    if source not in SOURCES:
        raise ValueError(f"data set {name!r}: unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if (facts is None) != (source == "user"):
        raise ValueError(f"data set {name!r} ({source}) " + (
            "has no facts: pass facts=DataFacts(num_classes, train_items, image_shape)" if facts is None else
            "is the user's own data, whose facts only the files tell: leave facts out"))

    def register(loader: Callable) -> Callable:
        DATASETS.add(name, DatasetEntry(name, loader, source, facts, paper_name, in_subfolder))
        return loader
    return register


def published_facts() -> dict[str, DataFacts]:
    """The published training-split facts of every real data set, by name."""
    return {name: entry.facts for name, entry in DATASETS.items() if entry.source == "published"}


def paper_names() -> dict[str, str]:
    """Our data set names -> the paper's, for the data sets the paper uses."""
    return {name: entry.paper_name for name, entry in DATASETS.items() if entry.paper_name}
