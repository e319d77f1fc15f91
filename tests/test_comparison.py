"""Tests of a2lib.studies.comparison (the evaluation protocol of notebooks 02-05) and the ``classes`` option of
``a2lib.data.load``."""
import numpy as np
import pytest
import torch

from a2lib.data import ArrayDataset, load
from a2lib.data import _keep_classes
from a2lib.evaluate import mean_average_precision, ndcg_at_k, precision_at_k
from a2lib.studies import Study, paper
from a2lib.studies import comparison as cmp
from a2lib.train import binary, config_key, encode_dataset, load_or_train

STUDY = Study(dataset="synth-birds", dataset_options={"n_train": 120, "n_test": 60}, backbone="small",
              model_options={"a2net": {"num_maps": 4}, "a2net++": {"num_maps": 4, "code_dim": 32}},
              train_options={"outer_iterations": 1, "n_samples": 48, "inner_epochs": 1, "batch_size": 16,
                             "lr": 0.01, "eval_every": 1, "val_fraction": 0.1}, seed=0, device="cpu")


def test_ablation_reuses_the_table2_configs_and_switches_one_component_at_a_time():
    configs = cmp.ablation_configs(STUDY, 12)
    assert list(configs) == [step.name for step in cmp.ABLATION_STEPS]
    key = lambda method: config_key(STUDY.config(method, 12))
    assert config_key(configs["vanilla backbone"]) == key("baseline")
    assert config_key(configs["+ feature decorrelation (= A²-Net++)"]) == key("a2net++")
    assert config_key(configs["A²-Net"]) == key("a2net")
    assert configs["+ attention"].model_options == {"num_maps": 4, "feature_reconstruction": False,
                                                    "decorrelation": False}
    assert configs["+ feature reconstruction"].model_options == {"num_maps": 4, "decorrelation": False}
    assert configs["+ image reconstruction (g only)"].model_options == {
        "num_maps": 4, "code_dim": 32, "image_reconstruction": "g", "decorrelation": False}
    assert configs["+ image reconstruction (g' only)"].model_options["image_reconstruction"] == "gp"
    assert configs["+ image reconstruction (both)"].model_options == {"num_maps": 4, "code_dim": 32,
                                                                     "decorrelation": False}
    assert len({config_key(c) for c in configs.values()}) == len(configs)


def test_ablation_steps_are_table7s_columns():
    assert tuple(step.name for step in cmp.ABLATION_STEPS) == paper.TABLE7_COLUMNS


def test_top_k_retrievals_match_a_brute_force_ranking():
    rng = np.random.default_rng(0)
    q = rng.choice([-1.0, 1.0], size=(5, 6))
    d = rng.choice([-1.0, 1.0], size=(30, 6))
    ql, dl = rng.integers(0, 3, 5), rng.integers(0, 3, 30)
    indices, correct = cmp.top_k_retrievals(q, d, ql, dl, k=7)
    for i in range(5):
        dist = [(int((q[i] != d[j]).sum()), j) for j in range(30)]
        expected = [j for _, j in sorted(dist)[:7]]
        assert indices[i].tolist() == expected
        assert correct[i].tolist() == [bool(dl[j] == ql[i]) for j in expected]
    with pytest.raises(ValueError, match="k must lie"):
        cmp.top_k_retrievals(q, d, ql, dl, k=31)


def test_pick_queries_gives_distinct_classes():
    labels = np.repeat(np.arange(4), 5)
    picks = cmp.pick_queries(labels, 3, seed=1)
    assert len(picks) == 3 and len({labels[i] for i in picks}) == 3
    assert cmp.pick_queries(labels, 3, seed=1) == picks
    assert len(cmp.pick_queries(labels, 10, seed=0)) == 4


def test_history_records_flatten_every_logged_number():
    class Fake:
        history = [{"iteration": 1, "lr": 0.1, "loss": 2.0, "hashing": 1.5, "elapsed_s": 1.0},
                   {"iteration": 2, "lr": 0.1, "loss": 1.0, "hashing": 0.5, "val_map": 0.3, "elapsed_s": 2.0}]

    records = cmp.history_records({"a": Fake()})
    assert len(records) == 5
    assert {"run": "a", "iteration": 2, "quantity": "val_map", "value": 0.3} in records



def test_gradient_diagnostic_stays_out_of_the_curves_and_has_its_own_records():
    class Fake:
        history = [{"iteration": 1, "loss": 2.0, "grad_share/hashing": 0.9, "grad_share/image_reconstruction": 0.1,
                    "grad_norm/hashing": 9.0, "grad_norm/image_reconstruction": 1.0},
                   {"iteration": 2, "loss": 1.0, "grad_share/hashing": None, "grad_norm/hashing": 0.0},
                   {"iteration": 3, "loss": 0.5, "grad_share/hashing": 0.99, "grad_share/image_reconstruction": 0.01}]

    assert {r["quantity"] for r in cmp.history_records({"a": Fake()})} == {"loss"}
    shares = cmp.gradient_share_records({"a": Fake()})
    assert [(r["iteration"], r["quantity"], r["value"]) for r in shares] == [
        (1, "hashing", 0.9), (1, "image_reconstruction", 0.1), (3, "hashing", 0.99), (3, "image_reconstruction", 0.01)]
    assert cmp.gradient_shares(Fake()) == {"first": {"hashing": 0.9, "image_reconstruction": 0.1},
                                           "last": {"hashing": 0.99, "image_reconstruction": 0.01}}

    class Untracked:
        history = [{"iteration": 1, "loss": 1.0}]

    assert cmp.gradient_shares(Untracked()) == {}


def test_term_say_calls_a_term_inert_only_under_one_percent_at_both_ends():
    class Run:
        def __init__(self, first, last):
            self.history = [{"iteration": 1, **{f"grad_share/{k}": v for k, v in first.items()}},
                            {"iteration": 2, **{f"grad_share/{k}": v for k, v in last.items()}}]

    rows = cmp.term_say({"a": Run({"hashing": 0.995, "image": 0.005}, {"hashing": 0.95, "image": 0.05}),
                         "b": Run({"hashing": 0.999, "image": 0.001}, {"hashing": 0.991, "image": 0.009})})
    verdicts = {(r["run"], r["term"]): r["verdict"] for r in rows}
    assert verdicts == {("a", "hashing"): "acts", ("a", "image"): "acts", ("b", "hashing"): "acts",
                        ("b", "image"): "inert"}
    assert cmp.term_say({"b": Run({"image": 0.009}, {"image": 0.011})}, threshold=0.02)[0]["verdict"] == "inert"
    only = cmp.term_say({"a": Run({"hashing": 0.9, "image": 0.1}, {"hashing": 0.8, "image": 0.2}),
                         "b": Run({"hashing": 0.99, "image": 0.01}, {"hashing": 0.7, "image": 0.3})}, only="image")
    assert [(r["run"], r["term"], r["last"]) for r in only] == [("a", "image", 0.2), ("b", "image", 0.3)]


def test_training_seconds_keys_runs_by_their_parts_and_skips_fitted_ones():
    class Run:
        def __init__(self, *seconds):
            self.history = [{"iteration": i + 1, "elapsed_s": s} for i, s in enumerate(seconds)]

    runs = {("a2net++", 32, 0): Run(1.0, 2.5), (0.5, 1): Run(4.0), ("itq", 48): Run()}
    assert cmp.training_seconds(runs) == {"a2net++/32/0": 2.5, "0.5/1": 4.0}

def test_load_classes_keeps_exactly_those_items(tmp_path):
    full = load("synth-birds", "test", root=tmp_path, n_train=60, n_test=120, size=16)
    part = load("synth-birds", "test", root=tmp_path, classes=[3, 1, 7], n_train=60, n_test=120, size=16)
    expected = [i for i in range(len(full)) if int(full.labels[i]) in (1, 3, 7)]
    assert part.labels.tolist() == [int(full.labels[i]) for i in expected]
    assert torch.equal(part[0][0], full[expected[0]][0])
    assert part.num_classes == full.num_classes
    with pytest.raises(ValueError, match="non-empty list of class indices"):
        load("synth-birds", "test", root=tmp_path, classes=[60], n_train=60, n_test=120, size=16)


def test_keep_classes_multi_label_needs_every_label_inside():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32)
    data = ArrayDataset(np.zeros((4, 3, 4, 4), dtype=np.float32), labels)
    assert _keep_classes(data, [0, 1]).indices.tolist() == [0, 1, 3]


def test_zero_shot_trains_on_seen_and_evaluates_on_unseen(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "data"))
    seen, unseen = cmp.zero_shot_classes(STUDY, 0.25)
    assert len(unseen) == 15 and sorted(seen + unseen) == list(range(60))
    config = cmp.zero_shot_config(STUDY, "baseline", 8, seen)
    result = load_or_train(config, cache_dir=tmp_path / "cache", verbose=False)
    assert set(result.db_labels.tolist()) <= set(seen)
    scores = cmp.zero_shot_evaluate(result, unseen, k=5)
    train_set = load("synth-birds", "train", **STUDY.dataset_options)
    test_set = load("synth-birds", "test", **STUDY.dataset_options)
    db_idx = [i for i in range(len(train_set)) if int(train_set.labels[i]) in unseen]
    q_idx = [i for i in range(len(test_set)) if int(test_set.labels[i]) in unseen]
    db = binary(encode_dataset(result.model, train_set, indices=torch.tensor(db_idx)))
    q = binary(encode_dataset(result.model, test_set, indices=torch.tensor(q_idx)))
    args = (q, db, test_set.labels[q_idx], train_set.labels[db_idx])
    assert scores["map"] == pytest.approx(mean_average_precision(*args))
    assert scores["precision@5"] == pytest.approx(precision_at_k(*args, 5))
    learned = cmp.evaluate_retrieval(result, test_set, legacy=True)
    q_all = binary(encode_dataset(result.model, test_set))
    args = (q_all, result.db_codes, test_set.labels, result.db_labels)
    assert learned["map"] == pytest.approx(mean_average_precision(*args))
    assert learned["map_legacy"] == pytest.approx(mean_average_precision(*args, ties="legacy"))
    rows = cmp.retrieval_examples({"m": result}, test_set, train_set, [0, 3], k=4)
    assert rows["labels"][1].startswith("m\n") and len(rows["queries"]) == 2
    top, ok = cmp.top_k_retrievals(q_all[[3]], result.db_codes, test_set.labels[[3]], result.db_labels, 4)
    assert np.array_equal(rows["correct"][1], ok[0])
    expected = [train_set[int(result.db_indices[j])][0] for j in top[0]]
    assert all(torch.equal(a, b) for a, b in zip(rows["retrieved"][1], expected))


def test_ndcg_rows_rank_each_results_learned_codes(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    result = STUDY.train("baseline", 8)
    train_set, test_set = STUDY.load("train"), STUDY.load("test")
    queries = torch.arange(20)
    rows = cmp.ndcg_rows({("baseline", 8): result}, train_set, test_set, queries, [5, 10])
    codes = binary(encode_dataset(result.model, test_set, indices=queries))
    expected = [ndcg_at_k(codes, result.db_codes, test_set.attributes[queries],
                          train_set.attributes[result.db_indices], k) for k in (5, 10)]
    assert [(r["method"], r["bits"], r["k"]) for r in rows] == [("baseline", 8, 5), ("baseline", 8, 10)]
    assert [r["NDCG"] for r in rows] == pytest.approx(expected)


def test_ndcg_references_class_oracle_is_perfect_when_attributes_follow_the_class():
    """Attributes identical within a class: every same-class item matches all query attributes, and the class
    oracle ranks exactly those first (distance 0), so its NDCG@k is 1 while k <= the items per class."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    class_attributes = rng.integers(0, 2, size=(4, 12)).astype(np.float32)
    class_attributes[:, 0] = 1  # every class has at least one attribute
    labels = np.repeat(np.arange(4), 6)
    train = SimpleNamespace(num_classes=4, labels=torch.as_tensor(labels),
                            attributes=torch.as_tensor(class_attributes[labels]))
    test = SimpleNamespace(labels=torch.as_tensor(labels[::3]), attributes=torch.as_tensor(class_attributes[labels[::3]]))
    queries, db_indices = torch.arange(len(test.labels)), torch.arange(len(labels))
    rows = cmp.ndcg_references(train, test, queries, db_indices, [3, 6], random_bits=16, oracle_bits=64, seed=0)
    oracle = {r["k"]: r["NDCG"] for r in rows if r["method"] == "class oracle"}
    assert oracle == pytest.approx({3: 1.0, 6: 1.0})
    random = [r["NDCG"] for r in rows if r["method"] == "random codes"]
    assert all(0 < value < 1 for value in random) and {r["bits"] for r in rows} == {cmp.REFERENCE_BITS}
    assert rows == cmp.ndcg_references(train, test, queries, db_indices, [3, 6], 16, 64, seed=0)
    assert rows != cmp.ndcg_references(train, test, queries, db_indices, [3, 6], 16, 64, seed=1)


def test_ndcg_by_method_splits_method_curves_from_references():
    rows = [{"method": "a2net", "bits": 12, "k": 5, "NDCG": 0.3}, {"method": "a2net", "bits": 12, "k": 10, "NDCG": 0.4},
            {"method": "a2net", "bits": 48, "k": 5, "NDCG": 0.5},
            {"method": "random codes", "bits": cmp.REFERENCE_BITS, "k": 5, "NDCG": 0.1}]
    curves, references = cmp.ndcg_by_method(rows)
    assert curves == {("a2net", 12): {5: 0.3, 10: 0.4}, ("a2net", 48): {5: 0.5}}
    assert references == {"random codes": {5: 0.1}}


def test_records_carry_the_runs_seed_and_the_chance_of_its_database():
    from types import SimpleNamespace
    result = SimpleNamespace(config=SimpleNamespace(seed=3), db_labels=torch.tensor([0, 0, 1]),
                             history=[{"iteration": 1, "loss": 2.0, "val_map": 0.5, "grad_share/hashing": 0.9}])
    records = {r["quantity"]: r for r in cmp.history_records({"a": result})}
    # random order of 3 items: a class-0 query (2 relevant) averages (1 + 5/6 + 7/12)/3, a class-1 query (1/1 + 1/2 + 1/3)/3
    chance = (2 * (1 + 5 / 6 + 7 / 12) / 3 + (1 + 1 / 2 + 1 / 3) / 3) / 3
    assert records["val_map"]["chance"] == pytest.approx(chance) and records["val_map"]["seed"] == 3
    assert "chance" not in records["loss"] and records["loss"]["seed"] == 3
    share = cmp.gradient_share_records({"a": result})
    assert share == [{"run": "a", "iteration": 1, "quantity": "hashing", "value": 0.9, "kind": cmp.SHARE_KIND,
                      "seed": 3}]


@pytest.mark.parametrize("means, expected", [
    ({"baseline": 0.33, "exchnet": 0.23, "a2net": 0.23, "a2net++": 0.27},
     "ADSH is best: ExchNet, A²-Net and A²-Net++ score below it"),
    ({"baseline": 0.5, "exchnet": 0.4, "a2net": 0.6, "a2net++": 0.7},
     "A²-Net++ is best; above ADSH: A²-Net and A²-Net++; below it: ExchNet"),
    ({"baseline": 0.5, "a2net": 0.5}, "ADSH and A²-Net share the best score; level with ADSH: A²-Net"),
    ({"a2net": 0.4, "exchnet": 0.5}, "ExchNet is best"),
])
def test_versus_reference_names_the_best_and_the_side_of_each_method(means, expected):
    assert cmp.versus_reference(means) == expected
