"""A reference remedy for the simplicity bias: last-layer re-training (Kirichenko et al., ICLR 2023, "Last Layer
Re-Training is Sufficient for Robustness to Spurious Correlations").

Their finding: a network trained on data with a shortcut often still holds the core feature in its penultimate layer;
re-fitting only the last layer on a small held-out set where the shortcut does not predict the label (their DFR)
recovers much of the accuracy on shortcut-free data. Here, for a trained BASELINE (trunk -> GAP -> hash layer ->
tanh): everything below the hash layer stays frozen (eval mode, so BatchNorm statistics too); its features of the
held-out items are computed once; the hash layer is re-fitted on them with ADSH's asymmetric loss with learned
codes, as the model's own scheme (``a2lib.losses.objective``: β·mean (u_i^T b_j - k S_ij)^2 + γ ||u_i - b_i||^2,
Eq. 11/13 without the reconstruction terms), for a few outer iterations, each ending with ADSH's closed-form update
of the codes B (``a2lib.dcc``). B covers the result's database items (started from its learned codes) and the
held-out items (the queries Ω of every outer iteration); the database codes of the re-fitted result are B on the
database items, so it is evaluated exactly as the original (learned database codes).

On dominoes the held-out items are the training split's validation items (never trained on; the trainer used them
only to pick the kept outer iteration) with their simple block drawn from a random other class (``REFIT_DATA``),
so only the complex block carries the label. Unlike DFR the loss is a hashing loss, not logistic regression, and
the features are not standardised.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..checks import BOOL, NON_NEGATIVE_INT, NON_NEGATIVE_NUMBER, POSITIVE_INT, POSITIVE_NUMBER
from ..dcc import dcc_update
from ..fields import check_fields, declare, declared
from ..inference import DEFAULT_BATCH, binary, map_dataset
from ..losses import LossWeights, objective
from ..models import HashOutput
from ..similarity import similarity
from ..train import TrainResult, dataset_labels
from .setup import Study
from .simplicity import MONITORS, over_seeds, variant_maps

REMEDY_METHOD = "baseline-llr"
"""The method name of the re-fitted BASELINE in Table 1 rows (last-layer re-training)."""
REFERENCE_METHOD = "baseline"
REFIT_DATA = {"variant": "complex-only", "flavour": "randomised"}
"""Data set options that turn dominoes items into the held-out form: the simple block from a random other class."""
FEATURE_TOLERANCE = 1e-4
"""How closely the hash layer applied to the model's ``features`` must give its ``pre_codes`` (the layer is last)."""


@declared
@dataclass
class RefitConfig:
    """How the hash layer is re-fitted: ``outer_iterations`` of ``epochs`` Adam epochs over the held-out features
    (batches of ``batch_size``, learning rate ``lr``, ``weight_decay``), each followed by the update of B;
    ``from_scratch`` re-initialises the layer first (DFR trains a new last layer), else it starts from the
    trained one; ``seed`` seeds the initialisation and the batch order."""

    outer_iterations: int = declare(POSITIVE_INT, 5)
    epochs: int = declare(POSITIVE_INT, 20)
    batch_size: int = declare(POSITIVE_INT, 64)
    lr: float = declare(POSITIVE_NUMBER, 0.01)
    weight_decay: float = declare(NON_NEGATIVE_NUMBER, 0.0)
    from_scratch: bool = declare(BOOL, True)
    seed: int = declare(NON_NEGATIVE_INT, 0)

    def __post_init__(self):
        check_fields(self, "RefitConfig")


def hash_layer_of(model: nn.Module) -> nn.Linear:
    """The model's last layer, ``model.hash_layer`` (an ``nn.Linear``), or a ValueError saying which models have it."""
    layer = getattr(model, "hash_layer", None)
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} has no linear hash_layer to re-fit; "
                         "last-layer re-training needs a BASELINE-like model (trunk -> features -> hash_layer)")
    return layer


def frozen_features(model: nn.Module, dataset: Dataset, indices=None, batch_size: int = DEFAULT_BATCH,
                    device=None) -> Tensor:
    """(n, d) inputs of the hash layer for ``dataset`` (or its ``indices``), in eval mode without gradients; a
    ValueError when the hash layer applied to them does not give the model's ``pre_codes`` (it is not the last)."""
    layer = hash_layer_of(model)

    def features(net, images):
        out = net(images)
        if out.features is None or out.pre_codes is None or not torch.allclose(
                layer(out.features), out.pre_codes, atol=FEATURE_TOLERANCE):
            raise ValueError(f"model {getattr(net, 'name', type(net).__name__)!r}: hash_layer(features) is not its "
                             "pre_codes, so the hash layer is not the last layer on the features; last-layer "
                             "re-training needs a BASELINE-like model")
        return out.features

    return torch.cat(map_dataset(model, dataset, features, batch_size, device, indices))


def _check_refit(features: Tensor, labels: Tensor, db_codes: Tensor, db_labels: Tensor, bits: int) -> None:
    if features.dim() != 2 or len(features) == 0:
        raise ValueError(f"held-out features must be a non-empty (n, d) matrix, got {tuple(features.shape)}; pass "
                         "the held-out items (e.g. the result's validation items, val_fraction > 0)")
    if len(labels) != len(features):
        raise ValueError(f"{len(labels)} held-out labels for {len(features)} held-out items; give one label per item")
    if db_codes.dim() != 2 or db_codes.shape[1] != bits or len(db_codes) != len(db_labels):
        raise ValueError(f"database codes must be (N, {bits}) with one label each, got {tuple(db_codes.shape)} for "
                         f"{len(db_labels)} labels")
    if labels.dim() != db_labels.dim():
        raise ValueError("held-out and database labels must both be class indices or both multi-hot")


def refit_last_layer(layer: nn.Linear, features: Tensor, labels: Tensor, db_codes: Tensor, db_labels: Tensor,
                     config: RefitConfig | None = None, weights: LossWeights | None = None) -> tuple[nn.Linear, Tensor]:
    """(re-fitted copy of ``layer``, its learned database codes): ADSH's asymmetric objective (Eq. 11/13 hashing and
    quantisation terms, ``weights``) with the held-out items as queries over B = database items + held-out items
    (module docstring); ``layer`` itself is left unchanged."""
    config, weights = config or RefitConfig(), weights or LossWeights()
    bits = layer.out_features
    features, db_codes = features.float(), binary(db_codes, "database codes")
    _check_refit(features, labels, db_codes, db_labels, bits)
    layer = copy.deepcopy(layer).cpu().float()
    generator = torch.Generator().manual_seed(config.seed)
    if config.from_scratch:
        with torch.random.fork_rng():
            torch.manual_seed(config.seed)
            layer.reset_parameters()
    with torch.no_grad():
        start = binary(torch.tanh(layer(features)), "held-out codes")
    B = torch.cat([db_codes, start])
    omega = torch.arange(len(db_codes), len(B))
    S = similarity(labels, torch.cat([db_labels, labels]))
    optimizer = torch.optim.Adam(layer.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gamma = weights.dcc_gamma(bits, len(B))
    for _ in range(config.outer_iterations):
        for _ in range(config.epochs):
            for batch in torch.randperm(len(features), generator=generator).split(config.batch_size):
                out = HashOutput(codes=torch.tanh(layer(features[batch])))
                total, _ = objective(out, None, S[batch], B, B[omega[batch]], weights)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
        with torch.no_grad():
            B = dcc_update(B, torch.tanh(layer(features)), S, omega, gamma)
    return layer, B[: len(db_codes)].float()


def retrain_last_layer(result: TrainResult, dataset: Dataset, indices=None, config: RefitConfig | None = None,
                       device=None, batch_size: int = DEFAULT_BATCH) -> TrainResult:
    """A copy of ``result`` whose hash layer and learned database codes are re-fitted on the held-out items
    ``dataset[indices]`` (all of it without ``indices``), every other parameter and buffer unchanged."""
    labels = dataset_labels(dataset)
    indices = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices).long()
    if len(indices) == 0:
        raise ValueError("no held-out items to re-fit the hash layer on: the result has no validation items "
                         "(val_fraction=0) or indices is empty; pass the indices of a held-out set")
    model = copy.deepcopy(result.model)
    layer = hash_layer_of(model)
    features = frozen_features(model, dataset, indices, batch_size, device)
    fitted, db_codes = refit_last_layer(layer, features, labels[indices], result.database_codes(), result.db_labels,
                                        config, result.config.loss_weights)
    layer.load_state_dict(fitted.state_dict())
    model.eval()
    return dataclasses.replace(result, model=model, db_codes=db_codes, history=[], best_iteration=None,
                               best_val_map=None)


def refit_items(study: Study, result: TrainResult) -> tuple[Dataset, Tensor]:
    """(the study's training split with the simple block randomised, ``REFIT_DATA``; the result's validation
    indices): the held-out set of the remedy."""
    return study.load("train", **REFIT_DATA), result.val_indices


def remedy_of(study: Study, baselines: Mapping[int, TrainResult], bits: int, device="cpu",
              config: RefitConfig | None = None) -> dict[tuple, list[float]]:
    """``{(REMEDY_METHOD, bits, test): [mAP per seed]}`` (``simplicity.over_seeds``' structure, Table 1's test sets,
    the seeds in the order of ``baselines``) for already trained BASELINEs ``{seed: result}`` (e.g. notebook 01's
    Table 1 runs, so nothing is trained or loaded again), each re-fitted by ``retrain_last_layer`` on its held-out
    items (``refit_items``) with ``config`` seeded by its seed; a ValueError for a result that is not a BASELINE of
    ``bits``."""
    scores = {}
    for seed, baseline in baselines.items():
        if baseline.config.model != REFERENCE_METHOD or baseline.config.bits != bits:
            raise ValueError(f"seed {seed}: last-layer re-training takes the {REFERENCE_METHOD!r} models of {bits} "
                             f"bits, got {baseline.config.model!r} at {baseline.config.bits} bits")
        dataset, indices = refit_items(study, baseline)
        refit = retrain_last_layer(baseline, dataset, indices, dataclasses.replace(config or RefitConfig(), seed=seed),
                                   device)
        scores[(REMEDY_METHOD, bits, seed)] = variant_maps(refit, study, device)
    return over_seeds(scores)


def remedy_over_seeds(study: Study, bits: int, seeds, device="cpu", config: RefitConfig | None = None,
                      variant: str = "both", monitors: dict | None = None) -> dict[tuple, list[float]]:
    """``remedy_of`` for the BASELINE of each seed, trained or loaded from the model cache as notebook 01 trains it
    (``variant``, ``monitors``)."""
    monitors = MONITORS if monitors is None else monitors
    baselines = {seed: study.train(REFERENCE_METHOD, bits, seed=seed, variant=variant, monitors=monitors)
                 for seed in seeds}
    return remedy_of(study, baselines, bits, device, config)


__all__ = ["REFIT_DATA", "REMEDY_METHOD", "RefitConfig", "frozen_features", "hash_layer_of", "remedy_of",
           "remedy_over_seeds", "refit_items", "refit_last_layer", "retrain_last_layer"]
