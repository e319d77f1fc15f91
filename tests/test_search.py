"""Tests for a2lib.search: packing and its bit convention, HammingIndex against a NumPy brute force, persistence,
bad input."""
import json

import numpy as np
import pytest
import torch

from a2lib import search
from a2lib.evaluate import hamming_distance
from a2lib.search import HammingIndex, pack_codes, unpack_codes

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

BIT_LENGTHS = (12, 24, 32, 48)


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


def test_pack_convention_nonnegative_is_one_msb_first():
    codes = np.array([[0.3, -0.2, 0.0, 1.0, -1.0, 0.9, 0.1, -0.5, 0.7, -0.7, 0.0, 0.2]])
    packed = pack_codes(codes)
    # a2lib.inference.binary: u >= 0 is bit 1, so the exact zeros (positions 2 and 10) are bit 1
    # bits: 1 0 1 1 0 1 1 0 | 1 0 1 1 + 4 zero padding bits
    assert packed.tolist() == [[0b10110110, 0b10110000]]
    np.testing.assert_array_equal(pack_codes(np.array([[1, -1, 0, 1, -1, 1, 1, -1, 1, -1, 0, 1]])), packed)


def test_pack_bools_are_explicit_bits():
    bits = np.array([[True, False, False, True, False, False, False, False, True]])
    assert pack_codes(bits).tolist() == [[0b10010000, 0b10000000]]
    np.testing.assert_array_equal(pack_codes(bits), pack_codes(np.where(bits, 1.0, -1.0)))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_pack_refuses_zero_one_matrices(dtype):
    """{0, 1} bits given as numbers would all read as bit 1 under the sign convention; binary refuses them."""
    with pytest.raises(ValueError, match="2 \\* bits - 1"):
        pack_codes(np.array([[0, 1, 1, 0], [1, 0, 0, 0]], dtype=dtype))


def test_zero_codes_give_the_metrics_distances_by_hand():
    """Exact zeros are bit 1 in HammingIndex as in a2lib.evaluate.hamming_distance."""
    query = np.array([[0.0, -1.0, 0.5, 0.0]])                      # bits 1 0 1 1
    database = np.array([[1.0, 1.0, 1.0, 1.0],                     # 1 1 1 1: distance 1
                         [-1.0, 0.0, -0.2, 0.0],                   # 0 1 0 1: distance 3
                         [0.0, 0.0, 0.0, 0.0],                     # 1 1 1 1: distance 1
                         [-1.0, -1.0, -1.0, -1.0]])                # 0 0 0 0: distance 3
    expected = np.array([[1, 3, 1, 3]])
    np.testing.assert_array_equal(hamming_distance(query, database).numpy(), expected)
    dist, idx = HammingIndex(4).add(database).search(query, 4)
    np.testing.assert_array_equal(dist, [[1, 1, 3, 3]])
    np.testing.assert_array_equal(idx, [[0, 2, 1, 3]])


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_codes_with_zeros_same_distances_as_metrics(dtype):
    rng = np.random.default_rng(7)
    database = rng.integers(-1, 2, size=(200, 24)).astype(dtype)  # about a third exact zeros
    queries = rng.integers(-1, 2, size=(15, 24)).astype(dtype)
    expected = hamming_distance(queries, database).numpy()
    dist, idx = HammingIndex(24).add(database).search(queries, len(database))
    np.testing.assert_array_equal(np.take_along_axis(expected, idx, 1), dist)
    np.testing.assert_array_equal(search.hamming_distances(pack_codes(queries), pack_codes(database)), expected)


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


def test_load_refuses_a_sidecar_from_another_save(tmp_path):
    """Issue 18 point 10: the sidecar's ntotal (and kind) must describe the faiss file next to it."""
    path, other = tmp_path / "codes.faiss", tmp_path / "other.faiss"
    HammingIndex(48).add(random_signs(10, 48, 0)).save(path)
    HammingIndex(48).add(random_signs(20, 48, 1)).save(other)
    (tmp_path / "codes.faiss.json").write_text((tmp_path / "other.faiss.json").read_text())
    with pytest.raises(ValueError, match=r"codes\.faiss holds 10 codes but its sidecar .*ntotal=20.*\.save\(path\)"):
        HammingIndex.load(path)
    HammingIndex(48, "hnsw").add(random_signs(10, 48, 0)).save(other)
    (tmp_path / "codes.faiss.json").write_text((tmp_path / "other.faiss.json").read_text())
    with pytest.raises(ValueError, match=r"IndexBinaryFlat but its sidecar .* says kind 'hnsw'"):
        HammingIndex.load(path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", json.dumps({"format": "a2lib.search.HammingIndex"}),
                                     json.dumps({"format": "a2lib.search.HammingIndex", "bits": 48, "kind": "lsh",
                                                 "ntotal": 10})])
def test_load_refuses_a_corrupt_sidecar_naming_it(tmp_path, content):
    path = tmp_path / "codes.faiss"
    HammingIndex(48).add(random_signs(10, 48, 0)).save(path)
    (tmp_path / "codes.faiss.json").write_text(content)
    with pytest.raises(ValueError, match=r"codes\.faiss\.json .*HammingIndex\.save"):
        HammingIndex.load(path)


def test_load_refuses_a_corrupt_index_file_naming_it(tmp_path):
    path = tmp_path / "codes.faiss"
    HammingIndex(48).add(random_signs(10, 48, 0)).save(path)
    path.write_bytes(b"not a faiss index")
    with pytest.raises(ValueError, match=r"codes\.faiss cannot be read as a faiss binary index"):
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
