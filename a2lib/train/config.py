"""What defines a trained model (``TrainConfig``) and what training returns (``TrainResult``).

``TrainConfig.key_dict()`` (every field but the runtime ones) is what the cache key (``a2lib.train.cache``) and the
checkpoint check (``a2lib.train.trainer``) compare, so two configs that train the same model share one entry.
Every field is checked on construction (type, finite, range), each error naming the field.

The model fields (``model``, ``bits``, ``backbone``, ``model_options``) describe the model trained: ``train`` refuses a
model they contradict (defaults included) and ``TrainConfig.for_model(model, **fields)`` builds the config that
describes a given model truthfully.
"""
from __future__ import annotations

import copy
import dataclasses
import numbers
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..checks import check_int, check_number
from ..inference import binary, encode_dataset
from ..jsonable import jsonable
from ..losses import LossWeights
from .runtime import AUTO, check_runtime_fields

DB_CODES = ("learned", "encoded")
"""Database codes for evaluation: the learned B (paper protocol, default) or the network's encoding (out-of-sample)."""
OPTIMIZERS = ("sgd", "adam")
"""``sgd`` (the paper's: momentum, weight decay) or ``adam`` (the CPU profiles: learns from scratch in few steps)."""
RUNTIME_FIELDS = ("device", "num_workers", "grad_diagnostic", "precision", "channels_last", "cudnn_benchmark")
"""TrainConfig fields that do not change what is trained (only speed and rounding: ``a2lib.train.runtime``); left
out of cache keys and checkpoint checks."""
POSITIVE_INT_FIELDS = ("bits", "outer_iterations", "n_samples", "inner_epochs", "batch_size", "eval_every",
                       "eval_batch_size", "dcc_sweeps")
NON_NEGATIVE_INT_FIELDS = ("lr_decay_at", "seed")
"""``seed`` seeds numpy's generator, which takes no negative seed; ``lr_decay_at`` 0 decays from the start."""
POSITIVE_NUMBER_FIELDS = ("lr", "lr_decay_factor")
NON_NEGATIVE_NUMBER_FIELDS = ("momentum", "weight_decay")
TEXT_FIELDS = ("dataset", "model", "backbone", "device")
BOOL_FIELDS = ("similarity_reweight", "grad_diagnostic")
MONITOR_PREFIX = "monitor/"
"""History key prefix of a monitor's validation mAP (``TrainConfig.monitors``)."""
MODEL_FIELDS = ("bits", "backbone")
"""Model config fields that are TrainConfig fields of their own; every other one belongs in ``model_options``."""


def check_monitors(monitors) -> None:
    """Refuse ``TrainConfig.monitors`` that is not a dict of non-empty names to dicts of data set options."""
    if not isinstance(monitors, dict) or not all(isinstance(name, str) and name and isinstance(options, dict)
                                                 for name, options in monitors.items()):
        raise ValueError("TrainConfig.monitors must map a name to a dict of data set options overriding "
                         "dataset_options, e.g. {'complex-only (blanked)': {'variant': 'complex-only', "
                         f"'flavour': 'blanked'}}; got {monitors!r}")


def _field_defaults(config) -> dict:
    """The JSON-able default of each field of a config dataclass that has one."""
    defaults = {}
    for item in dataclasses.fields(config):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = jsonable(item.default)
        elif item.default_factory is not dataclasses.MISSING:
            defaults[item.name] = jsonable(item.default_factory())
    return defaults


def _model_identity(model) -> tuple[str | None, dict | None]:
    """(the model's registry name, its config dataclass as a JSON-able dict) where the model exposes them."""
    config = getattr(model, "config", None)
    options = jsonable(dataclasses.asdict(config)) if dataclasses.is_dataclass(config) else None
    return getattr(model, "name", None), options


@dataclass
class TrainConfig:
    """Everything that defines a trained model; defaults are the paper's ``full`` values (Sec. 4.2.2).

    outer_iterations T_max = 60 and lr_decay_at = 50 (the paper uses 70 / 60 for training sets over 20,000 images);
    n_samples n_s = 2,000 (4,000 for NABirds/VegFru); inner_epochs E = 20 (Sec. 4.2.2: "the total number of training
    epochs is 20", read as epochs over each outer iteration's n_s samples; ADSH's code uses 3); batch 16; SGD
    momentum 0.9, weight decay 1e-4; lr 2.5e-4 as in the fine-grained ADSH code family (not stated in the paper; profiles override).
    ``lr_decay_at`` is the 0-based outer iteration from which lr is multiplied by ``lr_decay_factor``.
    ``optimizer``: "sgd" (the paper's) or "adam" (used by the short CPU profiles; momentum is then unused).
    ``val_fraction`` of the training set is held out (stratified by class for single-label data) for model selection;
    0 disables validation (the last iteration is kept); a positive fraction that holds out no item (classes too small
    for round(fraction x size) >= 1) trains without validation too, with a warning saying so. ``db_codes``: database
    codes used for validation (models without learned codes always use their encoded database).
    ``grad_diagnostic``: record each loss term's gradient norm and share on the trunk per outer iteration
    (``a2lib.train.trainer``; it does not change training).
    ``monitors``: name -> data set options that override ``dataset_options`` to give the same items in another form
    (e.g. ``{"variant": "complex-only", "flavour": "blanked"}`` for dominoes); at each validation step the
    validation items of each are ranked against the same database codes, recorded as ``monitor/<name>`` in the
    history (learning dynamics; training is unchanged). Part of the cache key when not empty.
    ``device``, ``grad_diagnostic`` and the GPU-efficiency fields ``precision`` ("auto" | "bf16" | "fp32": bf16
    autocast of the forward pass), ``channels_last``, ``num_workers`` (DataLoader workers, with pinned memory and
    persistent workers on CUDA) and ``cudnn_benchmark`` are runtime choices and not part of the cache key; "auto"
    means on with CUDA, off on a CPU (``a2lib.train.runtime``).
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
    inner_epochs: int = 20
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
    monitors: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    num_workers: int | str = AUTO
    grad_diagnostic: bool = True
    precision: str = AUTO
    channels_last: bool | str = AUTO
    cudnn_benchmark: bool | str = AUTO

    def __post_init__(self):
        if isinstance(self.loss_weights, dict):
            self.loss_weights = LossWeights(**self.loss_weights)
        for name in POSITIVE_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        for name in NON_NEGATIVE_INT_FIELDS:
            if check_int(f"TrainConfig.{name}", getattr(self, name)) < 0:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in POSITIVE_NUMBER_FIELDS:
            check_number(f"TrainConfig.{name}", getattr(self, name), positive=True)
        for name in NON_NEGATIVE_NUMBER_FIELDS:
            check_number(f"TrainConfig.{name}", getattr(self, name))
        for name, value in self.loss_weights.numbers().items():
            if value is not None:
                check_number(f"TrainConfig.loss_weights.{name}", value)
        fraction = self.val_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be a number in [0, 1), got {fraction!r}")
        for name in TEXT_FIELDS:
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"TrainConfig.{name} must be a non-empty string, got {getattr(self, name)!r}")
        for name in BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("dataset_options", "model_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"TrainConfig.{name} must be a dict, got {getattr(self, name)!r}")
        check_monitors(self.monitors)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.db_codes not in DB_CODES:
            raise ValueError(f"TrainConfig.db_codes must be one of {', '.join(DB_CODES)}, got {self.db_codes!r}")
        check_runtime_fields(self.precision, self.channels_last, self.num_workers, self.cudnn_benchmark)

    @classmethod
    def for_model(cls, model: torch.nn.Module, **fields) -> "TrainConfig":
        """The config whose model fields describe ``model`` truthfully: ``model`` its name, ``bits``, ``backbone``
        and ``model_options`` (its config's fields that differ from their defaults) read from it; ``fields`` set
        the rest (a model field given there must agree with the model, as ``train`` checks)."""
        name, options = _model_identity(model)
        described = {"model": name} if name is not None else {}
        if hasattr(model, "bits"):
            described["bits"] = int(model.bits)
        if options is not None:
            defaults = _field_defaults(model.config)
            described["backbone"] = options["backbone"]
            described["model_options"] = {k: v for k, v in options.items()
                                          if k not in MODEL_FIELDS and v != defaults.get(k)}
        config = cls(**{**described, **fields})
        config.check_model(model)
        return config

    def check_model(self, model: torch.nn.Module) -> None:
        """Raise a ValueError naming the field when ``model`` is not the one ``model``, ``bits``, ``backbone`` and
        ``model_options`` describe (what ``a2lib.models.build`` would make of them); what a model does not expose
        (a name, a config dataclass) is not checked."""
        fix = "; build the model from the config or describe it with TrainConfig.for_model(model, ...)"
        name, options = _model_identity(model)
        if name is not None and name != self.model:
            raise ValueError(f"TrainConfig.model is {self.model!r} but the model is {name!r}{fix}")
        if getattr(model, "bits", self.bits) != self.bits:
            raise ValueError(f"the model makes {model.bits}-bit codes but TrainConfig.bits is {self.bits}{fix}")
        if options is None:
            return
        if options["backbone"] != self.backbone:
            raise ValueError(f"TrainConfig.backbone is {self.backbone!r} but the model was built with backbone "
                             f"{options['backbone']!r}{fix}")
        try:
            expected = jsonable(dataclasses.asdict(type(model.config)(bits=self.bits, backbone=self.backbone,
                                                                        **self.model_options)))
        except TypeError as error:
            raise ValueError(f"TrainConfig.model_options {self.model_options} do not fit model {name!r} "
                             f"({error}){fix}") from None
        for key in sorted(set(expected) | set(options)):
            if expected.get(key) != options.get(key):
                given = "sets" if key in self.model_options else "leaves at its default"
                raise ValueError(f"TrainConfig.model_options {given} {key}={expected.get(key)!r} but the model was "
                                 f"built with {key}={options.get(key)!r}{fix}")

    def to_dict(self) -> dict:
        """JSON-able dict of every field (LossWeights as a nested dict)."""
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """The config of ``to_dict()``'s output (or a profile block); unknown fields are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {', '.join(sorted(names))}")
        return cls(**copy.deepcopy(values))

    def key_dict(self) -> dict:
        """The fields that define the result (all but the runtime ones), for cache keys and resume checks; no
        ``monitors`` entry when there are none, so configs without monitors keep the keys they had before it."""
        return {k: v for k, v in self.to_dict().items()
                if k not in RUNTIME_FIELDS and not (k == "monitors" and not v)}


@dataclass
class TrainResult:
    """A trained model with its learned database codes.

    db_codes: (N_db, k) float32 +-1, the learned B of the database items ``db_indices`` (training split minus the
    validation items ``val_indices``); for methods without learned database codes (``model.asymmetric`` False), B is
    the encoded database, the sign of the kept model's encoding of those items. db_labels: their labels.
    history: one dict per outer iteration (``iteration`` 1-based, ``lr``, ``loss`` and each term's batch mean,
    ``val_map`` and each monitor's ``monitor/<name>`` when evaluated, ``elapsed_s``, and with ``grad_diagnostic``
    each term's ``grad_norm/<term>`` and ``grad_share/<term>`` on the shared trunk, ``a2lib.diagnostics``).
    data_fingerprint: ``a2lib.data.identity.fingerprint`` of the training set it was trained on (None for a result
    not made by ``train``).
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
    data_fingerprint: str | None = None

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


__all__ = ["DB_CODES", "MONITOR_PREFIX", "OPTIMIZERS", "check_monitors", "RUNTIME_FIELDS", "TrainConfig", "TrainResult"]
