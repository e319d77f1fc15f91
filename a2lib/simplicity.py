"""The simplicity-bias study (paper Sec. 3.4.1, Table 1, Figure 4): dominoes test variants and activation per block.

A model trained on dominoes (simple block on top, complex block below) is tested on the intact images and on images
where only one block carries the label (the other blanked or drawn from another class). Grad-CAM of the whole code
then says how much of the model's attention lands on the complex block.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .data import load
from .evaluate import mean_average_precision
from .explain import activation_share, grad_cam
from .train import TrainResult, binary, encode_dataset

TEST_SETS = (
    ("both", "randomised"),
    ("simple-only", "randomised"),
    ("complex-only", "randomised"),
    ("simple-only", "blanked"),
    ("complex-only", "blanked"),
)
"""Table 1's test data: intact dominoes, then each block alone with the other randomised or blanked."""
BLOCKS = ("simple", "complex")
_PAPER_MAP = {  # paper Table 1, % mAP on real MNIST-CIFAR with ResNet-32: (BASELINE, A²-Net, A²-Net++) per bits
    "MNIST-CIFAR": {12: (99.69, 99.70, 99.70), 24: (99.68, 99.71, 99.73), 32: (99.71, 99.71, 99.72),
                    48: (99.73, 99.74, 99.75)},
    "MNIST-only": {12: (99.55, 99.58, 99.52), 24: (99.60, 99.64, 99.59), 32: (99.36, 99.37, 99.32),
                   48: (99.52, 99.52, 99.51)},
    "CIFAR-only": {12: (21.05, 21.23, 24.50), 24: (21.33, 22.06, 25.67), 32: (21.66, 22.67, 26.40),
                   48: (21.33, 23.54, 29.40)},
}
PAPER_TABLE1 = [
    {"test data": test, "bits": bits, "baseline": row[0], "a2net": row[1], "a2net++": row[2]}
    for test, by_bits in _PAPER_MAP.items() for bits, row in by_bits.items()
]
"""The paper's Table 1 as records (% mAP), for showing beside the ``full`` profile's numbers."""
CAM_BATCH = 32


def test_set_name(variant: str, flavour: str) -> str:
    """Row label of Table 1: ``both`` or e.g. ``complex-only (randomised)``."""
    return variant if variant == "both" else f"{variant} ({flavour})"


def variant_maps(result: TrainResult, dataset: str, options: dict, device: str | torch.device = "cpu",
                 batch_size: int = 128) -> dict[str, float]:
    """Tie-aware mAP of ``result`` on every test set of ``TEST_SETS`` against its learned database codes."""
    database = result.database_codes()
    scores = {}
    for variant, flavour in TEST_SETS:
        test = load(dataset, "test", variant=variant, flavour=flavour, **options)
        queries = binary(encode_dataset(result.model, test, batch_size, device))
        scores[test_set_name(variant, flavour)] = mean_average_precision(
            queries, database, test.labels, result.db_labels
        )
    return scores


def block_masks(n: int, height: int, width: int, block: str) -> np.ndarray:
    """(n, height, width) masks of one dominoes block: ``simple`` is the top half, ``complex`` the bottom half."""
    if block not in BLOCKS:
        raise ValueError(f"unknown block {block!r}; choose one of {', '.join(BLOCKS)}")
    masks = np.zeros((n, height, width), dtype=bool)
    half = height // 2
    masks[:, :half] = block == "simple"
    masks[:, half:] = block == "complex"
    return masks


def block_share(model: torch.nn.Module, images: Tensor, block: str = "complex",
                device: str | torch.device = "cpu") -> np.ndarray:
    """Per image, the share of the whole-code Grad-CAM mass that falls on ``block`` (Figure 4, measured)."""
    model = model.to(device)
    maps = np.concatenate([grad_cam(model, images[i:i + CAM_BATCH].to(device))
                           for i in range(0, len(images), CAM_BATCH)])
    return activation_share(maps, block_masks(len(images), *images.shape[-2:], block))


def bias_numbers(on_dominoes: dict[str, float], on_reference: dict[str, float]) -> dict[str, float]:
    """The three simplicity-bias numbers of a model type (DESIGN §3, issue 3's targets), from ``variant_maps`` outputs.

    (a) the model trained on the complex block alone (``on_reference``) tested on the complex block alone (blanked);
    (b) / (c) the model trained on dominoes (``on_dominoes``) tested on the simple / complex block alone
    (randomised); and (c)/(a).
    """
    a = on_reference["complex-only (blanked)"]
    b = on_dominoes["simple-only (randomised)"]
    c = on_dominoes["complex-only (randomised)"]
    return {"a": a, "b": b, "c": c, "c_over_a": c / a}


PAPER_TEST_NAMES = {"both": "MNIST-CIFAR", "simple-only (blanked)": "MNIST-only", "complex-only (blanked)": "CIFAR-only"}
"""Our test sets that match the paper's Table 1 rows (its *-only* sets remove the other block: our *blanked*)."""


def with_paper(table: "pd.DataFrame") -> "pd.DataFrame":
    """Table 1 in % mAP with the paper's numbers and the difference beside ours, on the rows the paper has.

    ``table``: index (test data, bits), one column per method, mAP as fractions (as notebook 01 builds it).
    """
    import pandas as pd

    paper = {(r["test data"], r["bits"]): r for r in PAPER_TABLE1}
    rows = []
    for (test, bits), ours in table.iterrows():
        reference = paper.get((PAPER_TEST_NAMES.get(test), bits))
        if reference is None:
            continue
        for method, value in ours.items():
            theirs = reference.get(method)
            rows.append({"test data": test, "bits": bits, "method": method, "ours %": 100 * value,
                         "paper %": theirs, "difference": None if theirs is None else 100 * value - theirs})
    return pd.DataFrame(rows, columns=["test data", "bits", "method", "ours %", "paper %", "difference"])
