"""The kinds of ``a2lib.search.HammingIndex``, registered by name in ``INDEX_KINDS`` with their options' defaults.

A kind says how its faiss binary index is made (``new``, or ``train`` on the first add), searched, measured and
read back; ``HammingIndex`` holds one kind object per index and no branch on the kind's name.

- ``exact``: ``faiss.IndexBinaryFlat`` scans every code: exact, O(n) per query, ``ceil(bits/8)`` bytes per item.
- ``mih``: multi-index hashing (``a2lib.multi_index``) over the same flat storage: exact, and sub-linear on codes
  with neighbourhood structure (trained hash codes cluster around their classes); tables rebuilt on each add, about
  ``12 * substrings`` more bytes per item; codes of at most 64 bits.
- ``ivf`` (``IndexBinaryIVF``: k-means lists trained on the first add, ``nprobe`` lists visited per query) and
  ``hnsw`` (``IndexBinaryHNSW`` graph, ``ef_search`` candidates): approximate, recall below 1 that rises with
  ``nprobe``/``ef_search``, extra memory (ids, graph links), and possible ``-1`` indices (distance ``INT32_MAX``)
  when the probed lists hold fewer than ``k`` items.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar

import faiss
import numpy as np

from .checks import check_positive_int
from .multi_index import WORD_BITS, MultiIndexTables, code_words
from .registry import Registry

IVF_LISTS_PER_SQRT_N = 1
DEFAULT_IVF_NPROBE = 8
DEFAULT_HNSW_M = 16
DEFAULT_HNSW_EF_CONSTRUCTION = 40
DEFAULT_HNSW_EF_SEARCH = 64
MISSING_INDEX = -1

INDEX_KINDS: Registry[type["IndexKind"]] = Registry("HammingIndex kind",
                                                   "unknown HammingIndex kind {name!r}; choose one of {names}")


def index_kind(name: str) -> Callable[[type], type]:
    """Register the decorated ``IndexKind`` subclass as ``name``."""
    def register(cls: type) -> type:
        cls.name = name
        INDEX_KINDS.add(name, cls)
        return cls
    return register


def sort_rows(distances: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, index) with missing results (index -1) last."""
    key_index = np.where(indices == MISSING_INDEX, np.iinfo(np.int64).max, indices)
    order = np.lexsort((key_index, distances), axis=-1)
    return np.take_along_axis(distances, order, -1), np.take_along_axis(indices, order, -1)


def _check_option(kind: str, option: str, value, default):
    """A kind's option: a positive integer, or None where its default is None."""
    if value is None and default is None:
        return None
    return check_positive_int(f"HammingIndex kind {kind!r}: {option}", value,
                              meaning=None if default is not None else "or None")


class IndexKind:
    """How one kind builds, searches, measures and reloads its faiss index over ``bits``-bit codes of dimension
    ``dim`` (bits padded to whole bytes); ``defaults`` are its options (module docstring)."""

    name: ClassVar[str]
    faiss_class: ClassVar[type]
    exact: ClassVar[bool] = True
    defaults: ClassVar[dict] = {}

    def __init__(self, bits: int, dim: int, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise ValueError(f"HammingIndex kind {self.name!r} takes no option {', '.join(unknown)}; its options: "
                             f"{valid}")
        self.bits, self.dim = bits, dim
        self.options = {option: _check_option(self.name, option, options.get(option, default), default)
                        for option, default in self.defaults.items()}

    def new(self):
        """An empty faiss index, or None for a kind built by ``train`` on its first add."""
        return self.faiss_class(self.dim)

    def train(self, packed: np.ndarray):
        raise NotImplementedError(f"HammingIndex kind {self.name!r} makes its index in new()")

    def added(self, index) -> None:
        """Called after every add."""

    def loaded(self, index) -> None:
        """Called on an index read from a file, before it is used."""

    def search(self, index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, indices = index.search(queries, k)
        return (distances, indices) if self.exact else sort_rows(distances, indices)

    def range_index(self, index):
        """The faiss index whose ``range_search`` answers radius queries."""
        return index

    def nbytes(self, index) -> int:
        """Measured bytes: the serialised index (codes plus ids, lists or graph links)."""
        return len(faiss.serialize_index_binary(index))


@index_kind("exact")
class Exact(IndexKind):
    faiss_class = faiss.IndexBinaryFlat

    def nbytes(self, index) -> int:
        return int(index.xb.size())


@index_kind("mih")
class MultiIndex(IndexKind):
    """``substrings`` per code: None derives it from the database size (``a2lib.multi_index.substring_count``)."""

    faiss_class = faiss.IndexBinaryFlat
    defaults = {"substrings": None}

    def __init__(self, bits: int, dim: int, **options):
        super().__init__(bits, dim, **options)
        if bits > WORD_BITS:
            raise ValueError(f"HammingIndex kind 'mih' holds codes of at most {WORD_BITS} bits; got {bits}. "
                             "Use kind 'exact' or 'ivf' for longer codes")
        self.tables: MultiIndexTables | None = None

    def new(self):
        self.tables = None
        return super().new()

    def added(self, index) -> None:
        packed = faiss.vector_to_array(index.xb).reshape(index.ntotal, index.code_size)
        self.tables = MultiIndexTables(code_words(packed), self.bits, self.options["substrings"])

    loaded = added

    def search(self, index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.tables.search(code_words(queries), k)

    def nbytes(self, index) -> int:
        return int(index.xb.size()) + (0 if self.tables is None else self.tables.nbytes)


@index_kind("ivf")
class InvertedLists(IndexKind):
    """``nlist``: None is ``IVF_LISTS_PER_SQRT_N * sqrt(n)`` of the first add."""

    faiss_class = faiss.IndexBinaryIVF
    exact = False
    defaults = {"nlist": None, "nprobe": DEFAULT_IVF_NPROBE}

    def new(self):
        return None

    def train(self, packed: np.ndarray):
        nlist = self.options["nlist"] or max(1, int(IVF_LISTS_PER_SQRT_N * math.sqrt(len(packed))))
        if len(packed) < nlist:
            raise ValueError(
                f"an ivf HammingIndex with nlist={nlist} needs at least {nlist} codes in its first add to train "
                f"its lists; got {len(packed)}. Add more codes at once or pass a smaller nlist"
            )
        self.options["nlist"] = nlist
        quantizer = faiss.IndexBinaryFlat(self.dim)
        index = faiss.IndexBinaryIVF(quantizer, self.dim, nlist)
        index.own_fields = True
        quantizer.this.disown()
        index.train(packed)
        self.loaded(index)
        return index

    def loaded(self, index) -> None:
        index.nprobe = min(self.options["nprobe"], index.nlist)


@index_kind("hnsw")
class Graph(IndexKind):
    faiss_class = faiss.IndexBinaryHNSW
    exact = False
    defaults = {"hnsw_m": DEFAULT_HNSW_M, "ef_construction": DEFAULT_HNSW_EF_CONSTRUCTION,
                "ef_search": DEFAULT_HNSW_EF_SEARCH}

    def new(self):
        index = faiss.IndexBinaryHNSW(self.dim, self.options["hnsw_m"])
        index.hnsw.efConstruction = self.options["ef_construction"]
        index.hnsw.efSearch = self.options["ef_search"]
        return index

    def search(self, index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index.hnsw.efSearch = max(self.options["ef_search"], int(k))
        return super().search(index, queries, k)

    def range_index(self, index):
        return faiss.downcast_IndexBinary(index.storage)
