"""The method comparison study (paper Sec. 4.3-4.4): Table 2 configs, the Table 7 ablation, η (Figure 7), the
zero-shot protocol (Table 4), top-k retrievals (Figure 6), and the paper's published numbers as data.

Every config is built by ``method_config`` from the profile's shared ``x-birds`` values, so the notebooks that
reuse the Table 2 models (03-05) hit the same cache entries; a component switched off is the only difference
between an ablation step and its Table 2 model. Our numbers are fractions in [0, 1]; the paper's are % mAP.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from . import shallow
from .cache import load_or_train
from .data import load, zero_shot_split
from .evaluate import hamming_distance, mean_average_precision, precision_at_k, relevance
from .losses import LossWeights
from .models import build
from .train import TrainConfig, TrainResult, binary, encode_dataset

PAPER_METHODS = {"itq": "ITQ", "sdh": "SDH", "dpsh": "DPSH", "hashnet": "HashNet", "baseline": "ADSH",
                 "csq": "CSQ", "orthocos": "OrthoCos+BN", "exchnet": "ExchNet", "a2net": "A²-Net", "a2net++": "A²-Net++"}
"""Our method names -> the paper's column names, in the paper's column order (BASELINE is ADSH: Table 7's "Vanilla
Backbone" column is Table 2's ADSH)."""
SHALLOW_METHODS = ("itq", "sdh")
"""Fitted on the pooled backbone features of a network (``a2lib.shallow``), not trained by ``a2lib.train``."""
SHALLOW_FEATURES = ("trained", "pretrained")
"""Whose features ITQ/SDH hash: the trained BASELINE network of the same bits (the CPU profiles: no ImageNet weights
offline), or the untrained backbone with its default (ImageNet) weights, as the paper's CNN features."""
CLASS_AWARE_METHODS = ("csq", "orthocos")
"""Methods that need ``num_classes`` (hash centres / class codes); ``method_config`` fills it from the data set."""
PAPER_DATASETS = {"cub200": "CUB200-2011", "aircraft": "Aircraft", "food101": "Food101", "nabirds": "NABirds",
                  "vegfru": "VegFru"}
PAPER_BITS = (12, 24, 32, 48)
PERCENT = 100.0
DEFAULT_PRECISION_K = 10
"""Precision@10 matches the top-10 lists of Figure 6."""

TABLE2_COLUMNS = ("ITQ", "SDH", "DPSH", "HashNet", "ADSH", "ExchNet", "A²-Net", "A²-Net++")
TABLE2 = {  # Table 2, % mAP, ResNet-50; one row per bits in TABLE2_COLUMNS order
    "cub200": {12: (6.80, 10.52, 8.68, 12.03, 20.03, 25.14, 33.83, 37.83),
               24: (9.42, 16.95, 12.51, 17.77, 50.33, 58.98, 61.01, 71.73),
               32: (11.19, 20.43, 12.74, 19.93, 61.68, 67.74, 71.61, 78.39),
               48: (12.45, 22.23, 15.58, 22.13, 65.43, 71.05, 77.33, 82.71)},
    "aircraft": {12: (4.38, 4.89, 8.74, 14.91, 15.54, 33.27, 40.00, 57.53),
                 24: (5.28, 6.36, 10.87, 17.75, 23.09, 45.83, 63.66, 73.45),
                 32: (5.82, 6.90, 13.54, 19.42, 30.37, 51.83, 72.51, 81.59),
                 48: (6.05, 7.65, 13.94, 20.32, 50.65, 59.05, 81.37, 86.65)},
    "food101": {12: (6.46, 10.21, 11.82, 24.42, 35.64, 45.63, 46.44, 54.51),
                24: (8.20, 11.44, 13.05, 34.48, 40.93, 55.48, 66.87, 81.46),
                32: (9.70, 13.36, 16.41, 35.90, 42.89, 56.39, 74.27, 82.92),
                48: (10.07, 15.55, 20.06, 39.65, 48.81, 64.19, 82.13, 83.66)},
    "nabirds": {12: (2.53, 3.10, 2.17, 2.34, 2.53, 5.22, 8.20, 8.80),
                24: (4.22, 6.72, 4.08, 3.29, 8.23, 15.69, 19.15, 22.65),
                32: (5.38, 8.86, 3.61, 4.52, 14.71, 21.94, 24.41, 29.79),
                48: (6.10, 10.38, 3.20, 4.97, 25.34, 34.81, 35.64, 42.94)},
    "vegfru": {12: (3.05, 5.92, 6.33, 3.70, 8.24, 23.55, 25.52, 30.54),
               24: (5.51, 11.55, 9.05, 6.24, 24.90, 35.93, 44.73, 60.56),
               32: (7.48, 14.55, 10.28, 7.83, 36.53, 48.27, 52.75, 73.38),
               48: (8.74, 16.45, 9.11, 10.29, 55.15, 69.30, 69.77, 82.80)},
}
TABLE4_COLUMNS = ("HashNet", "ADSH", "CSQ", "OrthoCos+BN", "ExchNet", "A²-Net", "A²-Net++")
TABLE4 = {  # Table 4, zero-shot protocol, % mAP, ResNet-50
    "cub200": {12: (13.02, 22.41, 20.41, 23.30, 23.53, 23.71, 23.89),
               24: (22.58, 39.02, 31.51, 38.82, 39.51, 39.67, 41.32),
               32: (32.45, 46.98, 41.55, 46.30, 48.13, 51.33, 52.75),
               48: (42.02, 52.91, 48.32, 51.89, 53.77, 58.47, 62.71)},
    "aircraft": {12: (16.54, 21.84, 22.34, 22.14, 23.03, 23.45, 24.14),
                 24: (32.72, 45.16, 43.85, 44.93, 47.90, 51.62, 53.87),
                 32: (39.44, 50.95, 49.49, 49.38, 53.22, 58.91, 60.38),
                 48: (39.75, 55.31, 51.66, 53.49, 56.01, 59.63, 61.59)},
    "food101": {12: (17.89, 22.89, 23.54, 23.18, 24.69, 26.32, 27.98),
                24: (36.54, 42.65, 41.74, 42.01, 43.11, 45.25, 47.85),
                32: (41.06, 46.98, 46.63, 46.10, 48.25, 52.74, 53.27),
                48: (41.85, 50.31, 47.72, 50.69, 51.87, 55.97, 56.30)},
}


@dataclass(frozen=True)
class AblationStep:
    """One column of Table 7: the model and the options that switch its components relative to that model's
    defaults (an empty ``options`` is the Table 2 model itself, so it is a cache hit)."""
    name: str
    method: str
    options: dict = field(default_factory=dict)


ABLATION_STEPS = (
    AblationStep("vanilla backbone", "baseline"),
    AblationStep("+ attention", "a2net", {"feature_reconstruction": False, "decorrelation": False}),
    AblationStep("+ feature reconstruction", "a2net", {"decorrelation": False}),
    AblationStep("+ image reconstruction (g only)", "a2net++", {"image_reconstruction": "g", "decorrelation": False}),
    AblationStep("+ image reconstruction (g' only)", "a2net++", {"image_reconstruction": "gp", "decorrelation": False}),
    AblationStep("+ image reconstruction (both)", "a2net++", {"decorrelation": False}),
    AblationStep("+ feature decorrelation (= A²-Net++)", "a2net++"),
    AblationStep("A²-Net", "a2net"),
)
"""Table 7's columns in order: components added one by one on the vanilla backbone (BASELINE = ADSH); the three
image-reconstruction variants are of equal status (each adds to "+ feature reconstruction"); the last is A²-Net."""
# Table 7, % mAP, one value per ABLATION_STEPS entry (as printed: NABirds 12-bit vanilla 2.34, Table 2's ADSH 2.53)
TABLE7 = {
    "cub200": {12: (20.03, 27.42, 33.31, 33.42, 34.27, 36.13, 37.83, 33.83),
               24: (50.33, 58.17, 60.65, 60.69, 63.15, 67.73, 71.73, 61.01),
               32: (61.68, 68.24, 71.28, 71.36, 74.63, 77.67, 78.39, 71.61),
               48: (65.43, 76.10, 77.10, 77.15, 79.54, 81.83, 82.71, 77.33)},
    "aircraft": {12: (15.54, 39.78, 41.54, 41.72, 54.67, 52.06, 57.53, 40.00),
                 24: (23.09, 61.73, 64.47, 64.60, 66.24, 70.63, 73.45, 63.66),
                 32: (30.37, 69.34, 71.09, 71.18, 75.49, 79.60, 81.59, 72.51),
                 48: (50.65, 79.21, 81.14, 81.22, 82.93, 84.52, 86.65, 81.37)},
    "food101": {12: (35.64, 41.33, 45.02, 45.63, 47.50, 50.67, 54.51, 46.44),
                24: (40.93, 65.07, 67.49, 68.04, 70.21, 74.64, 81.46, 66.87),
                32: (42.89, 70.06, 73.57, 73.74, 74.51, 75.73, 82.92, 74.27),
                48: (48.81, 78.51, 81.63, 81.74, 82.33, 82.70, 83.66, 82.13)},
    "nabirds": {12: (2.34, 5.03, 7.91, 7.93, 8.13, 8.46, 8.80, 8.20),
                24: (8.23, 16.31, 18.55, 18.71, 20.09, 21.32, 22.65, 19.15),
                32: (14.71, 22.34, 23.87, 23.96, 26.88, 28.14, 29.79, 24.41),
                48: (25.34, 33.47, 34.93, 35.10, 36.65, 40.04, 42.94, 35.64)},
    "vegfru": {12: (8.24, 22.14, 24.79, 24.98, 26.43, 27.86, 30.54, 25.52),
               24: (24.90, 39.69, 44.21, 44.76, 51.07, 55.83, 60.56, 44.73),
               32: (36.53, 47.08, 51.04, 51.80, 63.41, 67.98, 73.38, 52.75),
               48: (55.15, 66.47, 68.63, 69.25, 74.68, 77.80, 82.80, 69.77)},
}
PAPER_ETA_VALUES = (0.05, 0.1, 0.2, 0.3, 0.4)
"""Figure 7's η grid (48 bits, CUB and Aircraft); the paper gives bars only, no numbers: "minimal variations"."""


def _paper_value(table: dict, columns, dataset: str, bits: int, column: str) -> float | None:
    row = table.get(dataset, {}).get(bits)
    return None if row is None or column not in columns else row[columns.index(column)]


def paper_map(dataset: str, bits: int, method: str, table: str = "table2") -> float | None:
    """The paper's % mAP of our ``method`` on ``dataset`` at ``bits`` in Table 2 or (``table="table4"``, zero-shot)
    Table 4; None where the paper has no such number (e.g. the embedded data sets)."""
    if method not in PAPER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(PAPER_METHODS)}")
    tables = {"table2": (TABLE2, TABLE2_COLUMNS), "table4": (TABLE4, TABLE4_COLUMNS)}
    if table not in tables:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(tables)}")
    return _paper_value(*tables[table], dataset, bits, PAPER_METHODS[method])


def paper_ablation(dataset: str, bits: int) -> dict[str, float] | None:
    """Table 7's % mAP per ``ABLATION_STEPS`` name, or None where the paper has no row."""
    row = TABLE7.get(dataset, {}).get(bits)
    return None if row is None else {step.name: value for step, value in zip(ABLATION_STEPS, row)}


def with_paper(rows: list[dict], table: str = "table2") -> list[dict]:
    """Rows ``{dataset, bits, method, map}`` (map a fraction) extended with ``ours %``, ``paper %`` and
    ``difference`` (ours - paper, % points; None where the paper has no number)."""
    out = []
    for row in rows:
        paper = paper_map(row["dataset"], row["bits"], row["method"], table)
        ours = PERCENT * row["map"]
        out.append({**row, "ours %": ours, "paper %": paper, "difference": None if paper is None else ours - paper})
    return out


def method_config(method: str, bits: int, *, dataset: str, dataset_options: dict, backbone: str,
                  model_options: dict, train_options: dict, seed: int, device: str = "auto",
                  eta: float | None = None, options: dict | None = None) -> TrainConfig:
    """The TrainConfig of ``method`` at ``bits`` from the shared profile values (``model_options`` per method).

    ``options`` override that method's model options (ablation switches); ``eta`` sets η (None keeps the paper's
    0.1). The same arguments always give the same config, hence the same cache entry in every notebook. CSQ and
    OrthoCos get ``num_classes`` from the training split unless the options set it.
    """
    if not isinstance(model_options, dict) or not all(isinstance(v, dict) for v in model_options.values()):
        raise ValueError("model_options must map a method name to a dict of that model's options, "
                         "e.g. {'a2net++': {'code_dim': 256}}")
    merged = {**model_options.get(method, {}), **(options or {})}
    if method in CLASS_AWARE_METHODS and "num_classes" not in merged:
        merged["num_classes"] = load(dataset, "train", **dataset_options).num_classes
    weights = LossWeights() if eta is None else LossWeights(eta=eta)
    return TrainConfig(dataset=dataset, dataset_options=dict(dataset_options), model=method, model_options=merged,
                       bits=bits, backbone=backbone, loss_weights=weights, seed=seed, device=device,
                       **train_options)


def fit_shallow(method: str, bits: int, reference: TrainResult, train_set: Dataset, features: str = "trained",
                device=None) -> TrainResult:
    """ITQ or SDH at ``bits`` on pooled backbone features, as a ``TrainResult`` over ``reference``'s database split.

    ``features``: "trained" hashes the features of ``reference.model`` (the BASELINE of the same bits), "pretrained"
    those of a fresh BASELINE network with the backbone's default weights (ImageNet for ResNet-50; seeded). Fitted
    on the database items (SDH with their labels); the database codes are their codes.
    """
    if method not in SHALLOW_METHODS:
        raise ValueError(f"unknown shallow method {method!r}; choose one of {', '.join(SHALLOW_METHODS)}")
    if features not in SHALLOW_FEATURES:
        raise ValueError(f"features must be one of {', '.join(SHALLOW_FEATURES)}, got {features!r}")
    config = reference.config
    if features == "trained":
        network = reference.model
    else:
        torch.manual_seed(config.seed)
        network = build(config.model, bits, backbone=config.backbone, **config.model_options)
    network.to(device or next(reference.model.parameters()).device).eval()
    database = Subset(train_set, reference.db_indices.tolist())
    db_features = shallow.extract_features(network, database, config.eval_batch_size, device)
    estimator = shallow.build(method, bits, seed=config.seed).fit(db_features, reference.db_labels)
    model = shallow.ShallowHashModel(method, network, estimator)
    shallow_config = dataclasses.replace(config, model=method, model_options={"features": features})
    return TrainResult(model, estimator.encode(db_features), reference.db_indices, reference.val_indices,
                       reference.db_labels, [], None, None, shallow_config)


def load_method(method: str, bits: int, train_set: Dataset, shallow_features: str = "trained",
                **shared) -> TrainResult:
    """Any method of the comparison at ``bits``: deep ones through the cache (``load_or_train``), ITQ/SDH fitted on
    the features of the cached BASELINE's network (``fit_shallow``); ``shared``: ``method_config``'s arguments."""
    if method in SHALLOW_METHODS:
        reference = load_or_train(method_config("baseline", bits, **shared))
        return fit_shallow(method, bits, reference, train_set, shallow_features)
    return load_or_train(method_config(method, bits, **shared))


def ablation_configs(bits: int, **shared) -> dict[str, TrainConfig]:
    """Table 7's configs at ``bits``, keyed by step name (``shared``: the keyword arguments of ``method_config``)."""
    return {step.name: method_config(step.method, bits, options=step.options, **shared) for step in ABLATION_STEPS}


def evaluate_retrieval(result: TrainResult, queries: Dataset, device=None, k: int = DEFAULT_PRECISION_K,
                       database: Dataset | None = None, legacy: bool = False) -> dict[str, float]:
    """Tie-aware mAP@all and precision@k of ``queries`` (encoded, sign) against a database; with ``legacy`` also
    ``map_legacy``, the public code's argsort ranking (ties in database order), for comparison with published tables.

    The database is the learned codes B of the training items (paper protocol) unless ``database`` is given, then
    its items are encoded by the network (out-of-sample; the zero-shot protocol, whose classes B never saw).
    """
    query_codes = binary(encode_dataset(result.model, queries, result.config.eval_batch_size, device))
    if database is None:
        db_codes, db_labels = result.database_codes(), result.db_labels
    else:
        db_codes = binary(encode_dataset(result.model, database, result.config.eval_batch_size, device))
        db_labels = database.labels
    args = (query_codes, db_codes, queries.labels, db_labels)
    scores = {"map": mean_average_precision(*args), f"precision@{k}": precision_at_k(*args, k)}
    if legacy:
        scores["map_legacy"] = mean_average_precision(*args, ties="legacy")
    return scores


def zero_shot_classes(dataset: str, dataset_options: dict, unseen_fraction: float, seed: int) -> tuple[list, list]:
    """(seen, unseen) class indices of ``dataset`` (``zero_shot_split`` on its training split, seeded)."""
    split = zero_shot_split(load(dataset, "train", **dataset_options), unseen_fraction=unseen_fraction, seed=seed)
    return split.seen_classes, split.unseen_classes


def zero_shot_config(method: str, bits: int, seen_classes, **shared) -> TrainConfig:
    """``method_config`` trained on the seen classes only (the ``classes`` dataset option of ``a2lib.data.load``)."""
    config = method_config(method, bits, **shared)
    config.dataset_options = {**config.dataset_options, "classes": sorted(int(c) for c in seen_classes)}
    return config


def zero_shot_evaluate(result: TrainResult, unseen_classes, device=None,
                       k: int = DEFAULT_PRECISION_K) -> dict[str, float]:
    """Table 4's protocol: queries = test items of the unseen classes, database = training items of the unseen
    classes encoded by a network that never saw them."""
    options = {key: value for key, value in result.config.dataset_options.items() if key != "classes"}
    unseen = sorted(int(c) for c in unseen_classes)
    queries = load(result.config.dataset, "test", classes=unseen, **options)
    database = load(result.config.dataset, "train", classes=unseen, **options)
    return evaluate_retrieval(result, queries, device, k, database=database)


def top_k_retrievals(query_codes, db_codes, query_labels, db_labels, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (q, k), correct (q, k) bool): the ``k`` nearest database items of each query by Hamming distance,
    ties broken by database index (a stable sort), and whether each shares the query's label (Figure 6)."""
    distances = hamming_distance(query_codes, db_codes)
    if not 1 <= k <= distances.shape[1]:
        raise ValueError(f"k must lie between 1 and the database size {distances.shape[1]}, got {k}")
    order = torch.sort(distances, dim=1, stable=True).indices[:, :k]
    relevant = relevance(torch.as_tensor(query_labels), torch.as_tensor(db_labels))
    return order.numpy(), torch.gather(relevant, 1, order).numpy()


def retrieval_examples(results: dict, queries: Dataset, database: Dataset, query_ids, k: int,
                       device=None) -> dict[str, list]:
    """Figure 6's rows: for each query id and each ``results`` entry (label -> TrainResult), the query image, its
    ``k`` nearest database images under the learned codes B (``top_k_retrievals``), their correctness and a row
    label ``"<label>\\n<hits>/<k>"``. ``database`` is the training split the results were trained on."""
    rows = {"queries": [], "retrieved": [], "correct": [], "labels": []}
    for q in query_ids:
        image = queries[int(q)][0]
        for name, result in results.items():
            codes = binary(encode_dataset(result.model, queries, result.config.eval_batch_size, device,
                                          torch.tensor([int(q)])))
            top, ok = top_k_retrievals(codes, result.database_codes(), queries.labels[[int(q)]], result.db_labels, k)
            rows["queries"].append(image)
            rows["retrieved"].append([database[int(result.db_indices[j])][0] for j in top[0]])
            rows["correct"].append(ok[0])
            rows["labels"].append(f"{name}\n{int(ok[0].sum())}/{k}")
    return rows


def pick_queries(labels, count: int, seed: int) -> list[int]:
    """``count`` query indices of distinct classes (seeded), for the retrieval figure."""
    labels = np.asarray(labels)
    keys = labels.argmax(1) if labels.ndim == 2 else labels
    rng = np.random.default_rng(seed)
    chosen, used = [], set()
    for index in rng.permutation(len(keys)):
        if int(keys[index]) not in used:
            chosen.append(int(index))
            used.add(int(keys[index]))
        if len(chosen) == count:
            break
    return chosen


def history_records(results: dict) -> list[dict]:
    """Long-format training curves: one ``{run, iteration, quantity, value}`` per logged number of each
    ``TrainResult.history`` (each loss term, ``loss``, ``val_map``), with ``run`` the key of ``results``."""
    skip = {"iteration", "lr", "elapsed_s"}
    return [{"run": name, "iteration": record["iteration"], "quantity": key, "value": value}
            for name, result in results.items() for record in result.history
            for key, value in record.items() if key not in skip]


__all__ = [
    "ABLATION_STEPS", "AblationStep", "DEFAULT_PRECISION_K", "PAPER_BITS", "PAPER_DATASETS", "PAPER_ETA_VALUES",
    "PAPER_METHODS", "TABLE2", "TABLE2_COLUMNS", "TABLE4", "TABLE4_COLUMNS", "TABLE7", "ablation_configs",
    "evaluate_retrieval", "history_records", "method_config", "paper_ablation", "paper_map", "pick_queries",
    "retrieval_examples",
    "top_k_retrievals", "with_paper", "zero_shot_classes", "zero_shot_config", "zero_shot_evaluate",
]
