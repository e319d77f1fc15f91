"""a2lib.studies.paper: every published number read back from the paper's text, and the one ``with_paper``."""
import re
from pathlib import Path

import pytest

from a2lib import data
from a2lib.studies import paper

PAPER_TEXT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "a2net-pp-paper.txt"
DATASET_ORDER = ("cub200", "aircraft", "food101", "nabirds", "vegfru")
"""The row order of Tables 2 and 7 in the paper (Table 4: the first three)."""


@pytest.fixture(scope="module")
def text():
    if not PAPER_TEXT.is_file():
        pytest.skip(f"the paper's text is not at {PAPER_TEXT}")
    return PAPER_TEXT.read_text()


def section(text, start, end):
    begin = text.index(start)
    return text[begin:text.index(end, begin)]


def numeric_rows(block, width):
    """The last ``width`` tab-separated fields of each line whose fields end in ``width`` numbers, the first of them
    a code length (the OCR'd row labels before them are ignored)."""
    rows = []
    for line in block.splitlines():
        fields = line.strip().split("\t")[-width:]
        if len(fields) == width and all(re.fullmatch(r"\d+(\.\d+)?", f) for f in fields) and fields[0] in "12 24 32 48":
            rows.append((int(fields[0]), tuple(float(f) for f in fields[1:])))
    return rows


def as_rows(table, datasets):
    return [(bits, row) for dataset in datasets for bits, row in table[dataset].items()]


def test_table1_matches_the_text(text):
    rows = numeric_rows(section(text, "Table 1 Preliminary", "Figure 5."), 4)
    assert rows == [(bits, row) for test in ("MNIST-CIFAR", "MNIST-only", "CIFAR-only")
                    for bits, row in paper.TABLE1[test].items()]


def test_tables_2_4_7_match_the_text(text):
    table2 = numeric_rows(section(text, "Comparisons of retrieval accuracy (% mAP) on five", "4.2.1"), 9)
    assert table2 == as_rows(paper.TABLE2, DATASET_ORDER)
    table4 = numeric_rows(section(text, "with the zero-shot retrieval protocol [68] on three", "Table 5"), 8)
    assert table4 == as_rows(paper.TABLE4, DATASET_ORDER[:3])
    table7 = numeric_rows(section(text, "Retrieval accuracy (% mAP) with incremental", "Figure 8."), 9)
    assert table7 == as_rows(paper.TABLE7, DATASET_ORDER)


def test_table8_and_table6_match_the_text(text):
    block = section(text, "Table 8 Results", "4.5.2")
    printed = dict(re.findall(r"^(\S.*?)\t(0\.\d+)$", block, flags=re.M))
    assert len(printed) == len(paper.TABLE8)
    assert [float(v) for v in printed.values()] == list(paper.TABLE8.values())
    block = section(text, "Table 6 Time and space", "of our models, the challenging")
    speedup = r"\$?([\d.]+) ?(?:\\times\$|×)"  # printed as "$40.13 \times$" or "240.50×"
    rows = re.findall(rf"^(\w+)(?: \[\d+\])?\t([\d.]+)\t{speedup}\t([\d.]+)(MB|KB)$", block, flags=re.M)
    assert [name for name, *_ in rows] == list(paper.PAPER_SEARCH_METHODS.values())
    assert [(float(w), float(s), (float(m), unit)) for _, w, s, m, unit in rows] == list(paper.TABLE6.values())


def test_the_registered_facts_of_the_papers_data_sets_match_the_text(text):
    """Sec. 4.1.1 against what each loader registers: the paper's names, classes and training images (Aircraft's
    trainval = its train + val, Food101 750 training images per class, VegFru 200 vegetables + 92 fruits)."""
    block = section(text, "We conduct experiments on five fine-grained", "Furthermore, the *Clothing*")
    number = r"([\d,]+)"
    found = {
        "cub200": re.search(rf"from {number} bird species and is officially split into {number} images for", block),
        "aircraft": re.search(rf"spanning {number} aircraft models with {number} for training, {number} for val",
                              block),
        "food101": re.search(rf"contains {number} kinds of food .* while {number} training images", block),
        "nabirds": re.search(rf"with {number} subcategories, where {number} for training", block),
        "vegfru": re.search(rf"covering {number} kinds of vegetables and {number} kinds of fruit with {number} for "
                            "training", block),
    }
    values = {name: [int(group.replace(",", "")) for group in match.groups()] for name, match in found.items()}
    classes_and_train = {
        "cub200": tuple(values["cub200"]),
        "aircraft": (values["aircraft"][0], values["aircraft"][1] + values["aircraft"][2]),
        "food101": (values["food101"][0], values["food101"][0] * values["food101"][1]),
        "nabirds": tuple(values["nabirds"]),
        "vegfru": (values["vegfru"][0] + values["vegfru"][1], values["vegfru"][2]),
    }
    for name, (classes, train) in classes_and_train.items():
        facts = data.DATASETS[name].facts
        assert (facts.num_classes, facts.train_items) == (classes, train), name
    assert [data.DATASETS[name].paper_name for name in DATASET_ORDER] == re.findall(
        r"(\S+) \[\d+\]", section(block, "i.e., ", "Specifically"))


def test_eta_grid_matches_the_text(text):
    grid = re.search(r"change its values of \{([^}]*)\}", text).group(1)
    assert tuple(float(v) for v in grid.split(",")) == paper.PAPER_ETA_VALUES


def test_lookups_and_the_papers_own_inconsistency():
    assert paper.paper_map("aircraft", 48, "exchnet", table="table4") == 56.01
    assert paper.paper_map("cub200", 48, "csq") is None and paper.paper_map("synth-birds", 12, "a2net") is None
    assert paper.paper_ablation("vegfru", 48)["+ image reconstruction (g' only)"] == 74.68
    assert paper.paper_ablation("synth-birds", 12) is None
    for dataset in DATASET_ORDER:  # Table 7's first/last two columns are Table 2's ADSH, A²-Net++, A²-Net
        for bits in paper.PAPER_BITS:
            row = paper.paper_ablation(dataset, bits)
            assert row["+ feature decorrelation (= A²-Net++)"] == paper.paper_map(dataset, bits, "a2net++")
            assert row["A²-Net"] == paper.paper_map(dataset, bits, "a2net")
            expected = 2.34 if (dataset, bits) == ("nabirds", 12) else paper.paper_map(dataset, bits, "baseline")
            assert row["vanilla backbone"] == expected  # as printed: 2.34 in Table 7, ADSH 2.53 in Table 2
    with pytest.raises(ValueError, match="unknown method"):
        paper.paper_map("cub200", 12, "adsh")
    with pytest.raises(ValueError, match="unknown table"):
        paper.paper_map("cub200", 12, "a2net", table="table9")
    assert paper.display_name("a2net++") == "A²-Net++" and paper.display_name("hamming") == "Ours"
    assert paper.display_name("synth-birds") == "synth-birds"


def test_with_paper_tables_2_and_4():
    rows = paper.with_paper([{"dataset": "cub200", "bits": 12, "method": "a2net", "map": 0.3},
                             {"dataset": "synth-birds", "bits": 12, "method": "a2net", "map": 0.5}])
    assert rows[0]["ours %"] == pytest.approx(30.0) and rows[0]["paper %"] == 33.83
    assert rows[0]["difference"] == pytest.approx(30.0 - 33.83)
    assert rows[1]["paper %"] is None and rows[1]["difference"] is None and rows[1]["map"] == 0.5
    zero_shot = paper.with_paper([{"dataset": "food101", "bits": 12, "method": "a2net++", "map": 0.25}], "table4")
    assert zero_shot[0]["difference"] == pytest.approx(25.0 - 27.98)


def test_with_paper_table1_maps_our_test_sets_to_the_papers_rows():
    rows = paper.with_paper([
        {"test data": "complex-only (blanked)", "bits": 48, "method": "a2net++", "map": 0.3},
        {"test data": "complex-only (randomised)", "bits": 12, "method": "baseline", "map": 0.5},
        {"test data": "both", "bits": 12, "method": "baseline", "map": 0.99, "dataset": "mnist-cifar"},
        {"test data": "both", "bits": 12, "method": "baseline", "map": 0.99, "dataset": "synth-dominoes"},
    ], table="table1")
    assert rows[0]["paper %"] == 29.40 and rows[0]["difference"] == pytest.approx(0.6)
    assert rows[1]["paper %"] is None, "the randomised test sets have no paper row"
    assert rows[2]["difference"] == pytest.approx(99.0 - 99.69)
    assert rows[3]["paper %"] is None, "Table 1 is on MNIST-CIFAR only"


def test_with_paper_tables_6_7_8():
    ablation = paper.with_paper([{"dataset": "aircraft", "bits": 12, "step": "+ image reconstruction (both)",
                                  "map": 0.5}], "table7")
    assert ablation[0]["paper %"] == 52.06 and ablation[0]["difference"] == pytest.approx(50.0 - 52.06)
    with pytest.raises(ValueError, match="unknown ablation step"):
        paper.with_paper([{"dataset": "aircraft", "bits": 12, "step": "+ magic", "map": 0.5}], "table7")
    ndcg = paper.with_paper([{"method": "a2net++", "k": 20, "NDCG": 0.5}, {"method": "itq", "k": 10, "NDCG": 0.2},
                             {"method": "dpsh", "NDCG": 0.3}], "table8")
    assert ndcg[0]["paper NDCG"] == 0.405 and ndcg[0]["difference"] == pytest.approx(0.5 - 0.405)
    assert ndcg[1]["paper NDCG"] is None and ndcg[2]["paper NDCG"] == 0.319
    speed = paper.with_paper([{"method": "hamming", "speedup": 100.0}, {"method": "faiss-binary-flat", "speedup": 90.0}],
                             "table6")
    assert speed[0]["paper ×"] == 240.50 and speed[0]["difference"] == pytest.approx(100.0 - 240.50)
    assert speed[1]["paper ×"] is None
    with pytest.raises(ValueError, match="needs row fields"):
        paper.with_paper([{"dataset": "cub200", "bits": 12, "map": 0.3}])
    with pytest.raises(ValueError, match="unknown table"):
        paper.with_paper([], "table3")


def test_paper_rows_are_the_tables_in_long_format():
    table1 = paper.paper_rows("table1")
    assert len(table1) == 3 * 4 * 3
    assert {"test data": "CIFAR-only", "bits": 48, "method": "a2net++", "paper %": 29.40} in table1
    table2 = paper.paper_rows("table2")
    assert len(table2) == 5 * 4 * 8
    assert {"dataset": "cub200", "bits": 48, "method": "sdh", "paper %": 22.23} in table2
    assert {"dataset": "food101", "bits": 12, "method": "orthocos", "paper %": 23.18} in paper.paper_rows("table4")
    assert paper.paper_rows("table7")[0] == {"dataset": "cub200", "bits": 12, "step": "vanilla backbone",
                                             "paper %": 20.03}
    assert paper.paper_rows("table8")[-1] == {"method": "a2net++", "k": 20, "paper NDCG": 0.405}
    assert paper.paper_rows("table6")[0] == {"method": "linear", "wctime": 9481.03, "speedup": 1.0,
                                             "memory": (207.2, "MB")}
