"""``a2lib.fit``: one call from a dataset to codes, metrics, an index and a saved folder.

The data are three classes of noisy solid colours (red, green, blue; per-pixel noise sd 20 of 255), so the mean colour
alone separates them: any model that learns anything ranks the own class first and mAP reaches 1, against ~1/3 for
random codes. The threshold 0.9 leaves room for one or two confused queries. Measured: the ``smoke`` recipe with 6 outer
iterations (``FAST``) gives mAP 1.0 on seeds 0-3; the plain ``smoke`` recipe (2 iterations) gives 0.69-1.0.
"""
import copy
import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import a2lib
from a2lib import evaluate, recipes
from a2lib.data import ArrayDataset
from a2lib import fitting
from a2lib.fitting import Fitted, fit, fit_config
from a2lib.search import HammingIndex

COLOURS = np.array([[220, 30, 30], [30, 200, 40], [40, 60, 230]], dtype=np.float32)
GREY_LEVELS = np.array([40, 128, 215], dtype=np.float32)
NOISE_SD = 20.0
BITS = 12
FAST = dict(recipe="smoke", bits=BITS, outer_iterations=6, lr_decay_at=5, verbose=False)
"""The smoke recipe (small backbone, 64 samples per outer iteration) with enough iterations to separate colours."""
HIGH_MAP = 0.9


def coloured(per_class: int, seed: int, size: int = 32, grey: bool = False, attributes: bool = False):
    """``per_class`` images of each class, class c a solid colour (or grey level) plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(COLOURS)), per_class)
    if grey:
        images = GREY_LEVELS[labels][:, None, None] + rng.normal(0, NOISE_SD, (len(labels), size, size))
    else:
        images = COLOURS[labels][:, None, None, :] + rng.normal(0, NOISE_SD, (len(labels), size, size, 3))
    images = np.clip(images, 0, 255).astype(np.uint8)
    attrs = None
    if attributes:  # one attribute per class and one every image has
        attrs = np.concatenate([np.eye(len(COLOURS))[labels], np.ones((len(labels), 1))], axis=1)
    return ArrayDataset(images, labels, attributes=attrs)


@pytest.fixture(scope="module")
def data():
    return coloured(20, 0, attributes=True), coloured(8, 1, attributes=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fit-cache")


@pytest.fixture(scope="module")
def first_fit(data, cache):
    """The model every test below shares, trained into ``cache``, and the seconds that took."""
    started = time.perf_counter()
    return fit(data[0], cache_dir=cache, **FAST), time.perf_counter() - started


@pytest.fixture(scope="module")
def fitted(first_fit):
    return first_fit[0]


# -- an independent brute-force tie-aware mAP ------------------------------------------------------------------------
def _groups(query, db_codes, relevant):
    """[(t, r)] per distinct Hamming distance, nearest first: items and relevant items at that distance."""
    distances = [int(sum(q != d for q, d in zip(query, row))) for row in db_codes]
    return [(distances.count(value), sum(1 for d, rel in zip(distances, relevant) if d == value and rel))
            for value in sorted(set(distances))]


def brute_ap(query, db_codes, relevant):
    """Expected AP over uniformly random orders of tied items, position by position: the item at in-group position
    p of a group of t items with r relevant is relevant with probability r/t and then has, on average,
    (p-1)(r-1)/(t-1) relevant items above it in its group."""
    total = sum(relevant)
    ap, before, relevant_before = 0.0, 0, 0
    for t, r in _groups(query, db_codes, relevant):
        for p in range(1, t + 1):
            above = (p - 1) * (r - 1) / (t - 1) if t > 1 else 0.0
            ap += r / t * (relevant_before + 1 + above) / (before + p)
        before, relevant_before = before + t, relevant_before + r
    return ap / total


def brute_precision(query, db_codes, relevant, k):
    """Expected precision of the top k: each of the first k positions is relevant with its group's r/t."""
    hits, position = 0.0, 0
    for t, r in _groups(query, db_codes, relevant):
        for _ in range(t):
            if position < k:
                hits += r / t
            position += 1
    return hits / k


def brute_map(query_codes, db_codes, query_labels, db_labels):
    q, d = np.asarray(query_codes), np.asarray(db_codes)
    aps = [brute_ap(q[i], d, [int(query_labels[i]) == int(lab) for lab in db_labels]) for i in range(len(q))]
    return float(np.mean(aps))


def test_brute_force_ap_is_the_mean_over_every_tie_order():
    """The position-by-position formula equals AP averaged over all orderings of a small database with ties."""
    query = np.array([1, 1, 1])
    db_codes = np.array([[1, 1, 1], [1, 1, -1], [1, 1, -1], [1, -1, 1], [-1, -1, -1], [1, 1, -1]])
    relevant = [False, True, False, True, True, True]
    distance = [int((query != row).sum()) for row in db_codes]
    aps = []
    for order in itertools.permutations(range(len(db_codes))):
        ranked = sorted(order, key=lambda i: distance[i])  # stable: ties keep this permutation's order
        hits, precisions = 0, []
        for rank, i in enumerate(ranked, 1):
            if relevant[i]:
                hits += 1
                precisions.append(hits / rank)
        aps.append(np.mean(precisions))
    assert brute_ap(query, db_codes, relevant) == pytest.approx(np.mean(aps), abs=1e-12)


# -- fit, encode, evaluate -------------------------------------------------------------------------------------------
def test_fit_learns_separable_colours(fitted, data):
    scores = fitted.evaluate(data[1])
    assert set(scores) == {"map", "precision@10", "ndcg@20"}
    assert scores["map"] > HIGH_MAP
    assert fitted.config.model == "a2net++" and fitted.config.backbone == "small"
    assert fitted.config.model_options["image_size"] == [32, 32]


def test_encode_gives_plus_minus_one_codes(fitted, data):
    codes = fitted.encode(data[1])
    assert codes.shape == (len(data[1]), BITS) and codes.dtype == torch.float32
    assert set(codes.unique().tolist()) <= {-1.0, 1.0}


def test_evaluate_equals_brute_force(fitted, data):
    test = data[1]
    queries = fitted.encode(test)
    scores = fitted.evaluate(test, metrics=("map", "precision@10"))
    assert scores["map"] == pytest.approx(brute_map(queries, fitted.db_codes, test.labels, fitted.db_labels), abs=1e-9)
    precisions = [brute_precision(np.asarray(queries[i]), np.asarray(fitted.db_codes),
                                  [int(test.labels[i]) == int(lab) for lab in fitted.db_labels], 10)
                  for i in range(len(test))]
    assert scores["precision@10"] == pytest.approx(float(np.mean(precisions)), abs=1e-9)


def test_fit_results_work_with_evaluate_and_search(fitted, data):
    train, test = data
    queries = fitted.encode(test)
    assert fitted.evaluate(test, ["map"])["map"] == evaluate.mean_average_precision(
        queries, fitted.db_codes, test.labels, fitted.db_labels)
    db_attributes = train.attributes[fitted.db_indices]
    assert fitted.evaluate(test, ["ndcg@20"])["ndcg@20"] == evaluate.ndcg_at_k(
        queries, fitted.db_codes, test.attributes, db_attributes, 20)
    index = fitted.index()
    assert isinstance(index, HammingIndex) and len(index) == len(fitted.db_codes) == len(fitted.db_indices)
    distances, found = index.search(queries[:4], k=5)
    hamming = evaluate.hamming_distance(queries[:4], fitted.db_codes).numpy()
    assert np.array_equal(distances, np.sort(hamming, axis=1)[:, :5])
    assert np.array_equal(np.take_along_axis(hamming, found, 1), distances)
    assert (fitted.db_labels[found] == test.labels[:4, None]).float().mean() > HIGH_MAP


def test_metric_names_and_missing_attributes(fitted, data):
    plain = ArrayDataset(data[1].images_uint8, data[1].labels)
    assert set(fitted.evaluate(plain)) == {"map", "precision@10"}  # the default NDCG needs attributes on both sides
    with pytest.raises(ValueError, match="NDCG needs attributes.*the test set"):
        fitted.evaluate(plain, metrics=["ndcg@5"])
    with pytest.raises(ValueError, match="unknown metric 'recall@5'"):
        fitted.evaluate(data[1], metrics=["recall@5"])
    with pytest.raises(ValueError, match="unknown metric 'precision'"):
        fitted.evaluate(data[1], metrics=["precision"])
    assert set(fitted.evaluate(data[1], metrics=["map@5"])) == {"map@5"}


def test_grey_images_set_channels_and_size():
    train, test = coloured(20, 0, size=40, grey=True), coloured(8, 1, size=40, grey=True)
    assert tuple(train[0][0].shape) == (1, 40, 40)
    grey = fit(train, recipe="smoke", bits=BITS, cache=False, verbose=False)  # learning grey levels is not the point
    assert grey.config.model_options["in_channels"] == 1
    assert grey.config.model_options["image_size"] == [40, 40]
    assert grey.model.in_channels == 1 and tuple(grey.model.image_size) == (40, 40)
    assert grey.encode(test).shape == (len(test), BITS)
    assert len(grey.history) == recipes.get("smoke").train_options["outer_iterations"]


# -- overrides -------------------------------------------------------------------------------------------------------
def test_overrides_are_routed(data):
    config = fit_config(data[0], "a2net++", BITS, "smoke", lr=0.05, num_maps=4, eta=0.3, seed=3,
                        model_options={"code_dim": 48})
    assert config.lr == 0.05 and config.seed == 3 and config.loss_weights.eta == 0.3
    assert config.n_samples == 64  # from the recipe
    assert config.model_options["num_maps"] == 4 and config.model_options["code_dim"] == 48
    assert config.model_options["decoder_channels"] == 32  # the smoke recipe's a2net++ option
    csq = fit_config(data[0], "csq", BITS, "smoke")
    assert csq.model_options["num_classes"] == 3 and "image_size" not in csq.model_options
    at_default = fit_config(coloured(2, 0, size=64), "a2net", BITS, "quick")
    assert "image_size" not in at_default.model_options and "in_channels" not in at_default.model_options


def test_unknown_override_lists_the_valid_keys(data):
    with pytest.raises(ValueError, match=r"unknown fit\(\) option\(s\) \['learning_rate'\]") as error:
        fit(data[0], recipe="smoke", learning_rate=0.1)
    message = str(error.value)
    assert "outer_iterations" in message and "num_maps" in message and "eta" in message
    with pytest.raises(ValueError, match="unknown model 'a3net'"):
        fit(data[0], method="a3net")
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        fit(data[0], recipe="fast")


# -- save / load -----------------------------------------------------------------------------------------------------
def test_save_load_round_trip(fitted, data, tmp_path):
    folder = fitted.save(tmp_path / "model")
    loaded = Fitted.load(folder, config=fitted.config)
    assert loaded.config == fitted.config
    assert torch.equal(loaded.db_codes, fitted.db_codes) and torch.equal(loaded.db_indices, fitted.db_indices)
    assert torch.equal(loaded.db_attributes, fitted.db_attributes)
    assert torch.equal(loaded.encode(data[1]), fitted.encode(data[1]))
    assert loaded.history == json.loads(json.dumps(fitted.history))
    assert loaded.evaluate(data[1]) == fitted.evaluate(data[1])
    assert a2lib.Fitted is Fitted and a2lib.fit is fit
    fitted.save(folder)  # a folder Fitted.save wrote is replaced



def test_save_writes_through_a_unique_temporary_folder_and_leaves_neighbours_alone(fitted, tmp_path):
    """A fixed ``<folder>.tmp`` would be shared by two processes saving at once, and ``my_model.tmp`` of the user's
    would be deleted: save must leave it alone and leave no temporary folder behind."""
    neighbour = tmp_path / "model.tmp"
    neighbour.mkdir()
    (neighbour / "keep.txt").write_text("mine")
    fitted.save(tmp_path / "model")
    fitted.save(tmp_path / "model")
    assert (neighbour / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.tmp"]
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "db_codes.pt", "history.json",
                                                                      "manifest.json", "model.pt"]

def test_load_refuses_another_config_and_broken_folders(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    with pytest.raises(ValueError, match="another config.*bits: folder 12 vs requested 16"):
        Fitted.load(folder, config=dataclasses.replace(fitted.config, bits=16))
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["bits"] = 16
    (folder / "config.json").write_text(json.dumps(meta, indent=1, sort_keys=True))  # 12 -> 16: the same size
    with pytest.raises(ValueError, match="config.json is not the file this folder was written with"):
        Fitted.load(folder)
    (folder / "manifest.json").unlink()  # as an earlier a2lib saved it: no manifest, so the shapes tell
    meta["version"] = 1
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="without a manifest.json"), \
            pytest.raises(ValueError, match="model.pt does not fit the model of"):
        Fitted.load(folder)
    (folder / "history.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks history.json"):
        Fitted.load(folder)
    with pytest.raises(FileNotFoundError, match="no saved Fitted folder"):
        Fitted.load(tmp_path / "nothing")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a folder written by Fitted.save"):
        fitted.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


# -- cache -----------------------------------------------------------------------------------------------------------
def test_second_fit_loads_from_the_cache(first_fit, data, cache, monkeypatch):
    first, first_s = first_fit

    def refuse(*args, **kwargs):
        raise AssertionError("the second fit trained instead of loading the cache entry")

    monkeypatch.setattr("a2lib.train.trainer.Trainer.run", refuse)
    started = time.perf_counter()
    second = fit(data[0], cache_dir=cache, **FAST)
    assert time.perf_counter() - started < first_s
    assert second.config == first.config
    assert torch.equal(second.db_codes, first.db_codes)
    assert torch.equal(second.encode(data[1]), first.encode(data[1]))
    assert second.evaluate(data[1]) == first.evaluate(data[1])
    assert len([entry for entry in cache.iterdir() if entry.is_dir()]) == 1
    with pytest.raises(AssertionError, match="trained instead"):  # other data: another entry, so training runs
        fit(coloured(20, 5), cache_dir=cache, **FAST)


# -- folders that prove they belong together (issue 28) ---------------------------------------------------------------
def another_run(fitted):
    """The same architecture trained otherwise (as another seed gives): other weights, other codes."""
    model = copy.deepcopy(fitted.model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01)
    return Fitted(dataclasses.replace(fitted.result, model=model, db_codes=-fitted.db_codes), fitted.db_attributes,
                  fitted.input_spec)


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt"])
def test_weights_or_codes_copied_from_another_run_are_refused_naming_the_file(fitted, tmp_path, name):
    """They have the right shapes, so they loaded without a word and gave other codes."""
    folder = fitted.save(tmp_path / "model")
    other = another_run(fitted).save(tmp_path / "other")
    shutil.copy(other / name, folder / name)
    with pytest.raises(ValueError, match=f"{folder / name} is not the file this folder was written with .*copied "
                                         "from another run.*save the result again"):
        Fitted.load(folder)


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt"])
def test_a_truncated_file_is_reported_as_truncated(fitted, tmp_path, name):
    """model.pt was reported as "files come from different runs", db_codes.pt as a raw PytorchStreamReader error."""
    folder = fitted.save(tmp_path / "model")
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{folder / name} is truncated: it has {len(data) // 2} of the {len(data)} "
                                         "bytes written"):
        Fitted.load(folder)


class Planted:
    """Unpickling it creates ``marker`` (see tests/test_safe_load.py)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt"])
def test_a_planted_pickle_in_a_saved_folder_does_not_run_and_is_named(fitted, tmp_path, name):
    """torch's raw error suggested retrying with weights_only=False, which would run it."""
    from a2lib.manifest import write_manifest

    folder = fitted.save(tmp_path / "model")
    marker = tmp_path / "ran"
    torch.save({"weight": Planted(marker)}, folder / name)
    meta = json.loads((folder / "config.json").read_text())
    write_manifest(folder, meta["config"], fitted.result.data_fingerprint)  # as whoever planted it would
    with pytest.raises(ValueError, match=f"{folder / name} holds Python objects .* refused without running any of it"):
        Fitted.load(folder)
    assert not marker.exists()


def test_saving_over_its_own_folder_refuses_files_it_did_not_write_and_keeps_them(fitted, tmp_path):
    """``Fitted.save`` over its earlier folder deleted the user's README.txt and notes/."""
    folder = fitted.save(tmp_path / "model")
    (folder / "README.txt").write_text("mine")
    (folder / "notes").mkdir()
    with pytest.raises(FileExistsError, match=f"{folder} holds files Fitted.save did not write: README.txt, notes/"):
        fitted.save(folder)
    assert (folder / "README.txt").read_text() == "mine" and (folder / "notes").is_dir()
    assert torch.equal(Fitted.load(folder).db_codes, fitted.db_codes)


def test_a_folder_saved_before_manifests_loads_with_a_warning(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    (folder / "manifest.json").unlink()
    meta = json.loads((folder / "config.json").read_text())
    del meta["input"]
    (folder / "config.json").write_text(json.dumps({**meta, "version": 1}))
    with pytest.warns(UserWarning, match=f"{folder} was saved by an earlier a2lib, without a manifest.json"):
        loaded = Fitted.load(folder)
    assert torch.equal(loaded.db_codes, fitted.db_codes) and loaded.input_spec is None
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="lacks its manifest.json"):
        Fitted.load(folder)


SAVER = """
import os, sys
from a2lib import atomic
from a2lib.fitting import Fitted
if sys.argv[3] == "two-renames":
    atomic._exchange = lambda a, b: False
atomic._step = lambda name: os._exit(137) if name == sys.argv[4] else None
Fitted.load(sys.argv[1]).save(sys.argv[2])
"""


@pytest.mark.parametrize("mode, step, kept", [("two-renames", "moved aside", "old"), ("swap", "published", "new")])
@pytest.mark.slow
def test_a_save_killed_while_publishing_leaves_a_folder_that_loads(fitted, tmp_path, mode, step, kept):
    """A kill between the two renames left no folder ("no saved Fitted folder"), the old copy only in a .tmp."""
    folder = fitted.save(tmp_path / "model")
    other = another_run(fitted)
    source = other.save(tmp_path / "source")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, "-c", SAVER, str(source), str(folder), mode, step], env=env, timeout=300)
    assert killed.returncode == 137
    loaded = Fitted.load(folder)
    assert torch.equal(loaded.db_codes, (fitted if kept == "old" else other).db_codes)
    fitted.save(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "source"]


# -- inputs checked before work starts (issue 28) ---------------------------------------------------------------------
def test_encoding_refuses_images_of_another_size_and_warns_about_another_value_scale(fitted, tmp_path):
    with pytest.raises(ValueError, match="has 3x16x16 images but the model was trained on 3x32x32 .*size=32"):
        fitted.evaluate(coloured(4, 2, size=16))
    unscaled = coloured(4, 2)
    unscaled = ArrayDataset(unscaled.images_uint8.float(), unscaled.labels)  # 0-255 floats, not divided by 255
    with pytest.warns(UserWarning, match="pixel values are pixel values up to 255 .* the training images' were in "
                                         r"\[0, 1\]"):
        fitted.encode(unscaled)
    loaded = Fitted.load(fitted.save(tmp_path / "model"))
    assert loaded.input_spec == fitted.input_spec
    with pytest.raises(ValueError, match="has 3x16x16 images"):
        loaded.encode(coloured(4, 2, size=16))


class ReachedTraining(Exception):
    """fit() got past its checks."""


@pytest.fixture
def no_training(monkeypatch):
    """fit() raises ReachedTraining instead of training."""
    def refuse(*args, **kwargs):
        raise ReachedTraining

    monkeypatch.setattr(fitting, "load_or_train", refuse)
    monkeypatch.setattr(fitting, "train", refuse)


def test_fit_on_one_class_is_an_error(no_training):
    """It trained and reported {'map': 1.0, 'precision@10': 1.0}: every pair of one class is similar."""
    one = coloured(6, 0)
    one = ArrayDataset(one.images_uint8[:6], torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="every training item has the same class .*at least two classes"):
        fit(one, **FAST)
    multi = ArrayDataset(one.images_uint8, torch.tensor([[1, 0], [1, 1]] * 3))
    with pytest.raises(ValueError, match="every training item has the same class"):
        fit(multi, **FAST)


@pytest.mark.parametrize("method, overrides, named", [
    ("a2net", {"eta": 0.5}, r"eta \(only the image reconstruction of A²-Net\+\+ reads it; image_reconstruction is "
                            "'none' here: set it to 'both'"),
    ("baseline", {"eta": 0.5}, r"eta \(only the image reconstruction .*'baseline' has none: use method='a2net\+\+'"),
    ("a2net++", {"image_reconstruction": "none", "decoder_channels": 8}, r"decoder_channels \(only the image"),
    ("dpsh", {"eta": 0.5}, r"eta \(only the asymmetric objective .*model_options=\{'eta': \.\.\.\}"),
    ("hashnet", {"dcc_sweeps": 2, "similarity_reweight": False},
     r"dcc_sweeps \(only the asymmetric objective.*; similarity_reweight"),
    ("a2net", {"attention": False, "num_maps": 4}, r"num_maps \(only the attention branch reads it"),
])
def test_fit_refuses_options_without_effect_for_the_method(data, no_training, method, overrides, named):
    with pytest.raises(ValueError, match=f"without effect for method {re.escape(repr(method))}: {named}"):
        fit(data[0], method=method, **overrides, **FAST)


def test_options_that_take_effect_pass_the_check(data, no_training):
    for method, overrides in (("a2net++", {"eta": 0.5}), ("dpsh", {"model_options": {"eta": 0.01}}),
                              ("a2net", {"num_maps": 4})):
        with pytest.raises(ReachedTraining):
            fit(data[0], method=method, **overrides, **FAST)


def test_loading_a_folder_that_fitted_save_did_not_write_says_which_loader_reads_it(tmp_path):
    """Fault case: a cache entry passed to ``Fitted.load`` got "is not a a2lib.fit.Fitted ... folder; save it again"."""
    for name in fitting.FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / fitting.CONFIG_FILE).write_text(json.dumps({"format": 5, "config": {}}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path))} is not a folder that Fitted.save wrote .*"
                                         r"format 5, version None.*load_or_train"):
        Fitted.load(tmp_path)
