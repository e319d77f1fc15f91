"""benchmarks/bench_search.py: its code distributions, its tie rule for recall, and its --small run end to end."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from a2lib.search import pack_codes

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

BENCH_SEARCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH_SEARCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clustered_codes_flip_each_bit_with_the_given_probability(bench):
    """One class: the per-bit majority is the centre, so the mean distance to it is bits x flip (Binomial mean;
    its standard error at 20,000 codes is sqrt(48 x 0.08 x 0.92 / 20,000) = 0.013 bits)."""
    codes = bench.make_codes("clustered", 20_000, 48, classes=1, flip=0.08, seed=0)
    bits = np.unpackbits(codes, axis=1)
    centre = bits.mean(axis=0) > 0.5
    assert abs((bits != centre).sum(axis=1).mean() - 48 * 0.08) < 0.1
    odd = bench.make_codes("uniform", 1000, 12, classes=1, flip=0.0, seed=0)
    np.testing.assert_array_equal(pack_codes(odd, 12), odd)  # padding bits zero


def test_tie_recall_counts_every_code_within_the_exact_kth_distance(bench):
    codes = pack_codes(np.array([[1, 1, 1, 1], [1, 1, 1, -1], [1, 1, -1, -1], [-1, -1, -1, -1]]))
    query = pack_codes(np.array([[1, 1, 1, 1]]))
    exact = np.array([[0, 1]])
    # found code 0 (distance 0) and code 2 (distance 2 > the exact 2nd distance 1): one of two
    assert bench.tie_recall(np.array([[0, 2]]), np.array([[0, 2]]), exact, codes, query) == 0.5
    assert bench.tie_recall(np.array([[0, -1]]), np.array([[0, -1]]), exact, codes, query) == 0.5
    with pytest.raises(RuntimeError, match="not the codes' Hamming distances"):
        bench.tie_recall(np.array([[0, 1]]), np.array([[0, 2]]), exact, codes, query)


def test_the_small_run_measures_every_method_and_writes_its_table(bench, tmp_path):
    out = tmp_path / "search.md"
    rows, checks = bench.main(["--small", "--markdown", str(out), "--score-command", "echo 123 images/s"])
    methods = {(row["distribution"], row["method"]) for row in rows}
    assert {("clustered", "HammingIndex mih"), ("clustered", "HammingIndex ivf"),
            ("clustered", "faiss.IndexBinaryMultiHash"), ("uniform", "HammingIndex mih")} <= methods
    exact = [row for row in rows if row["method"] in ("HammingIndex exact", "HammingIndex mih")]
    assert all(row["recall"] == 1.0 for row in exact)
    ivf = [row["recall"] for row in rows if row["method"] == "HammingIndex ivf"]
    assert ivf[-1] == 1.0  # probing all lists is exact
    text = out.read_text()
    assert "before and after: 123 images/s; 123 images/s" in text and "bench_search.py --small" in text
    assert len(checks) >= 4
    loops = [row for row in rows if row["method"] == bench.LIMIT_METHOD]
    assert [row["settings"] for row in loops] in ([], list(bench.LIMITS) * 2)  # [] without a C compiler
