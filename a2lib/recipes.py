"""Named training recipes: the backbone, model options and training numbers to start from, as documented data.

``paper`` is the paper's setting (ResNet-50, SGD, the ``TrainConfig`` defaults of Sec. 4.2.2) for a GPU. ``quick``
trains from scratch on a CPU in minutes (small backbone, Adam, 12 short outer iterations) and is the one to start
from on new images without a GPU; the workbook's fine-grained notebooks use it; what it sets per method (the
attention parts' normalisation, ExchNet's and A²-Net++'s learning rate) was chosen on validation mAP by
``benchmarks/recipe_search.py``, the same number of trials for every method of Table 2. ``quick-dominoes`` is notebook 01's
CPU setting for the 3×64×32 dominoes (bigger batches, fewer outer iterations). ``smoke`` exercises every code path
in seconds (CI); its numbers mean nothing. The profiles name these recipes instead of restating them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """A backbone, per-method model options and ``TrainConfig`` fields (the rest keep their defaults);
    ``method_train_options`` holds the ``TrainConfig`` fields that one method sets otherwise (over
    ``train_options``)."""

    name: str
    description: str
    backbone: str
    train_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    method_train_options: dict = field(default_factory=dict)

    def options_for(self, method: str) -> dict:
        """A copy of this recipe's model options for ``method`` (empty for methods it does not set)."""
        return copy.deepcopy(self.model_options.get(method, {}))

    def train_options_for(self, method: str) -> dict:
        """A copy of this recipe's training options for ``method``: the shared ones with the method's own over them."""
        return copy.deepcopy({**self.train_options, **self.method_train_options.get(method, {})})


_CPU_ATTENTION = {"num_maps": 12, "balance_parts": True, "normalize_parts": True}
"""12 attention maps at every code length (paper: one per bit) and balanced parts, so the attention branch learns
from random initialisation on a CPU (measured in ``A2NetConfig``'s docstring; not searched); the parts
L2-normalised, chosen on validation mAP over two seeds by ``benchmarks/recipe_search.py`` (its table,
``benchmarks/recipe_search.md``: four trials per method, learning rate × this switch, at 48 bits)."""

_SEARCHED_TRAIN_OPTIONS = {"exchnet": {"lr": 0.001}, "a2net++": {"lr": 0.001}}
"""The learning rates ``benchmarks/recipe_search.py`` chose on validation mAP (two seeds, four trials per method:
learning rate × the method's own switch); BASELINE and A²-Net keep the shared 0.002, which their searches chose."""

RECIPES = {
    "paper": Recipe(
        "paper", "the paper's setting for a GPU: ResNet-50 (ImageNet weights), SGD, 60 outer iterations",
        backbone="resnet50"),
    "quick": Recipe(
        "quick", "CPU, from scratch, minutes: small backbone, Adam lr 0.002, 12 outer iterations x 1,000 samples",
        backbone="small",
        train_options={"outer_iterations": 12, "n_samples": 1000, "inner_epochs": 2, "batch_size": 16, "lr": 0.002,
                       "optimizer": "adam", "lr_decay_at": 10, "eval_every": 4, "val_fraction": 0.1},
        model_options={"a2net": dict(_CPU_ATTENTION),
                       "a2net++": {**_CPU_ATTENTION, "decoder_channels": 64, "code_dim": 256,
                                   "decoder_downsample": 2}},
        method_train_options=_SEARCHED_TRAIN_OPTIONS),
    "quick-dominoes": Recipe(
        "quick-dominoes", "CPU setting of the simplicity-bias study: batch 32, 8 outer iterations x 1,000 samples, "
        "validation after each (learning curves)",
        backbone="small",
        train_options={"outer_iterations": 8, "n_samples": 1000, "inner_epochs": 3, "batch_size": 32, "lr": 0.002,
                       "optimizer": "adam", "lr_decay_at": 6, "eval_every": 1, "val_fraction": 0.1},
        model_options={"a2net": {"num_maps": 12},
                       "a2net++": {"decoder_channels": 64, "code_dim": 256, "num_maps": 12,
                                   "decoder_downsample": 2}}),
    "smoke": Recipe(
        "smoke", "every code path in seconds (CI); the numbers mean nothing",
        backbone="small",
        train_options={"outer_iterations": 2, "n_samples": 64, "inner_epochs": 1, "batch_size": 32, "lr": 0.01,
                       "lr_decay_at": 1, "eval_every": 1, "val_fraction": 0.1},
        model_options={"a2net": {"balance_parts": True},
                       "a2net++": {"decoder_channels": 32, "code_dim": 64, "balance_parts": True,
                                   "decoder_downsample": 2}}),
}


def get(name: str | Recipe) -> Recipe:
    """The recipe called ``name`` (a ``Recipe`` passes through); an unknown name lists the valid ones."""
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


__all__ = ["RECIPES", "Recipe", "get"]
