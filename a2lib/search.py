"""Hamming search over packed binary hash codes: packing (``pack_codes``/``unpack_codes``) and ``HammingIndex``.

Bit convention: ``a2lib.inference.binary`` decides every bit, as for the metrics of ``a2lib.evaluate``: a float or
integer code value ``u >= 0`` is bit 1 (sign +1, so an exact zero is bit 1) and ``u < 0`` is bit 0; a boolean input
is taken as explicit bits (True = bit 1) and packed uint8 input as already packed. Bits are packed
most-significant-bit first (``numpy.packbits`` order, bit ``j`` in byte ``j // 8``) and a length that is not a
multiple of 8 is padded with zero bits, which leaves every Hamming distance unchanged (faiss binary indexes need a
dimension that is a multiple of 8).

Tie order: the exact index (``faiss.IndexBinaryFlat``) returns neighbours sorted by (distance, database index); faiss's
heap breaks equal distances by the smaller id, so among tied items the earliest added win, exactly as a stable sort
by distance does. The other kinds (``a2lib.index_kinds``: exact multi-index hashing, approximate ivf and hnsw)
return their results sorted the same way.

The retrieval-efficiency benchmark of Table 6, which times ``HammingIndex`` against other searches, is
``a2lib.efficiency``.
"""
from __future__ import annotations

import json
import os

import faiss
import numpy as np

from .checks import check_int, check_positive_int
from .index_kinds import INDEX_KINDS
from .inference import binary

BITS_PER_BYTE = 8
CODE_LENGTHS = "e.g. 12, 24, 32, 48"
"""Code lengths to suggest when ``bits`` is not a positive integer."""
INDEX_FORMAT = "a2lib.search.HammingIndex"
INDEX_FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".json"
SIDECAR_KEYS = ("bits", "kind", "ntotal")
SAVE_AGAIN = (
    "rebuild the index from its codes and save it with HammingIndex.save(path), which writes the faiss file and its "
    "sidecar together"
)


def packed_width(bits: int) -> int:
    """Bytes per packed code: ``ceil(bits / 8)`` (48 bits -> 6 bytes)."""
    return -(-int(bits) // BITS_PER_BYTE)


def _to_numpy(codes) -> np.ndarray:
    if hasattr(codes, "detach") and hasattr(codes, "cpu"):
        tensor = codes.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        return tensor.numpy()
    if isinstance(codes, (str, bytes)):
        raise TypeError(f"hash codes must be a numeric array or tensor; got a {type(codes).__name__}")
    return np.asarray(codes)


def _padding_mask(bits: int) -> int:
    """Mask of the padding bits in the last packed byte (MSB-first order)."""
    used = bits - (packed_width(bits) - 1) * BITS_PER_BYTE
    return (1 << (BITS_PER_BYTE - used)) - 1


def pack_codes(codes, bits: int | None = None) -> np.ndarray:
    """Pack hash codes into a C-contiguous uint8 array (n, ceil(bits/8)) for faiss binary indexes.

    Accepts float codes in (-1, 1) or {-1, +1} (tanh outputs or their sign) and integer codes in {-1, 0, +1}, whose
    bits are ``a2lib.inference.binary`` (``u >= 0`` is bit 1, so an exact 0 is bit 1; {0, 1} matrices and NaN are
    refused there), boolean bits (True = bit 1), each of shape (n, bits), or already packed uint8 codes
    (n, ceil(bits/8)). A 1-D input is one code. ``bits`` defaults to the width of unpacked input; it is required
    for packed input.
    """
    array = _to_numpy(codes)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"hash codes must be float (+-1 or tanh outputs), int in {{-1, 0, +1}}, bool or packed uint8; "
            f"got dtype {array.dtype}"
        )
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"hash codes must be a 2-D array (n, bits); got shape {array.shape}")
    if bits is None:
        if array.dtype == np.uint8:
            raise ValueError("uint8 codes are read as packed bytes, so pass bits= to say how many bits they hold")
        bits = array.shape[1]
    bits = check_positive_int("bits", bits, meaning=CODE_LENGTHS)
    width = packed_width(bits)
    if array.dtype == np.uint8 and array.shape[1] == width:
        if array.shape[0] and (array[:, -1] & _padding_mask(bits)).any():
            raise ValueError(
                f"packed codes of {bits} bits must have zero padding bits in their last byte; "
                f"pack them with a2lib.search.pack_codes"
            )
        return np.ascontiguousarray(array)
    if array.shape[1] != bits:
        raise ValueError(
            f"expected codes of {bits} bits: shape (n, {bits}) for float/int/bool codes or (n, {width}) "
            f"for packed uint8; got shape {array.shape} (dtype {array.dtype}), i.e. {array.shape[1]} bits"
        )
    if array.dtype == np.bool_:
        return np.packbits(array, axis=1)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < -1 or array.max() > 1):
            raise ValueError(
                f"integer hash codes must hold only -1, 0 or +1 (0 is bit 1, as in a2lib.inference.binary); got "
                f"values in [{array.min()}, {array.max()}]. Pass packed codes as uint8 of width {width}"
            )
        array = array.astype(np.int8)
    return np.packbits(binary(array).numpy() > 0, axis=1)


def unpack_codes(packed, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: float32 codes in {-1, +1} of shape (n, bits)."""
    bits = check_positive_int("bits", bits, meaning=CODE_LENGTHS)
    packed = pack_codes(packed, bits)
    unpacked = np.unpackbits(packed, axis=1, count=bits)
    return unpacked.astype(np.float32) * 2.0 - 1.0


def hamming_distances(query_packed: np.ndarray, db_packed: np.ndarray) -> np.ndarray:
    """All-pairs Hamming distances (nq, n) by popcount over XOR of packed codes, in NumPy (a brute-force reference)."""
    xor = np.bitwise_xor(query_packed[:, None, :], db_packed[None, :, :])
    return np.unpackbits(xor, axis=2).sum(axis=2, dtype=np.int64)


class HammingIndex:
    """A Hamming-distance index over packed binary codes (faiss binary index); the "Ours" row of Table 6.

    ``kind`` is one of ``a2lib.index_kinds.INDEX_KINDS`` and ``options`` its options: ``"exact"`` (default, flat
    scan), ``"mih"`` (exact multi-index hashing: ``substrings``), ``"ivf"`` (``nlist``, ``nprobe``) or ``"hnsw"``
    (``hnsw_m``, ``ef_construction``, ``ef_search``); each kind's costs and defaults are in that module.
    """

    def __init__(self, bits: int, kind: str = "exact", **options):
        self.bits = check_positive_int("bits", bits, meaning=CODE_LENGTHS)
        self.kind = kind
        self.code_size = packed_width(self.bits)
        self.dim = self.code_size * BITS_PER_BYTE
        self._kind = INDEX_KINDS.lookup(kind)(self.bits, self.dim, **options)
        self._index = self._kind.new()

    @property
    def exact(self) -> bool:
        """Whether every search returns exactly the flat scan's neighbours."""
        return self._kind.exact

    @property
    def options(self) -> dict:
        """The kind's options (an ivf index's ``nlist`` as built)."""
        return dict(self._kind.options)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        """Number of codes in the index."""
        return 0 if self._index is None else int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def faiss_index(self):
        """The underlying faiss binary index (None for an ivf index before its first add)."""
        return self._index

    @property
    def nbytes(self) -> int:
        """Measured bytes the index holds: the code array for ``exact``, codes plus tables for ``mih``, the
        serialised index for ivf/hnsw (codes plus ids, lists or graph links)."""
        return 0 if self._index is None else self._kind.nbytes(self._index)

    @property
    def bytes_per_item(self) -> float:
        """Measured memory per database item (``nbytes / ntotal``); 6 for exact 48-bit codes."""
        if self.ntotal == 0:
            raise ValueError("the index is empty, so it has no memory per item; add codes first")
        return self.nbytes / self.ntotal

    def __repr__(self) -> str:
        return f"HammingIndex(bits={self.bits}, kind={self.kind!r}, ntotal={self.ntotal})"

    # -- building and searching ------------------------------------------------------------------------------
    def pack(self, codes) -> np.ndarray:
        """Pack codes for this index (validates the bit length; see :func:`pack_codes`)."""
        return pack_codes(codes, self.bits)

    def add(self, codes) -> "HammingIndex":
        """Append codes (float/int/bool (n, bits) or packed uint8 (n, ceil(bits/8))); ids continue from ntotal."""
        packed = self.pack(codes)
        if len(packed) == 0:
            return self
        if self._index is None:
            self._index = self._kind.train(packed)
        self._index.add(packed)
        self._kind.added(self._index)
        return self

    def reset(self) -> None:
        """Remove every code (an ivf index also forgets its trained lists)."""
        self._index = self._kind.new()

    def _check_searchable(self) -> None:
        if self.ntotal == 0:
            raise ValueError("the HammingIndex is empty; add database codes with index.add(codes) before searching")

    def search(self, query_codes, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest codes of each query by Hamming distance.

        Returns ``(distances, indices)``: int32 and int64 arrays (nq, k), rows sorted by (distance, index).
        """
        self._check_searchable()
        check_positive_int("k", k)
        if k > self.ntotal:
            raise ValueError(f"k={k} is larger than the {self.ntotal} codes in the index; ask for k <= {self.ntotal}")
        return self._kind.search(self._index, self.pack(query_codes), int(k))

    def range_search(self, query_codes, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every code within Hamming distance ``<= radius`` of each query (exact for every kind except ivf,
        which searches its ``nprobe`` lists; hnsw scans its flat storage).

        Returns one ``(distances int32, indices int64)`` pair per query, sorted by (distance, index).
        """
        self._check_searchable()
        check_int("radius (a number of bits)", radius, 0)
        queries = self.pack(query_codes)
        index = self._kind.range_index(self._index)
        # faiss keeps distances strictly below its radius argument
        limits, distances, indices = index.range_search(queries, int(radius) + 1)
        results = []
        for row in range(len(queries)):
            lo, hi = limits[row], limits[row + 1]
            dist = distances[lo:hi].astype(np.int32)
            idx = indices[lo:hi].astype(np.int64)
            order = np.lexsort((idx, dist))
            results.append((dist[order], idx[order]))
        return results

    # -- persistence -------------------------------------------------------------------------------------------
    def _metadata(self) -> dict:
        return {
            "format": INDEX_FORMAT,
            "version": INDEX_FORMAT_VERSION,
            "bits": self.bits,
            "kind": self.kind,
            "ntotal": self.ntotal,
            "code_size": self.code_size,
            **self._kind.options,
        }

    def save(self, path) -> None:
        """Write the faiss index to ``path`` and its bits/kind to the JSON sidecar ``path + '.json'``."""
        if self._index is None:
            raise ValueError("an ivf HammingIndex has no trained lists before its first add; add codes, then save")
        path = os.fspath(path)
        faiss.write_index_binary(self._index, path)
        with open(path + SIDECAR_SUFFIX, "w") as handle:
            json.dump(self._metadata(), handle, indent=2)

    @classmethod
    def load(cls, path, bits: int | None = None) -> "HammingIndex":
        """Read an index written by :meth:`save`; ``bits``, when given, must match the saved bit length.

        The sidecar must describe the faiss file it sits next to (dimension, kind and number of codes), so that a
        sidecar left over from another save is an error rather than wrong metadata.
        """
        path = os.fspath(path)
        sidecar = path + SIDECAR_SUFFIX
        for required in (path, sidecar):
            if not os.path.exists(required):
                raise FileNotFoundError(
                    f"{required} does not exist; HammingIndex.save(path) writes both {path} and {sidecar}"
                )
        meta = _read_sidecar(sidecar)
        try:
            defaults = INDEX_KINDS.lookup(meta["kind"]).defaults
            index = cls(meta["bits"], meta["kind"], **{option: meta[option] for option in defaults if option in meta})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{sidecar} describes no valid HammingIndex ({error}); {SAVE_AGAIN}") from error
        if bits is not None and check_positive_int("bits", bits, meaning=CODE_LENGTHS) != index.bits:
            raise ValueError(
                f"{path} holds {index.bits}-bit codes but {bits} bits were expected; "
                f"load it with bits={index.bits} or rebuild the index"
            )
        try:
            loaded = faiss.read_index_binary(path)
        except RuntimeError as error:
            raise ValueError(f"{path} cannot be read as a faiss binary index ({error}); {SAVE_AGAIN}") from error
        if loaded.d != index.dim:
            raise ValueError(
                f"{path} stores codes of dimension {loaded.d} but its sidecar {sidecar} says {index.bits} bits "
                f"(dimension {index.dim}); the two files do not belong together: {SAVE_AGAIN}"
            )
        expected = index._kind.faiss_class
        if not isinstance(loaded, expected):
            raise ValueError(
                f"{path} holds a faiss {type(loaded).__name__} but its sidecar {sidecar} says kind {index.kind!r} "
                f"({expected.__name__}); the two files do not belong together: {SAVE_AGAIN}"
            )
        if loaded.ntotal != meta["ntotal"]:
            raise ValueError(
                f"{path} holds {loaded.ntotal} codes but its sidecar {sidecar} says ntotal={meta['ntotal']}; "
                f"the two files do not belong together (one was overwritten or copied alone): {SAVE_AGAIN}"
            )
        index._kind.loaded(loaded)
        index._index = loaded
        return index


def _read_sidecar(sidecar: str) -> dict:
    """The JSON metadata :meth:`HammingIndex.save` writes next to the faiss file, with its required keys."""
    try:
        with open(sidecar) as handle:
            meta = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{sidecar} cannot be read as a JSON HammingIndex sidecar ({error}); {SAVE_AGAIN}") from error
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{sidecar} is not a HammingIndex sidecar (format {found!r}); {SAVE_AGAIN}")
    missing = [key for key in SIDECAR_KEYS if key not in meta]
    if missing:
        raise ValueError(f"{sidecar} lacks the key(s) {', '.join(missing)}; {SAVE_AGAIN}")
    return meta
