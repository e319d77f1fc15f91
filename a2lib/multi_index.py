"""Multi-index hashing: exact k-nearest-neighbour search in Hamming space that looks at a small part of the database
when the codes have neighbourhood structure (Norouzi, Punjani and Fleet, "Fast search in Hamming space with
multi-index hashing", CVPR 2012). ``HammingIndex(bits, "mih")`` (``a2lib.search``) searches with it.

Each code of ``bits`` <= 64 bits is one integer, cut into ``m`` contiguous substrings; table ``t`` holds the codes
sorted by substring ``t``, with one bucket per substring value. By the pigeonhole principle a code within Hamming
distance ``D`` of the query has some substring within ``D // m`` of the query's, so probing the buckets at
substring distance ``r`` (0, 1, ...) in table after table finds every code within ``m * r + t`` once tables
``0..t`` have been probed at ``r`` (and the rest at ``r - 1``): the search stops as soon as ``k`` distinct codes lie
within that bound, and returns the ``k`` smallest by (distance, index), exactly what a flat scan returns. A query
whose probes touch more codes than the database holds finishes with a flat scan instead (never much more work than
one). The substring length is ``log2(n)`` (Norouzi et al.'s choice: about one code per bucket on uniform codes),
at most ``MAX_SUBSTRING_BITS`` so each table's bucket offsets stay small.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

WORD_BITS = 64
MAX_SUBSTRING_BITS = 16
"""Longest substring: a table's bucket offsets are ``2**16 + 1`` int64 (512 KiB) and the probe masks as many."""
ID_BITS = 40
"""A search ranks candidates by one int64 key ``distance << ID_BITS | index``: indices below 2**40."""


def code_words(packed: np.ndarray) -> np.ndarray:
    """Packed codes (n, w <= 8 bytes, MSB first) as uint64 integers (n,) holding the same bits in the low end."""
    width = packed.shape[1]
    if width * 8 > WORD_BITS:
        raise ValueError(f"multi-index hashing holds codes of at most {WORD_BITS} bits; got {width * 8}")
    padded = np.zeros((len(packed), WORD_BITS // 8), dtype=np.uint8)
    padded[:, padded.shape[1] - width:] = packed
    return padded.view(">u8").ravel().astype(np.uint64)


def substring_count(bits: int, n: int) -> int:
    """Substrings per code for ``n`` codes: each ``log2(n)`` bits long (1 to ``MAX_SUBSTRING_BITS``)."""
    length = min(MAX_SUBSTRING_BITS, max(1, round(math.log2(max(n, 2)))))
    return math.ceil(bits / length)


@lru_cache(maxsize=None)
def _rings(length: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``2**length`` substring masks ordered by popcount, and where each popcount's ring starts."""
    masks = np.arange(1 << length, dtype=np.int64)
    counts = np.bitwise_count(masks)
    order = np.argsort(counts, kind="stable")
    starts = np.searchsorted(counts[order], np.arange(length + 2))
    return masks[order], starts


class _Table:
    """The codes sorted by one substring (``shift``, ``length``): ``ids`` and ``words`` in that order, and the
    bucket of substring value ``v`` at ``offsets[v]:offsets[v + 1]``."""

    def __init__(self, words: np.ndarray, shift: int, length: int, id_dtype):
        self.shift, self.length = shift, length
        keys = ((words >> np.uint64(shift)) & np.uint64((1 << length) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        self.ids = order.astype(id_dtype)
        self.words = words[order]
        self.offsets = np.zeros((1 << length) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=1 << length), out=self.offsets[1:])

    def key(self, word: int) -> int:
        return (word >> self.shift) & ((1 << self.length) - 1)

    def ring(self, key: int, radius: int) -> np.ndarray:
        """Positions (into ``ids``/``words``) of the codes whose substring lies at exactly ``radius`` from ``key``."""
        masks, starts = _rings(self.length)
        buckets = key ^ masks[starts[radius]:starts[radius + 1]]
        begin, end = self.offsets[buckets], self.offsets[buckets + 1]
        sizes = end - begin
        total = int(sizes.sum())
        return np.repeat(begin - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.words.nbytes + self.offsets.nbytes


class MultiIndexTables:
    """Multi-index hash tables over ``words`` (``code_words`` of ``bits``-bit codes), ``substrings`` per code
    (default ``substring_count``); ``search`` is exact (module docstring)."""

    def __init__(self, words: np.ndarray, bits: int, substrings: int | None = None):
        self.bits, self.ntotal = int(bits), len(words)
        self.substrings = substrings or substring_count(bits, len(words))
        if not 1 <= self.substrings <= bits or math.ceil(bits / self.substrings) > MAX_SUBSTRING_BITS:
            raise ValueError(f"{bits}-bit codes split into {self.substrings} substrings need between "
                             f"{math.ceil(bits / MAX_SUBSTRING_BITS)} and {bits} substrings (each at most "
                             f"{MAX_SUBSTRING_BITS} bits); pass substrings in that range or leave it out")
        if self.ntotal >= 1 << ID_BITS:
            raise ValueError(f"multi-index hashing indexes fewer than 2**{ID_BITS} codes; got {self.ntotal}")
        id_dtype = np.int32 if self.ntotal <= np.iinfo(np.int32).max else np.int64
        base, extra = divmod(self.bits, self.substrings)
        lengths = [base + (t < extra) for t in range(self.substrings)]
        shifts = [self.bits - sum(lengths[:t + 1]) for t in range(self.substrings)]
        self.tables = [_Table(words, shift, length, id_dtype) for shift, length in zip(shifts, lengths)]

    @property
    def nbytes(self) -> int:
        """Bytes of the tables (ids, sorted codes, bucket offsets)."""
        return sum(table.nbytes for table in self.tables)

    def search(self, words: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest codes of each query word: int32 distances and int64 indices (nq, k), each row sorted by
        (distance, index)."""
        distances = np.empty((len(words), k), dtype=np.int32)
        indices = np.empty((len(words), k), dtype=np.int64)
        for row, word in enumerate(words):
            keys = self._search_one(int(word), k)
            distances[row], indices[row] = keys >> ID_BITS, keys & ((1 << ID_BITS) - 1)
        return distances, indices

    def _search_one(self, word: int, k: int) -> np.ndarray:
        query = np.uint64(word)
        keys = [table.key(word) for table in self.tables]
        found_ids, found_distances, touched = np.empty(0, np.int64), np.empty(0, np.uint8), 0
        for radius in range(max(table.length for table in self.tables) + 1):
            for t, (table, key) in enumerate(zip(self.tables, keys)):
                if radius > table.length:
                    continue
                positions = table.ring(key, radius)
                touched += len(positions)
                if touched > self.ntotal:
                    return self._flat(query, k)
                found_ids = np.concatenate([found_ids, table.ids[positions]])
                found_distances = np.concatenate([found_distances, np.bitwise_count(table.words[positions] ^ query)])
                bound = self.bits if radius == table.length else self.substrings * radius + t
                within = found_distances <= bound
                if within.sum() >= k:
                    ranked = np.unique((found_distances[within].astype(np.int64) << ID_BITS) | found_ids[within])
                    if len(ranked) >= k:
                        return ranked[:k]
        return self._flat(query, k)

    def _flat(self, query: np.uint64, k: int) -> np.ndarray:
        """The k smallest (distance, index) keys by scanning every code (table 0 holds them all)."""
        table = self.tables[0]
        ranked = (np.bitwise_count(table.words ^ query).astype(np.int64) << ID_BITS) | table.ids
        return np.sort(np.partition(ranked, k - 1)[:k])
