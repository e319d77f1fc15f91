"""What defines a trained model (``TrainConfig``) and what training returns (``TrainResult``).

``TrainConfig.key_dict()`` (every field but the runtime ones) is what the cache key (``a2lib.train.cache``) and the
checkpoint check (``a2lib.train.trainer``) compare, so two configs that train the same model share one entry.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..inference import binary, encode_dataset
from ..losses import LossWeights

DB_CODES = ("learned", "encoded")
"""Database codes for evaluation: the learned B (paper protocol, default) or the network's encoding (out-of-sample)."""
OPTIMIZERS = ("sgd", "adam")
"""``sgd`` (the paper's: momentum, weight decay) or ``adam`` (the CPU profiles: learns from scratch in few steps)."""
RUNTIME_FIELDS = ("device", "num_workers")
"""TrainConfig fields that do not change what is trained; left out of cache keys and checkpoint checks."""
POSITIVE_INT_FIELDS = ("bits", "outer_iterations", "n_samples", "inner_epochs", "batch_size", "eval_every",
                       "eval_batch_size", "dcc_sweeps")


@dataclass
class TrainConfig:
    """Everything that defines a trained model; defaults are the paper's ``full`` values (Sec. 4.2.2).

    outer_iterations T_max = 60 and lr_decay_at = 50 (the paper uses 70 / 60 for training sets over 20,000 images);
    n_samples n_s = 2,000 (4,000 for NABirds/VegFru); inner_epochs E = 3 (ADSH); batch 16; SGD momentum 0.9,
    weight decay 1e-4; lr 2.5e-4 as in the fine-grained ADSH code family (not stated in the paper; profiles override).
    ``lr_decay_at`` is the 0-based outer iteration from which lr is multiplied by ``lr_decay_factor``.
    ``optimizer``: "sgd" (the paper's) or "adam" (used by the short CPU profiles; momentum is then unused).
    ``val_fraction`` of the training set is held out (stratified by class for single-label data) for model selection;
    0 disables validation (the last iteration is kept). ``db_codes``: database codes used for validation
    (models without learned codes always use their encoded database).
    ``device`` and ``num_workers`` are runtime choices and not part of the cache key.
    """

    dataset: str = "synth-birds"
    dataset_options: dict = field(default_factory=dict)
    model: str = "a2net"
    model_options: dict = field(default_factory=dict)
    bits: int = 48
    backbone: str = "resnet50"
    loss_weights: LossWeights = field(default_factory=LossWeights)
    outer_iterations: int = 60
    n_samples: int = 2000
    inner_epochs: int = 3
    batch_size: int = 16
    lr: float = 2.5e-4
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_decay_at: int = 50
    optimizer: str = "sgd"
    lr_decay_factor: float = 0.1
    similarity_reweight: bool = True
    dcc_sweeps: int = 1
    val_fraction: float = 0.1
    eval_every: int = 5
    eval_batch_size: int = 64
    db_codes: str = "learned"
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0

    def __post_init__(self):
        if isinstance(self.loss_weights, dict):
            self.loss_weights = LossWeights(**self.loss_weights)
        for name in POSITIVE_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must lie in [0, 1), got {self.val_fraction}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.db_codes not in DB_CODES:
            raise ValueError(f"TrainConfig.db_codes must be one of {', '.join(DB_CODES)}, got {self.db_codes!r}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")

    def to_dict(self) -> dict:
        """JSON-able dict of every field (LossWeights as a nested dict)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """The config of ``to_dict()``'s output (or a profile block); unknown fields are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {', '.join(sorted(names))}")
        return cls(**copy.deepcopy(values))

    def key_dict(self) -> dict:
        """The fields that define the result (all but the runtime ones), for cache keys and resume checks."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}


@dataclass
class TrainResult:
    """A trained model with its learned database codes.

    db_codes: (N_db, k) float32 +-1, the learned B of the database items ``db_indices`` (training split minus the
    validation items ``val_indices``); for methods without learned database codes (``model.asymmetric`` False), B is
    the encoded database, the sign of the kept model's encoding of those items. db_labels: their labels.
    history: one dict per outer iteration (``iteration`` 1-based, ``lr``, ``loss`` and each term's batch mean,
    ``val_map`` when evaluated, ``elapsed_s``).
    """

    model: torch.nn.Module
    db_codes: Tensor
    db_indices: Tensor
    val_indices: Tensor
    db_labels: Tensor
    history: list[dict]
    best_iteration: int | None
    best_val_map: float | None
    config: TrainConfig

    def database_codes(self, dataset: Dataset | None = None, which: str | None = None,
                       device: str | torch.device | None = None) -> Tensor:
        """+-1 database codes: ``which="learned"`` (B, the paper protocol; default = config.db_codes) or
        ``"encoded"`` (sign of the network's encoding of the database images; needs ``dataset``, the training split).
        """
        which = which or self.config.db_codes
        if which not in DB_CODES:
            raise ValueError(f"which must be one of {', '.join(DB_CODES)}, got {which!r}")
        if which == "learned":
            return self.db_codes
        if dataset is None:
            raise ValueError("encoded database codes need the training dataset: pass dataset=<the train split>")
        codes = encode_dataset(self.model, dataset, self.config.eval_batch_size, device, self.db_indices)
        return binary(codes, "encoded database codes")


__all__ = ["DB_CODES", "OPTIMIZERS", "RUNTIME_FIELDS", "TrainConfig", "TrainResult"]
