"""Tests for a2lib.efficiency (the Table 6 benchmark and notebook 06's pieces) and the acceptance targets that
benchmarks/bench_efficiency.py checks."""
import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from a2lib import efficiency

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

BENCH_EFFICIENCY = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_efficiency.py"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_efficiency.py as a module (the targets live there, outside the library)."""
    spec = importlib.util.spec_from_file_location("bench_efficiency", BENCH_EFFICIENCY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------------------------
# efficiency benchmark helpers
# ----------------------------------------------------------------------------------------------------------------

def test_recall_at_k_by_hand():
    exact = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    approx = np.array([[3, 2, 9, 8], [4, 5, 6, -1]])
    assert efficiency.recall_at_k(approx, exact) == pytest.approx((2 / 4 + 3 / 4) / 2)
    with pytest.raises(ValueError):
        efficiency.recall_at_k(approx[:1], exact)


def test_efficiency_table_small():
    bits, dim, k = 24, 32, 5
    features = efficiency.synthetic_features(2200, dim, n_clusters=20, seed=0)
    database, queries = features[:2000], features[2000:2020]
    codes = efficiency.random_projection_codes(features, bits, seed=1)
    rows = efficiency.efficiency_table(database, codes[:2000], queries, codes[2000:2020], bits, k=k,
                                   sizes=[500, 2000], methods=list(efficiency.SEARCH_METHODS), repeats=1,
                                   min_seconds=0.0, pq_m=4, tree_max_n=1000)
    by_key = {(r["n"], r["method"]): r for r in rows}
    assert (2000, "balltree") not in by_key and (500, "kdtree") in by_key
    for n in (500, 2000):
        assert by_key[(n, "linear")]["speedup"] == 1.0
        assert by_key[(n, "linear")]["bytes_per_item"] == dim * 4
        assert by_key[(n, "linear")]["recall_at_k"] == 1.0
        assert by_key[(n, "hamming")]["bytes_per_item"] == 3
        assert by_key[(n, "faiss-binary-flat")]["bytes_per_item"] == 3
        assert by_key[(n, "pq")]["bytes_per_item"] == 4
        assert 0.0 <= by_key[(n, "pq")]["recall_at_k"] <= 1.0
    assert by_key[(500, "kdtree")]["recall_at_k"] == 1.0
    assert by_key[(500, "balltree")]["recall_at_k"] == 1.0
    assert "| 2,000 | hamming |" in efficiency.markdown_table(rows)


def test_hamming_method_agrees_with_bare_faiss():
    bits = 48
    features = efficiency.synthetic_features(1000, 16, n_clusters=10, seed=2)
    codes = efficiency.random_projection_codes(features, bits, seed=3)
    built = efficiency.build_methods(features, codes, bits, ["hamming", "faiss-binary-flat"])
    np.testing.assert_array_equal(built["hamming"].search(codes[:20], 7), built["faiss-binary-flat"].search(codes[:20], 7))
    timing = efficiency.time_queries(built["hamming"], codes[:5], 7, repeats=2, min_seconds=0.0)
    assert len(timing["per_repeat"]) == 2
    assert timing["indices"].shape == (5, 7) and timing["seconds_per_query"] > 0


# ----------------------------------------------------------------------------------------------------------------
# notebook 06 helpers
# ----------------------------------------------------------------------------------------------------------------

def test_size_ladder_by_hand():
    assert efficiency.size_ladder(1000, 1_000_000) == [1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
    assert efficiency.size_ladder(300, 2500) == [300, 1000, 2500]
    assert efficiency.size_ladder(7, 7) == [7]
    with pytest.raises(ValueError, match="min_items"):
        efficiency.size_ladder(10, 5)


def test_fit_synthetic_recovers_generator_parameters():
    """Features drawn by hand from the generator's model (clusters in a latent space, mixed, plus noise) give back
    the cluster count, latent dimension, spread and noise they were drawn with."""
    rng = np.random.default_rng(0)
    n, r, dim, classes, spread, noise = 3000, 4, 40, 30, 0.5, 0.3
    centres = rng.standard_normal((classes, r))
    labels = np.arange(n) % classes
    latent = centres[labels] + spread * rng.standard_normal((n, r))
    mixing = np.linalg.qr(rng.standard_normal((dim, r)))[0].T * np.sqrt(dim / r)  # rows orthogonal, var 1/r per entry
    features = latent @ mixing + noise * rng.standard_normal((n, dim))
    fit = efficiency.fit_synthetic(features, labels, variance_share=0.8, sample=n)
    assert fit.n_clusters == classes and fit.intrinsic_dim == r and fit.source_dim == dim
    assert fit.spread == pytest.approx(spread, rel=0.1)
    assert fit.noise == pytest.approx(noise, rel=0.15)
    # the share held by r components, counted directly
    centred = features - features.mean(0)
    eig = np.sort(np.linalg.eigvalsh(centred.T @ centred))[::-1]
    assert fit.variance_share == pytest.approx(eig[:r].sum() / eig.sum(), rel=1e-6)
    assert efficiency.synthetic_features(50, dim, seed=0, **fit.generator_options()).shape == (50, dim)
    with pytest.raises(ValueError, match="one label per row"):
        efficiency.fit_synthetic(features, labels[:10])


def test_synthetic_database_shapes_and_codes():
    db, db_codes, q, q_codes = efficiency.synthetic_database(300, 5, 16, 12, seed=4)
    assert db.shape == (300, 16) and q.shape == (5, 16) and db_codes.shape == (300, 2) and q_codes.shape == (5, 2)
    whole = efficiency.synthetic_features(305, 16, seed=4)
    np.testing.assert_array_equal(np.concatenate([db, q]), whole)
    np.testing.assert_array_equal(np.concatenate([db_codes, q_codes]), efficiency.random_projection_codes(whole, 12, seed=5))


def test_model_features_holistic_and_global_parts():
    from a2lib.data import ArrayDataset
    from a2lib.models import build

    torch.manual_seed(0)
    model = build("a2net", 8, backbone="small", num_maps=3)
    images = torch.rand(5, 3, 16, 16)
    data = ArrayDataset(images, torch.arange(5))
    model.train()
    features, codes = efficiency.model_features(model, data, indices=[4, 1, 2], batch_size=2, device="cpu")
    assert model.training  # evaluated in eval mode, its training mode given back
    model.eval()
    with torch.no_grad():
        out = model(torch.stack([data[i][0] for i in (4, 1, 2)]))
    np.testing.assert_allclose(features, out.features.numpy(), atol=1e-5)
    np.testing.assert_allclose(codes, out.codes.numpy(), atol=1e-5)
    global_part, _ = efficiency.model_features(model, data, indices=[4, 1, 2], part="global", device="cpu")
    width = model.parts.out_channels
    assert features.shape[1] == 4 * width and global_part.shape == (3, width)
    np.testing.assert_allclose(global_part, features[:, -width:], atol=1e-6)
    with pytest.raises(ValueError, match="holistic, global"):
        efficiency.model_features(model, data, part="local")


def test_paired_time_ratio_counts_calls_and_orders_rounds():
    calls = []

    def fake(name, delay):
        def run(q, k):
            calls.append(name)
            time.sleep(delay)
            return np.zeros((len(q), k), dtype=np.int64)
        return efficiency.SearchMethod(name, run, "codes", 1, 1)

    slow, fast = fake("slow", 0.004), fake("fast", 0.001)
    result = efficiency.paired_time_ratio(slow, fast, np.zeros((2, 1), np.uint8), k=1, rounds=3, min_seconds=0.0)
    assert result["rounds"] == 3
    # warm-up one each, then rounds alternate which goes first: ss ff | ff ss | ss ff
    assert calls == ["slow", "fast"] + ["slow"] * 2 + ["fast"] * 2 + ["fast"] * 2 + ["slow"] * 2 + ["slow"] * 2 + ["fast"] * 2
    assert result["ratio"] > 2 and result["seconds_per_query"] > result["reference_seconds_per_query"]


def test_check_targets_and_report(bench):
    def row(n, method, seconds, speedup, nbytes):
        return {"n": n, "method": method, "seconds_per_query": seconds, "speedup": speedup, "bytes_per_item": nbytes}

    rows = [row(10, "hamming", 1.0, 5.0, 6.0),
            row(1_000_000, "linear", 0.5, 1.0, 4096.0),
            row(1_000_000, "hamming", 0.004, 125.0, 6.0),
            row(1_000_000, "faiss-binary-flat", 0.002, 250.0, 6.0)]
    checks = bench.check_targets(rows, 48)
    assert checks["applies"] and checks["n"] == 1_000_000
    assert checks["speedup_target_met"] and checks["memory_target_met"]
    assert checks["ratio_to_bare_faiss"] == pytest.approx(2.0) and not checks["ratio_target_met"]
    assert bench.check_targets(rows, 48, ratio_to_bare_faiss=1.1)["ratio_target_met"]
    report = bench.target_report(checks)
    assert "125.0x" in report and "2.00" in report and "NOT met" in report
    small = bench.check_targets(rows[:1], 12)
    assert not small["applies"] and not small["speedup_target_met"] and "ratio_to_bare_faiss" not in small
    assert "stated for 1,000,000 items" in bench.target_report(small)


def test_pq_needs_enough_items():
    features = efficiency.synthetic_features(100, 16, seed=0)
    with pytest.raises(ValueError, match="at least that many database items"):
        efficiency.build_methods(features, efficiency.random_projection_codes(features, 8), 8, ["pq"], pq_m=4)


def test_rows_by_method():
    rows = [{"n": 10, "method": "a", "speedup": 1.0, "x": 0}, {"n": 20, "method": "a", "speedup": 2.0, "x": 0},
            {"n": 10, "method": "b", "speedup": 3.0, "x": 0}]
    assert efficiency.rows_by_method(rows, ["speedup"]) == {"a": {"10": {"speedup": 1.0}, "20": {"speedup": 2.0}},
                                                        "b": {"10": {"speedup": 3.0}}}
