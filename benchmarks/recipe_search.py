"""The recipe search: every method of Table 2 gets the same number of trials, chosen on validation mAP over seeds.

Study: embedded fine-grained data (``synth-birds``), recipe ``quick`` with the quick profile's schedule (8 outer
iterations, decay at 6), 48 bits, as notebook 02 trains it. Each method gets ``len(LRS) × 2`` trials: the learning
rate (shared by every method) crossed with one switch of its own, the option the recipe sets for it or the one it
is most sensitive to: ``normalize_parts`` for A²-Net and A²-Net++ (raw or L2-normalised parts), ``batch_size`` for
BASELINE and ExchNet (16 or 32 images). A trial is scored by the validation mAP of the kept outer iteration
(``TrainResult.best_val_map``: tie-aware mAP of the validation items, held out of the training split; the test split
is never read for the choice), mean and 95% t-interval over the seeds; the chosen trial has the highest mean. The
test mAP of the recipe before the search and of the chosen trial is reported after the choice. Trainings run in
``--workers`` one-thread processes through the model cache (a trial already cached costs nothing).

    python benchmarks/recipe_search.py [--seeds 0 1] [--workers 2] [--out benchmarks/recipe_search.md]
"""
from __future__ import annotations

import argparse
import itertools
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from a2lib import folders, machine
from a2lib.studies import Study
from a2lib.studies.claims import interval
from a2lib.studies.comparison import evaluate_retrieval
from a2lib.train import load_or_train
from a2lib.workbook import paths
from a2lib.workbook.fanout import train_entries

BITS = 48
STUDY = {"dataset": "synth-birds", "recipe": "quick", "train_options": {"outer_iterations": 8, "lr_decay_at": 6},
         "seed": 0, "device": "cpu"}
LRS = (0.001, 0.002)
SWITCHES = {
    "baseline": ("train", "batch_size", (16, 32)),
    "exchnet": ("train", "batch_size", (16, 32)),
    "a2net": ("model", "normalize_parts", (False, True)),
    "a2net++": ("model", "normalize_parts", (False, True)),
}
"""Per method: (where the switch goes: train or model options, its name, its values)."""
BEFORE = {"baseline": (0.002, 16), "exchnet": (0.002, 16), "a2net": (0.002, False), "a2net++": (0.002, False)}
"""Each method's (learning rate, switch value) in the ``quick`` recipe before this search chose them."""


def trials(method: str) -> list[dict]:
    """The trials of ``method``: {"lr": …, "train": {…}, "model": {…}} for every learning rate × switch value."""
    where, name, values = SWITCHES[method]
    return [{"lr": lr, "train": {name: v} if where == "train" else {}, "model": {name: v} if where == "model" else {}}
            for lr, v in itertools.product(LRS, values)]


def before_index(method: str) -> int:
    """The index of the trial that is the recipe before the search."""
    lr, value = BEFORE[method]
    return [(t["lr"], *t["train"].values(), *t["model"].values()) for t in trials(method)].index((lr, value))


def trial_text(trial: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in {"lr": trial["lr"], **trial["train"], **trial["model"]}.items())


def config_of(study: Study, method: str, trial: dict, seed: int):
    return study.config(method, BITS, seed=seed, options=trial["model"], lr=trial["lr"], **trial["train"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(SWITCHES))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("recipe_search.md"))
    args = parser.parse_args(argv)
    paths.activate()
    box = machine.describe()
    study = Study(**STUDY)
    jobs = [(m, i, s) for m in args.methods for i, _ in enumerate(trials(m)) for s in args.seeds]
    configs = {job: config_of(study, job[0], trials(job[0])[job[1]], job[2]) for job in jobs}
    start = time.perf_counter()
    shares = [[configs[j].to_dict() for j in jobs[w::args.workers]] for w in range(args.workers)]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = [o for share in pool.map(train_entries, shares, [str(folders.cache_root())] * len(shares),
                                            [str(folders.data_root())] * len(shares), [1] * len(shares))
                    for o in share]
    failed = [o for o in outcomes if o.error]
    if failed:
        print(failed[0].error, file=sys.stderr)
        return 1
    wall = time.perf_counter() - start
    values = {job: load_or_train(config, verbose=False).best_val_map for job, config in configs.items()}
    lines = [f"# Recipe search: {BITS} bits, `synth-birds`, recipe `quick` (8 outer iterations)", "",
             __doc__.split("\n\n")[0].split(": ", 1)[1], "",
             f"Command: `python benchmarks/recipe_search.py --seeds {' '.join(map(str, args.seeds))} "
             f"--workers {args.workers}`", "",
             f"Machine score {box['score_images_per_s']:.0f} images/s ({box['cpu_model']}, {box['cpu_cores']} cores, "
             f"torch {torch.__version__}); {len(jobs)} trainings in {wall:.0f} s "
             f"with {args.workers} one-thread workers.", "",
             "| method | trial | validation mAP per seed | mean ± 95% interval | chosen |", "|---|---|---|---|---|"]
    chosen = {}
    for method in args.methods:
        rows = []
        for i, trial in enumerate(trials(method)):
            per_seed = [values[(method, i, s)] for s in args.seeds]
            rows.append((trial, per_seed, *interval(per_seed)))
        best = chosen[method] = max(range(len(rows)), key=lambda r: rows[r][2])
        for r, (trial, per_seed, mean, half) in enumerate(rows):
            spread = f"{mean:.3f} ± {half:.3f}" if half is not None else f"{mean:.3f}"
            lines.append(f"| {method} | {trial_text(trial)} | {', '.join(f'{v:.3f}' for v in per_seed)} | {spread} "
                         f"| {'**chosen**' if r == best else ''} |")
    lines += ["", "Test mAP (tie-aware, test split against the learned database codes) of the recipe before the search "
              "and of the chosen trial, read after the choice (never used for it); after − before paired by seed.",
              "", "| method | before | after | after − before per seed |", "|---|---|---|---|"]
    test_set = study.load("test")
    for method in args.methods:
        pair = [before_index(method), chosen[method]]
        maps = [[evaluate_retrieval(load_or_train(configs[(method, i, s)], verbose=False), test_set)["map"]
                 for s in args.seeds] for i in pair]
        lines.append(f"| {method} | {trial_text(trials(method)[pair[0]])}: {', '.join(f'{v:.3f}' for v in maps[0])} "
                     f"| {trial_text(trials(method)[pair[1]])}: {', '.join(f'{v:.3f}' for v in maps[1])} "
                     f"| {', '.join(f'{a - b:+.3f}' for a, b in zip(maps[1], maps[0]))} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
