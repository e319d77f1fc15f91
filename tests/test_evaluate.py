"""Metrics against independent references: per-query loops, sklearn, and explicit enumeration of tie orders."""
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, mutual_info_score, roc_auc_score

from a2lib import evaluate as ev


def _codes(rng, n, k):
    return np.where(rng.random((n, k)) < 0.5, -1.0, 1.0)


def _dist(q, d):
    return np.array([[int(np.sum(a != b)) for b in d] for a in q])


def _rel(ql, dl):
    if np.ndim(ql) == 1:
        return ql[:, None] == dl[None, :]
    return (ql @ dl.T) > 0


def _ap_of_order(rel_sorted, topk=None):
    """Literal AP: mean over retrieved relevant items of (relevant so far / rank)."""
    rel_sorted = list(rel_sorted[:topk] if topk else rel_sorted)
    hits, total = 0, 0.0
    for rank, r in enumerate(rel_sorted, start=1):
        if r:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def _loop_map(q, d, ql, dl, topk=None):
    """Brute-force per-query loop in stable Hamming order, skipping queries without relevant items."""
    dist, rel = _dist(q, d), _rel(ql, dl)
    aps = []
    for i in range(len(q)):
        if not rel[i].any():
            continue
        order = sorted(range(len(d)), key=lambda j: (dist[i, j], j))
        aps.append(_ap_of_order(rel[i, order], topk))
    return float(np.mean(aps))


def _tie_orders(dist_row):
    """All database orders consistent with the Hamming ranking (every permutation of each tie group)."""
    groups = [np.flatnonzero(dist_row == v).tolist() for v in sorted(set(dist_row.tolist()))]
    for combo in itertools.product(*[itertools.permutations(g) for g in groups]):
        yield [j for group in combo for j in group]


def _enumerated(q, d, ql, dl, metric):
    dist, rel = _dist(q, d), _rel(ql, dl)
    out = []
    for i in range(len(q)):
        if not rel[i].any():
            continue
        values = [metric(rel[i, order], order, i) for order in _tie_orders(dist[i])]
        out.append(np.mean(values))
    return float(np.mean(out))


def _tie_free(rng, n_query=4, k=16, max_flip=3):
    """Queries whose distances to every database item are distinct (see the construction in the test)."""
    base = np.ones(k)
    n_db = k - max_flip + 1
    db = np.stack([np.concatenate([-base[:j], base[j:]]) for j in range(n_db)])
    queries = np.stack([np.concatenate([base[: k - m], -base[k - m:]]) for m in rng.integers(0, max_flip, n_query)])
    perm = rng.permutation(n_db)
    return queries, db[perm]


def test_map_matches_loop_and_sklearn_on_tie_free_data():
    rng = np.random.default_rng(0)
    q, d = _tie_free(rng)
    assert all(len(set(row)) == len(row) for row in _dist(q, d))
    ql, dl = rng.integers(0, 3, len(q)), rng.integers(0, 3, len(d))
    dl[:3] = [0, 1, 2]
    reference = np.mean([average_precision_score(_rel(ql, dl)[i], -_dist(q, d)[i]) for i in range(len(q))])
    for ties in ev.TIES:
        assert ev.mean_average_precision(q, d, ql, dl, ties=ties) == pytest.approx(reference, abs=1e-12)
        assert ev.mean_average_precision(q, d, ql, dl, ties=ties) == pytest.approx(_loop_map(q, d, ql, dl), abs=1e-12)
        for topk in (1, 3, 7):
            assert ev.mean_average_precision(q, d, ql, dl, topk=topk, ties=ties) == pytest.approx(
                _loop_map(q, d, ql, dl, topk), abs=1e-12)


@pytest.mark.parametrize("multilabel", [False, True])
def test_legacy_map_matches_stable_loop_with_ties(multilabel):
    rng = np.random.default_rng(1)
    q, d = _codes(rng, 30, 6), _codes(rng, 80, 6)
    if multilabel:
        ql, dl = (rng.random((30, 5)) < 0.3).astype(float), (rng.random((80, 5)) < 0.3).astype(float)
    else:
        ql, dl = rng.integers(0, 4, 30), rng.integers(0, 4, 80)
    for topk in (None, 1, 10, 200):
        got = ev.mean_average_precision(q, d, ql, dl, topk=topk, ties="legacy")
        assert got == pytest.approx(_loop_map(q, d, ql, dl, topk), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_tie_aware_ap_equals_average_over_all_tie_orders(seed):
    rng = np.random.default_rng(seed)
    q, d = _codes(rng, 3, 3), _codes(rng, 7, 3)
    ql, dl = rng.integers(0, 2, 3), rng.integers(0, 2, 7)
    expected = _enumerated(q, d, ql, dl, lambda rel, order, i: _ap_of_order(rel))
    assert ev.mean_average_precision(q, d, ql, dl) == pytest.approx(expected, abs=1e-12)
    for topk in (1, 2, 4, 6):
        expected = _enumerated(q, d, ql, dl, lambda rel, order, i: _ap_of_order(rel, topk))
        assert ev.mean_average_precision(q, d, ql, dl, topk=topk) == pytest.approx(expected, abs=1e-12)
        expected = _enumerated(q, d, ql, dl, lambda rel, order, i: rel[:topk].sum() / topk)
        assert ev.precision_at_k(q, d, ql, dl, topk) == pytest.approx(expected, abs=1e-12)


def test_tie_aware_ap_single_group_hand_value():
    # one tie group of 3 items, 1 relevant: E[1/position] = (1 + 1/2 + 1/3) / 3
    q, d = np.ones((1, 4)), np.ones((3, 4))
    got = ev.mean_average_precision(q, d, np.array([0]), np.array([1, 0, 1]))
    assert got == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert ev.mean_average_precision(q, d, np.array([0]), np.array([1, 0, 1]), ties="legacy") == pytest.approx(0.5)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(2)
    q, d = _codes(rng, 50, 12), _codes(rng, 300, 12)
    ql, dl = rng.integers(0, 5, 50), rng.integers(0, 5, 300)
    for ties in ev.TIES:
        for topk in (None, 20):
            a = ev.average_precision(q, d, ql, dl, topk, ties)
            b = ev.average_precision(q, d, ql, dl, topk, ties, chunk_elements=700)
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_large_tie_groups_topk_matches_monte_carlo():
    rng = np.random.default_rng(3)
    q, d = _codes(rng, 4, 4), _codes(rng, 200, 4)
    ql, dl = rng.integers(0, 3, 4), rng.integers(0, 3, 200)
    dist, rel = _dist(q, d), _rel(ql, dl)
    est = []
    for i in range(4):
        samples = []
        for _ in range(3000):
            order = np.lexsort((rng.random(200), dist[i]))
            samples.append(_ap_of_order(rel[i, order], 50))
        est.append(np.mean(samples))
    assert ev.mean_average_precision(q, d, ql, dl, topk=50) == pytest.approx(np.mean(est), abs=5e-3)


def test_queries_without_relevant_items_are_skipped_and_counted():
    q, d = np.ones((3, 4)), -np.ones((5, 4))
    ql, dl = np.array([0, 1, 9]), np.array([0, 1, 1, 0, 1])
    assert ev.queries_without_relevant(ql, dl) == 1
    ap = ev.average_precision(q, d, ql, dl)
    assert math.isnan(ap[2]) and not np.isnan(ap[:2]).any()
    with pytest.warns(ev.DroppedQueries, match="mean_average_precision: 1 of 3 queries share no label with any "
                                               r"database item \(their class is absent from the database\)"):
        assert ev.mean_average_precision(q, d, ql, dl) == pytest.approx(np.mean(ap[:2]))


def test_dropped_queries_are_reported_with_their_count_by_every_mean():
    """Issue 28: mAP left queries whose class is absent from the database out of the mean without a word."""
    q, d = np.ones((4, 4)), -np.ones((5, 4))
    ql, dl = np.array([0, 1, 7, 9]), np.array([0, 1, 1, 0, 1])
    for metric in (lambda: ev.mean_average_precision(q, d, ql, dl), lambda: ev.precision_at_k(q, d, ql, dl, 2),
                   lambda: ev.precision_within_radius(q, d, ql, dl), lambda: ev.pr_curve(q, d, ql, dl)):
        with pytest.warns(ev.DroppedQueries, match="2 of 4 queries share no label"):
            metric()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev.mean_average_precision(q[:2], d, ql[:2], dl)


def test_zero_queries_are_an_error_not_nan():
    with pytest.raises(ValueError, match=r"there are no queries \(query_codes has 0 rows\)"):
        ev.mean_average_precision(np.ones((0, 4)), np.ones((3, 4)), np.zeros(0, int), np.zeros(3, int))


def test_bad_input_is_a_clear_error():
    q, d = np.ones((2, 8)), np.ones((3, 12))
    with pytest.raises(ValueError, match="bits"):
        ev.mean_average_precision(q, d, [0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="rows"):
        ev.mean_average_precision(q, np.ones((3, 8)), [0, 1, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        ev.mean_average_precision(q, np.ones((0, 8)), [0, 1], np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="ties"):
        ev.mean_average_precision(q, np.ones((3, 8)), [0, 1], [0, 1, 1], ties="random")
    with pytest.raises(ValueError, match="kinds"):
        ev.mean_average_precision(q, np.ones((3, 8)), [0, 1], np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        ev.mean_average_precision(np.full((2, 8), np.nan), np.ones((3, 8)), [0, 1], [0, 1, 1])


def test_precision_within_radius_and_pr_curve_match_loops():
    rng = np.random.default_rng(4)
    q, d = _codes(rng, 20, 8), _codes(rng, 60, 8)
    ql, dl = rng.integers(0, 3, 20), rng.integers(0, 3, 60)
    dist, rel = _dist(q, d), _rel(ql, dl)
    precs, recalls = [], []
    for r in range(9):
        p_r, rc_r = [], []
        for i in range(20):
            hit = dist[i] <= r
            if hit.any():
                p_r.append(rel[i, hit].mean())
            rc_r.append(rel[i, hit].sum() / rel[i].sum())
        precs.append(np.mean(p_r) if p_r else np.nan)
        recalls.append(np.mean(rc_r))
    curve = ev.pr_curve(q, d, ql, dl)
    np.testing.assert_allclose(curve.precision, precs, atol=1e-12)
    np.testing.assert_allclose(curve.recall, recalls, atol=1e-12)
    within = [rel[i, dist[i] <= 2].mean() if (dist[i] <= 2).any() else 0.0 for i in range(20)]
    assert ev.precision_within_radius(q, d, ql, dl, 2) == pytest.approx(np.mean(within))


def _literal_ndcg(gains_in_order, all_gains, k):
    dcg = sum((2 ** g - 1) / math.log2(j + 1) for j, g in enumerate(gains_in_order[:k], start=1))
    ideal = sorted(all_gains, reverse=True)
    idcg = sum((2 ** g - 1) / math.log2(j + 1) for j, g in enumerate(ideal[:k], start=1))
    return dcg / idcg


def test_ndcg_against_literal_formula_legacy_and_tie_average():
    rng = np.random.default_rng(5)
    q, d = _codes(rng, 3, 3), _codes(rng, 7, 3)
    qa, da = (rng.random((3, 5)) < 0.5).astype(float), (rng.random((7, 5)) < 0.5).astype(float)
    qa[0] = [1, 0, 0, 1, 0]
    dist = _dist(q, d)
    rel = [[float(qa[i] @ da[j]) / qa[i].sum() if qa[i].sum() else 0.0 for j in range(7)] for i in range(3)]
    valid = [i for i in range(3) if qa[i].sum() > 0 and max(rel[i]) > 0]
    for k in (1, 3, 7):
        legacy = np.mean([_literal_ndcg([rel[i][j] for j in sorted(range(7), key=lambda j: (dist[i, j], j))],
                                        rel[i], k) for i in valid])
        assert ev.ndcg_at_k(q, d, qa, da, k, ties="legacy") == pytest.approx(legacy, abs=1e-12)
        average = np.mean([np.mean([_literal_ndcg([rel[i][j] for j in order], rel[i], k)
                                    for order in _tie_orders(dist[i])]) for i in valid])
        assert ev.ndcg_at_k(q, d, qa, da, k) == pytest.approx(average, abs=1e-12)


def test_ndcg_skips_queries_without_attributes():
    q, d = np.ones((2, 4)), np.ones((3, 4))
    qa = np.array([[0, 0], [1, 0]], dtype=float)
    da = np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
    # query 1: all tied; expected DCG@1 = mean gain = (1 + 0 + 1) / 3, ideal 1
    assert ev.ndcg_at_k(q, d, qa, da, 1) == pytest.approx(2 / 3)


def test_bit_attribute_correspondence_matches_sklearn():
    rng = np.random.default_rng(6)
    attrs = (rng.random((300, 4)) < 0.4).astype(float)
    codes = np.tanh(rng.normal(size=(300, 3)))
    codes[:, 0] = np.tanh(2 * attrs[:, 2] - 1 + 0.3 * rng.normal(size=300))
    res = ev.bit_attribute_correspondence(codes, attrs, ["a", "b", "c", "d"])
    for b in range(3):
        for a in range(4):
            mi = mutual_info_score(attrs[:, a], codes[:, b] >= 0) / math.log(2)
            assert res.mutual_information[b, a] == pytest.approx(mi, abs=1e-10)
            assert res.auc[b, a] == pytest.approx(roc_auc_score(attrs[:, a], codes[:, b]), abs=1e-12)
    assert res.best_attribute[0] == 2 and res.best_attribute_names[0] == "c"


def test_accepts_torch_tensors_and_real_codes():
    rng = np.random.default_rng(7)
    q, d = rng.normal(size=(10, 8)), rng.normal(size=(40, 8))
    ql, dl = rng.integers(0, 3, 10), rng.integers(0, 3, 40)
    a = ev.mean_average_precision(torch.tanh(torch.tensor(q)), torch.tensor(d), torch.tensor(ql), torch.tensor(dl))
    b = ev.mean_average_precision(np.sign(q), np.sign(d), ql, dl)
    assert a == pytest.approx(b)


def test_class_indices_and_one_hot_labels_agree():
    rng = np.random.default_rng(8)
    q, d = _codes(rng, 40, 12), _codes(rng, 150, 12)
    ql, dl = rng.integers(0, 6, 40), rng.integers(0, 5, 150)
    one_hot = np.eye(6)
    for ties in ev.TIES:
        for topk in (None, 30):
            a = ev.average_precision(q, d, ql, dl, topk, ties)
            b = ev.average_precision(q, d, one_hot[ql], one_hot[dl], topk, ties)
            np.testing.assert_allclose(a, b, atol=1e-12)
    assert ev.precision_at_k(q, d, ql, dl, 10) == pytest.approx(ev.precision_at_k(q, d, one_hot[ql], one_hot[dl], 10))


def test_multilabel_tie_aware_ap_equals_enumeration():
    rng = np.random.default_rng(9)
    q, d = _codes(rng, 3, 3), _codes(rng, 6, 3)
    ql, dl = (rng.random((3, 3)) < 0.5).astype(float), (rng.random((6, 3)) < 0.5).astype(float)
    ql[:, 0] = 1
    dl[0, 0] = 1
    expected = _enumerated(q, d, ql, dl, lambda rel, order, i: _ap_of_order(rel))
    assert ev.mean_average_precision(q, d, ql, dl) == pytest.approx(expected, abs=1e-12)


_QL, _DL = np.array([0, 1]), np.array([0, 1, 1])
_QA, _DA = np.array([[1, 0], [0, 1]], dtype=float), np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
CODE_METRICS = {
    "mean_average_precision": lambda q, d: ev.mean_average_precision(q, d, _QL, _DL),
    "legacy_map": lambda q, d: ev.mean_average_precision(q, d, _QL, _DL, ties="legacy"),
    "precision_at_k": lambda q, d: ev.precision_at_k(q, d, _QL, _DL, 2),
    "pr_curve": lambda q, d: ev.pr_curve(q, d, _QL, _DL),
    "precision_within_radius": lambda q, d: ev.precision_within_radius(q, d, _QL, _DL),
    "ndcg_at_k": lambda q, d: ev.ndcg_at_k(q, d, _QA, _DA, 2),
    "hamming_distance": lambda q, d: ev.hamming_distance(q, d),
}


@pytest.mark.parametrize("metric", CODE_METRICS)
def test_metrics_refuse_zero_one_bits_and_say_how_to_convert(metric):
    """{0, 1} bits read as signs would all be +1 (every distance 0); the error names the codes and the fix."""
    compute = CODE_METRICS[metric]
    q_bits, d_bits = np.array([[1, 0, 1, 1], [0, 0, 1, 0]]), np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 1, 0]])
    with pytest.raises(ValueError, match=r"query_codes holds only 0 and 1.*convert them with 2 \* bits - 1"):
        compute(q_bits, 2 * d_bits - 1)
    with pytest.raises(ValueError, match=r"db_codes holds only 0 and 1.*convert them with 2 \* bits - 1"):
        compute(2 * q_bits - 1, d_bits.astype(np.float32))
    compute(2 * q_bits - 1, 2 * d_bits - 1)  # converted as the message says: accepted


@pytest.mark.parametrize("metric", CODE_METRICS)
def test_metrics_refuse_nan_codes(metric):
    q = np.array([[0.5, -0.5, np.nan, 0.1], [0.2, 0.3, -0.4, 0.5]])
    with pytest.raises(ValueError, match=r"query_codes contains NaN or infinite values \(1 code"):
        CODE_METRICS[metric](q, np.ones((3, 4)))


def test_zero_codes_rank_as_plus_one_in_every_metric():
    """An exact 0 is bit +1 (a2lib.inference.binary): distance 0 to an all-+1 code, k to an all--1 code."""
    q = np.array([[0.0, -0.0, 0.5, 0.0], [0.0, -0.3, 0.0, 0.0]])
    assert ev.hamming_distance(q, np.array([[1.0] * 4, [-1.0] * 4])).tolist() == [[0, 4], [1, 3]]


def test_bit_attribute_correspondence_refuses_nan_codes():
    codes = np.tanh(np.random.default_rng(0).normal(size=(20, 3)))
    codes[4, 1] = np.nan
    with pytest.raises(ValueError, match="codes contains NaN"):
        ev.bit_attribute_correspondence(codes, np.ones((20, 2)))


def test_chance_map_is_the_mean_ap_over_every_random_order():
    labels = np.array([0, 0, 1, 1, 2])

    def ap(relevant):
        hits = np.cumsum(relevant)
        return (relevant * hits / np.arange(1, len(relevant) + 1)).sum() / relevant.sum()

    orders = list(itertools.permutations(range(len(labels))))
    brute = np.mean([np.mean([ap((labels[list(o)] == c).astype(float)) for o in orders]) for c in labels])
    assert ev.chance_map(torch.tensor(labels)) == pytest.approx(brute)
    assert ev.chance_map(torch.arange(4000) % 10) == pytest.approx(0.1, abs=0.005)
