"""The retrieval-efficiency benchmark of Table 6, and the pieces notebook 06 builds it from.

``build_methods`` / ``time_queries`` / ``recall_at_k`` / ``memory_per_item`` / ``efficiency_table`` compare, on the
same database, the exact linear float32 L2 scan (``faiss.knn`` brute force over the feature array: the paper's
"Linear"), scikit-learn's BallTree and KDTree, faiss product quantisation (``IndexPQ``) and Hamming ranking with
:class:`a2lib.search.HammingIndex`, timing one query at a time. ``model_features`` takes a trained model's features and
codes, ``fit_synthetic`` / ``synthetic_database`` a synthetic stand-in database resembling them at any size, and
``paired_time_ratio`` times two methods in alternation so both see the same machine load.

Each method is registered in ``SEARCH_METHODS`` where its builder is defined (``@search_method``), with its row name
in the paper's Table 6 and whether ``build_methods`` builds it by default (``DEFAULT_METHODS``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import faiss
import numpy as np
import torch

from .checks import check_positive_int
from .inference import DEFAULT_BATCH, map_dataset
from .registry import Registry
from .search import BITS_PER_BYTE, CODE_LENGTHS, HammingIndex, pack_codes, packed_width

DEFAULT_PQ_M = 8
PQ_BITS_PER_SUBQUANTIZER = 8
PQ_TRAIN_POINTS_PER_CENTROID = 64
PQ_ADD_CHUNK = 32_768  # faiss encodes a whole batch through an (n, 256 * m) distance table
DEFAULT_TREE_LEAF_SIZE = 40
DEFAULT_TREE_MAX_N = 100_000
DEFAULT_K = 10
DEFAULT_REPEATS = 3
DEFAULT_MIN_SECONDS = 1.0
DEFAULT_MAX_REPEATS = 50
DEFAULT_CLUSTERS = 1000
DEFAULT_INTRINSIC_DIM = 32
DEFAULT_CLUSTER_SPREAD = 0.5
DEFAULT_AMBIENT_NOISE = 0.1


@dataclass
class SearchMethod:
    """One searchable structure of the efficiency benchmark: which inputs it takes and what it stores."""

    name: str
    search: Callable[[np.ndarray, int], np.ndarray]
    query_space: str  # "features" or "codes"
    ntotal: int
    nbytes: int
    fixed_bytes: int = 0
    build_seconds: float = 0.0
    exact: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BuildOptions:
    """The settings ``build_methods`` hands every builder (each reads its own)."""

    pq_m: int = DEFAULT_PQ_M
    leaf_size: int = DEFAULT_TREE_LEAF_SIZE
    tree_max_n: int | None = DEFAULT_TREE_MAX_N
    seed: int = 0


Builder = Callable[[np.ndarray, np.ndarray, int, BuildOptions], SearchMethod | None]
"""``build(features, packed codes, bits, options)``: the method built on that database, or None where it is skipped
at that size."""


@dataclass(frozen=True)
class SearchMethodEntry:
    """A registered search method: its builder, its row in the paper's Table 6 (None: not in it), and whether
    ``build_methods`` builds it by default."""

    name: str
    build: Builder
    paper_name: str | None
    default: bool


SEARCH_METHODS: Registry[SearchMethodEntry] = Registry("search method", "unknown search method {name!r}; choose one "
                                                                        "of {names}")


def search_method(name: str, *, paper_name: str | None = None, default: bool = True) -> Callable[[Builder], Builder]:
    """Register the decorated builder as search method ``name``."""
    def register(build: Builder) -> Builder:
        SEARCH_METHODS.add(name, SearchMethodEntry(name, build, paper_name, default))
        return build
    return register


def synthetic_features(n: int, dim: int, n_clusters: int = DEFAULT_CLUSTERS, intrinsic_dim: int = DEFAULT_INTRINSIC_DIM,
                       spread: float = DEFAULT_CLUSTER_SPREAD, noise: float = DEFAULT_AMBIENT_NOISE, seed: int = 0,
                       chunk: int = 100_000) -> np.ndarray:
    """Unit-norm float32 features standing in for a model's pooled features: Gaussian clusters in a
    low-dimensional latent space, mapped linearly to ``dim`` dimensions, plus a little isotropic noise
    (deep features have a low intrinsic dimension, which is what makes trees and quantisers useful)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, intrinsic_dim), dtype=np.float32)
    mixing = rng.standard_normal((intrinsic_dim, dim), dtype=np.float32) / np.float32(math.sqrt(intrinsic_dim))
    features = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        latent = centres[rng.integers(0, n_clusters, stop - start)]
        latent += spread * rng.standard_normal(latent.shape, dtype=np.float32)
        block = features[start:stop]
        rng.standard_normal(out=block, dtype=np.float32)
        block *= noise
        block += latent @ mixing
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return features


def random_projection_codes(features: np.ndarray, bits: int, seed: int = 0, mean: np.ndarray | None = None,
                            chunk: int = 100_000) -> np.ndarray:
    """Packed codes ``sign((x - mean) W)`` with Gaussian ``W`` (sign random projection, a stand-in for a trained
    hashing model: its Hamming distance tracks the angle between features)."""
    bits = check_positive_int("bits", bits, meaning=CODE_LENGTHS)
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((features.shape[1], bits), dtype=np.float32)
    if mean is None:
        mean = features.mean(axis=0, dtype=np.float64).astype(np.float32)
    packed = np.empty((len(features), packed_width(bits)), dtype=np.uint8)
    for start in range(0, len(features), chunk):
        stop = min(len(features), start + chunk)
        packed[start:stop] = pack_codes((features[start:stop] - mean) @ projection, bits)
    return packed


@search_method("linear", paper_name="Linear")
def _linear(features: np.ndarray, packed: np.ndarray, bits: int, options: BuildOptions) -> SearchMethod:
    return SearchMethod(
        "linear", lambda q, k: faiss.knn(q, features, k)[1], "features", len(features),
        nbytes=int(features.nbytes), note="exact float32 L2 brute-force scan (faiss.knn over the feature array)",
    )


def _tree(name: str, tree_class: str) -> Builder:
    """A scikit-learn tree (``BallTree`` or ``KDTree``), skipped above ``tree_max_n`` items: its build and query cost
    in high dimensions makes it impractical at the largest sizes."""
    def build(features: np.ndarray, packed: np.ndarray, bits: int, options: BuildOptions) -> SearchMethod | None:
        if options.tree_max_n is not None and len(features) > options.tree_max_n:
            return None
        from sklearn import neighbors

        tree = getattr(neighbors, tree_class)(features, leaf_size=options.leaf_size)
        data, idx_array, node_data, node_bounds = tree.get_arrays()
        nbytes = sum(np.asarray(a).nbytes for a in (data, idx_array, node_data, node_bounds))
        return SearchMethod(
            name, lambda q, k: tree.query(q, k=k, return_distance=False), "features", len(features), int(nbytes),
            note=f"scikit-learn {name} (exact, leaf_size={options.leaf_size}, float64 copy of the data)",
        )
    return build


search_method("balltree", paper_name="BallTree")(_tree("balltree", "BallTree"))
search_method("kdtree", paper_name="KDTree")(_tree("kdtree", "KDTree"))


@search_method("pq", paper_name="PQ")
def _pq(features: np.ndarray, packed: np.ndarray, bits: int, options: BuildOptions) -> SearchMethod:
    m, seed = options.pq_m, options.seed
    dim = features.shape[1]
    if dim % m:
        raise ValueError(f"product quantisation needs the feature dimension {dim} divisible by pq_m={m}")
    if len(features) < 1 << PQ_BITS_PER_SUBQUANTIZER:
        raise ValueError(f"product quantisation trains {1 << PQ_BITS_PER_SUBQUANTIZER} centroids per subquantizer, "
                         f"so it needs at least that many database items; got {len(features)}. Use a larger "
                         f"database or leave 'pq' out of the methods")
    index = faiss.IndexPQ(dim, m, PQ_BITS_PER_SUBQUANTIZER)
    n_train = min(len(features), (1 << PQ_BITS_PER_SUBQUANTIZER) * PQ_TRAIN_POINTS_PER_CENTROID)
    sample = np.random.default_rng(seed).choice(len(features), n_train, replace=False)
    index.pq.cp.seed = seed
    index.pq.cp.min_points_per_centroid = 1  # small databases train on what they have, without faiss's warning
    index.train(features[np.sort(sample)])
    for start in range(0, len(features), PQ_ADD_CHUNK):
        index.add(features[start:start + PQ_ADD_CHUNK])
    return SearchMethod(
        "pq", lambda q, k: index.search(q, k)[1], "features", index.ntotal,
        nbytes=int(index.codes.size()), fixed_bytes=int(index.pq.centroids.size()) * np.dtype(np.float32).itemsize,
        exact=False, note=f"faiss.IndexPQ, m={m} subquantizers x {PQ_BITS_PER_SUBQUANTIZER} bits",
    )


def _hamming(name: str, kind: str) -> Builder:
    """Hamming ranking of the packed codes with a ``HammingIndex`` of ``kind``."""
    def build(features: np.ndarray, packed: np.ndarray, bits: int, options: BuildOptions) -> SearchMethod:
        index = HammingIndex(bits, kind).add(packed)
        return SearchMethod(
            name, lambda q, k: index.search(q, k)[1], "codes", index.ntotal, index.nbytes,
            exact=index.exact, note=f"a2lib HammingIndex(kind={kind!r}), {bits} bits", extra={"index": index},
        )
    return build


search_method("hamming", paper_name="Ours")(_hamming("hamming", "exact"))
search_method("hamming-ivf", default=False)(_hamming("hamming-ivf", "ivf"))
search_method("hamming-hnsw", default=False)(_hamming("hamming-hnsw", "hnsw"))
search_method("hamming-mih", default=False)(_hamming("hamming-mih", "mih"))


@search_method("faiss-binary-flat")
def _bare_binary_flat(features: np.ndarray, packed: np.ndarray, bits: int, options: BuildOptions) -> SearchMethod:
    index = faiss.IndexBinaryFlat(packed_width(bits) * BITS_PER_BYTE)
    index.add(packed)
    return SearchMethod(
        "faiss-binary-flat", lambda q, k: index.search(q, k)[1], "codes", index.ntotal, int(index.xb.size()),
        note="bare faiss.IndexBinaryFlat on the same packed codes (reference for HammingIndex overhead)",
    )


DEFAULT_METHODS = tuple(name for name, entry in SEARCH_METHODS.items() if entry.default)


def build_methods(features: np.ndarray, codes, bits: int, methods: Sequence[str] = DEFAULT_METHODS, *,
                  pq_m: int = DEFAULT_PQ_M, leaf_size: int = DEFAULT_TREE_LEAF_SIZE,
                  tree_max_n: int | None = DEFAULT_TREE_MAX_N, seed: int = 0) -> dict[str, SearchMethod]:
    """Build each named method of ``SEARCH_METHODS`` on the same database (features (n, d) float32, codes (n, bits)
    or packed); a method its builder skips at this size (the trees above ``tree_max_n``) is absent from the result.
    """
    unknown = [m for m in methods if m not in SEARCH_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(SEARCH_METHODS)}")
    features = np.ascontiguousarray(features, dtype=np.float32)
    packed = pack_codes(codes, bits)
    if len(packed) != len(features):
        raise ValueError(f"features ({len(features)} rows) and codes ({len(packed)} rows) must describe the same items")
    options = BuildOptions(pq_m=pq_m, leaf_size=leaf_size, tree_max_n=tree_max_n, seed=seed)
    built = {}
    for name in methods:
        start = time.perf_counter()
        method = SEARCH_METHODS[name].build(features, packed, bits, options)
        if method is not None:
            method.build_seconds = time.perf_counter() - start
            built[name] = method
    return built


def time_queries(method: SearchMethod, queries: np.ndarray, k: int = DEFAULT_K, repeats: int = DEFAULT_REPEATS,
                 min_seconds: float = DEFAULT_MIN_SECONDS, max_repeats: int = DEFAULT_MAX_REPEATS) -> dict:
    """Wall-clock seconds per query, issuing one query at a time (as a user would), after one warm-up query.

    Each repeat runs every query once; repeats continue past ``repeats`` until ``min_seconds`` have passed (at most
    ``max_repeats``), so fast methods get enough repeats for a stable median on a shared machine. The reported
    ``seconds_per_query`` is the median over repeats of the mean per-query time; ``indices`` are the neighbours
    found in the first repeat (for recall).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    if len(queries) == 0:
        raise ValueError("time_queries needs at least one query")
    method.search(queries[:1], k)
    per_repeat = []
    found = None
    spent = 0.0
    while len(per_repeat) < repeats or (spent < min_seconds and len(per_repeat) < max_repeats):
        rows = []
        start = time.perf_counter()
        for row in range(len(queries)):
            rows.append(method.search(queries[row:row + 1], k))
        elapsed = time.perf_counter() - start
        spent += elapsed
        per_repeat.append(elapsed / len(queries))
        if found is None:
            found = np.concatenate(rows, axis=0)
    return {"seconds_per_query": float(np.median(per_repeat)), "per_repeat": per_repeat, "indices": found}


def recall_at_k(approx_indices, exact_indices) -> float:
    """Mean over queries of |approx ∩ exact| / k: the share of the exact k neighbours an approximate method finds."""
    approx = np.asarray(approx_indices)
    exact = np.asarray(exact_indices)
    if approx.ndim != 2 or exact.ndim != 2 or len(approx) != len(exact):
        raise ValueError(
            f"recall_at_k needs two (n_queries, k) index arrays with the same number of rows; "
            f"got shapes {approx.shape} and {exact.shape}"
        )
    k = exact.shape[1]
    hits = [len(np.intersect1d(a[a >= 0], e)) for a, e in zip(approx, exact)]
    return float(np.mean(hits) / k)


def memory_per_item(method: SearchMethod) -> float:
    """Measured bytes per database item of a method's per-item storage (fixed costs like codebooks excluded)."""
    if method.ntotal == 0:
        raise ValueError(f"method {method.name!r} holds no items")
    return method.nbytes / method.ntotal


def efficiency_table(features: np.ndarray, codes, query_features: np.ndarray, query_codes, bits: int, *,
                     k: int = DEFAULT_K, sizes: Sequence[int] | None = None,
                     methods: Sequence[str] = DEFAULT_METHODS, repeats: int = DEFAULT_REPEATS,
                     min_seconds: float = DEFAULT_MIN_SECONDS,
                     pq_m: int = DEFAULT_PQ_M, leaf_size: int = DEFAULT_TREE_LEAF_SIZE,
                     tree_max_n: int | None = DEFAULT_TREE_MAX_N, seed: int = 0,
                     log: Callable[[str], None] | None = None) -> list[dict]:
    """Table 6 on the first ``n`` database items for each ``n`` in ``sizes`` (default: the whole database).

    Returns one plain dict per (size, method): seconds per query, speed-up over the linear float scan, bytes per
    item, total megabytes, build seconds and recall@k against the exact float neighbours (from the linear scan).
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    packed = pack_codes(codes, bits)
    query_features = np.ascontiguousarray(query_features, dtype=np.float32)
    query_packed = pack_codes(query_codes, bits)
    sizes = [len(features)] if sizes is None else [int(s) for s in sizes]
    too_big = [s for s in sizes if s > len(features) or s < k]
    if too_big:
        raise ValueError(f"sizes {too_big} must lie between k={k} and the database size {len(features)}")
    names = list(methods) if "linear" in methods else ["linear", *methods]
    rows = []
    for n in sizes:
        database = features[:n]
        exact = faiss.knn(query_features, database, k)[1]
        size_rows = []
        for name in names:
            # one structure alive at a time keeps the peak memory at the database plus the largest structure
            built = build_methods(database, packed[:n], bits, [name], pq_m=pq_m, leaf_size=leaf_size,
                                  tree_max_n=tree_max_n, seed=seed)
            if name not in built:
                continue
            method = built.pop(name)
            queries = query_features if method.query_space == "features" else query_packed
            timing = time_queries(method, queries, k, repeats, min_seconds)
            if log:
                log(f"n={n:>9} {name:<18} {timing['seconds_per_query'] * 1e3:10.3f} ms/query "
                    f"(built in {method.build_seconds:.1f} s)")
            size_rows.append({
                "n": n,
                "method": name,
                "seconds_per_query": timing["seconds_per_query"],
                "bytes_per_item": memory_per_item(method),
                "memory_mb": (method.nbytes + method.fixed_bytes) / 1e6,
                "fixed_bytes": method.fixed_bytes,
                "build_seconds": method.build_seconds,
                "recall_at_k": recall_at_k(timing["indices"], exact),
                "k": k,
                "exact": method.exact,
                "repeats": len(timing["per_repeat"]),
                "note": method.note,
            })
            del method, built
        linear_time = next(r["seconds_per_query"] for r in size_rows if r["method"] == "linear")
        for row in size_rows:
            row["speedup"] = linear_time / row["seconds_per_query"]
        rows.extend(size_rows)
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    """Format :func:`efficiency_table` rows as a markdown table (Table 6 layout plus size, recall and build time)."""
    lines = [
        "| n | method | ms/query | speed-up | bytes/item | memory MB | recall@k | build s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['n']:,} | {row['method']} | {row['seconds_per_query'] * 1e3:.3f} | {row['speedup']:.1f}x | "
            f"{row['bytes_per_item']:.1f} | {row['memory_mb']:.2f} | {row['recall_at_k']:.3f} | "
            f"{row['build_seconds']:.2f} |"
        )
    return "\n".join(lines)


FEATURE_PARTS = ("holistic", "global")
DEFAULT_VARIANCE_SHARE = 0.9
DEFAULT_MAX_INTRINSIC_DIM = 64
DEFAULT_FIT_SAMPLE = 2000
DEFAULT_PAIRED_ROUNDS = 7
LADDER_STEPS = (1, 3)


def model_features(model, dataset, indices=None, batch_size: int = DEFAULT_BATCH, device=None,
                   part: str = "holistic") -> tuple[np.ndarray, np.ndarray]:
    """Float features and tanh codes of ``dataset`` items (all, or ``indices``) from one forward pass per batch.

    ``part="holistic"`` is ``HashOutput.features``: the vector x that the hash layer encodes (Eq. 5/6; for A²-Net
    ``[x^1; ...; x^M; x^global]``); ``"global"`` keeps only its last block x^global (the pooled backbone feature,
    ``model.parts.out_channels`` wide; for models without parts x is already global). Returns float32 arrays
    (n, d) and (n, bits) on the CPU, through ``a2lib.inference.map_dataset`` (eval mode, no gradients, the model's
    mode restored); ``a2lib.inference.binary`` (or ``pack_codes``) turns the codes into bits.
    """
    if part not in FEATURE_PARTS:
        raise ValueError(f"unknown feature part {part!r}; choose one of {', '.join(FEATURE_PARTS)}")

    def features_and_codes(net, images):
        out = net(images)
        if out.features is None:
            raise ValueError(f"model {getattr(net, 'name', type(net).__name__)!r} returns no "
                             "HashOutput.features; use a model that exposes its pooled features")
        x = out.features
        if part == "global" and hasattr(net, "parts"):
            x = x[:, -net.parts.out_channels:]
        return torch.cat([x.float(), out.codes.float()], dim=1)

    batches = map_dataset(model, dataset, features_and_codes, batch_size, device, indices)
    if not batches:
        raise ValueError("model_features got no items; pass a non-empty dataset or index list")
    both = torch.cat(batches).numpy()
    return np.ascontiguousarray(both[:, :-model.bits]), np.ascontiguousarray(both[:, -model.bits:])


def size_ladder(min_items: int, max_items: int) -> list[int]:
    """Database sizes 1, 3, 10, 30, ... times a power of ten from ``min_items`` up to ``max_items`` (always last)."""
    if min_items < 1 or max_items < min_items:
        raise ValueError(f"need 1 <= min_items <= max_items; got min_items={min_items}, max_items={max_items}")
    sizes = []
    scale = 1
    while scale <= max_items:
        sizes += [step * scale for step in LADDER_STEPS if min_items <= step * scale < max_items]
        scale *= 10
    return sorted(set(sizes)) + [int(max_items)]


@dataclass
class SyntheticParams:
    """Parameters of :func:`synthetic_features` measured on real features (see :func:`fit_synthetic`)."""

    n_clusters: int
    intrinsic_dim: int
    spread: float
    noise: float
    variance_share: float
    source_dim: int

    def generator_options(self) -> dict:
        """Keyword arguments for :func:`synthetic_features`."""
        return {"n_clusters": self.n_clusters, "intrinsic_dim": self.intrinsic_dim, "spread": self.spread,
                "noise": self.noise}


def fit_synthetic(features: np.ndarray, labels, variance_share: float = DEFAULT_VARIANCE_SHARE,
                  max_intrinsic_dim: int = DEFAULT_MAX_INTRINSIC_DIM, sample: int = DEFAULT_FIT_SAMPLE,
                  seed: int = 0) -> SyntheticParams:
    """Fit the synthetic generator to real features so the stand-in database resembles them.

    clusters = classes; intrinsic dim r = principal components holding ``variance_share`` of the variance
    (at most ``max_intrinsic_dim``); spread = sqrt(within-class / between-class variance) in those r components
    (the generator draws unit-variance centres and adds ``spread``-scaled scatter); noise such that the isotropic
    part carries the variance share the r components leave out: noise^2 = (1 + spread^2)(1 - f)/f, where f is the
    share the r components actually hold (each of the generator's ambient dims has variance 1 + spread^2 from the
    latent part and noise^2 from the noise).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"fit_synthetic needs features (n >= 2, d) and one label per row; got {x.shape} "
                         f"features and {len(y)} labels")
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if not 0 < variance_share <= 1:
        raise ValueError(f"variance_share must lie in (0, 1]; got {variance_share}")
    if len(x) > sample:
        x, y = (a[np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))] for a in (x, y))
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variances = singular ** 2
    cumulative = np.cumsum(variances) / variances.sum()
    r = int(min(max_intrinsic_dim, np.searchsorted(cumulative, variance_share - 1e-12) + 1, len(variances)))
    captured = float(cumulative[r - 1])
    latent = centred @ vt[:r].T
    classes = np.unique(y)
    means = np.stack([latent[y == c].mean(axis=0) for c in classes])
    counts = np.array([(y == c).sum() for c in classes])
    between = float((counts * (means ** 2).sum(axis=1)).sum() / len(latent))
    within = float(((latent - means[np.searchsorted(classes, y)]) ** 2).sum() / len(latent))
    spread = math.sqrt(within / between) if between > 0 else 1.0
    noise = math.sqrt((1 + spread ** 2) * (1 - captured) / captured)
    return SyntheticParams(len(classes), r, spread, noise, captured, int(features.shape[1]))


def synthetic_database(n: int, n_queries: int, dim: int, bits: int, params: SyntheticParams | None = None,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic stand-in database: (features, packed codes) for ``n`` items and ``n_queries`` queries from the
    same distribution (the last rows), codes by sign random projection at ``bits``."""
    options = params.generator_options() if params is not None else {}
    features = synthetic_features(n + n_queries, dim, seed=seed, **options)
    codes = random_projection_codes(features, bits, seed=seed + 1)
    return features[:n], codes[:n], features[n:], codes[n:]


def paired_time_ratio(method: SearchMethod, reference: SearchMethod, queries: np.ndarray, k: int = DEFAULT_K,
                      rounds: int = DEFAULT_PAIRED_ROUNDS, min_seconds: float = DEFAULT_MIN_SECONDS,
                      max_rounds: int = DEFAULT_MAX_REPEATS) -> dict:
    """Query time of ``method`` over ``reference`` measured in alternation (ABAB...), so both see the same load.

    Each round times every query once with each method, in an order that flips every round; the ratio is the
    median over rounds of (method time / reference time). Rounds continue past ``rounds`` until ``min_seconds``
    have passed (at most ``max_rounds``).
    """
    if rounds < 1 or len(queries) == 0:
        raise ValueError(f"paired_time_ratio needs rounds >= 1 and at least one query; got rounds={rounds}, "
                         f"{len(queries)} queries")
    pair = (method, reference)
    for each in pair:
        each.search(queries[:1], k)
    seconds = {0: [], 1: []}
    spent = 0.0
    while len(seconds[0]) < rounds or (spent < min_seconds and len(seconds[0]) < max_rounds):
        order = (0, 1) if len(seconds[0]) % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            for row in range(len(queries)):
                pair[which].search(queries[row:row + 1], k)
            elapsed = time.perf_counter() - start
            spent += elapsed
            seconds[which].append(elapsed / len(queries))
    ratios = np.array(seconds[0]) / np.array(seconds[1])
    return {"ratio": float(np.median(ratios)), "seconds_per_query": float(np.median(seconds[0])),
            "reference_seconds_per_query": float(np.median(seconds[1])), "rounds": len(ratios)}


SUMMARY_FIELDS = ("seconds_per_query", "speedup", "bytes_per_item", "memory_mb", "recall_at_k", "build_seconds")


def rows_by_method(rows: Sequence[dict], fields: Sequence[str] = SUMMARY_FIELDS) -> dict:
    """:func:`efficiency_table` rows as ``{method: {str(n): {field: value}}}`` (a compact results JSON)."""
    nested: dict = {}
    for row in rows:
        nested.setdefault(row["method"], {})[str(row["n"])] = {f: row[f] for f in fields}
    return nested
