"""Each loss term's share of the trunk gradient under the three readings of Eq. (15), each reading trained under itself.

``benchmarks/term_shares.py`` measures the three readings on one model trained with the default reading; here the
model is trained once per reading, so the end-of-training shares are those of a training under that reading.
A²-Net++ on the embedded dominoes (``synth-dominoes``, 32 bits, recipe ``quick-dominoes``, η = 0.5 as notebook 01)
trained once per ``LossWeights.reduction``: ``element_mean`` (the public code's), ``per_image`` (norms per image,
hashing a mean over pairs) and ``sum`` (Eq. 13/15 as printed: every term summed, hashing over all n x N pairs).
The shares are the trainer's own diagnostic (``a2lib.diagnostics.term_gradients`` on its fixed batch): at
initialisation (before the first outer iteration, B at its random start) and after the last outer iteration.
Writes ``benchmarks/term_shares_trained.md``.

    OMP_NUM_THREADS=1 python benchmarks/term_shares_trained.py [--outer-iterations 8]
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

from a2lib.losses import REDUCTIONS
from a2lib.studies import Study
from a2lib.train import Trainer, build_model, load_dataset

METHOD, BITS, ETA, SEED = "a2net++", 32, 0.5, 0
STUDY = {"dataset": "synth-dominoes", "recipe": "quick-dominoes", "eta": ETA, "seed": SEED, "device": "cpu"}
SCORE_TOOL = Path("/work/shared/tools/cpu_score.py")
TERMS = ("hashing", "quantization", "feature_reconstruction", "decorrelation", "image_reconstruction")
SHARE = "grad_share/"


def shares_of(record: dict) -> dict[str, float | None]:
    """``{term: share}`` from a diagnostic record (``grad_share/<term>`` keys)."""
    return {key[len(SHARE):]: value for key, value in record.items() if key.startswith(SHARE)}


def run_reading(reduction: str, outer_iterations: int | None) -> dict:
    """Init and final shares, last validation mAP and seconds for one reading."""
    overrides = {"outer_iterations": outer_iterations} if outer_iterations else {}
    config = Study(**STUDY).config(METHOD, BITS, loss_weights={"reduction": reduction}, **overrides)
    torch.manual_seed(config.seed)
    model = build_model(config)
    trainer = Trainer(model, load_dataset(config, "train"), config, None, verbose=False)
    start = time.perf_counter()
    initial = shares_of(trainer.gradient_diagnostic())
    try:
        result = trainer.run(None)
    except FloatingPointError as error:
        return {"init": initial, "end": {}, "val_map": None, "seconds": time.perf_counter() - start,
                "note": f"diverged: {error}", "iterations": config.outer_iterations}
    last = result.history[-1]
    return {"init": initial, "end": shares_of(last), "val_map": last.get("val_map"),
            "seconds": time.perf_counter() - start, "note": "", "iterations": config.outer_iterations}


def machine_score() -> str:
    """The line ``cpu_score.py`` prints, or why there is none."""
    if not SCORE_TOOL.exists():
        return f"(no {SCORE_TOOL})"
    done = subprocess.run([sys.executable, str(SCORE_TOOL)], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip()


def cell(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def table(runs: dict[str, dict], when: str) -> list[str]:
    lines = ["| term | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for term in TERMS:
        lines.append(f"| {term} | " + " | ".join(cell(run[when].get(term)) for run in runs.values()) + " |")
    return lines


def report(runs: dict[str, dict], command: str, score: str, outer_iterations: int | None) -> str:
    iterations = ", ".join(map(str, sorted({run["iterations"] for run in runs.values()})))
    schedule = (f"the recipe's full schedule ({iterations} outer iterations)" if not outer_iterations else
                f"{iterations} outer iterations, fewer than the recipe's (shortened for the machine's load)")
    lines = [
        "# Trunk-gradient share of each loss term, each reading of Eq. (15) trained under itself",
        "",
        f"A²-Net++, {BITS} bits, embedded dominoes (`synth-dominoes`), recipe `quick-dominoes`, η = {ETA}, seed "
        f"{SEED}, CPU; {schedule}. Each term's share "
        "of the summed per-term gradient norms on the shared trunk (`a2lib.diagnostics.term_gradients`, the "
        "trainer's fixed batch; shares add up to 1).",
        "",
        "- `element_mean`: the public code's (default): norms as element means, hashing a mean over pairs;",
        "- `per_image`: each norm summed over one item's elements, mean over the batch; hashing a mean over pairs;",
        "- `sum`: Eq. (13)/(15) as printed, every term summed, hashing over all n x N batch-database pairs.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: `{score}`",
        "",
        "## At initialisation (before the first outer iteration)",
        "",
        *table(runs, "init"),
        "",
        "## After the last outer iteration",
        "",
        *table(runs, "end"),
        "",
        "| | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
        "| validation mAP, last iteration | " + " | ".join(cell(run["val_map"]) for run in runs.values()) + " |",
        "| seconds (training + diagnostics) | " + " | ".join(f"{run['seconds']:.0f}" for run in runs.values()) + " |",
    ]
    notes = [f"- `{name}`: {run['note']}" for name, run in runs.items() if run["note"]]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outer-iterations", type=int, default=None,
                        help="fewer outer iterations than the recipe's 8 (a loaded machine)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("term_shares_trained.md")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    score = machine_score()
    runs = {}
    for reduction in REDUCTIONS:
        runs[reduction] = run_reading(reduction, args.outer_iterations)
        print(reduction, runs[reduction], flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/term_shares_trained.py" + (
        f" --outer-iterations {args.outer_iterations}" if args.outer_iterations else "")
    text = report(runs, command, score, args.outer_iterations)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
