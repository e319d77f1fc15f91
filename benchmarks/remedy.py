"""Last-layer re-training of the dominoes BASELINE (``a2lib.studies.remedy``) at the quick recipe, per seed.

BASELINE, 32 bits, embedded dominoes (``synth-dominoes``, recipe ``quick-dominoes``), trained as notebook 01 trains
it (intact dominoes, its monitors; the model cache is used), then its hash layer and learned codes re-fitted on its
300 validation items with the simple block randomised. Prints, per seed, the mAP before and after on the intact and
complex-only test sets, the seconds of each step and the machine score. Writes ``benchmarks/remedy.md``.

    OMP_NUM_THREADS=1 python benchmarks/remedy.py [--seeds 0 1 2] [--out benchmarks/remedy.md]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

from a2lib.studies import Study, remedy, simplicity

BITS = 32
STUDY = {"dataset": "synth-dominoes", "recipe": "quick-dominoes", "eta": 0.5, "seed": 0, "device": "cpu"}
TESTS = ("both", "complex-only (randomised)", "complex-only (blanked)", "simple-only (randomised)")
SCORE_TOOL = Path("/work/shared/tools/cpu_score.py")


def machine_score() -> str:
    """The line ``cpu_score.py`` prints, or why there is none."""
    if not SCORE_TOOL.exists():
        return f"(no {SCORE_TOOL})"
    done = subprocess.run([sys.executable, str(SCORE_TOOL)], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip()


def one_seed(study: Study, seed: int) -> dict:
    start = time.perf_counter()
    baseline = study.train(remedy.REFERENCE_METHOD, BITS, seed=seed, variant="both", monitors=simplicity.MONITORS)
    trained = time.perf_counter()
    dataset, indices = remedy.refit_items(study, baseline)
    refit = remedy.retrain_last_layer(baseline, dataset, indices, remedy.RefitConfig(seed=seed))
    refitted = time.perf_counter()
    return {"before": simplicity.variant_maps(baseline, study), "after": simplicity.variant_maps(refit, study),
            "train_s": trained - start, "refit_s": refitted - trained, "held_out": len(indices)}


def report(runs: dict[int, dict], command: str, score: str) -> str:
    lines = ["# Last-layer re-training of the dominoes BASELINE (quick recipe, 32 bits)", "",
             "BASELINE trained on intact `synth-dominoes` (recipe `quick-dominoes`, as notebook 01; model cache used), "
             "then its hash layer and learned database codes re-fitted with the trunk frozen "
             "(`a2lib.studies.remedy.retrain_last_layer`, default `RefitConfig`) on its validation items with the "
             "simple block from a random other class. Tie-aware mAP against the learned database codes.", "",
             f"Command: `{command}`", "", f"Machine: `{score}`", "",
             "| seed | test data | before | after |", "|---|---|---|---|"]
    for seed, run in runs.items():
        for test in TESTS:
            lines.append(f"| {seed} | {test} | {run['before'][test]:.3f} | {run['after'][test]:.3f} |")
    lines += ["", "| seed | held-out items | training or cache load (s) | re-fit (s) |", "|---|---|---|---|"]
    for seed, run in runs.items():
        lines.append(f"| {seed} | {run['held_out']} | {run['train_s']:.1f} | {run['refit_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(Path(__file__).with_name("remedy.md")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    score = machine_score()
    study = Study(**STUDY)
    runs = {}
    for seed in args.seeds:
        runs[seed] = one_seed(study, seed)
        test = "complex-only (randomised)"
        print(f"seed {seed}: {test} mAP {runs[seed]['before'][test]:.3f} -> {runs[seed]['after'][test]:.3f}; "
              f"intact {runs[seed]['before']['both']:.3f} -> {runs[seed]['after']['both']:.3f}; "
              f"re-fit {runs[seed]['refit_s']:.1f} s", flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/remedy.py --seeds " + " ".join(map(str, args.seeds))
    text = report(runs, command, score)
    Path(args.out).write_text(text)
    print(score)
    print(text)


if __name__ == "__main__":
    main()
