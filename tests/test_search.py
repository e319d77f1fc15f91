"""Tests for a2lib.search: packing, HammingIndex against a NumPy brute force, persistence, bad input, benchmark."""
import json
import time

import faiss
import numpy as np
import pytest
import torch

from a2lib import search
from a2lib.search import HammingIndex, pack_codes, unpack_codes

BIT_LENGTHS = (12, 24, 32, 48)


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """faiss's OpenMP threads spin badly on a busy shared machine; run this module on one and restore after."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)


def random_signs(n, bits, seed):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, bits)).astype(np.float32)


def brute_force_distances(queries, database):
    """Hamming distances counted bit by bit on the unpacked {-1, +1} codes (independent of the packing)."""
    return (queries[:, None, :] != database[None, :, :]).sum(axis=2)


def brute_force_knn(queries, database, k):
    distances = brute_force_distances(queries, database)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), order


def assert_same_neighbours(dist, idx, ref_dist, ref_idx, all_distances):
    """Distances equal exactly; indices equal as sets within each group of equal distance, except the last
    (boundary) group, where they must be a subset of the items at that distance."""
    np.testing.assert_array_equal(dist, ref_dist)
    for row in range(len(dist)):
        assert len(set(idx[row].tolist())) == idx.shape[1]
        np.testing.assert_array_equal(all_distances[row, idx[row]], dist[row])
        boundary = dist[row, -1]
        inner = dist[row] < boundary
        assert set(idx[row][inner]) == set(ref_idx[row][inner])
        assert set(idx[row][~inner]) <= set(np.flatnonzero(all_distances[row] == boundary))


# ----------------------------------------------------------------------------------------------------------------
# packing
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", BIT_LENGTHS + (1, 7, 8, 9))
def test_pack_unpack_round_trip(bits):
    codes = random_signs(50, bits, bits)
    packed = pack_codes(codes)
    assert packed.dtype == np.uint8 and packed.shape == (50, -(-bits // 8))
    np.testing.assert_array_equal(unpack_codes(packed, bits), codes)
    np.testing.assert_array_equal(pack_codes(packed, bits), packed)


def test_pack_convention_positive_is_one_zero_is_zero_msb_first():
    codes = np.array([[0.3, -0.2, 0.0, 1.0, -1.0, 0.9, 0.1, -0.5, 0.7, -0.7, 0.0, 0.2]])
    packed = pack_codes(codes)
    # bits: 1 0 0 1 0 1 1 0 | 1 0 0 1 + 4 zero padding bits
    assert packed.tolist() == [[0b10010110, 0b10010000]]


def test_pack_accepts_tanh_floats_torch_ints_and_bools():
    rng = np.random.default_rng(0)
    tanh = np.tanh(rng.standard_normal((20, 24))).astype(np.float32)
    reference = pack_codes(np.where(tanh > 0, 1.0, -1.0))
    np.testing.assert_array_equal(pack_codes(tanh), reference)
    np.testing.assert_array_equal(pack_codes(torch.from_numpy(tanh)), reference)
    np.testing.assert_array_equal(pack_codes(torch.from_numpy(tanh).to(torch.bfloat16)), reference)
    np.testing.assert_array_equal(pack_codes(np.where(tanh > 0, 1, -1).astype(np.int64)), reference)
    np.testing.assert_array_equal(pack_codes(tanh > 0), reference)
    np.testing.assert_array_equal(pack_codes(tanh[0]), reference[:1])


def test_padding_does_not_change_distances():
    codes = random_signs(30, 12, 1)
    packed = pack_codes(codes)
    assert not (packed[:, -1] & 0x0F).any()
    np.testing.assert_array_equal(search.hamming_distances(packed, packed), brute_force_distances(codes, codes))


# ----------------------------------------------------------------------------------------------------------------
# search against brute force
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", BIT_LENGTHS)
def test_exact_search_matches_brute_force_including_tie_order(bits):
    database = random_signs(3000, bits, bits)
    queries = np.concatenate([random_signs(25, bits, bits + 100), database[:5]])
    k = 40
    index = HammingIndex(bits).add(database[:1000]).add(torch.from_numpy(database[1000:]))
    assert index.ntotal == 3000 and len(index) == 3000
    dist, idx = index.search(queries, k)
    assert dist.shape == idx.shape == (len(queries), k) and idx.dtype == np.int64
    ref_dist, ref_idx = brute_force_knn(queries, database, k)
    assert_same_neighbours(dist, idx, ref_dist, ref_idx, brute_force_distances(queries, database))
    # documented tie order: (distance, index), i.e. exactly a stable sort by distance
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(idx[-5:, 0], np.arange(5))


def test_k_equal_to_ntotal_returns_everything_sorted():
    database = random_signs(64, 24, 5)
    index = HammingIndex(24).add(database)
    dist, idx = index.search(database[:3], 64)
    ref_dist, ref_idx = brute_force_knn(database[:3], database, 64)
    np.testing.assert_array_equal(dist, ref_dist)
    np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("bits", BIT_LENGTHS)
@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_radius_search_matches_brute_force(bits, kind):
    database = random_signs(1500, bits, bits + 1)
    queries = random_signs(10, bits, bits + 2)
    options = {"nlist": 4, "nprobe": 4} if kind == "ivf" else {}  # ivf visiting every list is exact
    index = HammingIndex(bits, kind, **options).add(database)
    all_distances = brute_force_distances(queries, database)
    for radius in (0, 2, bits // 4):
        results = index.range_search(queries, radius)
        assert len(results) == len(queries)
        for row, (dist, idx) in enumerate(results):
            expected = np.flatnonzero(all_distances[row] <= radius)
            expected = expected[np.lexsort((expected, all_distances[row, expected]))]
            np.testing.assert_array_equal(idx, expected)
            np.testing.assert_array_equal(dist, all_distances[row, expected])


def clustered_codes(n_clusters, per_cluster, bits, flip_probability, seed):
    rng = np.random.default_rng(seed)
    centres = rng.choice([-1.0, 1.0], size=(n_clusters, bits))
    members = np.repeat(centres, per_cluster, axis=0)
    flips = rng.random(members.shape) < flip_probability
    return np.where(flips, -members, members).astype(np.float32), centres


def approximate_recall(kind, options, database, queries, k):
    """Recall up to ties: a returned item counts when it lies within the exact k-th distance."""
    exact_dist, _ = HammingIndex(database.shape[1]).add(database).search(queries, k)
    dist, idx = HammingIndex(database.shape[1], kind, **options).add(database).search(queries, k)
    all_distances = brute_force_distances(queries, database)
    found = idx >= 0
    np.testing.assert_array_equal(all_distances[np.nonzero(found)[0], idx[found]], dist[found])
    assert (np.diff(dist, axis=1) >= 0).all()
    return np.mean(np.where(found, dist <= exact_dist[:, -1:], False))


@pytest.mark.parametrize("kind,options,bound", [
    ("hnsw", {}, 0.95),
    ("ivf", {"nlist": 64, "nprobe": 8}, 0.85),
])
def test_approximate_kinds_recall_on_clustered_codes(kind, options, bound):
    bits, k, flip = 48, 10, 0.15
    database, centres = clustered_codes(200, 25, bits, flip, seed=3)
    queries = np.where(np.random.default_rng(5).random(centres.shape) < flip, -centres, centres)
    assert approximate_recall(kind, options, database, queries, k) > bound


def test_ivf_recall_rises_with_nprobe_and_is_exact_when_probing_every_list():
    bits, k, flip = 48, 10, 0.15
    database, centres = clustered_codes(200, 25, bits, flip, seed=3)
    queries = np.where(np.random.default_rng(5).random(centres.shape) < flip, -centres, centres)
    recalls = [approximate_recall("ivf", {"nlist": 64, "nprobe": p}, database, queries, k) for p in (1, 8, 64)]
    assert recalls[0] < recalls[1] < recalls[2] == 1.0


# ----------------------------------------------------------------------------------------------------------------
# persistence and memory
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["exact", "ivf", "hnsw"])
def test_save_load_round_trip(tmp_path, kind):
    database = random_signs(500, 12, 8)
    queries = random_signs(7, 12, 9)
    options = {"nlist": 8, "nprobe": 3} if kind == "ivf" else {}
    index = HammingIndex(12, kind, **options).add(database)
    path = tmp_path / "codes.faiss"
    index.save(path)
    sidecar = json.loads((tmp_path / "codes.faiss.json").read_text())
    assert sidecar["bits"] == 12 and sidecar["kind"] == kind
    loaded = HammingIndex.load(path, bits=12)
    assert (loaded.bits, loaded.kind, loaded.ntotal) == (12, kind, 500)
    for got, want in zip(loaded.search(queries, 15), index.search(queries, 15)):
        np.testing.assert_array_equal(got, want)


def test_load_errors(tmp_path):
    path = tmp_path / "codes.faiss"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HammingIndex.load(path)
    HammingIndex(48).add(random_signs(10, 48, 0)).save(path)
    with pytest.raises(ValueError, match="holds 48-bit codes but 32 bits"):
        HammingIndex.load(path, bits=32)
    meta = json.loads((tmp_path / "codes.faiss.json").read_text())
    meta["bits"] = 12
    (tmp_path / "codes.faiss.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not belong together"):
        HammingIndex.load(path)


@pytest.mark.parametrize("bits,expected", [(12, 2), (24, 3), (32, 4), (48, 6)])
def test_memory_per_item_is_measured_code_size(bits, expected):
    index = HammingIndex(bits).add(random_signs(100, bits, 0))
    assert index.nbytes == 100 * expected
    assert index.bytes_per_item == expected


# ----------------------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------------------

def test_wrong_bit_length_names_expected_and_given():
    index = HammingIndex(48)
    with pytest.raises(ValueError, match=r"expected codes of 48 bits.*32 bits"):
        index.add(random_signs(5, 32, 0))
    index.add(random_signs(5, 48, 0))
    with pytest.raises(ValueError, match=r"expected codes of 48 bits"):
        index.search(random_signs(2, 24, 0), 1)
    with pytest.raises(ValueError, match=r"expected codes of 48 bits"):
        index.search(np.zeros((2, 4), dtype=np.uint8), 1)


def test_wrong_dtypes():
    index = HammingIndex(12)
    with pytest.raises(ValueError, match="-1, 0 or \\+1"):
        index.add(np.full((3, 12), 5, dtype=np.int64))
    with pytest.raises(TypeError, match="dtype"):
        index.add(np.array([["a"] * 12]))
    with pytest.raises(TypeError):
        index.add("010101010101")
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.full((2, 12), np.nan))
    with pytest.raises(ValueError, match="padding bits"):
        index.add(np.full((2, 2), 255, dtype=np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        index.add(np.zeros((2, 3, 12)))


def test_bad_k_empty_index_and_bad_constructor_arguments():
    index = HammingIndex(24)
    with pytest.raises(ValueError, match="empty"):
        index.search(random_signs(1, 24, 0), 1)
    with pytest.raises(ValueError, match="empty"):
        index.range_search(random_signs(1, 24, 0), 1)
    index.add(random_signs(10, 24, 0))
    with pytest.raises(ValueError, match="k=11 is larger than the 10 codes"):
        index.search(random_signs(1, 24, 0), 11)
    for bad_k in (0, -1, 2.5):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            index.search(random_signs(1, 24, 0), bad_k)
    with pytest.raises(ValueError, match="radius"):
        index.range_search(random_signs(1, 24, 0), -1)
    with pytest.raises(ValueError, match="kind"):
        HammingIndex(24, "lsh")
    with pytest.raises(ValueError, match="bits"):
        HammingIndex(0)
    with pytest.raises(ValueError, match="nlist"):
        HammingIndex(24, "ivf", nlist=50).add(random_signs(10, 24, 0))


# ----------------------------------------------------------------------------------------------------------------
# efficiency benchmark helpers
# ----------------------------------------------------------------------------------------------------------------

def test_recall_at_k_by_hand():
    exact = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    approx = np.array([[3, 2, 9, 8], [4, 5, 6, -1]])
    assert search.recall_at_k(approx, exact) == pytest.approx((2 / 4 + 3 / 4) / 2)
    with pytest.raises(ValueError):
        search.recall_at_k(approx[:1], exact)


def test_efficiency_table_small():
    bits, dim, k = 24, 32, 5
    features = search.synthetic_features(2200, dim, n_clusters=20, seed=0)
    database, queries = features[:2000], features[2000:2020]
    codes = search.random_projection_codes(features, bits, seed=1)
    rows = search.efficiency_table(database, codes[:2000], queries, codes[2000:2020], bits, k=k,
                                   sizes=[500, 2000], methods=search.METHODS, repeats=1, min_seconds=0.0, pq_m=4,
                                   tree_max_n=1000)
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
    assert "| 2,000 | hamming |" in search.markdown_table(rows)


def test_hamming_method_agrees_with_bare_faiss():
    bits = 48
    features = search.synthetic_features(1000, 16, n_clusters=10, seed=2)
    codes = search.random_projection_codes(features, bits, seed=3)
    built = search.build_methods(features, codes, bits, ["hamming", "faiss-binary-flat"])
    np.testing.assert_array_equal(built["hamming"].search(codes[:20], 7), built["faiss-binary-flat"].search(codes[:20], 7))
    timing = search.time_queries(built["hamming"], codes[:5], 7, repeats=2, min_seconds=0.0)
    assert len(timing["per_repeat"]) == 2
    assert timing["indices"].shape == (5, 7) and timing["seconds_per_query"] > 0


# ----------------------------------------------------------------------------------------------------------------
# notebook 06 helpers
# ----------------------------------------------------------------------------------------------------------------

def test_size_ladder_by_hand():
    assert search.size_ladder(1000, 1_000_000) == [1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
    assert search.size_ladder(300, 2500) == [300, 1000, 2500]
    assert search.size_ladder(7, 7) == [7]
    with pytest.raises(ValueError, match="min_items"):
        search.size_ladder(10, 5)


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
    fit = search.fit_synthetic(features, labels, variance_share=0.8, sample=n)
    assert fit.n_clusters == classes and fit.intrinsic_dim == r and fit.source_dim == dim
    assert fit.spread == pytest.approx(spread, rel=0.1)
    assert fit.noise == pytest.approx(noise, rel=0.15)
    # the share held by r components, counted directly
    centred = features - features.mean(0)
    eig = np.sort(np.linalg.eigvalsh(centred.T @ centred))[::-1]
    assert fit.variance_share == pytest.approx(eig[:r].sum() / eig.sum(), rel=1e-6)
    assert search.synthetic_features(50, dim, seed=0, **fit.generator_options()).shape == (50, dim)
    with pytest.raises(ValueError, match="one label per row"):
        search.fit_synthetic(features, labels[:10])


def test_synthetic_database_shapes_and_codes():
    db, db_codes, q, q_codes = search.synthetic_database(300, 5, 16, 12, seed=4)
    assert db.shape == (300, 16) and q.shape == (5, 16) and db_codes.shape == (300, 2) and q_codes.shape == (5, 2)
    whole = search.synthetic_features(305, 16, seed=4)
    np.testing.assert_array_equal(np.concatenate([db, q]), whole)
    np.testing.assert_array_equal(np.concatenate([db_codes, q_codes]), search.random_projection_codes(whole, 12, seed=5))


def test_model_features_holistic_and_global_parts():
    from a2lib.data import ArrayDataset
    from a2lib.models import build

    torch.manual_seed(0)
    model = build("a2net", 8, backbone="small", num_maps=3)
    images = torch.rand(5, 3, 16, 16)
    data = ArrayDataset(images, torch.arange(5))
    features, codes = search.model_features(model, data, indices=[4, 1, 2], batch_size=2, device="cpu")
    model.eval()
    with torch.no_grad():
        out = model(torch.stack([data[i][0] for i in (4, 1, 2)]))
    np.testing.assert_allclose(features, out.features.numpy(), atol=1e-5)
    np.testing.assert_allclose(codes, out.codes.numpy(), atol=1e-5)
    global_part, _ = search.model_features(model, data, indices=[4, 1, 2], part="global", device="cpu")
    width = model.parts.out_channels
    assert features.shape[1] == 4 * width and global_part.shape == (3, width)
    np.testing.assert_allclose(global_part, features[:, -width:], atol=1e-6)
    with pytest.raises(ValueError, match="holistic, global"):
        search.model_features(model, data, part="local")


def test_paired_time_ratio_counts_calls_and_orders_rounds():
    calls = []

    def fake(name, delay):
        def run(q, k):
            calls.append(name)
            time.sleep(delay)
            return np.zeros((len(q), k), dtype=np.int64)
        return search.SearchMethod(name, run, "codes", 1, 1)

    slow, fast = fake("slow", 0.004), fake("fast", 0.001)
    result = search.paired_time_ratio(slow, fast, np.zeros((2, 1), np.uint8), k=1, rounds=3, min_seconds=0.0)
    assert result["rounds"] == 3
    # warm-up one each, then rounds alternate which goes first: ss ff | ff ss | ss ff
    assert calls == ["slow", "fast"] + ["slow"] * 2 + ["fast"] * 2 + ["fast"] * 2 + ["slow"] * 2 + ["slow"] * 2 + ["fast"] * 2
    assert result["ratio"] > 2 and result["seconds_per_query"] > result["reference_seconds_per_query"]


def test_check_targets_and_report():
    def row(n, method, seconds, speedup, nbytes):
        return {"n": n, "method": method, "seconds_per_query": seconds, "speedup": speedup, "bytes_per_item": nbytes}

    rows = [row(10, "hamming", 1.0, 5.0, 6.0),
            row(1_000_000, "linear", 0.5, 1.0, 4096.0),
            row(1_000_000, "hamming", 0.004, 125.0, 6.0),
            row(1_000_000, "faiss-binary-flat", 0.002, 250.0, 6.0)]
    checks = search.check_targets(rows, 48)
    assert checks["applies"] and checks["n"] == 1_000_000
    assert checks["speedup_target_met"] and checks["memory_target_met"]
    assert checks["ratio_to_bare_faiss"] == pytest.approx(2.0) and not checks["ratio_target_met"]
    assert search.check_targets(rows, 48, ratio_to_bare_faiss=1.1)["ratio_target_met"]
    report = search.target_report(checks)
    assert "125.0x" in report and "2.00" in report and "NOT met" in report
    small = search.check_targets(rows[:1], 12)
    assert not small["applies"] and not small["speedup_target_met"] and "ratio_to_bare_faiss" not in small
    assert "stated for 1,000,000 items" in search.target_report(small)


def test_pq_needs_enough_items():
    features = search.synthetic_features(100, 16, seed=0)
    with pytest.raises(ValueError, match="at least that many database items"):
        search.build_methods(features, search.random_projection_codes(features, 8), 8, ["pq"], pq_m=4)


def test_rows_by_method():
    rows = [{"n": 10, "method": "a", "speedup": 1.0, "x": 0}, {"n": 20, "method": "a", "speedup": 2.0, "x": 0},
            {"n": 10, "method": "b", "speedup": 3.0, "x": 0}]
    assert search.rows_by_method(rows, ["speedup"]) == {"a": {"10": {"speedup": 1.0}, "20": {"speedup": 2.0}},
                                                        "b": {"10": {"speedup": 3.0}}}
