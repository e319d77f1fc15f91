"""HammingIndex kind "mih" (a2lib.multi_index): exact k-NN equal to a brute-force ranking on random, clustered and
heavily tied codes, at every substring count; persistence, memory and bad input."""
import numpy as np
import pytest

from a2lib import multi_index
from a2lib.search import HammingIndex, pack_codes

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def random_bits(n, bits, seed):
    return np.random.default_rng(seed).random((n, bits)) < 0.5


def clustered_bits(n_clusters, per_cluster, bits, flip, seed):
    """Codes around random centres with each bit flipped with probability ``flip``, and one query per centre."""
    rng = np.random.default_rng(seed)
    centres = rng.random((n_clusters, bits)) < 0.5
    members = np.repeat(centres, per_cluster, axis=0) ^ (rng.random((n_clusters * per_cluster, bits)) < flip)
    return members, centres ^ (rng.random(centres.shape) < flip)


def brute_force(queries, database, k):
    """The k nearest by (distance, index): a stable sort of the distances counted bit by bit."""
    distances = (queries[:, None, :] != database[None, :, :]).sum(axis=2)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, 1), order


SPLITS = [(bits, substrings) for bits in (8, 12, 24, 48, 64) for substrings in (None, 1, 2, 3, 5)
          if substrings is None or -(-bits // substrings) <= multi_index.MAX_SUBSTRING_BITS]
"""Code lengths and substring counts (None: derived) whose substrings fit ``MAX_SUBSTRING_BITS``; 48 bits in 5
substrings gives unequal ones (10, 10, 10, 9, 9), one substring is a single table probed to exhaustion."""


@pytest.mark.parametrize("bits,substrings", SPLITS)
def test_mih_equals_brute_force_on_random_codes(bits, substrings):
    database, queries = random_bits(700, bits, bits), random_bits(15, bits, bits + 1)
    index = HammingIndex(bits, "mih", substrings=substrings).add(database)
    for k in (1, 10, 700):
        distances, indices = index.search(queries, k)
        want_distances, want_indices = brute_force(queries, database, k)
        np.testing.assert_array_equal(distances, want_distances)
        np.testing.assert_array_equal(indices, want_indices)


@pytest.mark.parametrize("bits,flip", [(48, 0.08), (32, 0.15), (12, 0.05)])
def test_mih_equals_the_flat_scan_on_clustered_and_tied_codes(bits, flip):
    """Clustered codes stop the search within a few probes; 12-bit codes tie at almost every distance, so the
    index order of tied codes is tested too."""
    database, queries = clustered_bits(40, 100, bits, flip, seed=bits)
    flat = HammingIndex(bits).add(database)
    mih = HammingIndex(bits, "mih").add(database)
    for k in (1, 5, 100, 250):
        for got, want in zip(mih.search(queries, k), flat.search(queries, k)):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(mih.search(queries, 100)[0], brute_force(queries, database, 100)[0])


def test_clustered_queries_stop_early_and_a_query_for_everything_ends_in_a_flat_scan(monkeypatch):
    """The search is sub-linear where the codes cluster (no flat scan for a few neighbours of a cluster's centre),
    and falls back to one flat scan once its probes would touch more codes than the database holds."""
    flat_scans = []
    scan = multi_index.MultiIndexTables._flat
    monkeypatch.setattr(multi_index.MultiIndexTables, "_flat",
                        lambda self, query, k: flat_scans.append(k) or scan(self, query, k))
    database, queries = clustered_bits(50, 200, 48, 0.05, seed=9)
    index = HammingIndex(48, "mih").add(database)
    index.search(queries, 10)
    assert flat_scans == []
    distances, indices = index.search(queries[:2], len(database))
    assert flat_scans == [len(database)] * 2
    np.testing.assert_array_equal(indices, brute_force(queries[:2], database, len(database))[1])


def test_mih_rebuilds_its_tables_on_every_add_and_reset():
    first, second = random_bits(300, 24, 0), random_bits(500, 24, 1)
    queries = random_bits(10, 24, 2)
    index = HammingIndex(24, "mih").add(first).add(second)
    everything = np.concatenate([first, second])
    np.testing.assert_array_equal(index.search(queries, 20)[1], brute_force(queries, everything, 20)[1])
    index.reset()
    assert index.ntotal == 0 and index.nbytes == 0
    index.add(second)
    np.testing.assert_array_equal(index.search(queries, 20)[1], brute_force(queries, second, 20)[1])


def test_mih_range_search_save_and_load(tmp_path):
    database, queries = clustered_bits(20, 50, 48, 0.1, seed=4)
    index = HammingIndex(48, "mih", substrings=4).add(database)
    all_distances = (queries[:, None, :] != database[None, :, :]).sum(axis=2)
    for row, (distances, indices) in enumerate(index.range_search(queries, 6)):
        expected = np.flatnonzero(all_distances[row] <= 6)
        np.testing.assert_array_equal(indices, expected[np.lexsort((expected, all_distances[row, expected]))])
    index.save(tmp_path / "codes.faiss")
    loaded = HammingIndex.load(tmp_path / "codes.faiss", bits=48)
    assert (loaded.kind, loaded.options, loaded.ntotal) == ("mih", {"substrings": 4}, len(database))
    for got, want in zip(loaded.search(queries, 30), index.search(queries, 30)):
        np.testing.assert_array_equal(got, want)


def test_mih_memory_is_the_codes_plus_its_tables():
    n, bits, substrings = 1000, 48, 3
    index = HammingIndex(bits, "mih", substrings=substrings).add(random_bits(n, bits, 5))
    per_table = n * (np.dtype(np.int32).itemsize + np.dtype(np.uint64).itemsize)
    offsets = ((1 << (bits // substrings)) + 1) * np.dtype(np.int64).itemsize
    assert index.nbytes == n * 6 + substrings * (per_table + offsets)


def test_substring_count_follows_log2_n_up_to_the_cap():
    assert multi_index.substring_count(48, 1024) == 5          # log2 = 10 bits per substring
    assert multi_index.substring_count(48, 2 ** 16) == 3       # 16 bits
    assert multi_index.substring_count(48, 10_000_000) == 3    # log2 = 23.3, capped at 16
    assert multi_index.substring_count(64, 10_000_000) == 4


def test_code_words_hold_the_packed_bits():
    bits = np.array([[1, 0, 1] + [0] * 9, [0] * 11 + [1]], dtype=bool)
    assert multi_index.code_words(pack_codes(bits)).tolist() == [0b1010_0000_0000_0000, 0b0000_0000_0001_0000]


def test_mih_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="at most 64 bits; got 72. Use kind 'exact' or 'ivf'"):
        HammingIndex(72, "mih")
    with pytest.raises(ValueError, match=r"substrings must be a positive integer \(or None\), got 0"):
        HammingIndex(48, "mih", substrings=0)
    with pytest.raises(ValueError, match="need between 3 and 48 substrings"):
        HammingIndex(48, "mih", substrings=2).add(random_bits(10, 48, 0))
    with pytest.raises(ValueError, match="need between 1 and 12 substrings"):
        HammingIndex(12, "mih", substrings=13).add(random_bits(10, 12, 0))
    with pytest.raises(ValueError, match="kind 'mih' takes no option nprobe; its options: substrings"):
        HammingIndex(48, "mih", nprobe=4)
    with pytest.raises(ValueError, match="kind 'exact' takes no option substrings; its options: none"):
        HammingIndex(48, "exact", substrings=3)
