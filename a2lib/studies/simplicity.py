"""The simplicity-bias study (paper Sec. 3.4.1, Table 1, Figure 4): dominoes test variants and activation per block.

A model trained on dominoes (simple block on top, complex block below) is tested on the intact images and on images
where only one block carries the label (the other blanked or drawn from another class). Grad-CAM of the whole code
then says how much of the model's attention lands on the complex block. The paper's Table 1 is in
``a2lib.studies.paper``; ``table1_rows`` lays our numbers out for its ``with_paper``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..data import dominoes
from ..evaluate import mean_average_precision
from ..explain import activation_share, grad_cam
from ..inference import binary, encode_dataset
from ..train import TrainResult
from .setup import Study

TEST_SETS = (
    ("both", "randomised"),
    ("simple-only", "randomised"),
    ("complex-only", "randomised"),
    ("simple-only", "blanked"),
    ("complex-only", "blanked"),
)
"""Table 1's test data: intact dominoes, then each block alone with the other randomised or blanked."""
BLOCKS = ("simple", "complex")
CAM_BATCH = 32


def test_set_name(variant: str, flavour: str) -> str:
    """Row label of Table 1: ``both`` or e.g. ``complex-only (randomised)``."""
    return variant if variant == "both" else f"{variant} ({flavour})"


def variant_test_sets(simple, complex, **options) -> dict[str, Dataset]:
    """Table 1's five test sets (``TEST_SETS``, keyed by ``test_set_name``) composed from your own two test datasets
    with ``a2lib.data.dominoes(simple, complex, variant, flavour, **options)``."""
    return {test_set_name(variant, flavour): dominoes(simple, complex, variant=variant, flavour=flavour, **options)
            for variant, flavour in TEST_SETS}


def variant_maps(result: TrainResult, data: Study | Mapping[str, Dataset], device: str | torch.device = "cpu",
                 batch_size: int = 128) -> dict[str, float]:
    """Tie-aware mAP of ``result`` on every test set of ``TEST_SETS`` against the result's learned database codes.

    ``data``: a ``Study`` (its data set's test split in each variant) or the test sets themselves, keyed by
    ``test_set_name`` (``variant_test_sets`` builds them from any two datasets)."""
    if isinstance(data, Study):
        data = {test_set_name(v, f): data.load("test", variant=v, flavour=f) for v, f in TEST_SETS}
    missing = [test_set_name(v, f) for v, f in TEST_SETS if test_set_name(v, f) not in data]
    if missing:
        raise ValueError(f"variant_maps needs the test sets {missing}; build all five with variant_test_sets(...)")
    database = result.database_codes()
    scores = {}
    for variant, flavour in TEST_SETS:
        test = data[test_set_name(variant, flavour)]
        queries = binary(encode_dataset(result.model, test, batch_size, device))
        scores[test_set_name(variant, flavour)] = mean_average_precision(
            queries, database, test.labels, result.db_labels
        )
    return scores


def table1_rows(scores: dict, dataset: str) -> list[dict]:
    """``{dataset, test data, bits, method, map}`` rows from ``(method, bits) -> variant_maps(...)``, in the layout
    of ``a2lib.studies.paper.with_paper(rows, "table1")``."""
    return [{"dataset": dataset, "test data": test, "bits": bits, "method": method, "map": value}
            for (method, bits), by_test in scores.items() for test, value in by_test.items()]


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
    """The three simplicity-bias numbers of a model type, from ``variant_maps`` outputs.

    (a) the model trained on the complex block alone (``on_reference``) tested on the complex block alone (blanked);
    (b) / (c) the model trained on dominoes (``on_dominoes``) tested on the simple / complex block alone
    (randomised); and (c)/(a).
    """
    a = on_reference["complex-only (blanked)"]
    b = on_dominoes["simple-only (randomised)"]
    c = on_dominoes["complex-only (randomised)"]
    return {"a": a, "b": b, "c": c, "c_over_a": c / a}


__all__ = ["BLOCKS", "TEST_SETS", "bias_numbers", "block_masks", "block_share", "table1_rows", "test_set_name",
           "variant_test_sets", "variant_maps"]
