"""Retrieval metrics on binary codes: Hamming ranking, mAP, precision, PR, NDCG, bit-attribute MI/AUC.

Conventions shared by every function here:

* Codes are ``(n, k)`` tensors or arrays; they are binarised by ``a2lib.inference.binary``, ``+1 if x >= 0 else -1``
  (tanh outputs and learned ``B`` alike), which refuses {0, 1} bit matrices (convert with ``2 * bits - 1``), booleans
  and NaN codes; the Hamming distance is ``(k - <q, d>) / 2``.
* Labels are class indices ``(n,)`` or multi-hot ``(n, C)``; a database item is *relevant* to a query when they share a
  label. Queries with no relevant item in the whole database are **skipped** (as the public code skips them) and left
  out of every mean, with a ``DroppedQueries`` warning giving their count and why (their class is absent from the
  database); ``queries_without_relevant`` counts them. (The public code then divides by *all* queries, which only
  differs when such queries exist, never in the supervised single-label protocol.) No query at all is an error.
* ``ties="average"`` (default): Hamming distances tie heavily (12 bits -> 13 distinct values), so the metric is its
  expectation over all orderings of tied items (He et al., CVPR 2018, "Hashing as tie-aware learning to rank"), which
  does not depend on the database order. ``ties="legacy"``: the ranking of the public code family (ADSH, ExchNet,
  A²-Net), ``argsort`` of the Hamming distance, made stable here (ties in database order; numpy's default quicksort
  gives a version-dependent tie order). The public ``calc_map`` of some repositories also drops the last-ranked item;
  this module never does.
* Database codes: the paper's protocol ranks the encoded test queries against the *learned* database codes B of the
  training set (``TrainResult.db_codes``, the default everywhere); ``TrainResult.database_codes(train_set,
  which="encoded")`` gives the out-of-sample alternative (the network's encoding of the database images).
* Every function works in chunks of queries so that no ``(n, N)`` matrix is held for all queries at once.

Tie-aware AP, closed form. Rank the database by distance; a tie group of ``t`` items with ``r`` relevant ones follows
``N_b`` items of which ``R_b`` are relevant. A relevant item of the group at in-group position ``p`` (uniform over
``1..t``) has ``1 + X`` relevant items at or above it in the group, ``E[X | p] = (p-1)(r-1)/(t-1)`` (hypergeometric), so
the group's expected sum of precisions is::

    r/t * sum_{p=1..t} (R_b + 1 + (p-1)(r-1)/(t-1)) / (N_b + p)
  = r/t * [ (R_b + 1) dH + (r-1)/(t-1) * (t - (N_b + 1) dH) ],   dH = H(N_b + t) - H(N_b)

with ``H`` the harmonic numbers (the ``(r-1)/(t-1)`` factor is 0 for ``t = 1``). AP is the sum over groups divided
by the number of relevant items. Only the per-query histograms of (total, relevant) items per distance 0..k are
needed, which makes mAP@all O(n N) with small constants.

mAP@topK (both modes) follows the public ``CalcTopMap``: AP over the first K ranked items, normalised by the number of
relevant items *retrieved in the top K*, and 0 when none is retrieved. With ``ties="average"`` it is the exact
expectation of that ratio over random tie orders: groups entirely inside the top K contribute as above; the group
straddling position K contributes ``m`` relevant items with ``m`` hypergeometric, and given ``m`` the same closed form
holds with ``t -> K'`` (its places inside the top K) and ``r -> m``; the expectation over ``m`` is summed explicitly.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .inference import binary
from .similarity import shares_label

TIES = ("average", "legacy")
CHUNK_ELEMENTS = 1 << 24
"""Query-database pairs processed at once (about 16.8 M; ~0.15 GB of float32/int32 key buffers)."""
FLOAT32_EXACT = 1 << 24
"""Integers up to here are exact in float32 (histogram keys are built in float32)."""
NDCG_LOG_BASE = 2.0
RADIUS_DEFAULT = 2


def _to_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a tensor or array, got {type(x).__name__}") from error


def _codes(codes, name: str) -> torch.Tensor:
    """``codes`` as float32 ``(n, k)`` +-1 through ``a2lib.inference.binary`` (which refuses {0, 1}, boolean and NaN
    codes), after checking the shape."""
    signs = binary(codes, name)
    if signs.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (n, bits) array, got shape {tuple(signs.shape)}")
    return signs


def _labels(labels, n: int, name: str) -> torch.Tensor:
    labels = _to_tensor(labels, name)
    if labels.dim() not in (1, 2):
        raise ValueError(f"{name} must be class indices (n,) or multi-hot (n, C), got shape {tuple(labels.shape)}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} rows but its codes have {n}; pass one label per code")
    return labels.float() if labels.dim() == 2 else labels.long()


class DroppedQueries(UserWarning):
    """Some queries had no relevant database item and were left out of a mean (module docstring)."""


NO_RELEVANT = "share no label with any database item (their class is absent from the database)"
NO_SHARED_ATTRIBUTE = "have no attribute, or none that any database item has"


def _check_pair(query_codes, db_codes, query_labels, db_labels, label_name: str = "labels"):
    q = _codes(query_codes, "query_codes")
    d = _codes(db_codes, "db_codes")
    if q.shape[0] == 0:
        raise ValueError("there are no queries (query_codes has 0 rows), so there is nothing to average; pass at "
                         "least one query code (is the test set empty?)")
    if d.shape[0] == 0:
        raise ValueError("the database is empty (db_codes has 0 rows); pass at least one database code")
    if q.shape[1] != d.shape[1]:
        raise ValueError(
            f"query codes have {q.shape[1]} bits but database codes have {d.shape[1]}; "
            "encode both with the same model"
        )
    ql = _labels(query_labels, q.shape[0], f"query_{label_name}")
    dl = _labels(db_labels, d.shape[0], f"db_{label_name}")
    if ql.dim() != dl.dim() or (ql.dim() == 2 and ql.shape[1] != dl.shape[1]):
        raise ValueError(
            f"query_{label_name} {tuple(ql.shape)} and db_{label_name} {tuple(dl.shape)} are of different kinds; "
            "use class indices for both or multi-hot vectors of the same width for both"
        )
    return q, d, ql, dl


def _check_ties(ties: str) -> None:
    if ties not in TIES:
        raise ValueError(f"unknown ties mode {ties!r}; choose one of {', '.join(TIES)}")


relevance = shares_label
"""``(n, N)`` bool: query and database item share a label (equal class index, or overlapping multi-hot)."""


def hamming_distance(query_codes, db_codes) -> torch.Tensor:
    """``(n, N)`` int32 Hamming distances between binarised codes (exact: float32 inner products of +-1)."""
    q, d = _codes(query_codes, "query_codes"), _codes(db_codes, "db_codes")
    return _distances(q, d)


def _distances(q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    bits = q.shape[1]
    return torch.round((bits - q @ d.T) * 0.5).to(torch.int32)


def _row_chunks(n: int, N: int, chunk_elements: int) -> Iterator[slice]:
    rows = max(1, chunk_elements // max(N, 1))
    for start in range(0, n, rows):
        yield slice(start, min(n, start + rows))


def _distance_histograms(q: torch.Tensor, d: torch.Tensor, chunk_elements: int,
                         relevant: Callable[[slice], torch.Tensor] | None = None
                         ) -> Iterator[tuple[slice, torch.Tensor]]:
    """Per chunk of queries: int64 (c, k+1) counts of database items at each Hamming distance.

    With ``relevant(rows) -> (c, N) bool`` the counts are (c, k+1, 2), split by relevance. One ``addmm`` gives
    ``row_offset + distance`` exactly in float32 (integers below 2^24), one ``bincount`` histograms the chunk, and
    the buffers are reused across chunks.
    """
    bits, n_db = q.shape[1], d.shape[0]
    bins = bits + 1
    width = bins * (2 if relevant else 1)
    rows_per = max(1, min(chunk_elements // max(n_db, 1), q.shape[0], FLOAT32_EXACT // width - 1))
    d_t = d.T.contiguous()
    key_f = torch.empty(rows_per, n_db)
    key_i = torch.empty(rows_per, n_db, dtype=torch.int32)
    scale = 2 // (width // bins)
    base = (bits / scale + torch.arange(rows_per, dtype=torch.float32) * width)[:, None]
    for start in range(0, q.shape[0], rows_per):
        rows = slice(start, min(q.shape[0], start + rows_per))
        c = rows.stop - rows.start
        kf, ki = key_f[:c], key_i[:c]
        torch.addmm(base[:c], q[rows], d_t, alpha=-1.0 / scale, out=kf)
        if relevant:
            kf.add_(relevant(rows))
        ki.copy_(kf)
        hist = torch.bincount(ki.view(-1), minlength=c * width)
        yield rows, hist.view(c, bins, 2) if relevant else hist.view(c, bins)


def _histograms(q, d, ql, dl, chunk_elements) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Per chunk of queries: float64 numpy (c, k+1) counts of all and of relevant database items at each distance.

    Class-index labels: the relevant counts come from one pass per class over that class's queries and database
    items (n N / C pairs in all), the totals from a pass without relevance. Multi-hot labels: the relevance bit is
    the lowest bit of the histogram key.
    """
    if dl.dim() == 2:
        dl_t = dl.T.contiguous()

        def relevant(rows):
            return torch.mm(ql[rows], dl_t) > 0

        for rows, hist in _distance_histograms(q, d, chunk_elements, relevant):
            hist = hist.numpy().astype(np.float64)
            yield rows, hist.sum(2), hist[:, :, 1]
        return
    rel_counts = torch.zeros(q.shape[0], q.shape[1] + 1, dtype=torch.int64)
    for cls in torch.unique(ql):
        q_idx, d_idx = torch.nonzero(ql == cls).flatten(), torch.nonzero(dl == cls).flatten()
        if len(d_idx):
            for rows, hist in _distance_histograms(q[q_idx], d[d_idx], chunk_elements):
                rel_counts[q_idx[rows]] = hist
    for rows, hist in _distance_histograms(q, d, chunk_elements):
        yield rows, hist.numpy().astype(np.float64), rel_counts[rows].numpy().astype(np.float64)


def _harmonic(n: int) -> np.ndarray:
    """H(0..n) in float64."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64))])


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 0 (the per-query arithmetic below is small: numpy, no thread start-up)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _group_precision_sums(cnt, rel, n_before, r_before, harmonic) -> np.ndarray:
    """Expected sum of precisions at the relevant items of each tie group (closed form in the module docstring)."""
    d_h = harmonic[(n_before + cnt).astype(np.int64)] - harmonic[n_before.astype(np.int64)]
    ratio = _safe_div(rel - 1, cnt - 1)
    inner = (r_before + 1) * d_h + ratio * (cnt - (n_before + 1) * d_h)
    return _safe_div(rel, cnt) * inner


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x, 1) - x


def _log_choose(n: np.ndarray, m: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(m + 1) - gammaln(n - m + 1)


def _tie_aware_ap(cnt, rel, harmonic, topk: int | None, chunk_elements: int) -> np.ndarray:
    """Per-query expected AP (NaN without relevant items) from (c, k+1) histograms; see the module docstring."""
    n_before, r_before = _exclusive_cumsum(cnt), _exclusive_cumsum(rel)
    sums = _group_precision_sums(cnt, rel, n_before, r_before, harmonic)
    total_rel = rel.sum(1)
    if topk is None or topk >= cnt.sum(1).max():
        ap = _safe_div(sums.sum(1), total_rel)
    else:
        full = (n_before + cnt) <= topk
        s_full = (sums * full).sum(1)
        r_full = (rel * full).sum(1)
        ap = _safe_div(s_full, r_full)
        straddle = (n_before < topk) & (n_before + cnt > topk)
        rows = np.flatnonzero(straddle.any(1))
        if len(rows):
            g = straddle[rows].argmax(1)
            ap[rows] = _straddle_expectation(cnt[rows, g], rel[rows, g], n_before[rows, g], r_full[rows],
                                             s_full[rows], topk, harmonic, chunk_elements)
    return np.where(total_rel > 0, ap, np.nan)


def _straddle_expectation(t, r, n_b, r_b, s_full, topk, harmonic, chunk_elements) -> np.ndarray:
    """E[(S_full + C(m)) / (R_b + m)] over the hypergeometric number m of relevant items of the straddling group."""
    kp = topk - n_b
    d_h = harmonic[(n_b + kp).astype(np.int64)] - harmonic[n_b.astype(np.int64)]
    a = (r_b + 1) * d_h / kp
    b = _safe_div(kp - (n_b + 1) * d_h, kp * (kp - 1))
    lo = np.maximum(kp - (t - r), 0)
    hi = np.minimum(r, kp)
    out = np.empty_like(t)
    width = int((hi - lo).max()) + 1
    for sl in _row_chunks(len(t), width, chunk_elements):
        m = lo[sl, None] + np.arange(width, dtype=np.float64)[None, :]
        valid = m <= hi[sl, None]
        m = np.where(valid, m, lo[sl, None])
        log_p = (_log_choose(r[sl, None], m) + _log_choose((t - r)[sl, None], kp[sl, None] - m)
                 - _log_choose(t[sl, None], kp[sl, None]))
        p = np.where(valid, np.exp(log_p), 0.0)
        value = _safe_div(s_full[sl, None] + a[sl, None] * m + b[sl, None] * m * (m - 1), r_b[sl, None] + m)
        out[sl] = (p * value).sum(1) / p.sum(1)
    return out


def _legacy_order(q_rows, d, topk: int | None) -> torch.Tensor:
    """Indices of the database in stable Hamming order (first ``topk`` columns when given)."""
    dist = _distances(q_rows, d).long()
    n_db = d.shape[0]
    if topk is not None and topk < n_db:
        key = dist * n_db + torch.arange(n_db)[None, :]
        return torch.topk(key, topk, dim=1, largest=False, sorted=True).indices
    return torch.sort(dist, dim=1, stable=True).indices


def _legacy_ap(q_rows, d, ql_rows, dl, topk) -> torch.Tensor:
    order = _legacy_order(q_rows, d, topk)
    rel_all = relevance(ql_rows, dl)
    total_rel = rel_all.sum(1)
    rel = rel_all.gather(1, order).double()
    ranks = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64)
    hits = rel.sum(1)
    ap = (rel * torch.cumsum(rel, 1) / ranks).sum(1) / hits.clamp(min=1)
    return torch.where(total_rel > 0, ap, torch.full_like(ap, math.nan))


def average_precision(query_codes, db_codes, query_labels, db_labels, topk: int | None = None,
                      ties: str = "average", chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Per-query AP (``topk=None``: over the whole database) as float64; NaN for queries with no relevant item."""
    _check_ties(ties)
    q, d, ql, dl = _check_pair(query_codes, db_codes, query_labels, db_labels)
    if topk is not None and topk < 1:
        raise ValueError(f"topk must be a positive number of items or None (all), got {topk}")
    out = np.empty(q.shape[0], dtype=np.float64)
    if ties == "average":
        harmonic = _harmonic(d.shape[0])
        for rows, cnt, rel in _histograms(q, d, ql, dl, chunk_elements):
            out[rows] = _tie_aware_ap(cnt, rel, harmonic, topk, chunk_elements)
    else:
        for rows in _row_chunks(q.shape[0], d.shape[0], chunk_elements // 4):
            out[rows] = _legacy_ap(q[rows], d, ql[rows], dl, topk).numpy()
    return out


def _warn_dropped(dropped: int, total: int, what: str, why: str, stacklevel: int = 4) -> None:
    if 0 < dropped < total:
        warnings.warn(f"{what}: {dropped} of {total} queries {why}; they are left out of the mean, which is over the "
                      f"other {total - dropped}", DroppedQueries, stacklevel=stacklevel)


def _mean_valid(values: np.ndarray, what: str, why: str = NO_RELEVANT) -> float:
    valid = ~np.isnan(values)
    if not valid.any():
        warnings.warn(f"{what}: none of the {len(values)} queries has a relevant database item (they all {why}); "
                      "returning NaN", RuntimeWarning, stacklevel=3)
        return math.nan
    _warn_dropped(int((~valid).sum()), len(values), what, why)
    return float(values[valid].mean())


def mean_average_precision(query_codes, db_codes, query_labels, db_labels, topk: int | None = None,
                           ties: str = "average", chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """mAP@all (``topk=None``) or mAP@topK over Hamming ranking; tie-aware by default (module docstring)."""
    ap = average_precision(query_codes, db_codes, query_labels, db_labels, topk, ties, chunk_elements)
    return _mean_valid(ap, "mean_average_precision")


def chance_map(db_labels) -> float:
    """The mAP a random ranking scores on this database: the tie-aware mAP with every item at one distance (the
    expected AP over all orders), the database's labels standing in for the queries' (the chance line of a curve)."""
    labels = _to_tensor(db_labels, "db_labels").cpu()
    same = torch.ones(len(labels), 1)
    return mean_average_precision(same, same, labels, labels)


def queries_without_relevant(query_labels, db_labels) -> int:
    """How many queries share no label with any database item (they are skipped by every metric here)."""
    ql = _labels(query_labels, len(query_labels), "query_labels")
    dl = _labels(db_labels, len(db_labels), "db_labels")
    count = 0
    for rows in _row_chunks(len(ql), len(dl), CHUNK_ELEMENTS):
        count += int((~relevance(ql[rows], dl).any(1)).sum())
    return count


def precision_at_k(query_codes, db_codes, query_labels, db_labels, k: int, ties: str = "average",
                   chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """Mean precision of the top ``k`` (clamped to the database size); tie-aware: expected precision."""
    _check_ties(ties)
    q, d, ql, dl = _check_pair(query_codes, db_codes, query_labels, db_labels)
    if k < 1:
        raise ValueError(f"k must be a positive number of items, got {k}")
    k = min(k, d.shape[0])
    out = np.empty(q.shape[0], dtype=np.float64)
    if ties == "average":
        for rows, cnt, rel in _histograms(q, d, ql, dl, chunk_elements):
            inside = np.minimum(np.maximum(k - _exclusive_cumsum(cnt), 0), cnt)
            hits = (_safe_div(rel, cnt) * inside).sum(1)
            out[rows] = np.where(rel.sum(1) > 0, hits / k, np.nan)
    else:
        for rows in _row_chunks(q.shape[0], d.shape[0], chunk_elements // 4):
            order = _legacy_order(q[rows], d, k)
            rel_all = relevance(ql[rows], dl)
            hits = rel_all.gather(1, order).double().sum(1)
            out[rows] = torch.where(rel_all.any(1), hits / k, torch.full_like(hits, math.nan)).numpy()
    return _mean_valid(out, "precision_at_k")


@dataclass
class PRCurve:
    """Precision and recall of retrieving everything within Hamming radius 0..k (mean over queries)."""

    radius: np.ndarray
    precision: np.ndarray
    recall: np.ndarray


def _radius_counts(q, d, ql, dl, chunk_elements):
    """(n, k+1) float64 cumulative retrieved and relevant-retrieved counts per radius, and relevant totals."""
    retrieved, hits = [], []
    for _, cnt, rel in _histograms(q, d, ql, dl, chunk_elements):
        retrieved.append(np.cumsum(cnt, 1))
        hits.append(np.cumsum(rel, 1))
    retrieved, hits = np.concatenate(retrieved), np.concatenate(hits)
    return retrieved, hits, hits[:, -1]


def pr_curve(query_codes, db_codes, query_labels, db_labels, chunk_elements: int = CHUNK_ELEMENTS) -> PRCurve:
    """Hamming-radius PR curve; at each radius, precision is averaged over the queries that retrieve anything.

    Ties play no part: everything within the radius is retrieved. Queries with no relevant item are skipped.
    """
    q, d, ql, dl = _check_pair(query_codes, db_codes, query_labels, db_labels)
    retrieved, hits, total = _radius_counts(q, d, ql, dl, chunk_elements)
    valid = total > 0
    retrieved, hits, total = retrieved[valid], hits[valid], total[valid]
    if not len(total):
        raise ValueError("no query has a relevant database item; a PR curve is undefined")
    _warn_dropped(int((~valid).sum()), len(valid), "pr_curve", NO_RELEVANT, stacklevel=3)
    precision = np.where(retrieved > 0, _safe_div(hits, retrieved), np.nan)
    recall = hits / total[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        prec = np.nanmean(precision, axis=0)
    return PRCurve(np.arange(q.shape[1] + 1), prec, recall.mean(0))


def precision_within_radius(query_codes, db_codes, query_labels, db_labels, radius: int = RADIUS_DEFAULT,
                            chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """Mean precision of everything within Hamming ``radius`` (2 in the literature); 0 when nothing is retrieved."""
    q, d, ql, dl = _check_pair(query_codes, db_codes, query_labels, db_labels)
    if not 0 <= radius <= q.shape[1]:
        raise ValueError(f"radius must lie in 0..{q.shape[1]} (the number of bits), got {radius}")
    retrieved, hits, total = _radius_counts(q, d, ql, dl, chunk_elements)
    r, h = retrieved[:, radius], hits[:, radius]
    prec = np.where(total > 0, _safe_div(h, r), np.nan)
    return _mean_valid(prec, "precision_within_radius")


def _discount_prefix(k: int) -> torch.Tensor:
    """D(0..k): D(p) = sum_{j=1..p} 1 / log2(j + 1)."""
    disc = 1.0 / (torch.log(torch.arange(2, k + 2, dtype=torch.float64)) / math.log(NDCG_LOG_BASE))
    return torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(disc, 0)])


def ndcg_at_k(query_codes, db_codes, query_attributes, db_attributes, k: int, ties: str = "average",
              chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """Mean NDCG@k of attribute matching (Table 8): rel = |A_q ∩ A_j| / |A_q|, gain 2^rel - 1, discount log2(j+1).

    The ideal DCG ranks the whole database by gain. ``ties="average"``: expected DCG over random orders of items at
    equal Hamming distance (each position of a tie group receives the group's mean gain, exact). ``"legacy"``: stable
    order. Queries with no attribute, or whose attributes no database item shares (ideal DCG 0), are skipped.
    """
    _check_ties(ties)
    q, d, qa, da = _check_pair(query_codes, db_codes, query_attributes, db_attributes, "attributes")
    if qa.dim() != 2:
        raise ValueError("attributes must be (n, A) {0,1} matrices, not class indices")
    if k < 1:
        raise ValueError(f"k must be a positive number of items, got {k}")
    k = min(k, d.shape[0])
    prefix = _discount_prefix(k)
    discounts = prefix[1:] - prefix[:-1]
    bins = q.shape[1] + 1
    sizes = qa.sum(1).double()
    out = torch.empty(q.shape[0], dtype=torch.float64)
    for rows in _row_chunks(q.shape[0], d.shape[0], chunk_elements // 4):
        gains = torch.pow(2.0, (qa[rows].double() @ da.double().T) / sizes[rows, None].clamp(min=1)) - 1
        ideal = (torch.topk(gains, k, dim=1).values * discounts).sum(1)
        dist = _distances(q[rows], d).long()
        if ties == "average":
            c = len(gains)
            group_gain = torch.zeros(c, bins, dtype=torch.float64).scatter_add_(1, dist, gains)
            cnt = torch.zeros(c, bins, dtype=torch.float64).scatter_add_(1, dist, torch.ones_like(gains))
            group_gain, cnt, pre = group_gain.numpy(), cnt.numpy(), prefix.numpy()
            n_before = _exclusive_cumsum(cnt)
            span = pre[np.minimum(n_before + cnt, k).astype(np.int64)] - pre[np.minimum(n_before, k).astype(np.int64)]
            dcg = torch.from_numpy((_safe_div(group_gain, cnt) * span).sum(1))
        else:
            order = _legacy_order(q[rows], d, k)
            dcg = (gains.gather(1, order) * discounts).sum(1)
        valid = (sizes[rows] > 0) & (ideal > 0)
        out[rows] = torch.where(valid, dcg / ideal.clamp(min=1e-300), torch.full_like(dcg, math.nan))
    return _mean_valid(out.numpy(), "ndcg_at_k", NO_SHARED_ATTRIBUTE)


@dataclass
class BitAttributeCorrespondence:
    """Per bit and attribute: mutual information (bits) between sign bit and attribute, and AUC of the real code."""

    mutual_information: np.ndarray
    auc: np.ndarray
    best_attribute: np.ndarray
    best_mutual_information: np.ndarray
    best_attribute_names: list[str] | None = None


def _entropy_terms(joint: torch.Tensor, pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    ratio = joint / (pa * pb).clamp(min=1e-300)
    return torch.where(joint > 0, joint * torch.log2(ratio.clamp(min=1e-300)), torch.zeros_like(joint))


def bit_attribute_correspondence(codes, attributes, attribute_names: Sequence[str] | None = None
                                 ) -> BitAttributeCorrespondence:
    """For each bit b and attribute a: MI(sign bit; attribute) in bits and AUC of the pre-sign value (Figure 8).

    ``codes`` (n, k) real-valued (tanh outputs; binary codes give ties, which the AUC counts as 1/2);
    ``attributes`` (n, A) {0,1}. An AUC below 0.5 means the bit predicts the attribute's absence (polarity is
    arbitrary). Attributes present in all or no items get MI 0 and AUC NaN. ``best_attribute`` is argmax MI per bit.
    """
    from scipy.stats import rankdata

    x = _to_tensor(codes, "codes").double()
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"codes must be a non-empty (n, bits) array, got shape {tuple(x.shape)}")
    a = _to_tensor(attributes, "attributes").double()
    if a.dim() != 2 or a.shape[0] != x.shape[0]:
        raise ValueError(f"attributes must be (n, A) with n = {x.shape[0]} rows (one per code), got {tuple(a.shape)}")
    if attribute_names is not None and len(attribute_names) != a.shape[1]:
        raise ValueError(f"{len(attribute_names)} attribute names given for {a.shape[1]} attributes")
    n = x.shape[0]
    bit = (binary(x, "codes") > 0).double()
    p_bit, p_att = bit.mean(0)[:, None], a.mean(0)[None, :]
    p11 = bit.T @ a / n
    p10 = p_bit - p11
    p01 = p_att - p11
    p00 = 1 - p11 - p10 - p01
    mi = (_entropy_terms(p11, p_bit, p_att) + _entropy_terms(p10, p_bit, 1 - p_att)
          + _entropy_terms(p01, 1 - p_bit, p_att) + _entropy_terms(p00.clamp(min=0), 1 - p_bit, 1 - p_att))
    ranks = torch.as_tensor(rankdata(x.numpy(), axis=0), dtype=torch.float64)
    pos = a.sum(0)
    neg = n - pos
    auc = (ranks.T @ a - pos * (pos + 1) / 2) / (pos * neg)
    auc = torch.where((pos > 0) & (neg > 0), auc, torch.full_like(auc, math.nan))
    mi_np = mi.clamp(min=0).numpy()
    best = mi_np.argmax(1)
    names = [attribute_names[i] for i in best] if attribute_names is not None else None
    return BitAttributeCorrespondence(mi_np, auc.numpy(), best, mi_np[np.arange(len(best)), best], names)
