"""Content-addressed cache of trained models: ``load_or_train(config)`` trains once, every later call loads.

The key is the sha256 of the canonical JSON of ``TrainConfig.key_dict()`` (dataset name and options, model name and
options, bits, backbone, loss weights, every training number and the seed; not the runtime fields ``device`` and
``num_workers``) together with ``CACHE_FORMAT_VERSION``. An entry ``<cache>/<key>/`` holds ``config.json``,
``model.pt`` (state dict), ``db_codes.pt`` (learned B, database/validation indices, labels, best iteration) and
``history.json``; it is written to a temporary folder and renamed, so a killed run never leaves a half entry. A killed
training resumes from ``<cache>/<key>.partial/``. On load the stored config must equal the requested one exactly,
so an entry of another config is never returned. The cache folder is ``cache_dir`` when given, else
``a2lib.folders.cache_root()`` (``$A2LIB_CACHE`` or the user cache); data come from ``a2lib.folders.data_root()``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

from .. import folders
from ..data import load
from ..device import select_device
from ..models import build
from .checkpoint import HISTORY_NAME, write_history
from .config import TrainConfig, TrainResult
from .trainer import train

CACHE_FORMAT_VERSION = 3
"""Bump when what an entry holds, how training works or an embedded data set's defaults change, so old entries are
not reused (3: synth-birds v2 defaults, non-asymmetric methods)."""
KEY_LENGTH = 24
"""Hex characters of the sha256 used for the folder name (96 bits)."""
CONFIG_NAME, MODEL_NAME, CODES_NAME = "config.json", "model.pt", "db_codes.pt"
PARTIAL_SUFFIX, TMP_SUFFIX = ".partial", ".tmp"


def _canonical(config: TrainConfig) -> dict:
    return {"format": CACHE_FORMAT_VERSION, "config": config.key_dict()}


def config_key(config: TrainConfig) -> str:
    """sha256 hex digest of the canonical JSON of the config's result-defining fields and the format version."""
    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_dir(config: TrainConfig, cache_dir=None) -> Path:
    """``<cache_dir or cache_root()>/<first KEY_LENGTH hex digits of config_key>``."""
    return Path(cache_dir or folders.cache_root()) / config_key(config)[:KEY_LENGTH]


def build_model(config: TrainConfig):
    """The untrained model of ``config``, initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    return build(config.model, config.bits, backbone=config.backbone, **config.model_options)


def load_dataset(config: TrainConfig, split: str = "train", root=None):
    """``a2lib.data.load(config.dataset, split, root=root or data_root(), **config.dataset_options)``."""
    return load(config.dataset, split, root=str(root or folders.data_root()), **config.dataset_options)


def load_cached(config: TrainConfig, cache_dir=None) -> TrainResult | None:
    """The cached result of ``config``, or None when absent; a stored config that differs is an error."""
    path = entry_dir(config, cache_dir)
    if not (path / CONFIG_NAME).exists():
        return None
    stored = json.loads((path / CONFIG_NAME).read_text())
    if stored != _canonical(config):
        raise ValueError(f"cache entry {path} holds a different config than the one requested (a key collision or a "
                         "hand-edited entry); delete that folder to retrain")
    model = build_model(config)
    model.load_state_dict(torch.load(path / MODEL_NAME, map_location="cpu", weights_only=True))
    model.to(select_device(config.device, verbose=False)).eval()
    codes = torch.load(path / CODES_NAME, map_location="cpu", weights_only=True)
    history = json.loads((path / HISTORY_NAME).read_text())
    return TrainResult(model, codes["db_codes"], codes["db_indices"], codes["val_indices"], codes["db_labels"],
                       history, codes["best_iteration"], codes["best_val_map"], config)


def save_entry(result: TrainResult, cache_dir=None) -> Path:
    """Write ``result`` as the cache entry of its config (atomically: temporary folder, then rename)."""
    path = entry_dir(result.config, cache_dir)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / CONFIG_NAME).write_text(json.dumps(_canonical(result.config), indent=1, sort_keys=True))
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, tmp / MODEL_NAME)
    torch.save({"db_codes": result.db_codes.cpu(), "db_indices": result.db_indices, "val_indices": result.val_indices,
                "db_labels": result.db_labels, "best_iteration": result.best_iteration,
                "best_val_map": result.best_val_map}, tmp / CODES_NAME)
    write_history(result.history, tmp / HISTORY_NAME)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def load_or_train(config: TrainConfig, cache_dir=None, data_root=None, verbose: bool = True,
                  retrain: bool = False) -> TrainResult:
    """The trained model, learned database codes and history for ``config``: from the cache, else trained and cached.

    The dataset is ``a2lib.data.load(config.dataset, "train", root=data_root, **config.dataset_options)``, the model
    ``a2lib.models.build(config.model, config.bits, backbone=config.backbone, **config.model_options)`` seeded by
    ``config.seed``. ``retrain=True`` ignores an existing entry and overwrites it.
    """
    entry = entry_dir(config, cache_dir)
    if not retrain:
        cached = load_cached(config, cache_dir)
        if cached is not None:
            if verbose:
                print(f"loaded {config.model} ({config.bits} bits) from cache {entry}")
            return cached
    partial = entry.with_name(entry.name + PARTIAL_SUFFIX)
    if retrain:
        shutil.rmtree(partial, ignore_errors=True)
    dataset = load_dataset(config, "train", data_root)
    result = train(build_model(config), dataset, config, checkpoint_dir=partial, verbose=verbose)
    save_entry(result, cache_dir)
    shutil.rmtree(partial, ignore_errors=True)
    return result


__all__ = ["CACHE_FORMAT_VERSION", "build_model", "config_key", "entry_dir", "load_cached", "load_dataset",
           "load_or_train", "save_entry"]
