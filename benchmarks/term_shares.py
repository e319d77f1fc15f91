"""Each loss term's share of the trunk gradient under the three readings of Eq. (15) (``LossWeights.reduction``).

A²-Net++ on ``synth-dominoes`` as notebook 01's ``quick`` profile trains it (recipe ``quick-dominoes``, η = 0.5,
32 bits): for each seed, the training diagnostic (``Trainer.gradient_diagnostic``: one fixed batch, the first
``batch_size`` database items) is computed at initialisation (the seeded untrained model, B its random start) and at
the end of a training with the default reading (the kept model and its learned B), once per reading on the same model
and B, so the columns differ only in how the terms are scaled. Writes ``benchmarks/term_shares.md`` with the command.
Usage: python benchmarks/term_shares.py [--seeds 0] [--bits 32] [--root data] [--cache DIR]
"""
import argparse
import dataclasses
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from a2lib.folders import DATA_ENV
from a2lib.losses import REDUCTIONS
from a2lib.studies import Study
from a2lib.train import build_model, load_or_train
from a2lib.train.trainer import Trainer

METHOD, RECIPE, ETA = "a2net++", "quick-dominoes", 0.5
SHARE = "grad_share/"


def shares(model, train_set, config, database_codes=None) -> dict[str, float]:
    """``{term: trunk-gradient share}`` of the training diagnostic for ``model`` under ``config``'s loss weights."""
    trainer = Trainer(model, train_set, config, None, verbose=False)
    if database_codes is not None:
        trainer.scheme.load_state(database_codes)
    return {key[len(SHARE):]: value for key, value in trainer.gradient_diagnostic().items() if key.startswith(SHARE)}


def measure(seed: int, bits: int, cache: str) -> dict:
    """``{"init": {reading: shares}, "end": {reading: shares}, "seconds": ...}`` for one seed."""
    study = Study(dataset="synth-dominoes", recipe=RECIPE, eta=ETA, seed=seed, device="cpu")
    train_set = study.load("train")
    base = study.config(METHOD, bits)
    configs = {r: dataclasses.replace(base, loss_weights=dataclasses.replace(base.loss_weights, reduction=r))
               for r in REDUCTIONS}
    start = time.perf_counter()
    result = load_or_train(base, cache_dir=cache, verbose=False)
    trained = time.perf_counter() - start
    return {"init": {r: shares(build_model(c), train_set, c) for r, c in configs.items()},
            "end": {r: shares(result.model, train_set, c, result.db_codes) for r, c in configs.items()},
            "training_seconds": trained, "kept_iteration": result.best_iteration}


def table(by_seed: dict, when: str) -> list[str]:
    terms = sorted({t for m in by_seed.values() for s in m[when].values() for t in s})
    lines = [f"| seed | term | {' | '.join(REDUCTIONS)} |", "|---|---|" + "---|" * len(REDUCTIONS)]
    for seed, m in by_seed.items():
        for term in terms:
            cells = [m[when][r].get(term) for r in REDUCTIONS]
            lines.append(f"| {seed} | {term} | " + " | ".join("-" if v is None else f"{v:.4f}" for v in cells) + " |")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--root", default="data", help="data folder (sets $A2LIB_DATA)")
    parser.add_argument("--cache", default=None, help="model cache folder (default: a temporary one)")
    parser.add_argument("--score", default="not measured", help="machine score (cpu_score.py images/s)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ[DATA_ENV] = os.path.abspath(args.root)
    with tempfile.TemporaryDirectory() as temporary:
        by_seed = {s: measure(s, args.bits, args.cache or temporary) for s in args.seeds}
    lines = ["# Trunk-gradient share of each loss term under the three readings of Eq. (15)", "",
             f"A²-Net++, {args.bits} bits, `synth-dominoes`, recipe `{RECIPE}`, η = {ETA} (notebook 01's quick "
             "setting); the training diagnostic's fixed batch. `element_mean`: the public code's means (default); "
             "`per_image`: each norm summed per item; `sum`: Eq. (15) as printed (every term summed, hashing over "
             "all n x N pairs). The end-of-training model was trained with the default reading.", "",
             f"Command: `python benchmarks/{Path(__file__).name} {shlex.join(sys.argv[1:])}`; machine score "
             f"{args.score}; training seconds per seed: "
             + ", ".join(f"{s}: {m['training_seconds']:.0f}" for s, m in by_seed.items()), "",
             "## At initialisation", "", *table(by_seed, "init"), "",
             "## At the end of training (kept iteration "
             + ", ".join(f"seed {s}: {m['kept_iteration']}" for s, m in by_seed.items()) + ")", "",
             *table(by_seed, "end"), ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
