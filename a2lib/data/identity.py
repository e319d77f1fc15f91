"""What a dataset holds, as one hex string: ``fingerprint(dataset)``, the data part of a trained model's cache key.

A dataset may define a cheap ``fingerprint()`` returning a string (or None when it has none, e.g. an in-memory set
with a transform); ``DataDigest`` is the hash they build it with. The library's sets define one:
- in-memory and generated sets (``ArrayDataset`` and the embedded synth-birds, the dominoes, subsets of those): a
  hash of the stored tensors (images, labels, attributes), so the same content gives the same fingerprint wherever
  it was generated or loaded from;
- real sets read from disk (cub200, nabirds, aircraft, food101, vegfru, folder): the resolved root, the bytes of the
  list files they read, each image file's path relative to the root, size and modification time, the labels,
  attributes and the transform's ``repr`` — no image is decoded. The root is part of it: the same files at another
  root are another dataset (trained once more), and a changed, added or removed image file changes it.
Any other dataset (``torch.utils.data.Subset``, a user's ``Dataset``) gets a content hash of every item's image
tensor and label in order, plus ``labels`` and ``attributes`` when present, read with the global random generators
seeded by ``ITEM_SEED`` (so random transforms draw the same) and restored afterwards (so the caller's random
stream is untouched); a progress bar shows for sets of ``PROGRESS_MIN_ITEMS`` items or more.
"""
from __future__ import annotations

import hashlib
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

FINGERPRINT_VERSION = 1
"""Part of every fingerprint; bump when what a fingerprint covers changes."""
ITEM_SEED = 0
"""Seed of the global generators while items are hashed, so a random transform gives the same items every time."""
PROGRESS_MIN_ITEMS = 2_000
"""Sets with at least this many items show a progress bar while their items are hashed."""


@contextmanager
def isolated_rng(seed: int):
    """Python's, numpy's and torch's global generators (CUDA's too when present) seeded by ``seed`` inside the block
    and put back in their previous state after it, so whatever runs inside neither depends on nor changes the
    caller's random stream."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
             torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
        if state[3] is not None:
            torch.cuda.set_rng_state_all(state[3])


class DataDigest:
    """A sha256 fed with typed, length-prefixed parts (so two different sequences of parts never hash alike)."""

    def __init__(self, kind: str):
        self._hash = hashlib.sha256()
        self.text(f"a2lib-data/{FINGERPRINT_VERSION}/{kind}")

    def _part(self, tag: bytes, payload) -> None:
        view = memoryview(payload).cast("B")
        self._hash.update(tag + len(view).to_bytes(8, "little"))
        self._hash.update(view)

    def text(self, value) -> "DataDigest":
        self._part(b"s", str(value).encode("utf-8"))
        return self

    def tensor(self, value) -> "DataDigest":
        """dtype, shape and bytes of a tensor (or array, or number); None is a part of its own."""
        if value is None:
            return self.text("<none>")
        tensor = torch.as_tensor(value).detach().cpu().contiguous()
        self.text(f"{tensor.dtype}{tuple(tensor.shape)}")
        self._part(b"t", tensor.reshape(-1).view(torch.uint8).numpy())
        return self

    def file_bytes(self, path: Path) -> "DataDigest":
        self._part(b"f", Path(path).read_bytes())
        return self

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def own_fingerprint(dataset) -> str | None:
    """``dataset.fingerprint()`` when the dataset defines one and it returns a string, else None."""
    method = getattr(dataset, "fingerprint", None)
    if not callable(method):
        return None
    value = method()
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{type(dataset).__name__}.fingerprint() must return a str or None, got "
                        f"{type(value).__name__}")
    return value


def item_fingerprint(dataset) -> str:
    """The content hash of every item of ``dataset`` (image tensor and label, in order), its ``labels`` and
    ``attributes`` when present; random transforms draw from generators seeded by ``ITEM_SEED`` (module docstring)."""
    digest = DataDigest("items").text(len(dataset))
    digest.tensor(getattr(dataset, "labels", None)).tensor(getattr(dataset, "attributes", None))
    with isolated_rng(ITEM_SEED):
        for index in tqdm(range(len(dataset)), desc="dataset fingerprint", unit="item",
                          disable=len(dataset) < PROGRESS_MIN_ITEMS):
            image, label = dataset[index][:2]
            digest.tensor(image if isinstance(image, Tensor) else np.asarray(image)).tensor(label)
    return digest.hexdigest()


def fingerprint(dataset) -> str:
    """A sha256 hex string identifying what ``dataset`` holds: its own ``fingerprint()`` when it defines one that
    returns a string, else ``item_fingerprint`` (see the module docstring for what each covers)."""
    return own_fingerprint(dataset) or item_fingerprint(dataset)


__all__ = ["DataDigest", "FINGERPRINT_VERSION", "ITEM_SEED", "PROGRESS_MIN_ITEMS", "fingerprint", "isolated_rng",
           "item_fingerprint", "own_fingerprint"]
