"""The trainer of every hashing model: outer iterations over sampled database items, each model trained by its scheme.

Each outer iteration (the paper's Sec. 3.3.3 and 4.2.2, "following ADSH"):
1. sample n_s database items Ω (seeded);
2. train the network on Ω for E inner epochs (SGD with momentum and weight decay, or Adam), each batch's loss given
   by the model's training scheme (``a2lib.train.schemes``: ADSH's objective against learned database codes B, a
   pairwise loss, or the model's own batch loss), batched as the scheme says (shuffled, or class-balanced);
3. the scheme's step after the outer iteration (for ADSH, the closed-form update of B).
The database is the training set minus a held-out validation part; every ``eval_every`` outer iterations (and after
the last) the validation queries are ranked against the scheme's database codes (the learned B, or the encoded
database: the sign of the network's encoding of the database items; ``TrainConfig.db_codes="encoded"`` asks for the
latter) with tie-aware mAP, and the state kept is the best on validation (never selected on the test set), a tie
going to the later iteration: where validation saturates (intact dominoes reach 1.000 early) every model alike
keeps its latest state of the best score rather than its earliest. ``TrainResult.db_codes`` are the scheme's
database codes with the kept state.

With ``TrainConfig.grad_diagnostic`` (default on), each outer iteration also records each loss term's gradient norm
and share on the shared trunk (``a2lib.diagnostics``) for one fixed batch, the first ``batch_size`` database items in
order, with the state the iteration ends with (after the scheme's step), and the scheme's own batch loss on them
(``Scheme.probe``). It is computed on a copy of the model in train mode, with the global random generators seeded
and restored around it (``a2lib.data.identity.isolated_rng``): no optimiser step, no draw from the trainer's
generators, no change to BatchNorm statistics, the scheme's state or other model state, so the weights and codes are
bit-identical with and without it.

With ``TrainConfig.monitors`` (learning dynamics), each validation step also ranks the validation items of every
monitor data set (the same items in another form: for dominoes, one block blanked or randomised) against the same
database codes as ``val_map`` and records ``monitor/<name>``; it reads no random number (``isolated_rng``) and changes
no model state (eval mode, no gradients), so training and selection are bit-identical with and without monitors.

``train`` checks that the config describes the model (``TrainConfig.check_model``), records the training set's
``a2lib.data.identity.fingerprint`` in the result and the checkpoint, and warns when ``val_fraction`` > 0 holds out
no item (validation is then off and the last iteration's state is kept).

A checkpoint (``a2lib.train.checkpoint``) after each outer iteration makes a killed run resume and finish exactly as
an uninterrupted one; it holds the scheme's state (B, or the pairwise scheme's memory) under ``"B"``. A checkpoint
that cannot be read is reported, moved aside and the run starts afresh. When ``$A2LIB_PROGRESS`` names a file, the
run's progress is rewritten there as it starts, after each outer iteration and as it ends (``a2lib.train.progress``,
shown by ``a2lib run``). ``a2lib.train.cache.load_or_train`` adds a content-addressed cache.
"""
from __future__ import annotations

import copy
import math
import os
import random
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..atomic import move_aside, save_atomic
from ..data.identity import fingerprint, isolated_rng
from ..device import select_device
from ..diagnostics import flatten, term_gradients, trunk_of
from ..evaluate import mean_average_precision
from ..inference import binary, encode_dataset
from ..safe_load import UnreadableFile, load_tensors
from ..speed import fused_optimizer_options
from . import progress
from .checkpoint import CHECKPOINT_NAME, HISTORY_NAME, cpu_state, restore_rng, rng_state, write_history
from .config import MONITOR_PREFIX, TrainConfig, TrainResult
from .runtime import resolve_runtime
from .schemes import build_scheme

Callback = Callable[[int, list[dict]], None]
CHECKPOINT_KEYS = ("config", "data_fingerprint", "iteration", "model", "optimizer", "B", "history", "elapsed_s",
                   "best", "rng")
MIN_DIAGNOSTIC_BATCH = 2
"""The gradient diagnostic needs a batch of at least two items (BatchNorm in train mode)."""


class _Positions(Dataset):
    """Items ``indices[p]`` of ``dataset`` as ``(image, label, p)``, the label taken from ``dataset.labels``."""

    def __init__(self, dataset: Dataset, indices: Tensor, labels: Tensor):
        self.dataset, self.indices, self.labels = dataset, indices, labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        index = int(self.indices[position])
        return self.dataset[index][0], self.labels[index], position


def dataset_labels(dataset: Dataset) -> Tensor:
    """``dataset.labels`` as LongTensor (N,) or FloatTensor (N, C); a clear error when missing."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError("the dataset has no .labels; use a2lib.data.load(...) or a2lib.data.ArrayDataset")
    labels = torch.as_tensor(labels)
    if len(labels) != len(dataset):
        raise ValueError(f"dataset.labels has {len(labels)} rows for {len(dataset)} items; give one label per item")
    return labels.float() if labels.dim() == 2 else labels.long()


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


def _check_finite(terms: dict[str, Tensor], total: Tensor, iteration: int) -> None:
    for name, value in {**terms, "total": total}.items():
        if not torch.isfinite(value.detach()).all():
            raise FloatingPointError(
                f"outer iteration {iteration}: loss term {name!r} is {float(value.detach())}; training stopped. "
                "Lower TrainConfig.lr or the term's weight, or check the inputs for NaN/inf"
            )


class Trainer:
    """State of one run: the pieces a checkpoint must hold to resume exactly (``train`` is the entry point)."""

    def __init__(self, model, dataset, config: TrainConfig, checkpoint_dir, verbose: bool,
                 monitors: dict[str, Dataset] | None = None):
        self.model, self.dataset, self.config, self.verbose = model, dataset, config, verbose
        self.monitors = check_monitor_sets(config, dataset, monitors)
        self.device = select_device(config.device, verbose=verbose)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        labels = dataset_labels(dataset)
        if len(dataset) == 0:
            raise ValueError("the training dataset is empty; pass a dataset with at least two items")
        config.check_model(model)
        self.data_fingerprint = fingerprint(dataset)
        _seed_everything(config.seed)
        self.db_indices, self.val_indices = split_validation(labels, config.val_fraction, config.seed)
        if len(self.db_indices) == 0:
            raise ValueError("no database items remain after the validation split; lower val_fraction")
        if config.val_fraction > 0 and len(self.val_indices) == 0:
            warnings.warn(f"TrainConfig.val_fraction={config.val_fraction} holds out no item of the {len(labels)} "
                          "training items (each class gives round(val_fraction x its size) items and keeps one in "
                          "the database), so validation is off and the last outer iteration's state is kept; raise "
                          "val_fraction, or set it to 0 to train without validation", stacklevel=3)
        self.labels = labels
        self.db_labels = labels[self.db_indices]
        self.runtime = resolve_runtime(config, self.device)  # bf16, channels_last, workers (a2lib.train.runtime)
        self.runtime.prepare_model(self.model)
        fused = fused_optimizer_options(config.optimizer, self.device)  # same update, one kernel (a2lib.speed)
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay, **fused)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                              **fused)
        self.sampler = np.random.default_rng(config.seed)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.scheme = build_scheme(model, config, self.db_labels, self.device)
        self.history: list[dict] = []
        self.start = 0
        self.elapsed_before = 0.0
        self.best = {"iteration": None, "val_map": None, "state": None, "B": None}
        self.probe = self.diagnostic_batch() if config.grad_diagnostic else None

    def diagnostic_batch(self) -> tuple[Tensor, Tensor] | None:
        """(images, labels) of the first ``batch_size`` database items in order, read with the global generators
        seeded by ``config.seed`` and restored; None when fewer than ``MIN_DIAGNOSTIC_BATCH`` items exist."""
        positions = self.db_indices[: self.config.batch_size]
        if len(positions) < MIN_DIAGNOSTIC_BATCH:
            return None
        with isolated_rng(self.config.seed):
            images = torch.stack([torch.as_tensor(self.dataset[int(i)][0]) for i in positions])
        return images.to(self.device), self.labels[positions].to(self.device)

    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir else None

    def read_checkpoint(self) -> dict | None:
        """The checkpoint in ``checkpoint_dir``, or None when there is none or it cannot be read (then it is moved
        aside with a warning naming it, and the run starts from the beginning)."""
        path = self.checkpoint_path()
        if path is None or not path.exists():
            return None
        try:
            saved = load_tensors(path)
            missing = sorted(set(CHECKPOINT_KEYS) - set(saved)) if isinstance(saved, dict) else list(CHECKPOINT_KEYS)
            if missing:
                raise KeyError(f"missing entries {', '.join(missing)}")
        except (UnreadableFile, KeyError) as error:
            move_aside(path, f"checkpoint {path} cannot be read ({type(error).__name__}: {error})",
                       "training from the first outer iteration")
            return None
        return saved

    def resume(self) -> None:
        """Continue from the checkpoint in ``checkpoint_dir`` when there is one (written for the same config and
        data)."""
        saved = self.read_checkpoint()
        if saved is None:
            return
        if saved["config"] != self.config.key_dict():
            raise ValueError(f"the checkpoint in {self.checkpoint_dir} was written for a different TrainConfig; "
                             "use another checkpoint_dir or delete that folder")
        if saved["data_fingerprint"] != self.data_fingerprint:
            raise ValueError(f"the checkpoint in {self.checkpoint_dir} was written for another training set (its "
                             "data fingerprint differs); use another checkpoint_dir or delete that folder")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheme.load_state(saved["B"])
        self.history, self.start = saved["history"], saved["iteration"]
        self.elapsed_before = saved["elapsed_s"]
        self.best = saved["best"]
        restore_rng(saved["rng"], self.sampler, self.shuffle)

    def save(self, iteration: int, elapsed: float) -> None:
        """The checkpoint after outer iteration ``iteration`` and ``history.json`` next to it."""
        path = self.checkpoint_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic({"config": self.config.key_dict(), "data_fingerprint": self.data_fingerprint,
                     "iteration": iteration, "model": cpu_state(self.model),
                     "optimizer": self.optimizer.state_dict(),
                     "B": self.scheme.state(), "history": self.history,
                     "elapsed_s": elapsed, "best": self.best,
                     "rng": rng_state(self.sampler, self.shuffle)}, path)
        write_history(self.history, path.parent / HISTORY_NAME)

    def loader(self, omega: Tensor) -> DataLoader:
        """Batches of (image, label, position in Ω) over the sampled items: as the scheme batches them
        (``Scheme.batch_sampler``), else shuffled."""
        cfg = self.config
        items = _Positions(self.dataset, self.db_indices[omega], self.labels)
        batches = self.scheme.batch_sampler(self.db_labels[omega], self.shuffle)
        if batches is not None:
            return DataLoader(items, batch_sampler=batches, **self.runtime.loader_options())
        singleton_tail = len(omega) % cfg.batch_size == 1  # a batch of one breaks BatchNorm in train mode
        return DataLoader(items, batch_size=cfg.batch_size, shuffle=True, generator=self.shuffle,
                          drop_last=singleton_tail and len(omega) > 1, **self.runtime.loader_options())

    def lr_at(self, iteration: int) -> float:
        decay = self.config.lr_decay_factor if iteration >= self.config.lr_decay_at else 1.0
        return self.config.lr * decay

    def outer_iteration(self, t: int) -> dict:
        """Steps 1-3 of the module docstring for outer iteration ``t`` (0-based); returns its history record."""
        cfg, model = self.config, self.model
        n_db = len(self.db_indices)
        omega = torch.from_numpy(np.sort(self.sampler.choice(n_db, size=min(cfg.n_samples, n_db), replace=False)))
        self.scheme.begin_outer_iteration(omega)
        loader = self.loader(omega)
        lr = self.lr_at(t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.prepare_outer_iteration(t, loader, self.device, cfg.outer_iterations)
        model.train()
        sums: dict[str, float] = {}
        batches = 0
        for _ in range(cfg.inner_epochs):
            for images, labels, positions in loader:
                images = self.runtime.images(images)
                labels, positions = labels.to(self.device), positions.to(self.device)
                out = self.runtime.forward(model, images, labels)
                total, terms = self.scheme.batch_loss(model, out, images, labels, positions)
                _check_finite(terms, total, t + 1)
                self.optimizer.zero_grad(set_to_none=True)
                total.backward()
                self.optimizer.step()
                for name, value in {"loss": total, **terms}.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach())
                batches += 1
        self.scheme.end_outer_iteration()
        return {"iteration": t + 1, "lr": lr, **{name: value / batches for name, value in sums.items()}}

    def gradient_diagnostic(self) -> dict[str, float]:
        """``grad_norm/<term>`` and ``grad_share/<term>`` on the trunk (every parameter for a model without one) for
        the fixed batch, computed on a copy of the model in train mode (module docstring: training is unchanged).
        Shares are None (JSON null) when every term's gradient is zero (a saturated tanh, say)."""
        cfg = self.config
        images, labels = self.probe
        model = copy.deepcopy(self.model).train()
        try:
            parameters = list(trunk_of(model).parameters())
        except ValueError:
            parameters = list(model.parameters())
        with isolated_rng(cfg.seed):
            out = model(images, labels)
            positions = torch.arange(len(images), device=self.device)
            _, terms = self.scheme.probe(len(images)).batch_loss(model, out, images, labels, positions)
            report = term_gradients({name: value for name, value in terms.items() if value.requires_grad}, parameters)
        return {key: None if math.isnan(value) else value for key, value in flatten(report).items()}

    def encoded_database(self) -> Tensor:
        """+-1 codes of the database items by the current network."""
        codes = encode_dataset(self.model, self.dataset, self.config.eval_batch_size, self.device, self.db_indices)
        return binary(codes, "encoded database codes")

    def validate(self) -> tuple[float, Tensor]:
        """(validation mAP, the database codes it ranked against: the scheme's, or with ``db_codes="encoded"`` the
        encoded database)."""
        cfg = self.config
        queries = encode_dataset(self.model, self.dataset, cfg.eval_batch_size, self.device, self.val_indices)
        q = binary(queries, "validation query codes")
        encoded = self.encoded_database
        db = self.scheme.database_codes(encoded) if cfg.db_codes == "learned" else encoded()
        return mean_average_precision(q, db, self.labels[self.val_indices], self.db_labels), db

    def monitor(self, db: Tensor) -> dict[str, float]:
        """``monitor/<name>``: validation mAP of each monitor data set's validation items against ``db``, read with
        the global generators isolated (module docstring)."""
        cfg, record = self.config, {}
        with isolated_rng(cfg.seed):
            for name, data in self.monitors.items():
                codes = encode_dataset(self.model, data, cfg.eval_batch_size, self.device, self.val_indices)
                record[MONITOR_PREFIX + name] = mean_average_precision(
                    binary(codes, f"monitor {name!r} query codes"), db, self.labels[self.val_indices],
                    self.db_labels)
        return record

    def run(self, callback: Callback | None) -> TrainResult:
        """Resume when a checkpoint exists, train the remaining outer iterations, return the kept model."""
        cfg = self.config
        self.resume()
        session_start, elapsed = time.perf_counter(), self.elapsed_before
        progress.report(cfg, progress.TRAINING, self.start, elapsed)
        bar = tqdm(range(self.start, cfg.outer_iterations), total=cfg.outer_iterations, initial=self.start,
                   desc=f"{cfg.model} {cfg.bits} bits", disable=not self.verbose, unit="outer")
        for t in bar:
            record = self.outer_iteration(t)
            if self.probe is not None:
                record.update(self.gradient_diagnostic())
            last = t + 1 == cfg.outer_iterations
            if len(self.val_indices) and ((t + 1) % cfg.eval_every == 0 or last):
                record["val_map"], db = self.validate()
                record.update(self.monitor(db))
                if self.best["val_map"] is None or record["val_map"] >= self.best["val_map"]:
                    self.best = {"iteration": t + 1, "val_map": record["val_map"], "state": cpu_state(self.model),
                                 "B": self.scheme.database_codes(lambda: db)}
            elapsed = self.elapsed_before + time.perf_counter() - session_start
            record["elapsed_s"] = elapsed
            self.history.append(record)
            self.save(t + 1, elapsed)
            progress.report(cfg, progress.TRAINING, t + 1, elapsed)
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                             if k not in ("iteration", "lr") and not k.startswith("grad_")})
            if callback is not None:
                callback(t + 1, self.history)
        bar.close()
        progress.report(cfg, progress.TRAINED, cfg.outer_iterations, elapsed)
        return self.result()

    def result(self) -> TrainResult:
        """The best-on-validation state (the last one without validation) in eval mode, with its database codes."""
        if self.best["state"] is not None:
            self.model.load_state_dict(self.best["state"])
            codes = self.best["B"]
        else:
            codes = self.scheme.database_codes(self.encoded_database)
        self.model.eval()
        return TrainResult(self.model, codes.float(), self.db_indices, self.val_indices, self.db_labels,
                           self.history, self.best["iteration"], self.best["val_map"], self.config,
                           self.data_fingerprint)


def check_monitor_sets(config: TrainConfig, dataset: Dataset,
                       monitors: dict[str, Dataset] | None) -> dict[str, Dataset]:
    """The monitor data sets of ``config.monitors``, checked: one per name, each as long as the training set and with
    the same labels (the same items in another form); a clear error otherwise."""
    monitors = dict(monitors or {})
    if set(monitors) != set(config.monitors):
        raise ValueError(f"TrainConfig.monitors names {sorted(config.monitors)} but monitor data sets were given for "
                         f"{sorted(monitors)}; pass monitors={{name: dataset}} for exactly the config's names "
                         "(load_or_train builds them from the config)")
    labels = dataset_labels(dataset)
    for name, data in monitors.items():
        if len(data) != len(dataset) or not torch.equal(dataset_labels(data), labels):
            raise ValueError(f"monitor data set {name!r} must hold the training set's items in another form (same "
                             f"length and labels); got {len(data)} items for {len(dataset)}, or other labels")
    return {name: monitors[name] for name in sorted(monitors)}


def train(model: torch.nn.Module, dataset: Dataset, config: TrainConfig | None = None,
          checkpoint_dir: str | os.PathLike | None = None, verbose: bool = True,
          callback: Callback | None = None, monitors: dict[str, Dataset] | None = None) -> TrainResult:
    """Train ``model`` on ``dataset`` (its training split) with the scheme it declares (``a2lib.train.schemes``); see
    the module docstring.

    ``config`` must describe ``model`` (``model``, ``bits``, ``backbone``, ``model_options``; a contradiction, defaults
    included, is an error naming the field): build the model from the config (``a2lib.train.build_model``) or the
    config from the model (``TrainConfig.for_model(model, **fields)``, also what ``config=None`` means).

    ``checkpoint_dir``: a checkpoint (and history.json) is written there after every outer iteration, and a run
    finding one there resumes from it (the config must match). ``callback(iteration, history)`` runs after each
    outer iteration's checkpoint. ``monitors``: ``{name: dataset}`` for each name of ``config.monitors`` (the
    training items in another form, ``check_monitor_sets``). Returns the best-on-validation model (eval mode) and
    its database codes.
    """
    config = config or TrainConfig.for_model(model)
    return Trainer(model, dataset, config, checkpoint_dir, verbose, monitors).run(callback)


__all__ = ["Trainer", "check_monitor_sets", "dataset_labels", "split_validation", "train"]
