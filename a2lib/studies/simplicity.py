"""The simplicity-bias study (paper Sec. 3.4.1, Table 1, Figure 4): dominoes test variants and activation per block.

A model trained on dominoes (simple block on top, complex block below) is tested on the intact images and on images
where only one block carries the label (the other blanked or drawn from another class). Grad-CAM of the whole code
then says how much of the model's attention lands on the complex block. The paper's Table 1 is in
``a2lib.studies.paper``; ``table1_rows`` lays our numbers out for its ``with_paper``.

Beyond the paper: ``explained_variance_share`` / ``block_signal`` measure how much of a block's pixel variance its
class explains (what a pixel reconstruction can see of the class), ``bias_by_flavour`` gives the three bias numbers
a, b, c like for like in each flavour, and ``complex_probe`` asks whether a model's frozen features still hold the
complex block's class (``a2lib.probes``).

Learning dynamics and dose response: ``learning_curves`` reads the validation mAP of the intact, simple-only and
complex-only validation items per outer iteration from a training history (``MONITORS``), and ``fall_onset`` finds
the η (or any dose) from which a score falls below its value at the smallest dose.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..data import FLAVOURS, dominoes
from ..data.dominoes import check_simple_randomised
from ..data.arrays import UINT8_MAX
from ..evaluate import mean_average_precision
from ..explain import activation_share, grad_cam
from ..inference import binary, encode_dataset
from ..probes import probe_accuracy
from ..train import MONITOR_PREFIX, TrainResult, build_model, load_dataset
from .claims import difference, interval
from .comparison import run_fields
from .records import dose_end
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
MONITORS = {f"{variant} ({flavour})": {"variant": variant, "flavour": flavour}
            for variant, flavour in TEST_SETS if variant != "both"}
"""``TrainConfig.monitors`` of the learning curves: the validation items with one block blanked or randomised, ranked
at every validation step against the database codes of that step (``a2lib.train.trainer``)."""


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


def untrained(result: TrainResult, device: str | torch.device = "cpu") -> TrainResult:
    """``result`` before any training: the network of its config at its seed's initial weights (``build_model``, eval
    mode) and, as database codes, that network's own codes of the same database items (it has learned none), so that
    ``variant_maps`` and ``complex_probe`` give the floor an untrained network of this architecture sets, which random
    features lift above a random ranking (``evaluate.chance_map``)."""
    model = build_model(result.config).to(device).eval()
    train_set = load_dataset(result.config, "train")
    codes = binary(encode_dataset(model, train_set, result.config.eval_batch_size, device, result.db_indices),
                   "untrained database codes")
    return dataclasses.replace(result, model=model, db_codes=codes, history=[], best_iteration=None,
                               best_val_map=None)


def table1_rows(scores: dict, dataset: str) -> list[dict]:
    """``{dataset, test data, bits, method, map}`` rows from ``(method, bits) -> variant_maps(...)``, in the layout
    of ``a2lib.studies.paper.with_paper(rows, "table1")``."""
    return [{"dataset": dataset, "test data": test, "bits": bits, "method": method, "map": value}
            for (method, bits), by_test in scores.items() for test, value in by_test.items()]


def over_seeds(scores: Mapping[tuple, Mapping[str, float]]) -> dict[tuple, list[float]]:
    """``{(method, bits, test): [mAP of each seed]}`` from ``{(method, bits, seed): variant_maps(...)}``, the seeds in
    the order of ``scores``."""
    values: dict[tuple, list[float]] = {}
    for (method, bits, _seed), by_test in scores.items():
        for test, value in by_test.items():
            values.setdefault((method, bits, test), []).append(float(value))
    return values


def seed_rows(values: Mapping[tuple, Sequence[float]], dataset: str) -> list[dict]:
    """Table 1 rows (``table1_rows``' layout) over seeds: ``map`` the mean, ``ci95`` the half-width of its 95%
    t-interval over the training runs (None for one seed), ``seeds`` how many."""
    rows = []
    for (method, bits, test), runs in values.items():
        mean, half = interval(runs)
        rows.append({"dataset": dataset, "test data": test, "bits": bits, "method": method, "map": mean,
                     "ci95": half, "seeds": len(runs)})
    return rows


def paired_gap(values: Mapping[tuple, Sequence[float]], method: str, reference: str, bits: int,
               tests: Sequence[str]) -> list[dict]:
    """``method`` − ``reference`` on each test set, paired by seed: the mean difference and its 95% t-interval."""
    rows = []
    for test in tests:
        gap = difference(np.asarray(values[(method, bits, test)]), np.asarray(values[(reference, bits, test)]))
        rows.append({"test data": test, "difference": gap.mean, "low": gap.low if gap.half is not None else None,
                     "high": gap.high if gap.half is not None else None, "seeds": gap.seeds})
    return rows


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


def bias_by_flavour(on_dominoes: dict[str, float], on_reference: dict[str, float]) -> dict[str, dict[str, float]]:
    """``bias_numbers`` like for like in each flavour: ``{flavour: {a, b, c, c_over_a}}`` with a, b and c all
    tested with the other block ``flavour`` (blanked or randomised), from ``variant_maps`` outputs."""
    table = {}
    for flavour in FLAVOURS:
        a = on_reference[test_set_name("complex-only", flavour)]
        c = on_dominoes[test_set_name("complex-only", flavour)]
        table[flavour] = {"a": a, "b": on_dominoes[test_set_name("simple-only", flavour)], "c": c, "c_over_a": c / a}
    return table


def _class_sums(images, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: item count (K,), pixel sums (K, P) and sums of squared pixels (K,), in float64."""
    x, y = torch.as_tensor(images), torch.as_tensor(labels).long()
    if y.dim() != 1 or len(y) != len(x):
        raise ValueError(f"labels must be one class index per image, shape ({len(x)},), got {tuple(y.shape)}")
    classes = torch.unique(y)
    if len(classes) < 2:
        raise ValueError(f"the explained variance needs images of at least 2 classes, got classes {classes.tolist()}")
    x = x.reshape(len(x), -1)
    counts, sums, squares = [], [], []
    for c in classes:
        block = x[y == c].double()
        counts.append(len(block))
        sums.append(block.sum(0))
        squares.append(float(block.pow(2).sum()))
    return np.asarray(counts, dtype=np.float64), torch.stack(sums).numpy(), np.asarray(squares)


def explained_variance_share(images, labels, adjusted: bool = False) -> float:
    """The share of the pixel variance of ``images`` (n, ...) that their class explains: the between-class variance
    of the class-mean images over the total variance, both summed over pixels (eta squared; 1 - the MSE of each
    pixel predicted by its class mean over the MSE of the grand mean).

    ``adjusted`` subtracts what K class means of pure noise would explain in a sample of n, (K - 1) x the within-class
    mean square (epsilon squared): with few images per class eta squared is biased upwards by about (K - 1) / n.
    Scale-free: uint8 and [0, 1] images give the same share.
    """
    counts, sums, squares = _class_sums(images, labels)
    n, k = counts.sum(), len(counts)
    total = squares.sum() - float((sums.sum(0) ** 2).sum()) / n
    within = squares.sum() - float(((sums ** 2).sum(1) / counts).sum())
    if total <= 0:
        raise ValueError("the images do not vary (total pixel variance 0); the explained share is undefined")
    between = total - within
    if adjusted:
        if n <= k:
            raise ValueError(f"the adjusted share needs more images ({int(n)}) than classes ({k})")
        between -= (k - 1) * within / (n - k)
    return between / total


def block_signal(dataset, block: str = "complex") -> dict[str, float]:
    """How much of one dominoes block's pixel variance its class explains, over the items of ``dataset`` (a
    ``DominoesDataset``) where that block is shown (not blanked): ``explained_share`` (eta squared),
    ``adjusted_share`` (epsilon squared), ``pixel_variance`` (mean per pixel, values in [0, 1]) and ``n``."""
    if block not in BLOCKS:
        raise ValueError(f"unknown block {block!r}; choose one of {', '.join(BLOCKS)}")
    labels = getattr(dataset, f"{block}_labels", None)
    if labels is None or not hasattr(dataset, "images_uint8"):
        raise ValueError("block_signal needs a dominoes dataset (a2lib.data.dominoes or load('synth-dominoes', ...)), "
                         f"which records each block's class; got {type(dataset).__name__}")
    shown = labels >= 0
    images = dataset.images_uint8[shown]
    half = images.shape[2] // 2
    pixels = images[:, :, :half] if block == "simple" else images[:, :, half:]
    pixels = pixels.double() / UINT8_MAX
    return {"explained_share": explained_variance_share(pixels, labels[shown]),
            "adjusted_share": explained_variance_share(pixels, labels[shown], adjusted=True),
            "pixel_variance": float(pixels.reshape(len(pixels), -1).var(0, unbiased=False).mean()),
            "n": int(shown.sum())}


def complex_probe(model, data: Study | Mapping[str, Dataset], flavour: str = "blanked",
                  representation: str = "features", device: str | torch.device = "cpu", **probe_options) -> float:
    """Test accuracy of a linear probe (``a2lib.probes.probe_accuracy``) that reads the complex block's class from
    ``model``'s frozen ``representation`` on complex-only images (the other block ``flavour``).

    ``model``: a trained model or ``TrainResult``. ``data``: a ``Study`` (the probe is fitted on its training split
    and tested on its test split, both complex-only) or ``{"train": dataset, "test": dataset}`` of such images.
    Chance is 1 / number of classes; near (a)'s level means the features hold the block the codes ignore."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
    if isinstance(data, Study):
        data = {split: data.load(split, variant="complex-only", flavour=flavour) for split in ("train", "test")}
    missing = [split for split in ("train", "test") if split not in data]
    if missing:
        raise ValueError(f"complex_probe needs a Study or {{'train': ..., 'test': ...}} datasets; missing {missing}")
    return probe_accuracy(model, data["train"], data["test"], representation=representation, device=device,
                          **probe_options)


FALL_TOLERANCE = 0.02
"""``fall_onset``'s default: a drop of more than 0.02 mAP (2 points) below the lowest dose's value counts as a fall."""


def learning_curves(results: Mapping, prefix: str = "validation mAP, ") -> list[dict]:
    """``{run, iteration, quantity, value}`` rows (``a2lib.workbook.plots.training_curves``' records) from each
    result's history, ``run`` its key in ``results``: quantity ``<prefix>both`` is the validation mAP on the intact
    validation items (``val_map``), the others each monitor (``monitor/<name>``, ``MONITORS``), each row with its
    run's ``seed`` and ``chance`` (``comparison.run_fields``); iterations without validation are left out, and a
    result trained without monitors gives only its ``both`` rows."""
    rows = []
    for run, result in results.items():
        fields = run_fields(result, chance=True) if any(r.get("val_map") is not None for r in result.history) else {}
        for record in result.history:
            if record.get("val_map") is None:
                continue
            scores = {"both": record["val_map"], **{key[len(MONITOR_PREFIX):]: value for key, value in record.items()
                                                    if key.startswith(MONITOR_PREFIX)}}
            rows += [{"run": run, "iteration": record["iteration"], "quantity": prefix + test, "value": float(value),
                      **fields}
                     for test, value in scores.items()]
    return rows


def fall_onset(doses: Sequence[float], scores: Sequence[float], tolerance: float = FALL_TOLERANCE) -> float | None:
    """The smallest dose whose score lies more than ``tolerance`` below the score at the smallest dose (the η from
    which intact mAP starts to fall), or None when no dose does. ``doses`` need not be sorted."""
    doses, scores = np.asarray(doses, dtype=float), np.asarray(scores, dtype=float)
    if doses.ndim != 1 or doses.shape != scores.shape or len(doses) < 2:
        raise ValueError(f"fall_onset needs two or more doses and one score per dose, got {len(doses)} doses and "
                         f"{scores.shape} scores")
    if len(np.unique(doses)) != len(doses) or not np.isfinite(doses).all() or not np.isfinite(scores).all():
        raise ValueError("fall_onset needs distinct finite doses and finite scores; average repeated doses first")
    order = np.argsort(doses)
    doses, scores = doses[order], scores[order]
    fallen = np.flatnonzero(scores[1:] < scores[0] - tolerance)
    return float(doses[1 + fallen[0]]) if len(fallen) else None


def _per_seed(values: Sequence[float]):
    """One seed's value as a number, several seeds' as a list (the results files' convention, ``claims``)."""
    return [float(v) for v in values] if len(values) > 1 else float(values[0])


def dose_response(scores: Mapping[tuple, Mapping[str, float]], dose: str = "η",
                  tolerance: float = FALL_TOLERANCE) -> dict:
    """A dose response from ``{(dose, seed): variant_maps(...)}``: ``map`` ``{dose: {test: value or [one per seed]}}``
    (doses as ``{:g}`` text, in increasing order), ``ends`` the same at the smallest and the largest dose (keys
    ``smallest <dose>``, ``largest <dose>``) and ``fall_onset``: the dose from which the mean intact ("both") mAP
    lies more than ``tolerance`` below its value at the smallest dose (``fall_onset``), or None."""
    by_dose: dict[float, dict[str, list[float]]] = {}
    for (level, _seed), by_test in scores.items():
        for test, value in by_test.items():
            by_dose.setdefault(float(level), {}).setdefault(test, []).append(float(value))
    if len(by_dose) < 2:
        raise ValueError(f"a dose response needs two or more doses, got {sorted(by_dose)}")
    doses = sorted(by_dose)
    table = {f"{level:g}": {test: _per_seed(values) for test, values in by_dose[level].items()} for level in doses}
    onset = fall_onset(doses, [np.mean(by_dose[level]["both"]) for level in doses], tolerance)
    return {"map": table, "ends": {dose_end("smallest", dose): table[f"{doses[0]:g}"],
                                   dose_end("largest", dose): table[f"{doses[-1]:g}"]},
            "fall_onset": onset}


def mean_curves(table: Mapping[str, Mapping[str, object]], tests: Sequence[str]) -> dict[str, dict[float, float]]:
    """``{test: {dose: mean over seeds}}`` of ``dose_response(...)["map"]`` for ``tests`` (``plots.dose_curves``)."""
    return {test: {float(level): float(np.mean(by_test[test])) for level, by_test in table.items()} for test in tests}


def range_curves(table: Mapping[str, Mapping[str, object]], tests: Sequence[str]
                 ) -> dict[str, dict[float, tuple[float, float]]]:
    """``{test: {dose: (lowest, highest) over seeds}}`` of ``dose_response(...)["map"]``: the spread drawn around
    ``mean_curves`` (one seed: a range of zero width)."""
    return {test: {float(level): (float(np.min(by_test[test])), float(np.max(by_test[test])))
                   for level, by_test in table.items()} for test in tests}


def escape_options(fraction: float) -> dict:
    """The data set options that randomise the simple block on a ``fraction`` of the training images (the escape
    exercise): none at 0, so that p = 0 is the model trained on the data as is (one cache entry, not two)."""
    fraction = check_simple_randomised(fraction)
    return {"simple_randomised": fraction} if fraction else {}


__all__ = ["BLOCKS", "FALL_TOLERANCE", "FLAVOURS", "MONITORS", "TEST_SETS", "bias_by_flavour", "bias_numbers",
           "block_masks", "block_share", "block_signal", "complex_probe", "dose_response", "escape_options",
           "explained_variance_share", "fall_onset", "learning_curves", "mean_curves", "over_seeds", "paired_gap",
           "range_curves", "seed_rows", "table1_rows", "test_set_name", "untrained", "variant_test_sets", "variant_maps"]
