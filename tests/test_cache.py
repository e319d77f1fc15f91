"""Content-addressed cache: trains once, loads after, never returns another config's or another data's entry,
resumes a killed run, recovers from a damaged entry."""
import hashlib
import json
import os
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from a2lib.data import ArrayDataset, fingerprint
from a2lib.train import cache
from a2lib.train import TrainConfig, train
from test_train import SHAPE, TinyHash, TinySet, tiny_config


def tiny_entry(config, cache_dir=None):
    """The entry of ``config`` trained on the stand-in data ``TinySet()``."""
    return cache.entry_dir(config, fingerprint(TinySet()), cache_dir)


@pytest.fixture
def stand_ins(monkeypatch):
    """Route load_or_train's dataset and model construction to the tiny stand-ins; count trainings."""
    calls = {"train": 0}

    def fake_build(config):
        torch.manual_seed(config.seed)
        return TinyHash(config.bits)

    def counting_train(*args, **kwargs):
        calls["train"] += 1
        return train(*args, **kwargs)

    monkeypatch.setattr(cache, "build_model", fake_build)
    monkeypatch.setattr(cache, "load_dataset", lambda config, split="train", root=None: TinySet())
    monkeypatch.setattr(cache, "train", counting_train)
    return calls


def test_second_call_loads_without_training(tmp_path, stand_ins):
    config = tiny_config()
    first = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    second = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 1
    assert torch.equal(first.db_codes, second.db_codes) and torch.equal(first.db_indices, second.db_indices)
    assert first.history == second.history and first.best_iteration == second.best_iteration
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key])
    entry = tiny_entry(config, tmp_path)
    assert {p.name for p in entry.iterdir()} == {"config.json", "model.pt", "db_codes.pt", "history.json",
                                                 "manifest.json"}
    assert not entry.with_name(entry.name + ".partial").exists()
    assert {p.name for p in tmp_path.iterdir()} == {entry.name, entry.name + ".lock"}  # no temporary left behind


def test_key_covers_every_result_field_but_not_the_device():
    base = tiny_config()
    assert cache.config_key(base) == cache.config_key(tiny_config(device="cuda", num_workers=2))
    for change in ({"seed": 4}, {"lr": 0.01}, {"bits": 8}, {"dataset_options": {"size": 1}},
                   {"model_options": {"attention": False}}, {"n_samples": 10}):
        assert cache.config_key(tiny_config(**change)) != cache.config_key(base), change
    weights = tiny_config().loss_weights
    weights.eta = 0.5
    assert cache.config_key(tiny_config(loss_weights=weights)) != cache.config_key(base)
    assert cache.config_key(tiny_config(grad_diagnostic=False)) == cache.config_key(base)
    assert cache.entry_key(base, "a" * 64) != cache.entry_key(base, "b" * 64)


TINY_CONFIG_JSON = (
    '{"backbone":"none","batch_size":8,"bits":6,"dataset":"tiny","dataset_options":{},"db_codes":"learned",'
    '"dcc_sweeps":1,"eval_batch_size":64,"eval_every":1,"inner_epochs":2,"loss_weights":{"adsh_gamma":200.0,'
    '"alignment":1.0,"alpha":null,"beta":null,"channel_diversity":0.1,"channel_margin":0.4,"eta":0.1,'
    '"gamma":null,"lambda_":1.0,"reduction":"element_mean","spatial_diversity":0.1},"lr":0.05,'
    '"lr_decay_at":2,"lr_decay_factor":0.1,"model":"tiny","model_options":{},"momentum":0.9,"n_samples":24,'
    '"optimizer":"sgd","outer_iterations":3,"seed":3,"similarity_reweight":true,"val_fraction":0.2,'
    '"weight_decay":0.0001}'
)
"""tiny_config()'s result-defining fields as canonical JSON written out by hand: sorted keys, no spaces."""


def test_keys_are_the_sha256_of_the_canonical_json_with_the_format_and_the_data():
    config = tiny_config(device="cuda", num_workers=4, grad_diagnostic=False)
    data = "d" * 64
    config_json = '{"config":' + TINY_CONFIG_JSON + ',"format":5}'
    entry_json = '{"config":' + TINY_CONFIG_JSON + ',"data":"' + data + '","format":5}'
    assert cache.config_key(config) == hashlib.sha256(config_json.encode()).hexdigest()
    assert cache.entry_key(config, data) == hashlib.sha256(entry_json.encode()).hexdigest()
    assert cache.entry_dir(config, data, "/c").name == cache.entry_key(config, data)[: cache.KEY_LENGTH]


def test_default_cache_dir_is_the_user_cache_never_the_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("A2LIB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert tiny_entry(tiny_config()).parent == tmp_path / "xdg" / "a2lib" / "models"


def test_other_config_is_trained_not_returned(tmp_path, stand_ins):
    cache.load_or_train(tiny_config(), cache_dir=tmp_path, verbose=False)
    other = cache.load_or_train(tiny_config(seed=9), cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2 and other.config.seed == 9


def test_an_entry_of_another_config_is_set_aside_and_the_requested_one_trained(tmp_path, stand_ins):
    """A key collision: the entry's files agree with its manifest, but they hold another config. It is moved aside
    with a warning naming it, never returned, and the next call does not fail until the folder is deleted."""
    from a2lib.manifest import write_manifest

    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    stored = json.loads((entry / "config.json").read_text())
    stored["config"]["lr"] = 0.5
    (entry / "config.json").write_text(json.dumps(stored))
    write_manifest(entry, stored["config"], stored["data"])
    with pytest.warns(UserWarning, match=f"cache entry file {entry / 'config.json'} holds a different config"):
        result = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2 and result.config.lr == config.lr
    assert json.loads((entry / "config.json").read_text())["config"]["lr"] == config.lr
    assert len(list(tmp_path.glob(f"{entry.name}*corrupt*"))) == 1


def test_a_hand_edited_config_json_is_reported_moved_aside_and_trained_again(tmp_path, stand_ins):
    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    path = tiny_entry(config, tmp_path) / "config.json"
    stored = json.loads(path.read_text())
    stored["config"]["lr"] = 0.25  # as long as the 0.05 written: same size, other content
    path.write_text(json.dumps(stored, indent=1, sort_keys=True))
    with pytest.warns(UserWarning, match=f"cache entry file {path} is not the file this folder was written with"):
        cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2


def test_cache_dir_from_environment(tmp_path, monkeypatch, stand_ins):
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "env-cache"))
    config = tiny_config(outer_iterations=1)
    cache.load_or_train(config, verbose=False)
    assert (tmp_path / "env-cache" / tiny_entry(config).name / "model.pt").exists()


def killed_after(iterations: int):
    """``train`` as if the process were killed right after outer iteration ``iterations``'s checkpoint."""
    def killed_train(*args, **kwargs):
        def callback(done, history):
            if done == iterations:
                raise KeyboardInterrupt("simulated kill")
        return train(*args, callback=callback, **kwargs)
    return killed_train

def test_killed_load_or_train_resumes_to_the_uninterrupted_result(tmp_path, stand_ins, monkeypatch):
    config = tiny_config(eval_every=2)
    reference = cache.load_or_train(config, cache_dir=tmp_path / "a", verbose=False)

    monkeypatch.setattr(cache, "train", killed_after(2))
    with pytest.raises(KeyboardInterrupt):
        cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert not tiny_entry(config, tmp_path / "b").exists()
    monkeypatch.setattr(cache, "train", train)
    resumed = cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert torch.equal(reference.db_codes, resumed.db_codes)
    assert [h["loss"] for h in reference.history] == [h["loss"] for h in resumed.history]


def test_config_json_round_trips_to_the_same_key(tmp_path, stand_ins):
    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    stored = json.loads((tiny_entry(config, tmp_path) / "config.json").read_text())
    again = TrainConfig.from_dict(stored["config"])
    assert cache.config_key(again) == cache.config_key(config) and stored["data"] == fingerprint(TinySet())


BIRDS_OPTIONS = {"n_train": 160, "n_test": 40, "size": 32}


def _synth_birds_or_skip(root):
    from a2lib.data import load

    try:
        train_set = load("synth-birds", "train", root=str(root), **BIRDS_OPTIONS)
        test_set = load("synth-birds", "test", root=str(root), **BIRDS_OPTIONS)
    except (ValueError, NotImplementedError, FileNotFoundError, TypeError) as error:
        pytest.skip(f"a2lib.data.load cannot build synth-birds yet: {error}")
    if getattr(train_set, "attributes", None) is None or not hasattr(train_set, "species_names"):
        pytest.skip("a2lib.data.load does not build synth-birds yet")
    return train_set, test_set


def test_small_a2net_trains_on_synth_birds_through_load_or_train(tmp_path, monkeypatch):
    """The issue's done-criterion at test size: real data.load, models.build, losses, trainer, cache and metrics."""
    from a2lib.evaluate import mean_average_precision, ndcg_at_k
    from a2lib.train import binary, encode_dataset

    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "data"))
    train_set, test_set = _synth_birds_or_skip(tmp_path / "data")
    config = TrainConfig(dataset="synth-birds", dataset_options=BIRDS_OPTIONS, model="a2net", bits=12,
                         backbone="small", outer_iterations=2, n_samples=32, inner_epochs=1, batch_size=16, lr=0.01,
                         lr_decay_at=1, val_fraction=0.0, eval_every=1, device="cpu")  # 60 classes of 2-3 items
    result = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    again = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    assert torch.equal(result.db_codes, again.db_codes) and len(result.history) == 2
    q = binary(encode_dataset(result.model, test_set))
    value = mean_average_precision(q, result.db_codes, test_set.labels, result.db_labels)
    assert 0.0 < value <= 1.0
    ndcg = ndcg_at_k(q, result.db_codes, test_set.attributes, train_set.attributes[result.db_indices], 10)
    assert 0.0 < ndcg <= 1.0


@pytest.fixture
def tiny_model(monkeypatch):
    """load_or_train builds the tiny stand-in model (3x4x4 images) and counts trainings; the data is real."""
    calls = {"train": 0}

    def counting_train(*args, **kwargs):
        calls["train"] += 1
        return train(*args, **kwargs)

    def fake_build(config):
        torch.manual_seed(config.seed)
        return TinyHash(config.bits)

    monkeypatch.setattr(cache, "build_model", fake_build)
    monkeypatch.setattr(cache, "train", counting_train)
    return calls


def _image_folder(root, seed, classes=2, per_class=6):
    """``root/<class>/<i>.png``: 4x4 RGB images of class-dependent brightness plus seeded noise."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(60 + 120 * c + rng.integers(-40, 40, size=(*SHAPE[1:], SHAPE[0])), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


def folder_config(**overrides):
    return tiny_config(dataset="folder", dataset_options={"profile": "smoke"}, outer_iterations=2, val_fraction=0.0,
                       **overrides)


def test_another_folder_root_with_other_files_is_another_entry_and_trains(tmp_path, tiny_model):
    """Issue 18.1: the same config on another data root used to return the first root's model and codes."""
    config = folder_config()
    first = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=_image_folder(tmp_path / "a", 1),
                                verbose=False)
    other = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=_image_folder(tmp_path / "b", 2),
                                verbose=False)
    assert tiny_model["train"] == 2 and first.data_fingerprint != other.data_fingerprint
    assert not torch.equal(first.db_codes, other.db_codes)
    again = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "b", verbose=False)
    assert tiny_model["train"] == 2 and torch.equal(again.db_codes, other.db_codes)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


def test_a_changed_image_file_retrains(tmp_path, tiny_model):
    config = folder_config()
    root = _image_folder(tmp_path / "a", 1)
    first = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=root, verbose=False)
    changed = root / "class1" / "3.png"
    Image.fromarray(np.zeros((*SHAPE[1:], SHAPE[0]), dtype=np.uint8)).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime even on coarse clocks
    second = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=root, verbose=False)
    assert tiny_model["train"] == 2 and second.data_fingerprint != first.data_fingerprint


def test_the_same_files_at_two_roots_are_two_entries_by_design(tmp_path, tiny_model):
    """Real sets are identified by their resolved root and files (no image is decoded): a copy elsewhere trains
    once more (and gives the same codes, since the content is the same)."""
    config = folder_config()
    source = _image_folder(tmp_path / "a", 1)
    shutil.copytree(source, tmp_path / "copy")  # copy2: same bytes, sizes and mtimes, another root
    first = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=source, verbose=False)
    copy = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "copy", verbose=False)
    assert tiny_model["train"] == 2 and first.data_fingerprint != copy.data_fingerprint
    assert torch.equal(first.db_codes, copy.db_codes)


def test_generated_data_at_two_roots_is_one_entry_by_content(tmp_path, monkeypatch):
    """Embedded sets are identified by content: generated again at another data root, they load the entry."""
    calls = {"train": 0}

    def counting_train(*args, **kwargs):
        calls["train"] += 1
        return train(*args, **kwargs)

    monkeypatch.setattr(cache, "train", counting_train)
    config = TrainConfig(dataset="synth-birds", dataset_options={"n_train": 60, "n_test": 10, "size": 16},
                         model="baseline", bits=8, backbone="small", outer_iterations=1, n_samples=16,
                         inner_epochs=1, batch_size=8, val_fraction=0.0, device="cpu")
    first = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "a", verbose=False)
    second = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "b", verbose=False)
    assert (tmp_path / "b" / "synth-birds").is_dir() and calls["train"] == 1
    assert torch.equal(first.db_codes, second.db_codes)


def _arrays(seed, n=30):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = (40 + 60 * labels[:, None, None, None] + torch.randint(0, 40, (n, *SHAPE), generator=g)).to(torch.uint8)
    return ArrayDataset(images, labels)


def test_an_in_memory_dataset_is_cached_by_content_and_a_changed_one_retrains(tmp_path, tiny_model):
    """Issue 20.2: ``dataset=`` trains on the object and keys the entry by its fingerprint; config.dataset is a
    label."""
    config = tiny_config(dataset="my arrays", outer_iterations=2, val_fraction=0.0)
    data = _arrays(0)
    first = cache.load_or_train(config, cache_dir=tmp_path, dataset=data, verbose=False)
    again = cache.load_or_train(config, cache_dir=tmp_path, dataset=_arrays(0), verbose=False)
    assert tiny_model["train"] == 1 and torch.equal(first.db_codes, again.db_codes)
    assert first.data_fingerprint == fingerprint(data)
    data.images_uint8[5, 0, 0, 0] += 1  # one pixel of the stored images
    changed = cache.load_or_train(config, cache_dir=tmp_path, dataset=data, verbose=False)
    assert tiny_model["train"] == 2 and changed.data_fingerprint != first.data_fingerprint
    with pytest.raises(ValueError, match="not both"):
        cache.load_or_train(config, cache_dir=tmp_path, dataset=data, data_root=tmp_path, verbose=False)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt", "config.json", "history.json"])
def test_a_damaged_entry_is_reported_moved_aside_and_trained_again(tmp_path, stand_ins, name):
    """Issue 18.6: a truncated file of an entry gave a raw torch/json error naming no file, on every later run;
    issue 28: it is reported as truncated (its manifest records the size written)."""
    config = tiny_config()
    reference = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    _truncate(entry / name)
    with pytest.warns(UserWarning, match=f"cache entry file {entry / name} is truncated: it has [0-9]+ of the"):
        result = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2 and torch.equal(result.db_codes, reference.db_codes)
    assert [h["loss"] for h in result.history] == [h["loss"] for h in reference.history]
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(entry.name + ".corrupt-")]
    assert len(aside) == 1 and (aside[0] / name).read_bytes() != (entry / name).read_bytes()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2


def test_a_damaged_checkpoint_is_reported_moved_aside_and_training_restarts(tmp_path, stand_ins, monkeypatch):
    config = tiny_config()
    reference = cache.load_or_train(config, cache_dir=tmp_path / "a", verbose=False)

    monkeypatch.setattr(cache, "train", killed_after(2))
    with pytest.raises(KeyboardInterrupt):
        cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    entry = tiny_entry(config, tmp_path / "b")
    checkpoint = entry.with_name(entry.name + ".partial") / "checkpoint.pt"
    _truncate(checkpoint)
    monkeypatch.setattr(cache, "train", train)
    with pytest.warns(UserWarning, match=f"checkpoint {checkpoint} cannot be read"):
        result = cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert torch.equal(result.db_codes, reference.db_codes)
    assert [h["loss"] for h in result.history] == [h["loss"] for h in reference.history]


def test_writes_use_unique_temporary_names(tmp_path, monkeypatch):
    """Issue 18.7: fixed names (``<key>.tmp``, ``checkpoint.pt.tmp``) let two writers overwrite each other's file."""
    from a2lib import atomic
    from a2lib.train import checkpoint

    names = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (names.append(os.path.basename(a)), real_replace(a, b)))
    for _ in range(2):
        atomic.save_atomic({"x": 1}, tmp_path / "checkpoint.pt")
        checkpoint.write_history([{"iteration": 1}], tmp_path / "history.json")
    assert len(set(names)) == 4 and all(n.endswith(".tmp") and n.count(".") >= 3 for n in names)
    assert torch.load(tmp_path / "checkpoint.pt") == {"x": 1}
    assert json.loads((tmp_path / "history.json").read_text()) == [{"iteration": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "history.json"]


def test_a_read_only_cache_holding_the_entry_loads_it_without_a_lock(tmp_path, stand_ins, read_only):
    """Issue 28: every entry was there, yet a read-only cache failed with a raw OSError creating ``<key>.lock``."""
    config = tiny_config()
    reference = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    entry.with_name(entry.name + ".lock").unlink()
    read_only(tmp_path, entry)
    loaded = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 1 and torch.equal(loaded.db_codes, reference.db_codes)
    assert not entry.with_name(entry.name + ".lock").exists()
    with pytest.raises(PermissionError, match=rf"model cache {tmp_path} is not writable, and the entry this call "
                                              r"needs cannot be loaded from it \(it is not in the cache\)"):
        cache.load_or_train(tiny_config(seed=9), cache_dir=tmp_path, verbose=False)


def test_a_cache_dir_that_is_a_file_is_a_clear_error(tmp_path, stand_ins):
    """Issue 28: a raw FileExistsError."""
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=f"model cache {tmp_path / 'cache'} cannot be created: "
                                                 f"{tmp_path / 'cache'} is a file, not a folder"):
        cache.load_or_train(tiny_config(), cache_dir=tmp_path / "cache", verbose=False)
    with pytest.raises(NotADirectoryError, match=f"{tmp_path / 'cache'} is a file, not a folder"):
        cache.load_or_train(tiny_config(), cache_dir=tmp_path / "cache" / "below", verbose=False)


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt"])
def test_weights_or_codes_copied_from_another_entry_are_refused_and_retrained(tmp_path, stand_ins, name):
    """Another seed's entry has the same architecture: its files load without a shape error, so only the manifest
    tells them apart."""
    config, other = tiny_config(), tiny_config(seed=9)
    reference = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    cache.load_or_train(other, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    shutil.copy(tiny_entry(other, tmp_path) / name, entry / name)
    with pytest.warns(UserWarning, match=f"cache entry file {entry / name} is not the file this folder was written "
                                         "with .*copied from another run; moved it to"):
        result = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 3 and torch.equal(result.db_codes, reference.db_codes)


def test_an_entry_written_before_manifests_loads_with_a_warning_and_gets_one(tmp_path, stand_ins):
    """The decision for entries of earlier versions: used after the checks they always had, not retrained."""
    config = tiny_config()
    reference = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    (entry / "manifest.json").unlink()
    with pytest.warns(UserWarning, match=f"cache entry {entry} was written by an earlier a2lib.*it now has one"):
        loaded = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 1 and torch.equal(loaded.db_codes, reference.db_codes)
    assert (entry / "manifest.json").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
