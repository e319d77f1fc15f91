"""MNIST-CIFAR from tiny files in torchvision's on-disk formats (MNIST IDX in MNIST/raw/, CIFAR-10 python pickles in
cifar-10-batches-py/), read, composed and trained on for one outer iteration the way notebook 01 trains; missing
and damaged files are named."""
import pickle
import struct

import numpy as np
import pytest
import torch

from a2lib.data import load
from a2lib.data.mnist_cifar import CIFAR_FILES, CIFAR_META, MNIST_FILES
from a2lib.studies import Study, simplicity

K = 10
PER_CLASS = {"train": 4, "test": 2}
IDX_UBYTE = 0x08
"""IDX type code of unsigned bytes; the magic number is 0x00 0x00 <type> <number of dimensions>."""


def _idx(path, array: np.ndarray):
    """Write ``array`` (uint8) as an IDX file: magic, big-endian int32 sizes, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _pickle(path, entry):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(entry, handle)


def mnist_image(label: int, index: int) -> np.ndarray:
    """28x28: a filled square whose grey level says the class, one marked pixel saying the index."""
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 4:24] = 20 * label + 10
    image[0, 0] = index
    return image


def cifar_planes(label: int, index: int) -> np.ndarray:
    """3072 bytes as CIFAR stores them: the 32x32 red plane, then green, then blue (red = class, green = index)."""
    red = np.full(32 * 32, 25 * label, np.uint8)
    green = np.full(32 * 32, index, np.uint8)
    blue = np.full(32 * 32, 200, np.uint8)
    return np.concatenate([red, green, blue])


def write_mnist_cifar(root):
    """A tiny MNIST-CIFAR under ``root/mnist-cifar`` with PER_CLASS images per class and split."""
    base = root / "mnist-cifar"
    for split, per_class in PER_CLASS.items():
        labels = np.repeat(np.arange(K), per_class)
        images = np.stack([mnist_image(int(c), i) for i, c in enumerate(labels)])
        _idx(base / MNIST_FILES[split][0], images)
        _idx(base / MNIST_FILES[split][1], labels)
        files = CIFAR_FILES[split]
        for b, name in enumerate(files):
            chosen = [i for i in range(len(labels)) if i % len(files) == b]
            _pickle(base / name, {"batch_label": name, "labels": [int(labels[i]) for i in chosen],
                                  "data": np.stack([cifar_planes(int(labels[i]), i) for i in chosen]),
                                  "filenames": [f"{i}.png" for i in chosen]})
    _pickle(base / CIFAR_META, {"label_names": [f"class{c}" for c in range(K)], "num_cases_per_batch": 8,
                                "num_vis": 3072})
    return base


def test_reads_both_formats_and_composes_dominoes(tmp_path):
    write_mnist_cifar(tmp_path)
    data = load("mnist-cifar", "train", root=tmp_path, download=False, n_train=20)
    assert len(data) == 20 and data.images_uint8.shape == (20, 3, 64, 32)
    for i in range(len(data)):
        label = int(data.labels[i])
        top, bottom = data.images_uint8[i, :, :32], data.images_uint8[i, :, 32:]
        assert (top[:, :2] == 0).all() and (top[:, :, :2] == 0).all()  # padded 28 -> 32 by 2 on each side
        assert (top[:, 6:26, 6:26] == 20 * label + 10).all() and (top[0] == top[2]).all()  # grey, replicated
        assert (bottom[0] == 25 * label).all() and (bottom[2] == 200).all()  # red plane first, blue last
    test = load("mnist-cifar", "test", root=tmp_path, download=False, n_test=10, variant="complex-only",
                flavour="blanked")
    assert len(test) == 10 and (test.images_uint8[:, :, :32] == 0).all()
    assert test.class_names[3] == "3+class3"


def test_notebook_training_path_runs_one_outer_iteration(tmp_path, monkeypatch):
    """Notebook 01's path on the files: Study -> train BASELINE (one outer iteration, smoke-sized) -> Table 1 mAPs."""
    write_mnist_cifar(tmp_path)
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path))
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    study = Study(dataset="mnist-cifar", recipe="smoke", seed=0, device="cpu",
                  dataset_options={"n_train": 40, "n_test": 20, "download": False},
                  train_options={"outer_iterations": 1, "n_samples": 32, "val_fraction": 0.25})
    result = study.train("baseline", 12)
    assert len(result.history) == 1 and result.db_codes.shape == (30, 12)
    scores = simplicity.variant_maps(result, study)
    assert list(scores) == [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    assert all(0 < value <= 1 for value in scores.values())


def test_missing_cifar_names_its_files_and_source(tmp_path):
    base = write_mnist_cifar(tmp_path)
    (base / CIFAR_FILES["train"][2]).unlink()
    with pytest.raises(FileNotFoundError) as error:
        load("mnist-cifar", "train", root=tmp_path, download=False)
    message = str(error.value)
    assert "CIFAR-10" in message and str(base) in message and "data_batch_3" in message
    assert "cifar-10-python.tar.gz" in message and "download=True" in message


def test_damaged_files_are_named(tmp_path):
    base = write_mnist_cifar(tmp_path)
    (base / MNIST_FILES["test"][0]).write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        load("mnist-cifar", "test", root=tmp_path, download=False)
    (base / CIFAR_FILES["train"][0]).write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_1"):
        load("mnist-cifar", "train", root=tmp_path, download=False)


@pytest.mark.parametrize("options,match", [
    ({"n_train": 5}, "mnist-cifar n_train must be an integer >= 10, got 5"),
    ({"n": 20, "n_train": 20}, "both n=20 and n_train=20"),
    ({"download": "no"}, "mnist-cifar download must be True or False"),
    ({"seed": -1}, "dominoes seed must be an integer >= 0, got -1"),
    ({"variant": "top-only"}, "unknown dominoes variant"),
])
def test_bad_options_are_refused_before_reading(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        load("mnist-cifar", "train", root=tmp_path, **{"download": False, **options})


def test_sizes_per_split_from_one_options_dict(tmp_path):
    write_mnist_cifar(tmp_path)
    options = {"n_train": 30, "n_test": 10, "download": False}
    assert len(load("mnist-cifar", "train", root=tmp_path, **options)) == 30
    assert len(load("mnist-cifar", "test", root=tmp_path, **options)) == 10
    assert torch.bincount(load("mnist-cifar", "test", root=tmp_path, **options).labels).tolist() == [1] * K
