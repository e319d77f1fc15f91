"""The asymmetric (ADSH-style) trainer of Eq. (13)/(15): database codes B, sampled queries, closed-form B updates.

Each outer iteration (ADSH, Jiang & Li AAAI 2018; the paper trains "following ADSH", Sec. 3.3.3 and 4.2.2):
1. sample n_s database items Ω (seeded) and build S between them and the whole database (ADSH reweighting);
2. train the network on Ω for E inner epochs with ``a2lib.losses.objective`` (SGD, momentum, weight decay),
   storing each item's tanh output U as in ADSH's code (the value seen in the item's last batch);
3. update B bit by bit in closed form (``a2lib.dcc``).
The database is the training set minus a held-out validation part; every ``eval_every`` outer iterations (and after
the last) the validation queries are ranked against the database with tie-aware mAP, and the state kept is the best on
validation (never selected on the test set).

Models with ``asymmetric = False`` (DPSH, HashNet, CSQ, OrthoCos: ``a2lib.models.deep_hashing``) bring their own batch
loss: step 2 uses ``model.loss(out, labels)`` instead of the objective, and step 3 does not happen. For methods without
learned database codes, B is the encoded database: the sign of the network's encoding of the database items (with the
current state for validation, with the kept state in ``TrainResult.db_codes``). Models with ``memory_bank`` (DPSH)
get, during training, the latest outputs of every database item (zero until first seen), updated batch by batch.

A checkpoint after each outer iteration makes a killed run resume and finish exactly as an uninterrupted one.
``load_or_train`` (in ``a2lib.cache``) adds a content-addressed cache.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .dcc import dcc_update, gamma_ratio
from .device import select_device
from .evaluate import mean_average_precision
from .losses import LossWeights, objective
from .similarity import similarity

DB_CODES = ("learned", "encoded")
"""Database codes for evaluation: the learned B (paper protocol, default) or the network's encoding (out-of-sample)."""
OPTIMIZERS = ("sgd", "adam")
"""``sgd`` (the paper's: momentum, weight decay) or ``adam`` (the CPU profiles: learns from scratch in few steps)."""
CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
RUNTIME_FIELDS = ("device", "num_workers")
"""TrainConfig fields that do not change what is trained; left out of cache keys and checkpoint checks."""


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
        for name in ("bits", "outer_iterations", "n_samples", "inner_epochs", "batch_size", "eval_every",
                     "eval_batch_size", "dcc_sweeps"):
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
        return binary(codes)


class _Positions(Dataset):
    """Items ``indices[p]`` of ``dataset`` as ``(image, label, p)``, the label taken from ``dataset.labels``."""

    def __init__(self, dataset: Dataset, indices: Tensor, labels: Tensor):
        self.dataset, self.indices, self.labels = dataset, indices, labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        index = int(self.indices[position])
        return self.dataset[index][0], self.labels[index], position


def binary(codes: Tensor) -> Tensor:
    """+-1 float codes (``x >= 0 -> +1``)."""
    return torch.where(codes >= 0, 1.0, -1.0)


def dataset_labels(dataset: Dataset) -> Tensor:
    """``dataset.labels`` as LongTensor (N,) or FloatTensor (N, C); a clear error when missing."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError("the dataset has no .labels; use a2lib.data.load(...) or a2lib.data.ArrayDataset")
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError(f"dataset.labels has {len(labels)} rows for {len(dataset)} items; give one label per item")
    return labels.float() if labels.dim() == 2 else labels.long()


@torch.no_grad()
def map_dataset(model: torch.nn.Module, dataset: Dataset, fn: Callable[[torch.nn.Module, Tensor], Tensor],
                batch_size: int = 64, device: str | torch.device | None = None,
                indices: Tensor | None = None) -> list[Tensor]:
    """``fn(model, images)`` for each batch of ``dataset`` (or its ``indices``) in order, as float32 CPU tensors; in
    eval mode and without gradients, the model's mode restored afterwards."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    indices = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices)
    loader = DataLoader(_Positions(dataset, indices, torch.zeros(len(dataset))), batch_size=batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    try:
        return [fn(model, images.to(device)).float().cpu() for images, _, _ in loader]
    finally:
        model.train(was_training)


def encode_dataset(model: torch.nn.Module, dataset: Dataset, batch_size: int = 64,
                   device: str | torch.device | None = None, indices: Tensor | None = None) -> Tensor:
    """tanh codes (n, k) on the CPU for ``dataset`` (or its ``indices``), in eval mode and without gradients."""
    codes = map_dataset(model, dataset, lambda net, images: net.encode(images), batch_size, device, indices)
    return torch.cat(codes) if codes else torch.zeros(0, model.bits)


def split_validation(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(database indices, validation indices), sorted; stratified per class for single-label data (seeded).

    Each class gives round(fraction * size) items, keeping at least one in the database; multi-label data is split
    uniformly at random.
    """
    n = len(labels)
    if fraction == 0:
        return torch.arange(n), torch.zeros(0, dtype=torch.long)
    rng = np.random.default_rng(seed)
    if labels.dim() == 1:
        label_array = labels.numpy()
        val = []
        for cls in np.unique(label_array):
            members = np.flatnonzero(label_array == cls)
            take = min(int(round(fraction * len(members))), len(members) - 1)
            val.extend(rng.permutation(members)[:take].tolist())
        val = np.array(sorted(val), dtype=np.int64)
    else:
        val = np.sort(rng.permutation(n)[: int(round(fraction * n))])
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return torch.from_numpy(np.flatnonzero(mask)), torch.from_numpy(val)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state(sampler: np.random.Generator, shuffle: torch.Generator) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "sampler": sampler.bit_generator.state, "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, sampler: np.random.Generator, shuffle: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    sampler.bit_generator.state = state["sampler"]
    shuffle.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_history(history: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(history, indent=1))
    os.replace(tmp, path)


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _check_finite(terms: dict[str, Tensor], total: Tensor, iteration: int) -> None:
    for name, value in {**terms, "total": total}.items():
        if not torch.isfinite(value.detach()).all():
            raise FloatingPointError(
                f"outer iteration {iteration}: loss term {name!r} is {float(value.detach())}; training stopped. "
                "Lower TrainConfig.lr or the term's weight, or check the inputs for NaN/inf"
            )


class _Trainer:
    """State of one run: the pieces a checkpoint must hold to resume exactly."""

    def __init__(self, model, dataset, config: TrainConfig, checkpoint_dir, verbose: bool):
        self.model, self.dataset, self.config, self.verbose = model, dataset, config, verbose
        self.device = select_device(config.device, verbose=verbose)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        labels = dataset_labels(dataset)
        if len(dataset) == 0:
            raise ValueError("the training dataset is empty; pass a dataset with at least two items")
        if getattr(model, "bits", config.bits) != config.bits:
            raise ValueError(f"the model makes {model.bits}-bit codes but TrainConfig.bits is {config.bits}; "
                             "build the model with the same number of bits")
        _seed_everything(config.seed)
        self.db_indices, self.val_indices = split_validation(labels, config.val_fraction, config.seed)
        if len(self.db_indices) == 0:
            raise ValueError("no database items remain after the validation split; lower val_fraction")
        self.labels = labels
        self.db_labels = labels[self.db_indices]
        self.model.to(self.device)
        self.asymmetric = getattr(model, "asymmetric", True)
        if not self.asymmetric and not callable(getattr(model, "loss", None)):
            raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} is not asymmetric and has no "
                             "loss(out, labels) method; give it one or set asymmetric = True")
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.sampler = np.random.default_rng(config.seed)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.B = None  # no learned database codes: B is the encoded database (module docstring)
        if self.asymmetric:
            init = torch.Generator().manual_seed(config.seed)
            self.B = binary(torch.rand(len(self.db_indices), config.bits, generator=init) - 0.5).to(self.device)
        elif getattr(model, "memory_bank", False):
            self.B = torch.zeros(len(self.db_indices), config.bits, device=self.device)
            self.memory_labels = self.db_labels.to(self.device)
        self.history: list[dict] = []
        self.start = 0
        self.elapsed_before = 0.0
        self.best = {"iteration": None, "val_map": None, "state": None, "B": None}

    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir else None

    def resume(self) -> None:
        path = self.checkpoint_path()
        if path is None or not path.exists():
            return
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["config"] != self.config.key_dict():
            raise ValueError(f"the checkpoint in {self.checkpoint_dir} was written for a different TrainConfig; "
                             "use another checkpoint_dir or delete that folder")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.B = saved["B"].to(self.device) if saved["B"] is not None else None
        self.history, self.start = saved["history"], saved["iteration"]
        self.elapsed_before = saved["elapsed_s"]
        self.best = saved["best"]
        _restore_rng(saved["rng"], self.sampler, self.shuffle)

    def save(self, iteration: int, elapsed: float) -> None:
        path = self.checkpoint_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomic({"config": self.config.key_dict(), "iteration": iteration, "model": _cpu_state(self.model),
                      "optimizer": self.optimizer.state_dict(),
                      "B": self.B.cpu() if self.B is not None else None, "history": self.history,
                      "elapsed_s": elapsed, "best": self.best,
                      "rng": _rng_state(self.sampler, self.shuffle)}, path)
        write_history(self.history, path.parent / HISTORY_NAME)

    def lr_at(self, iteration: int) -> float:
        decay = self.config.lr_decay_factor if iteration >= self.config.lr_decay_at else 1.0
        return self.config.lr * decay

    def outer_iteration(self, t: int) -> dict:
        cfg, model = self.config, self.model
        n_db = len(self.db_indices)
        omega = torch.from_numpy(np.sort(self.sampler.choice(n_db, size=min(cfg.n_samples, n_db), replace=False)))
        if self.asymmetric:
            S = similarity(self.db_labels[omega], self.db_labels, cfg.similarity_reweight).to(self.device)
        omega_dev = omega.to(self.device)
        singleton_tail = len(omega) % cfg.batch_size == 1  # a batch of one breaks BatchNorm in train mode
        loader = DataLoader(_Positions(self.dataset, self.db_indices[omega], self.labels), batch_size=cfg.batch_size,
                            shuffle=True, generator=self.shuffle, num_workers=cfg.num_workers,
                            drop_last=singleton_tail and len(omega) > 1)
        lr = self.lr_at(t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.prepare_outer_iteration(t, loader, self.device)  # ExchNet: class anchors over (image, label, _) batches
        model.train()
        U = torch.zeros(len(omega), cfg.bits, device=self.device)
        sums: dict[str, float] = {}
        batches = 0
        for _ in range(cfg.inner_epochs):
            for images, labels, positions in loader:
                images, labels, positions = images.to(self.device), labels.to(self.device), positions.to(self.device)
                out = model(images, labels)
                if self.asymmetric:
                    total, terms = objective(out, images, S[positions], self.B, self.B[omega_dev[positions]],
                                             cfg.loss_weights, labels=labels)
                elif self.B is not None:
                    self.B[omega_dev[positions]] = out.codes.detach().float()
                    total, terms = model.loss(out, labels, self.B, self.memory_labels)
                else:
                    total, terms = model.loss(out, labels)
                _check_finite(terms, total, t + 1)
                self.optimizer.zero_grad(set_to_none=True)
                total.backward()
                self.optimizer.step()
                U[positions] = out.codes.detach().float()
                for name, value in {"loss": total, **terms}.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach())
                batches += 1
        if self.asymmetric:
            w = cfg.loss_weights.resolve(cfg.batch_size, cfg.bits, n_db)
            ratio = gamma_ratio(w["beta"], w["gamma"], n_db)
            self.B = dcc_update(self.B, U, S, omega_dev, ratio, cfg.dcc_sweeps)
        return {"iteration": t + 1, "lr": lr, **{name: value / batches for name, value in sums.items()}}

    def encoded_database(self) -> Tensor:
        return binary(encode_dataset(self.model, self.dataset, self.config.eval_batch_size, self.device,
                                     self.db_indices))

    def validate(self) -> tuple[float, Tensor]:
        """(validation mAP, the database codes it ranked against: B, or the encoded database)."""
        cfg = self.config
        q = binary(encode_dataset(self.model, self.dataset, cfg.eval_batch_size, self.device, self.val_indices))
        db = self.B.cpu() if self.asymmetric and cfg.db_codes == "learned" else self.encoded_database()
        return mean_average_precision(q, db, self.labels[self.val_indices], self.db_labels), db

    def run(self, callback: Callable[[int, list[dict]], None] | None) -> TrainResult:
        from tqdm.auto import tqdm

        cfg = self.config
        self.resume()
        session_start = time.perf_counter()
        bar = tqdm(range(self.start, cfg.outer_iterations), total=cfg.outer_iterations, initial=self.start,
                   desc=f"{cfg.model} {cfg.bits} bits", disable=not self.verbose, unit="outer")
        for t in bar:
            record = self.outer_iteration(t)
            last = t + 1 == cfg.outer_iterations
            if len(self.val_indices) and ((t + 1) % cfg.eval_every == 0 or last):
                record["val_map"], db = self.validate()
                if self.best["val_map"] is None or record["val_map"] > self.best["val_map"]:
                    self.best = {"iteration": t + 1, "val_map": record["val_map"], "state": _cpu_state(self.model),
                                 "B": self.B.cpu().clone() if self.asymmetric else db}
            elapsed = self.elapsed_before + time.perf_counter() - session_start
            record["elapsed_s"] = elapsed
            self.history.append(record)
            self.save(t + 1, elapsed)
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k not in ("iteration", "lr")})
            if callback is not None:
                callback(t + 1, self.history)
        bar.close()
        return self.result()

    def result(self) -> TrainResult:
        if self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
            codes = self.best["B"]
        else:
            codes = self.B.cpu() if self.asymmetric else self.encoded_database()
        self.model.eval()
        return TrainResult(self.model, codes.float(), self.db_indices, self.val_indices, self.db_labels,
                           self.history, self.best["iteration"], self.best["val_map"], self.config)


def train(model: torch.nn.Module, dataset: Dataset, config: TrainConfig | None = None,
          checkpoint_dir: str | os.PathLike | None = None, verbose: bool = True,
          callback: Callable[[int, list[dict]], None] | None = None) -> TrainResult:
    """Train ``model`` on ``dataset`` (its training split) with the asymmetric scheme, or with ``model.loss`` for
    models with ``asymmetric = False``; see the module docstring.

    ``checkpoint_dir``: a checkpoint (and history.json) is written there after every outer iteration, and a run
    finding one there resumes from it (the config must match). ``callback(iteration, history)`` runs after each
    outer iteration's checkpoint. Returns the best-on-validation model (eval mode) and its database codes.
    """
    config = config or TrainConfig()
    return _Trainer(model, dataset, config, checkpoint_dir, verbose).run(callback)


def load_or_train(config: TrainConfig, cache_dir=None, **kwargs) -> TrainResult:
    """``a2lib.cache.load_or_train``: the cached result for ``config`` or a freshly trained (and cached) one."""
    from .cache import load_or_train as cached

    return cached(config, cache_dir=cache_dir, **kwargs)


__all__ = ["DB_CODES", "TrainConfig", "TrainResult", "binary", "dataset_labels", "encode_dataset", "load_or_train",
           "map_dataset", "split_validation", "train", "write_history"]
