"""Training and the cache of trained models: ``TrainConfig`` -> ``train`` / ``load_or_train`` -> ``TrainResult``.

``config`` (what defines a run), ``trainer`` (outer iterations, validation, checkpoints), ``schemes`` (how each
model is trained: ADSH's learned codes, pairwise, or its own batch loss), ``checkpoint`` (exact resume), ``cache``
(entries keyed by the config and the training data's fingerprint, ``a2lib.data.identity``), ``progress`` (what is
training now, for ``a2lib run``). ``binary``, ``encode_dataset`` and ``map_dataset`` come from ``a2lib.inference``
and are re-exported so ``from a2lib.train import TrainConfig, load_or_train, binary, encode_dataset`` is the one
import a notebook needs. The README's "The pieces underneath" shows them in use.
"""
from ..inference import binary, encode_dataset, map_dataset
from .cache import (CACHE_FORMAT_VERSION, build_model, config_key, entry_dir, entry_key, load_cached, load_dataset,
                    load_or_train, monitor_sets, save_entry, write_result)
from .checkpoint import CHECKPOINT_NAME, HISTORY_NAME, cpu_state, restore_rng, rng_state, write_history
from .config import DB_CODES, MONITOR_PREFIX, OPTIMIZERS, RUNTIME_FIELDS, TrainConfig, TrainResult
from .trainer import Trainer, dataset_labels, split_validation, train

__all__ = [
    "CACHE_FORMAT_VERSION", "CHECKPOINT_NAME", "DB_CODES", "HISTORY_NAME", "MONITOR_PREFIX", "OPTIMIZERS",
    "RUNTIME_FIELDS", "TrainConfig", "TrainResult", "Trainer", "binary", "build_model", "config_key", "cpu_state",
    "dataset_labels", "encode_dataset", "entry_dir", "entry_key", "load_cached", "load_dataset", "load_or_train",
    "map_dataset", "monitor_sets", "restore_rng", "rng_state", "save_entry", "split_validation", "train",
    "write_history", "write_result",
]
