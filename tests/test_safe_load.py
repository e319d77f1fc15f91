"""Nothing the library loads can run code: a planted pickle in each place it reads (a cache entry, a training
checkpoint, an embedded data cache, a CIFAR-10 batch; ``Fitted`` folders in test_fit.py) is refused before any of it
runs, and the error or warning names the file.

``Planted`` unpickles by calling ``open(marker, "w")``: the marker file exists exactly when the file's code ran (the
shared cache of several users or cluster jobs made this a code-execution path, issue 28).
"""
import pickle

import pytest
import torch

from a2lib.data import fingerprint, load
from a2lib.data.embedded import load_or_generate
from a2lib.data.mnist_cifar import CIFAR_FILES
from a2lib.train import cache, train
from test_cache import killed_after, stand_ins, tiny_entry  # noqa: F401 (stand_ins is a fixture)
from test_mnist_cifar import write_mnist_cifar
from test_train import TinyHash, TinySet, tiny_config

REFUSED = "refused without running any of it"


class Planted:
    """An object whose unpickling creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_load_tensors_refuses_a_planted_pickle_and_names_the_file(tmp_path):
    from a2lib.safe_load import UnreadableFile, load_tensors

    marker = tmp_path / "ran"
    torch.save({"weight": Planted(marker)}, tmp_path / "model.pt")
    with open(tmp_path / "raw.pkl", "wb") as handle:
        pickle.dump(Planted(marker), handle)
    for name in ("model.pt", "raw.pkl"):
        with pytest.raises(UnreadableFile, match=f"{tmp_path / name} holds Python objects .* {REFUSED}"):
            load_tensors(tmp_path / name)
    assert not marker.exists()


def test_a_planted_training_checkpoint_does_not_run_and_training_starts_afresh(tmp_path, stand_ins, monkeypatch):
    """The trainer resumed a ``.partial`` checkpoint with ``weights_only=False``: its code ran."""
    marker = tmp_path / "ran"
    config = tiny_config()
    reference = cache.load_or_train(config, cache_dir=tmp_path / "a", verbose=False)
    monkeypatch.setattr(cache, "train", killed_after(1))
    with pytest.raises(KeyboardInterrupt):
        cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    entry = tiny_entry(config, tmp_path / "b")
    checkpoint = entry.with_name(entry.name + ".partial") / "checkpoint.pt"
    saved = torch.load(checkpoint, weights_only=True)  # what the trainer writes loads without unpickling code
    torch.save({**saved, "history": [Planted(marker)]}, checkpoint)
    monkeypatch.setattr(cache, "train", train)
    with pytest.warns(UserWarning, match=f"checkpoint {checkpoint} cannot be read .*{REFUSED}"):
        result = cache.load_or_train(config, cache_dir=tmp_path / "b", verbose=False)
    assert not marker.exists()
    assert torch.equal(result.db_codes, reference.db_codes)


@pytest.mark.parametrize("name", ["model.pt", "db_codes.pt"])
def test_a_planted_cache_file_does_not_run_even_with_a_matching_manifest(tmp_path, stand_ins, name):
    """Whoever can write into a shared cache can also rewrite the manifest: the loader itself must refuse."""
    from a2lib.manifest import write_manifest

    marker = tmp_path / "ran"
    config = tiny_config()
    cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    entry = tiny_entry(config, tmp_path)
    torch.save({"weight": Planted(marker)}, entry / name)
    write_manifest(entry, config.key_dict(), fingerprint(TinySet()))
    with pytest.warns(UserWarning, match=f"cache entry file {entry / name} cannot be read: it holds Python objects"):
        cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert not marker.exists() and stand_ins["train"] == 2


def test_a_planted_data_cache_file_does_not_run_and_is_regenerated(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "synth.pt"
    torch.save({"images": Planted(marker)}, path)
    with pytest.warns(UserWarning, match=f"data cache file {path} is damaged .*{REFUSED}"):
        data = load_or_generate(path, lambda: {"images": torch.ones(2)}, ["images"])
    assert not marker.exists() and torch.equal(data["images"], torch.ones(2))


def test_a_planted_cifar_batch_does_not_run(tmp_path):
    """CIFAR-10's own format is pickles: the one unpickler of the library builds only what a batch holds."""
    marker = tmp_path / "ran"
    base = write_mnist_cifar(tmp_path)
    with open(base / CIFAR_FILES["train"][0], "wb") as handle:
        pickle.dump({"data": Planted(marker), "labels": [0]}, handle)
    with pytest.raises(ValueError, match=f"cannot read {base / CIFAR_FILES['train'][0]} .*refused without running"):
        load("mnist-cifar", "train", root=tmp_path, download=False)
    assert not marker.exists()


def test_checkpoints_hold_only_plain_values_and_tensors(tmp_path):
    """What makes weights_only=True possible: every generator's state as tensors, numbers and lists."""
    with pytest.raises(KeyboardInterrupt):
        train(TinyHash(), TinySet(), tiny_config(), tmp_path, verbose=False,
              callback=lambda done, history: (_ for _ in ()).throw(KeyboardInterrupt()))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert isinstance(saved["rng"]["numpy"]["keys"], list) and isinstance(saved["rng"]["python"], list)
