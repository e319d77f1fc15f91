"""What defines a trained model (``TrainConfig``) and what training returns (``TrainResult``).

``TrainConfig.key_dict()`` (every field but the runtime ones) is what the cache key (``a2lib.train.cache``) and the
checkpoint check (``a2lib.train.trainer``) compare, so two configs that train the same model share one entry.
Each field declares beside it what it accepts and whether it is a runtime field (``a2lib.fields.declare``); every
field is checked on construction (type, finite, range), each error naming the field, and a field that declares
nothing stops the import.

The model fields (``model``, ``bits``, ``backbone``, ``model_options``) describe the model trained: ``train`` refuses a
model they contradict (defaults included) and ``TrainConfig.for_model(model, **fields)`` builds the config that
describes a given model truthfully.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..checks import (BOOL, DICT, NON_NEGATIVE_INT, NON_NEGATIVE_NUMBER, POSITIVE_INT, POSITIVE_NUMBER, TEXT,
                      Constraint, one_of, options_of, real)
from ..fields import check_fields, declare, declared, runtime_fields
from ..inference import binary, encode_dataset
from ..jsonable import jsonable
from ..losses import LossWeights
from .runtime import AUTO, PRECISION, SWITCH, WORKERS

DB_CODES = ("learned", "encoded")
"""Database codes for evaluation: the learned B (paper protocol, default) or the network's encoding (out-of-sample)."""
OPTIMIZERS = ("sgd", "adam")
"""``sgd`` (the paper's: momentum, weight decay) or ``adam`` (the CPU profiles: learns from scratch in few steps)."""
MONITOR_PREFIX = "monitor/"
"""History key prefix of a monitor's validation mAP (``TrainConfig.monitors``)."""
MODEL_FIELDS = ("bits", "backbone")
"""Model config fields that are TrainConfig fields of their own; every other one belongs in ``model_options``."""
MONITORS = Constraint(
    "a dict that maps a name to a dict of data set options overriding dataset_options, e.g. "
    "{'complex-only (blanked)': {'variant': 'complex-only', 'flavour': 'blanked'}}",
    lambda monitors: isinstance(monitors, dict) and all(isinstance(name, str) and name and isinstance(options, dict)
                                                        for name, options in monitors.items()))
LOSS_WEIGHTS = Constraint("a LossWeights or a dict of its fields", lambda weights: isinstance(weights, LossWeights))
VAL_FRACTION = real(0, 1, high_open=True)


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


@declared
@dataclass
class TrainConfig:
    """Everything that defines a trained model; defaults are the paper's ``full`` values (Sec. 4.2.2).

    outer_iterations T_max = 60 and lr_decay_at = 50 (the paper uses 70 / 60 for training sets over 20,000 images);
    n_samples n_s = 2,000 (4,000 for NABirds/VegFru); inner_epochs E = 20 (Sec. 4.2.2: "the total number of training
    epochs is 20", read as epochs over each outer iteration's n_s samples; ADSH's code uses 3); batch 16; SGD
    momentum 0.9, weight decay 1e-4; lr 2.5e-4 as in the fine-grained ADSH code family (not stated in the paper; profiles override).
    ``lr_decay_at`` is the 0-based outer iteration from which lr is multiplied by ``lr_decay_factor`` (0: from the
    start). ``seed`` is >= 0: it seeds numpy's generator, which takes no negative seed.
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

    dataset: str = declare(TEXT, "synth-birds")
    dataset_options: dict = declare(DICT, factory=dict)
    model: str = declare(TEXT, "a2net")
    model_options: dict = declare(DICT, factory=dict)
    bits: int = declare(POSITIVE_INT, 48)
    backbone: str = declare(TEXT, "resnet50")
    loss_weights: LossWeights = declare(LOSS_WEIGHTS, factory=LossWeights)
    outer_iterations: int = declare(POSITIVE_INT, 60)
    n_samples: int = declare(POSITIVE_INT, 2000)
    inner_epochs: int = declare(POSITIVE_INT, 20)
    batch_size: int = declare(POSITIVE_INT, 16)
    lr: float = declare(POSITIVE_NUMBER, 2.5e-4)
    momentum: float = declare(NON_NEGATIVE_NUMBER, 0.9)
    weight_decay: float = declare(NON_NEGATIVE_NUMBER, 1e-4)
    lr_decay_at: int = declare(NON_NEGATIVE_INT, 50)
    optimizer: str = declare(one_of(OPTIMIZERS), "sgd")
    lr_decay_factor: float = declare(POSITIVE_NUMBER, 0.1)
    similarity_reweight: bool = declare(BOOL, True)
    dcc_sweeps: int = declare(POSITIVE_INT, 1)
    val_fraction: float = declare(VAL_FRACTION, 0.1)
    eval_every: int = declare(POSITIVE_INT, 5)
    eval_batch_size: int = declare(POSITIVE_INT, 64)
    db_codes: str = declare(one_of(DB_CODES), "learned")
    monitors: dict = declare(MONITORS, factory=dict)
    seed: int = declare(NON_NEGATIVE_INT, 0)
    device: str = declare(TEXT, "auto", runtime=True)
    num_workers: int | str = declare(WORKERS, AUTO, runtime=True)
    grad_diagnostic: bool = declare(BOOL, True, runtime=True)
    precision: str = declare(PRECISION, AUTO, runtime=True)
    channels_last: bool | str = declare(SWITCH, AUTO, runtime=True)
    cudnn_benchmark: bool | str = declare(SWITCH, AUTO, runtime=True)

    def __post_init__(self):
        if isinstance(self.loss_weights, dict):
            self.loss_weights = options_of(LossWeights, self.loss_weights, "TrainConfig.loss_weights")
        check_fields(self, "TrainConfig")

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
        runtime = runtime_fields(type(self))
        return {k: v for k, v in self.to_dict().items() if k not in runtime and not (k == "monitors" and not v)}


@dataclass
class TrainResult:
    """A trained model with its learned database codes.

    db_codes: (N_db, k) float32 +-1, the learned B of the database items ``db_indices`` (training split minus the
    validation items ``val_indices``); for methods without learned database codes (``model.scheme`` other than
    ``"asymmetric"``, ``a2lib.train.schemes``), B is the encoded database, the sign of the kept model's encoding of
    those items. db_labels: their labels.
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


RUNTIME_FIELDS = runtime_fields(TrainConfig)
"""TrainConfig fields that do not change what is trained (only speed and rounding: ``a2lib.train.runtime``); left
out of cache keys and checkpoint checks. Derived from the fields' declarations."""


__all__ = ["DB_CODES", "MONITOR_PREFIX", "OPTIMIZERS", "RUNTIME_FIELDS", "TrainConfig", "TrainResult"]
