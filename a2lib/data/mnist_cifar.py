"""Real MNIST-CIFAR dominoes (Shah et al. 2020; paper Table 1): MNIST padded 28->32 (grey, replicated to 3 channels
when composed) on top of CIFAR-10 32x32 below, 3x64x32 in [0,1].

Files live under ``<root>/mnist-cifar/`` in torchvision's formats: MNIST's IDX files in ``MNIST/raw/`` and the
CIFAR-10 python pickles in ``cifar-10-batches-py/``. They are read directly (no checksum: a copy made elsewhere, or
a subset, works as long as the formats hold); ``download=True`` fetches missing files through torchvision when
online. CIFAR-10's published python version is pickles, so this is the one place the library unpickles a file; the
unpickler accepts only what a batch holds (dicts, lists, strings and numpy arrays: ``CIFAR_PICKLE_GLOBALS``) and
refuses any other object a planted file asks for, before anything of it runs. Missing files with no download raise
FileNotFoundError naming the folder, the files and the source; a file that cannot be parsed raises ValueError naming
it.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_bool, check_choice, check_int
from .arrays import ArrayDataset
from .dominoes import check_composition, check_simple_randomised, dominoes
from .embedded import resolve_root
from .registry import DataFacts, register_dataset

NUM_CLASSES = 10
MNIST_SIDE = 28
MNIST_PAD = 2
CIFAR_SIDE = 32
CIFAR_CHANNELS = 3
MNIST_RAW = "MNIST/raw"
MNIST_PREFIX = {"train": "train", "test": "t10k"}
MNIST_FILES = {split: (f"{MNIST_RAW}/{prefix}-images-idx3-ubyte", f"{MNIST_RAW}/{prefix}-labels-idx1-ubyte")
               for split, prefix in MNIST_PREFIX.items()}
"""Per split: MNIST's image and label files (IDX format, uncompressed) under ``<root>/mnist-cifar/``."""
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = 5
CIFAR_FILES = {"train": tuple(f"{CIFAR_DIR}/data_batch_{i}" for i in range(1, CIFAR_TRAIN_BATCHES + 1)),
               "test": (f"{CIFAR_DIR}/test_batch",)}
"""Per split: CIFAR-10's python pickles (dicts with ``data``, N x 3072 uint8 as R, G, B planes, and ``labels``)."""
CIFAR_PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
"""The only objects CIFAR-10's pickles need besides plain containers: numpy arrays (as numpy 1 and 2 spell their
rebuilding) and the byte strings of Python 3 pickles."""
CIFAR_META = f"{CIFAR_DIR}/batches.meta"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/ (torchvision's mirror)"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SPLITS = ("train", "test")


def _missing(folder: Path, files) -> list[str]:
    return [name for name in files if not (folder / name).is_file()]


def _ensure(folder: Path, name: str, files, download: bool, fetch, url: str) -> None:
    """Make sure ``files`` exist under ``folder``: download them with ``fetch()`` when allowed, else raise
    FileNotFoundError naming the folder, the missing files and where to get them."""
    missing = _missing(folder, files)
    if not missing:
        return
    where = (f"{name} is missing under {folder}: {', '.join(missing)}. Get it from {url} and place it there in "
             "torchvision's layout (see data/README.md)")
    if not download:
        raise FileNotFoundError(f"{where}, or pass download=True to fetch it with torchvision.")
    try:
        fetch()
    except Exception as error:  # offline: URLError, RuntimeError, ...
        raise FileNotFoundError(f"{where}; downloading it failed ({error}). Download it on a machine with internet "
                                "access and copy it there.") from error
    still = _missing(folder, files)
    if still:
        raise FileNotFoundError(f"{where}; the download did not produce {', '.join(still)}.")


def _read_idx(path: Path, reader, what: str) -> torch.Tensor:
    try:
        return reader(str(path))
    except (AssertionError, TypeError, ValueError, RuntimeError, KeyError) as error:
        raise ValueError(f"cannot read {path} as an MNIST IDX file of {what} ({type(error).__name__}: {error}); "
                         "delete it and download MNIST again (see data/README.md)") from error


def read_mnist(folder, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, 28, 28), int64 labels (N,)) of an MNIST split from its IDX files under ``folder``."""
    from torchvision.datasets.mnist import read_image_file, read_label_file
    image_file, label_file = (Path(folder) / name for name in MNIST_FILES[split])
    images = _read_idx(image_file, read_image_file, "uint8 images")
    labels = _read_idx(label_file, read_label_file, "uint8 labels")
    if tuple(images.shape[1:]) != (MNIST_SIDE, MNIST_SIDE) or len(images) != len(labels):
        raise ValueError(f"{image_file} holds images of shape {tuple(images.shape)} and {label_file} {len(labels)} "
                         f"labels; MNIST needs N x {MNIST_SIDE} x {MNIST_SIDE} images and N labels")
    return images, labels


def read_cifar(folder, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 images (N, 3, 32, 32), int64 labels (N,), class names) of a CIFAR-10 split from its pickles."""
    folder = Path(folder)
    images, labels = [], []
    for name in CIFAR_FILES[split]:
        entry = _unpickle(folder / name)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8)
            batch_labels = np.asarray(entry["labels"], dtype=np.int64)
            images.append(data.reshape(len(data), CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{folder / name} is not a CIFAR-10 batch (a dict with 'data', N x 3072 uint8, and "
                             f"'labels'): {type(error).__name__}: {error}") from error
        if len(batch_labels) != len(data):
            raise ValueError(f"{folder / name} holds {len(data)} images but {len(batch_labels)} labels")
        labels.append(batch_labels)
    meta = _unpickle(folder / CIFAR_META)
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not names or len(names) != NUM_CLASSES:
        raise ValueError(f"{folder / CIFAR_META} has no list of {NUM_CLASSES} 'label_names'")
    return np.concatenate(images), np.concatenate(labels), list(names)


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only the objects of ``CIFAR_PICKLE_GLOBALS``."""

    def find_class(self, module: str, name: str):
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which no CIFAR-10 batch holds; refused "
                                         "without running it")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return _BatchUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise ValueError(f"cannot read {path} as a CIFAR-10 python pickle ({type(error).__name__}: {error}); "
                         "delete it and download CIFAR-10 again (see data/README.md)") from error


def mnist_blocks(root, split: str, download: bool = True) -> ArrayDataset:
    """MNIST of ``split`` padded to 32x32, uint8 (N,1,32,32), from ``<root>/MNIST/raw`` (fetched when allowed)."""
    from torchvision.datasets import MNIST
    folder = Path(root)
    _ensure(folder, "MNIST", MNIST_FILES[split], download,
            lambda: MNIST(str(folder), train=split == "train", download=True), MNIST_URL)
    images, labels = read_mnist(folder, split)
    padded = F.pad(images, (MNIST_PAD,) * 4)
    return ArrayDataset(padded.unsqueeze(1), labels, class_names=[str(c) for c in range(NUM_CLASSES)])


def cifar_blocks(root, split: str, download: bool = True) -> ArrayDataset:
    """CIFAR-10 of ``split`` as uint8 (N,3,32,32), from ``<root>/cifar-10-batches-py`` (fetched when allowed)."""
    from torchvision.datasets import CIFAR10
    folder = Path(root)
    _ensure(folder, "CIFAR-10", CIFAR_FILES[split] + (CIFAR_META,), download,
            lambda: CIFAR10(str(folder), train=split == "train", download=True), CIFAR_URL)
    images, labels, names = read_cifar(folder, split)
    return ArrayDataset(torch.from_numpy(images), torch.from_numpy(labels), class_names=names)


def _split_size(split: str, n, n_train, n_test) -> int | None:
    """The number of items of ``split``: ``n`` (this split), else ``n_train``/``n_test``, else None (all)."""
    per_split = n_train if split == "train" else n_test
    if n is not None and per_split is not None:
        raise ValueError(f"mnist-cifar got both n={n} and n_{split}={per_split}; give one (n sets whichever split is "
                         "loaded, n_train/n_test set each split, so one dataset_options serves both)")
    size = n if n is not None else per_split
    name = "n" if n is not None else f"n_{split}"
    return None if size is None else check_int(f"mnist-cifar {name}", size, NUM_CLASSES)


@register_dataset("mnist-cifar", source="published", paper_name="MNIST-CIFAR",
                  facts=DataFacts(NUM_CLASSES, 50_000, (CIFAR_CHANNELS, 2 * CIFAR_SIDE, CIFAR_SIDE)))
def mnist_cifar(split: str = "train", root=None, variant: str = "both", flavour: str = "randomised",
                n: int | None = None, seed: int = 0, download: bool = True, transform=None,
                n_train: int | None = None, n_test: int | None = None, simple_randomised: float = 0.0):
    """MNIST-CIFAR dominoes of a split (``simple_randomised``: the fraction of items whose digit shows another class,
    as in ``dominoes``). Size: ``n`` (for the split loaded) or ``n_train``/``n_test`` (per split, e.g.
    3,000 / 1,000 for CPU-sized runs); default each class as often as its rarer source allows, balanced (50,000
    train, 8,920 test: MNIST has 892 test fives; ``dominoes`` warns how many it built). ``root`` defaults to
    ``a2lib.folders.data_root()``; the files are read from ``<root>/mnist-cifar/``."""
    check_choice("mnist-cifar split", split, SPLITS)
    check_composition(variant, flavour, seed)
    check_simple_randomised(simple_randomised)
    check_bool("mnist-cifar download", download)
    size = _split_size(split, n, n_train, n_test)
    folder = resolve_root(root) / "mnist-cifar"
    simple = mnist_blocks(folder, split, download)
    complex_ = cifar_blocks(folder, split, download)
    return dominoes(simple, complex_, variant=variant, flavour=flavour, n=size, num_classes=NUM_CLASSES,
                    seed=seed + (0 if split == "train" else 1), transform=transform,
                    simple_randomised=simple_randomised)
