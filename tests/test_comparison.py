"""Tests of a2lib.comparison (notebook 02's study helpers) and the ``classes`` option of ``a2lib.data.load``."""
import numpy as np
import pytest
import torch

from a2lib import comparison as cmp
from a2lib.cache import config_key
from a2lib.data import ArrayDataset, load
from a2lib.data import _keep_classes
from a2lib.evaluate import mean_average_precision, precision_at_k
from a2lib.train import TrainConfig, binary, encode_dataset, load_or_train

SHARED = dict(dataset="synth-birds", dataset_options={"n_train": 120, "n_test": 60, "size": 32}, backbone="small",
              model_options={"a2net": {"num_maps": 4}, "a2net++": {"num_maps": 4, "code_dim": 32}},
              train_options={"outer_iterations": 1, "n_samples": 48, "inner_epochs": 1, "batch_size": 16,
                             "lr": 0.01, "eval_every": 1, "val_fraction": 0.1}, seed=0, device="cpu")


def test_paper_numbers_spot_checked_against_the_text():
    assert cmp.paper_map("cub200", 12, "a2net++") == 37.83
    assert cmp.paper_map("aircraft", 48, "baseline") == 50.65
    assert cmp.paper_map("vegfru", 24, "exchnet") == 35.93
    assert cmp.paper_map("food101", 32, "a2net") == 74.27
    assert cmp.paper_map("aircraft", 48, "exchnet", table="table4") == 56.01
    assert cmp.paper_map("food101", 12, "a2net++", table="table4") == 27.98
    assert cmp.paper_ablation("vegfru", 48)["+ image reconstruction (g' only)"] == 74.68
    assert cmp.paper_ablation("aircraft", 12)["+ image reconstruction (both)"] == 52.06
    assert cmp.paper_map("synth-birds", 12, "a2net") is None
    assert cmp.paper_map("nabirds", 12, "a2net", table="table4") is None
    assert cmp.paper_ablation("synth-birds", 12) is None


def test_paper_tables_agree_with_each_other():
    """Table 7's vanilla column is Table 2's ADSH, its last two columns Table 2's A²-Net++ and A²-Net; the one
    exception is in the paper itself: NABirds 12 bits reads 2.34 in Table 7 (Table 2's HashNet) but 2.53 for ADSH."""
    for dataset in cmp.PAPER_DATASETS:
        for bits in cmp.PAPER_BITS:
            row = cmp.paper_ablation(dataset, bits)
            if (dataset, bits) == ("nabirds", 12):
                assert (row["vanilla backbone"], cmp.paper_map(dataset, bits, "baseline")) == (2.34, 2.53)
            else:
                assert row["vanilla backbone"] == cmp.paper_map(dataset, bits, "baseline")
            assert row["+ feature decorrelation (= A²-Net++)"] == cmp.paper_map(dataset, bits, "a2net++")
            assert row["A²-Net"] == cmp.paper_map(dataset, bits, "a2net")
            assert len(cmp.TABLE2[dataset][bits]) == len(cmp.TABLE2_COLUMNS)
    for dataset in cmp.TABLE4:
        assert all(len(row) == len(cmp.TABLE4_COLUMNS) for row in cmp.TABLE4[dataset].values())


def test_paper_map_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown method"):
        cmp.paper_map("cub200", 12, "adsh")
    with pytest.raises(ValueError, match="unknown table"):
        cmp.paper_map("cub200", 12, "a2net", table="table9")


def test_with_paper_adds_percent_and_difference():
    rows = cmp.with_paper([{"dataset": "cub200", "bits": 12, "method": "a2net", "map": 0.3},
                           {"dataset": "synth-birds", "bits": 12, "method": "a2net", "map": 0.5}])
    assert rows[0]["ours %"] == pytest.approx(30.0)
    assert rows[0]["paper %"] == 33.83
    assert rows[0]["difference"] == pytest.approx(30.0 - 33.83)
    assert rows[1]["paper %"] is None and rows[1]["difference"] is None


def test_method_config_is_stable_and_eta_default_is_the_paper_value():
    a = cmp.method_config("a2net++", 12, **SHARED)
    b = cmp.method_config("a2net++", 12, **SHARED)
    assert config_key(a) == config_key(b)
    assert config_key(cmp.method_config("a2net++", 12, eta=0.1, **SHARED)) == config_key(a)
    assert config_key(cmp.method_config("a2net++", 12, eta=0.4, **SHARED)) != config_key(a)
    assert a.model_options == {"num_maps": 4, "code_dim": 32}
    assert a.outer_iterations == 1 and a.bits == 12 and a.model == "a2net++"
    with pytest.raises(ValueError, match="model_options must map"):
        cmp.method_config("a2net", 12, **{**SHARED, "model_options": {"num_maps": 4}})


def test_ablation_reuses_the_table2_configs_and_switches_one_component_at_a_time():
    configs = cmp.ablation_configs(12, **SHARED)
    assert list(configs) == [step.name for step in cmp.ABLATION_STEPS]
    key = lambda method: config_key(cmp.method_config(method, 12, **SHARED))
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
    seen, unseen = cmp.zero_shot_classes(SHARED["dataset"], SHARED["dataset_options"], 0.25, seed=0)
    assert len(unseen) == 15 and sorted(seen + unseen) == list(range(60))
    config = cmp.zero_shot_config("baseline", 8, seen, **SHARED)
    result = load_or_train(config, cache_dir=tmp_path / "cache", verbose=False)
    assert set(result.db_labels.tolist()) <= set(seen)
    scores = cmp.zero_shot_evaluate(result, unseen, k=5)
    train_set = load("synth-birds", "train", **SHARED["dataset_options"])
    test_set = load("synth-birds", "test", **SHARED["dataset_options"])
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


def test_shallow_methods_hash_the_reference_networks_features_over_its_database(tmp_path, monkeypatch):
    from a2lib import shallow

    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    train_set = load("synth-birds", "train", **SHARED["dataset_options"])
    test_set = load("synth-birds", "test", **SHARED["dataset_options"])
    reference = load_or_train(cmp.method_config("baseline", 8, **SHARED), verbose=False)
    db = torch.utils.data.Subset(train_set, reference.db_indices.tolist())
    features = shallow.extract_features(reference.model, db)
    for method in cmp.SHALLOW_METHODS:
        result = cmp.load_method(method, 8, train_set, "trained", **SHARED)
        expected = shallow.build(method, 8, seed=0).fit(features, reference.db_labels)
        assert torch.equal(result.db_codes, expected.encode(features))
        assert torch.equal(result.db_indices, reference.db_indices) and result.config.model == method
        queries = binary(encode_dataset(result.model, test_set))
        assert torch.equal(queries, expected.encode(shallow.extract_features(reference.model, test_set)))
        scores = cmp.evaluate_retrieval(result, test_set)
        assert scores["map"] == pytest.approx(mean_average_precision(queries, result.db_codes, test_set.labels,
                                                                     reference.db_labels))
    pretrained = cmp.load_method("itq", 8, train_set, "pretrained", **SHARED)
    assert pretrained.model.feature_model is not reference.model
    assert not torch.equal(pretrained.db_codes, cmp.load_method("itq", 8, train_set, "trained", **SHARED).db_codes)
    with pytest.raises(ValueError, match="features must be one of"):
        cmp.fit_shallow("itq", 8, reference, train_set, features="imagenet")
    with pytest.raises(ValueError, match="unknown shallow method"):
        cmp.fit_shallow("dpsh", 8, reference, train_set)


def test_class_aware_methods_get_num_classes_from_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "data"))
    assert cmp.method_config("csq", 12, **SHARED).model_options == {"num_classes": 60}
    assert cmp.method_config("orthocos", 12, options={"num_classes": 7}, **SHARED).model_options == {"num_classes": 7}
    assert "num_classes" not in cmp.method_config("dpsh", 12, **SHARED).model_options
    assert list(cmp.PAPER_METHODS)[:5] == ["itq", "sdh", "dpsh", "hashnet", "baseline"]
    assert cmp.paper_map("cub200", 48, "sdh") == 22.23 and cmp.paper_map("cub200", 48, "csq") is None
