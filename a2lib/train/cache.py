"""Content-addressed cache of trained models: ``load_or_train(config)`` trains once, every later call loads.

The key of an entry (``entry_key``) is the sha256 of the canonical JSON of three things: ``TrainConfig.key_dict()``
(dataset name and options, model name and options, bits, backbone, loss weights, every training number and the
seed; not the runtime fields of ``RUNTIME_FIELDS``: device, workers, precision, diagnostics), the training set's
fingerprint (``a2lib.data.identity.fingerprint``: what the data holds) and ``CACHE_FORMAT_VERSION``. So the same config on other
data is another entry: another ``data_root``, another ``folder`` root, a changed, added or removed image file, or
another in-memory dataset given as ``dataset=`` (``config.dataset`` is then a free label). Generated and in-memory
sets are identified by content, so the same content at two data roots shares one entry; real sets read from disk
are identified by their resolved root and their files' paths, sizes and modification times, so the same files at two
roots are two entries (each trained once). ``config_key(config)`` is the config's part alone, to compare configs.

An entry ``<cache>/<first KEY_LENGTH hex digits of the key>/`` holds ``config.json`` (the canonical dict: config,
data fingerprint, format), ``model.pt`` (state dict), ``db_codes.pt`` (learned B, database/validation indices,
labels, best iteration), ``history.json`` and ``manifest.json`` (``a2lib.manifest``: the config, the data fingerprint
and each file's size and SHA-256). It is written into a uniquely named temporary folder next to it and published in
one step (``a2lib.atomic.publish_folder``), so a killed run never leaves a half entry and a reader never sees one; a
published entry is therefore read without any lock, and a read-only cache holding the entries needed is used as is.
A killed training resumes from ``<cache>/<key>.partial/``. Processes training the same entry at once are serialised
by an exclusive lock on ``<cache>/<key>.lock`` (``fcntl.flock``, released by the system when its holder dies; on
systems without ``fcntl`` only the atomic publication protects the entry): one trains, the others wait and load its
entry. On load every file must match the manifest and the stored config and fingerprint the requested ones exactly,
so an entry of another config is never returned; an entry with a file that is truncated, changed (a model or codes
copied from another entry), missing or unreadable is reported with the file's path, moved aside to
``<key>.corrupt-<timestamp>-<pid>`` and trained again. Files are read with ``weights_only=True``
(``a2lib.safe_load``): nothing in a shared cache can run code. An entry written before entries carried a manifest
(an earlier a2lib) is loaded after the checks it always had (config, readable files, weights that fit the model), with
a warning, and gets a manifest then where the cache is writable; nothing needs retraining. The cache folder is
``cache_dir`` when given, else ``a2lib.folders.cache_root()`` (``$A2LIB_CACHE`` or the user cache); data come from
``a2lib.folders.data_root()``.
A model loaded from the cache is reported to ``a2lib run``'s progress file (``a2lib.train.progress``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from .. import folders
from ..atomic import move_aside, publish_folder, restore, unique_temporary
from ..data import load
from ..data.identity import fingerprint
from ..device import select_device
from ..manifest import MANIFEST_NAME, ManifestMismatch, read_manifest, verify, write_manifest
from ..models import build
from ..safe_load import UnreadableFile, load_tensors
from . import progress
from .checkpoint import HISTORY_NAME, write_history
from .config import TrainConfig, TrainResult
from .trainer import train

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; entries are still published by an atomic rename
    fcntl = None

CACHE_FORMAT_VERSION = 5
"""Bump when what an entry holds, how training works or an embedded data set's defaults change, so old entries are
not reused (3: synth-birds v2 defaults, non-asymmetric methods; 4: the key holds the training data's fingerprint;
5: per-image loss norms, ExchNet as its public code, DPSH and HashNet on class-balanced batches with a memory)."""
KEY_LENGTH = 24
"""Hex characters of the sha256 used for the folder name (96 bits)."""
CONFIG_NAME, MODEL_NAME, CODES_NAME = "config.json", "model.pt", "db_codes.pt"
CODES_KEYS = ("db_codes", "db_indices", "val_indices", "db_labels", "best_iteration", "best_val_map")
PARTIAL_SUFFIX, LOCK_SUFFIX = ".partial", ".lock"


def _json_key(canonical: dict) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(config: TrainConfig, data_fingerprint: str) -> dict:
    return {"format": CACHE_FORMAT_VERSION, "config": config.key_dict(), "data": data_fingerprint}


def config_key(config: TrainConfig) -> str:
    """sha256 hex digest of the canonical JSON of the config's result-defining fields and the format version: equal
    for configs that train the same model on the same data (the cache key adds the data, ``entry_key``)."""
    return _json_key({"format": CACHE_FORMAT_VERSION, "config": config.key_dict()})


def entry_key(config: TrainConfig, data_fingerprint: str) -> str:
    """The cache key: sha256 hex digest of the canonical JSON of the config's result-defining fields, the training
    data's fingerprint (``a2lib.data.identity.fingerprint``) and the format version."""
    return _json_key(_canonical(config, data_fingerprint))


def entry_dir(config: TrainConfig, data_fingerprint: str, cache_dir=None) -> Path:
    """``<cache_dir or cache_root()>/<first KEY_LENGTH hex digits of entry_key>``."""
    return Path(cache_dir or folders.cache_root()) / entry_key(config, data_fingerprint)[:KEY_LENGTH]


def build_model(config: TrainConfig):
    """The untrained model of ``config``, initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    return build(config.model, config.bits, backbone=config.backbone, **config.model_options)


def load_dataset(config: TrainConfig, split: str = "train", root=None):
    """``a2lib.data.load(config.dataset, split, root=root or data_root(), **config.dataset_options)``."""
    return load(config.dataset, split, root=str(root or folders.data_root()), **config.dataset_options)


class _DamagedFile(Exception):
    """A file of an entry that is not what was written or cannot be read back."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"cache entry file {path} {problem}")


def _read(path: Path, reader: Callable[[Path], object]):
    try:
        return reader(path)
    except UnreadableFile as error:
        raise _DamagedFile(path, f"cannot be read: it {error.problem}") from error
    except Exception as error:  # json and load_state_dict raise many types for a damaged file
        raise _DamagedFile(path, f"cannot be read ({type(error).__name__}: {error})") from error


def _read_codes(path: Path) -> dict:
    codes = load_tensors(path)
    missing = sorted(set(CODES_KEYS) - set(codes)) if isinstance(codes, dict) else list(CODES_KEYS)
    if missing:
        raise KeyError(f"missing entries {', '.join(missing)}")
    return codes


def _verified_manifest(path: Path) -> dict | None:
    """The entry's manifest with every file checked against it; None for an entry written before manifests."""
    try:
        manifest = read_manifest(path)
        if manifest is not None:
            verify(path, manifest)
    except ManifestMismatch as mismatch:
        raise _DamagedFile(mismatch.path, mismatch.problem) from mismatch
    return manifest


def _add_manifest(path: Path, stored: dict) -> None:
    """Give an entry written before manifests its manifest (where the cache is writable), saying so."""
    try:
        write_manifest(path, stored["config"], stored["data"])
        done = "it now has one, so later loads check its files"
    except OSError as error:
        done = f"none could be added ({error.strerror}), so its files stay unchecked"
    warnings.warn(f"cache entry {path} was written by an earlier a2lib, before entries carried a {MANIFEST_NAME}; its "
                  f"files read back and fit the model, so it is used, and {done}. Retrain it with retrain=True (or "
                  "delete the folder) if you doubt it", stacklevel=4)


def _read_entry(path: Path, config: TrainConfig, data_fingerprint: str) -> TrainResult:
    """The entry at ``path`` checked against its manifest and the request: a ``_DamagedFile`` names the file that
    is not as written, or holds a config other than the requested one (a key collision or a hand-edited entry, set
    aside like a damaged file so the next call trains the requested model instead of failing until it is deleted)."""
    manifest = _verified_manifest(path)
    stored = _read(path / CONFIG_NAME, lambda file: json.loads(file.read_text()))
    if stored != _canonical(config, data_fingerprint):
        raise _DamagedFile(path / CONFIG_NAME, "holds a different config than the one requested (a key collision "
                           "or a hand-edited entry)")
    if manifest is not None and [manifest.get("config"), manifest.get("data")] != [stored["config"], stored["data"]]:
        raise _DamagedFile(path / MANIFEST_NAME, f"was written for another config or data than {CONFIG_NAME}")
    state = _read(path / MODEL_NAME, load_tensors)
    codes = _read(path / CODES_NAME, _read_codes)
    history = _read(path / HISTORY_NAME, lambda file: json.loads(file.read_text()))
    model = build_model(config)
    _read(path / MODEL_NAME, lambda file: model.load_state_dict(state))
    if manifest is None:
        _add_manifest(path, stored)
    model.to(select_device(config.device, verbose=False)).eval()
    return TrainResult(model, codes["db_codes"], codes["db_indices"], codes["val_indices"], codes["db_labels"],
                       history, codes["best_iteration"], codes["best_val_map"], config, data_fingerprint)


def load_cached(config: TrainConfig, data_fingerprint: str, cache_dir=None) -> TrainResult | None:
    """The cached result of ``config`` trained on the data of ``data_fingerprint``, or None when absent or damaged
    (a damaged entry is moved aside with a warning naming the file); a stored config that differs is an error."""
    path = entry_dir(config, data_fingerprint, cache_dir)
    restore(path)
    if not path.exists():
        return None
    try:
        return _read_entry(path, config, data_fingerprint)
    except _DamagedFile as damaged:
        move_aside(path, str(damaged), "training again")
        return None


def _load_published(path: Path, config: TrainConfig, data_fingerprint: str) -> tuple[TrainResult | None, str]:
    """The entry at ``path`` read without the lock (publication is one step, so no half entry is ever seen), or
    None and why not: absent, or the damaged file (moved aside later, under the lock)."""
    if not path.is_dir():
        return None, "it is not in the cache"
    try:
        return _read_entry(path, config, data_fingerprint), ""
    except _DamagedFile as damaged:
        return None, str(damaged)


def _prepare_to_write(folder: Path, why: str) -> None:
    """Create the cache folder; a clear error when it cannot be written, saying why the entry was not loaded."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except (FileExistsError, NotADirectoryError) as error:
        in_the_way = next(p for p in (folder, *folder.parents) if p.exists() and not p.is_dir())
        raise NotADirectoryError(f"the model cache {folder} cannot be created: {in_the_way} is a file, not a folder; "
                                 "pass cache_dir= a folder path (created when missing) or point $A2LIB_CACHE at "
                                 "one") from error
    except PermissionError:
        writable = False
    if not writable:
        raise PermissionError(f"the model cache {folder} is not writable, and the entry this call needs cannot be "
                              f"loaded from it ({why}); point cache_dir= (or $A2LIB_CACHE) at a writable folder to "
                              "train it there, or train it where this cache is writable")


def write_result(result: TrainResult, path: Path, meta: dict, **extra_codes) -> Path:
    """The folder ``path`` holding ``meta`` as config.json, the model's state dict (model.pt), the database codes,
    indices, labels and best iteration plus ``extra_codes`` (db_codes.pt), the history and, last, the manifest of
    ``meta["config"]``, the data fingerprint and these files; written into a uniquely named temporary folder, then
    published in one step (``a2lib.atomic.publish_folder``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = unique_temporary(path)
    try:
        folder.mkdir()
        (folder / CONFIG_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True))
        torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, folder / MODEL_NAME)
        torch.save({"db_codes": result.db_codes.cpu(), "db_indices": result.db_indices,
                    "val_indices": result.val_indices, "db_labels": result.db_labels,
                    "best_iteration": result.best_iteration, "best_val_map": result.best_val_map, **extra_codes},
                   folder / CODES_NAME)
        write_history(result.history, folder / HISTORY_NAME)
        write_manifest(folder, meta["config"], result.data_fingerprint)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    publish_folder(folder, path)
    return path


def save_entry(result: TrainResult, cache_dir=None) -> Path:
    """Write ``result`` as the cache entry of its config and data fingerprint (``write_result``)."""
    if result.data_fingerprint is None:
        raise ValueError("the result has no data_fingerprint (it was not made by a2lib.train.train), so its cache "
                         "key is unknown; train it with train() or load_or_train()")
    path = entry_dir(result.config, result.data_fingerprint, cache_dir)
    return write_result(result, path, _canonical(result.config, result.data_fingerprint))


@contextmanager
def entry_lock(path: Path, verbose: bool = True):
    """Hold the exclusive lock of entry ``path`` (``<path>.lock``, module docstring) for the block; waits, saying so
    when ``verbose``, while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + LOCK_SUFFIX), "a") as handle:
        if fcntl is None:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"waiting for another process that is training cache entry {path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def monitor_sets(config: TrainConfig, root=None) -> dict[str, Dataset]:
    """The data set of each ``config.monitors`` entry: the training split with ``dataset_options`` overridden by the
    monitor's options (``load_dataset``'s loader)."""
    return {name: load(config.dataset, "train", root=str(root or folders.data_root()),
                       **{**config.dataset_options, **options}) for name, options in config.monitors.items()}


def load_or_train(config: TrainConfig, cache_dir=None, data_root=None, verbose: bool = True, retrain: bool = False,
                  dataset: Dataset | None = None, monitors: dict[str, Dataset] | None = None) -> TrainResult:
    """The trained model, learned database codes and history for ``config``: from the cache, else trained and cached.

    The dataset is ``dataset`` when given (any labelled dataset: ``config.dataset`` is then only a label), else
    ``a2lib.data.load(config.dataset, "train", root=data_root, **config.dataset_options)``; the entry is keyed by the
    config and the dataset's fingerprint (module docstring). The model is ``a2lib.models.build(config.model,
    config.bits, backbone=config.backbone, **config.model_options)`` seeded by ``config.seed``. ``retrain=True``
    ignores an existing entry and overwrites it. ``config.monitors`` data sets come from ``monitors=`` (needed with
    ``dataset=``) or are loaded like the training set (``monitor_sets``), and only when training.
    """
    if dataset is None:
        dataset = load_dataset(config, "train", data_root)
    elif data_root is not None:
        raise ValueError("pass either dataset= (the training set itself) or data_root= (where config.dataset is "
                         "loaded from), not both")
    elif config.monitors and monitors is None:
        raise ValueError(f"config.monitors names {sorted(config.monitors)}: with dataset= pass monitors={{name: "
                         "dataset}} too (the training items in each monitor's form)")
    data_fingerprint = fingerprint(dataset)
    entry = entry_dir(config, data_fingerprint, cache_dir)
    published, why = (None, "retrain=True") if retrain else _load_published(entry, config, data_fingerprint)
    if published is not None:
        if verbose:
            print(f"loaded {config.model} ({config.bits} bits) from cache {entry}")
        progress.report(config, progress.CACHED)
        return published
    _prepare_to_write(entry.parent, why)
    with entry_lock(entry, verbose):
        cached = None if retrain else load_cached(config, data_fingerprint, cache_dir)
        if cached is not None:
            if verbose:
                print(f"loaded {config.model} ({config.bits} bits) from cache {entry}")
            progress.report(config, progress.CACHED)
            return cached
        partial = entry.with_name(entry.name + PARTIAL_SUFFIX)
        if retrain:
            shutil.rmtree(partial, ignore_errors=True)
        if monitors is None:
            monitors = monitor_sets(config, data_root)
        result = train(build_model(config), dataset, config, checkpoint_dir=partial, verbose=verbose,
                       monitors=monitors)
        save_entry(result, cache_dir)
        shutil.rmtree(partial, ignore_errors=True)
    return result


__all__ = ["CACHE_FORMAT_VERSION", "build_model", "config_key", "entry_dir", "entry_key", "entry_lock",
           "load_cached", "load_dataset", "load_or_train", "monitor_sets", "save_entry", "write_result"]
