"""The method comparison study (paper Sec. 4.3-4.5) on top of ``Study``: the evaluation protocol of Table 2, the
Table 7 ablation steps, the zero-shot protocol (Table 4), top-k retrievals (Figure 6), training curves, and the
attribute NDCG of Table 8 with its random-code and class-oracle references.

Every config comes from ``Study.config``, so a component switched off is the only difference between an ablation
step and its Table 2 model (an empty step is a cache hit). Our numbers are fractions in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import load, zero_shot_split
from ..evaluate import chance_map, hamming_distance, mean_average_precision, ndcg_at_k, precision_at_k, relevance
from ..inference import binary, encode_dataset
from ..train import TrainConfig, TrainResult
from .paper import display_name
from .setup import Study

DEFAULT_PRECISION_K = 10
"""Precision@10 matches the top-10 lists of Figure 6."""
REFERENCE_BITS = "-"
"""The ``bits`` entry of the NDCG reference rows (their codes are not a method's)."""


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
"""Table 7's columns in order (names: ``paper.TABLE7_COLUMNS``): components added one by one on the vanilla backbone
(BASELINE = ADSH); the three image-reconstruction variants are of equal status (each adds to "+ feature
reconstruction"); the last is A²-Net."""


def ablation_configs(study: Study, bits: int) -> dict[str, TrainConfig]:
    """Table 7's configs at ``bits``, keyed by step name."""
    return {step.name: study.config(step.method, bits, options=step.options) for step in ABLATION_STEPS}


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


def zero_shot_classes(study: Study, unseen_fraction: float) -> tuple[list, list]:
    """(seen, unseen) class indices of the study's data set (``zero_shot_split`` of its training split, seeded)."""
    split = zero_shot_split(study.load("train"), unseen_fraction=unseen_fraction, seed=study.seed)
    return split.seen_classes, split.unseen_classes


def zero_shot_config(study: Study, method: str, bits: int, seen_classes, seed: int | None = None) -> TrainConfig:
    """``study.config`` (at ``seed``, default the study's) trained on the seen classes only (the ``classes`` dataset
    option of ``a2lib.data.load``)."""
    config = study.config(method, bits, seed=seed)
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


GRADIENT_PREFIX = "grad_"
"""History keys of the per-term trunk-gradient diagnostic (``a2lib.diagnostics``): ``grad_share/<term>`` and
``grad_norm/<term>``."""
SHARE_PREFIX = "grad_share/"
VAL_MAP = "val_map"
"""The history key of the validation mAP."""


def run_fields(result, chance: bool = False) -> dict:
    """The fields a curve's records carry about their run: its ``seed`` (when the result has a config) and with
    ``chance`` the mAP of a random ranking on its database (``evaluate.chance_map``), for the plot to state them."""
    config, labels = getattr(result, "config", None), getattr(result, "db_labels", None)
    fields = {} if getattr(config, "seed", None) is None else {"seed": config.seed}
    if chance and labels is not None and len(labels):
        fields["chance"] = chance_map(labels)
    return fields


def history_records(results: dict) -> list[dict]:
    """Long-format training curves: one ``{run, iteration, quantity, value}`` per logged number of each
    ``TrainResult.history`` (each loss term, ``loss``, ``val_map``; not the gradient diagnostic, see
    ``gradient_share_records``), with ``run`` the key of ``results``, its ``seed`` and, on ``val_map``, ``chance``
    (``run_fields``)."""
    skip = {"iteration", "lr", "elapsed_s"}
    rows = []
    for name, result in results.items():
        plain, scored = run_fields(result), None
        for record in result.history:
            for key, value in record.items():
                if key in skip or key.startswith(GRADIENT_PREFIX):
                    continue
                if key == VAL_MAP and scored is None:
                    scored = run_fields(result, chance=True)
                rows.append({"run": name, "iteration": record["iteration"], "quantity": key, "value": value,
                             **(scored if key == VAL_MAP else plain)})
    return rows


SHARE_KIND = "share"
"""The ``kind`` of ``gradient_share_records``: ``plots.training_curves`` draws them on a log scale with the 1% line."""


def gradient_share_records(results: dict) -> list[dict]:
    """Each loss term's share of the trunk gradient per outer iteration (``a2lib.diagnostics``), in the layout of
    ``history_records`` (``quantity`` = the term, ``kind`` = ``SHARE_KIND``); iterations where every gradient was
    zero (share None) are left out."""
    return [{"run": name, "iteration": record["iteration"], "quantity": key[len(SHARE_PREFIX):], "value": value,
             "kind": SHARE_KIND, **run_fields(result)}
            for name, result in results.items() for record in result.history
            for key, value in record.items() if key.startswith(SHARE_PREFIX) and value is not None]


def gradient_shares(result) -> dict[str, dict[str, float]]:
    """``{"first": {term: share}, "last": {term: share}}``: each loss term's share of the trunk gradient at the first
    and the last outer iteration of a training run (a term under 1% of the trunk gradient barely acts)."""
    shares = [{key[len(SHARE_PREFIX):]: value for key, value in record.items() if key.startswith(SHARE_PREFIX)}
              for record in result.history]
    shares = [row for row in shares if row]
    return {"first": shares[0], "last": shares[-1]} if shares else {}


INERT_SHARE = 0.01
"""A loss term with under 1% of the trunk gradient at both the first and the last outer iteration is called inert."""


def term_say(results: dict, threshold: float = INERT_SHARE, only: str | None = None) -> list[dict]:
    """Per run and loss term (the term ``only`` when given): its share of the trunk gradient at the first and last outer
    iteration and whether it ``acts`` (either share at least ``threshold``) or is ``inert``; ``results`` maps a run
    name to a TrainResult."""
    rows = []
    for name, result in results.items():
        shares = gradient_shares(result)
        for term in [t for t in shares.get("first", {}) if only in (None, t)]:
            first, last = shares["first"].get(term), shares["last"].get(term)
            known = [value for value in (first, last) if value is not None]
            verdict = "acts" if any(value >= threshold for value in known) else "inert" if known else "no gradient"
            rows.append({"run": name, "term": term, "first": first, "last": last, "verdict": verdict})
    return rows


def _names(methods) -> str:
    names = [display_name(m) for m in methods]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def versus_reference(means: dict[str, float], reference: str = "baseline") -> str:
    """Which method of ``means`` ({method: score}, higher is better) is best and which score above, level with or
    below ``reference``, in the figures' names, e.g. ``"ADSH is best: ExchNet, A²-Net and A²-Net++ score below
    it"`` or ``"A²-Net++ is best; above ADSH: A²-Net++ and A²-Net; below it: ExchNet"``."""
    if not means:
        raise ValueError("versus_reference needs at least one method's score")
    top = max(float(v) for v in means.values())
    best = [m for m in means if float(means[m]) == top]
    lead = f"{display_name(best[0])} is best" if len(best) == 1 else f"{_names(best)} share the best score"
    if reference not in means or len(means) == 1:
        return lead
    ref = float(means[reference])
    groups = {side: [m for m in means if m != reference and test(float(means[m]), ref)] for side, test in (
        ("above", float.__gt__), ("level with", float.__eq__), ("below", float.__lt__))}
    if best == [reference]:
        return f"{lead}: {_names(groups['below'])} score below it"
    parts, named = [], display_name(reference)
    for side, methods in groups.items():
        if methods:
            parts.append(f"{side} {named}: {_names(methods)}")
            named = "it"
    return f"{lead}; " + "; ".join(parts)


def training_seconds(results: dict) -> dict[str, float]:
    """Each run's training wall time (``elapsed_s`` of its last history record) keyed by its key's parts joined
    with "/" (numbers as ``{:g}``); runs without a history (fitted, not trained) are left out."""
    def name(key) -> str:
        parts = key if isinstance(key, tuple) else (key,)
        return "/".join(f"{part:g}" if isinstance(part, float) else str(part) for part in parts)
    return {name(key): result.history[-1]["elapsed_s"] for key, result in results.items() if result.history}


def ndcg_rows(results: dict, train_set: Dataset, test_set: Dataset, queries, ks, device=None) -> list[dict]:
    """Attribute NDCG@k (Table 8's measure) of each ``(method, bits) -> TrainResult``: ``{method, bits, k, NDCG}``
    rows; queries = the test items ``queries`` (encoded, sign), database = each result's learned codes B, relevance
    = shared attributes."""
    query_attributes = test_set.attributes[queries]
    rows = []
    for (method, bits), result in results.items():
        codes = binary(encode_dataset(result.model, test_set, device=device, indices=queries))
        db_attributes = train_set.attributes[result.db_indices]
        for k in ks:
            rows.append({"method": method, "bits": bits, "k": k,
                         "NDCG": ndcg_at_k(codes, result.database_codes(), query_attributes, db_attributes, k)})
    return rows


def ndcg_references(train_set: Dataset, test_set: Dataset, queries, db_indices, ks, random_bits: int,
                    oracle_bits: int, seed: int) -> list[dict]:
    """NDCG@k rows (``bits`` = ``REFERENCE_BITS``) of two references over the same queries and database items:
    "random codes" (independent random ``random_bits``-bit codes: chance) and "class oracle" (one random
    ``oracle_bits``-bit code per class, so exactly the same-class items tie at distance 0: a perfect class
    ranking that knows nothing of attributes). Seeded: class codes, then query, then database codes."""
    generator = torch.Generator().manual_seed(seed)
    class_codes = binary(torch.randn(train_set.num_classes, oracle_bits, generator=generator))
    references = {"random codes": (binary(torch.randn(len(queries), random_bits, generator=generator)),
                                   binary(torch.randn(len(db_indices), random_bits, generator=generator))),
                  "class oracle": (class_codes[test_set.labels[queries]], class_codes[train_set.labels[db_indices]])}
    query_attributes, db_attributes = test_set.attributes[queries], train_set.attributes[db_indices]
    return [{"method": name, "bits": REFERENCE_BITS, "k": k,
             "NDCG": ndcg_at_k(q_codes, d_codes, query_attributes, db_attributes, k)}
            for name, (q_codes, d_codes) in references.items() for k in ks]


def ndcg_by_method(rows: list[dict]) -> tuple[dict, dict]:
    """(curves, references) of ``ndcg_rows`` + ``ndcg_references`` rows, as the NDCG figure takes them:
    ``curves[(method, bits)] = {k: NDCG}`` and ``references[name] = {k: NDCG}`` (rows with ``REFERENCE_BITS``)."""
    curves, references = {}, {}
    for row in rows:
        if row["bits"] == REFERENCE_BITS:
            references.setdefault(row["method"], {})[row["k"]] = row["NDCG"]
        else:
            curves.setdefault((row["method"], row["bits"]), {})[row["k"]] = row["NDCG"]
    return curves, references


__all__ = [
    "ABLATION_STEPS", "AblationStep", "DEFAULT_PRECISION_K", "REFERENCE_BITS", "SHARE_KIND", "VAL_MAP",
    "ablation_configs", "evaluate_retrieval", "gradient_share_records", "gradient_shares", "history_records",
    "ndcg_by_method", "ndcg_references", "ndcg_rows", "pick_queries", "retrieval_examples", "run_fields",
    "top_k_retrievals", "training_seconds", "versus_reference", "zero_shot_classes", "zero_shot_config", "zero_shot_evaluate",
]
