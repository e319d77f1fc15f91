"""Content-addressed cache: trains once, loads after, never returns another config's entry, resumes a killed run."""
import hashlib
import json

import pytest
import torch

from a2lib.train import cache
from a2lib.train import TrainConfig, train
from test_train import TinyHash, TinySet, tiny_config


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
    entry = cache.entry_dir(config, tmp_path)
    assert {p.name for p in entry.iterdir()} == {"config.json", "model.pt", "db_codes.pt", "history.json"}
    assert not entry.with_name(entry.name + ".partial").exists()


def test_key_covers_every_result_field_but_not_the_device():
    base = tiny_config()
    assert cache.config_key(base) == cache.config_key(tiny_config(device="cuda", num_workers=2))
    for change in ({"seed": 4}, {"lr": 0.01}, {"bits": 8}, {"dataset_options": {"size": 1}},
                   {"model_options": {"attention": False}}, {"n_samples": 10}):
        assert cache.config_key(tiny_config(**change)) != cache.config_key(base), change
    weights = tiny_config().loss_weights
    weights.eta = 0.5
    assert cache.config_key(tiny_config(loss_weights=weights)) != cache.config_key(base)


TINY_CANONICAL_JSON = (
    '{"config":{"backbone":"none","batch_size":8,"bits":6,"dataset":"tiny","dataset_options":{},"db_codes":"learned",'
    '"dcc_sweeps":1,"eval_batch_size":64,"eval_every":1,"inner_epochs":2,"loss_weights":{"adsh_gamma":200.0,'
    '"alignment":1.0,"alpha":null,"beta":null,"diversity":1.0,"eta":0.1,"gamma":null,"lambda_":1.0},"lr":0.05,'
    '"lr_decay_at":2,"lr_decay_factor":0.1,"model":"tiny","model_options":{},"momentum":0.9,"n_samples":24,'
    '"optimizer":"sgd","outer_iterations":3,"seed":3,"similarity_reweight":true,"val_fraction":0.2,'
    '"weight_decay":0.0001},"format":3}'
)
"""tiny_config()'s canonical JSON written out by hand: sorted keys, no spaces, every result-defining field, format 3."""


def test_key_is_the_sha256_of_the_canonical_json_so_existing_entries_stay_valid():
    config = tiny_config(device="cuda", num_workers=4)
    assert cache.config_key(config) == hashlib.sha256(TINY_CANONICAL_JSON.encode()).hexdigest()
    assert cache.config_key(config) == "e3668c9cadb1e3c07726fb9a19143727eec68f51ec8d45b2b1c54b0fba843019"  # pre-split
    assert cache.entry_dir(config, "/c").name == cache.config_key(config)[: cache.KEY_LENGTH]


def test_default_cache_dir_is_the_user_cache_never_the_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("A2LIB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert cache.entry_dir(tiny_config()).parent == tmp_path / "xdg" / "a2lib" / "models"


def test_other_config_is_trained_not_returned(tmp_path, stand_ins):
    cache.load_or_train(tiny_config(), cache_dir=tmp_path, verbose=False)
    other = cache.load_or_train(tiny_config(seed=9), cache_dir=tmp_path, verbose=False)
    assert stand_ins["train"] == 2 and other.config.seed == 9


def test_tampered_entry_is_refused(tmp_path, stand_ins):
    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    path = cache.entry_dir(config, tmp_path) / "config.json"
    stored = json.loads(path.read_text())
    stored["config"]["lr"] = 0.5
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="different config"):
        cache.load_or_train(config, cache_dir=tmp_path, verbose=False)


def test_cache_dir_from_environment(tmp_path, monkeypatch, stand_ins):
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "env-cache"))
    config = tiny_config(outer_iterations=1)
    cache.load_or_train(config, verbose=False)
    assert (tmp_path / "env-cache" / cache.config_key(config)[: cache.KEY_LENGTH] / "model.pt").exists()


def test_killed_load_or_train_resumes_to_the_uninterrupted_result(tmp_path, stand_ins, monkeypatch):
    config = tiny_config(eval_every=2)
    reference = cache.load_or_train(config, cache_dir=tmp_path / "a", verbose=False)

    def killed_train(*args, **kwargs):
        def callback(done, history):
            if done == 2:
                raise KeyboardInterrupt("simulated kill")
        return train(*args, callback=callback, **kwargs)

    monkeypatch.setattr(cache, "train", killed_train)
    with pytest.raises(KeyboardInterrupt):
        cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert not cache.entry_dir(config, tmp_path / "b").exists()
    monkeypatch.setattr(cache, "train", train)
    resumed = cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert torch.equal(reference.db_codes, resumed.db_codes)
    assert [h["loss"] for h in reference.history] == [h["loss"] for h in resumed.history]


def test_config_json_round_trips_to_the_same_key(tmp_path, stand_ins):
    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    stored = json.loads((cache.entry_dir(config, tmp_path) / "config.json").read_text())
    again = TrainConfig.from_dict(stored["config"])
    assert cache.config_key(again) == cache.config_key(config)


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
                         lr_decay_at=1, val_fraction=0.1, eval_every=1, device="cpu")
    result = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    again = cache.load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    assert torch.equal(result.db_codes, again.db_codes) and len(result.history) == 2
    q = binary(encode_dataset(result.model, test_set))
    value = mean_average_precision(q, result.db_codes, test_set.labels, result.db_labels)
    assert 0.0 < value <= 1.0
    ndcg = ndcg_at_k(q, result.db_codes, test_set.attributes, train_set.attributes[result.db_indices], 10)
    assert 0.0 < ndcg <= 1.0
