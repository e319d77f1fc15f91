"""``torch.compile`` against eager on the CPU: one training step of the quick configs, paired and interleaved.

For each method x dataset (``bench_speed.SETTINGS``) it builds the fast-path training step twice from the same
seed, once eager and once with the model wrapped in ``torch.compile`` (default mode, inductor), times the compiled
step's first call (the compilation, paid once per process and model shape) and then alternates single steps of the
two. Reports the median images/s of each, the median paired ratio (compiled / eager), the compilation seconds and
how many eager steps they would buy, with the machine score.

    OMP_NUM_THREADS=1 python benchmarks/bench_compile.py [--pairs 10] [--threads 1] [--out bench_compile.md]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import METHODS, SETTINGS, alternate, training_step, uptime  # noqa: E402

from a2lib import machine  # noqa: E402


def paired(method: str, dataset: str, pairs: int) -> dict:
    eager, batch = training_step(method, dataset, fast=True)
    compiled, _ = training_step(method, dataset, fast=True, compiled=True)
    start = time.perf_counter()
    compiled()
    compile_s = time.perf_counter() - start
    before, after = alternate(eager, compiled, batch, pairs)
    ratios = [a / b for a, b in zip(after, before)]
    eager_s = batch / statistics.median(before)
    return {"method": method, "dataset": dataset, "eager": statistics.median(before),
            "compiled": statistics.median(after), "ratio": statistics.median(ratios), "low": min(ratios),
            "high": max(ratios), "compile_s": compile_s, "steps": compile_s / eager_s}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before, score = uptime(), machine.score().images_per_s
    rows = [paired(m, d, args.pairs) for d in args.datasets for m in args.methods]
    lines = ["# torch.compile against eager, one CPU training step (quick configs, fast paths)", "",
             f"Command: `OMP_NUM_THREADS={args.threads} python benchmarks/bench_compile.py --pairs {args.pairs} "
             f"--threads {args.threads} --methods {' '.join(args.methods)} --datasets {' '.join(args.datasets)}`", "",
             f"Machine score {score:.0f} images/s; torch {torch.__version__}, {args.threads} thread(s); "
             f"load before: `{load_before}`, after: `{uptime()}`.", "",
             "| method | data | eager images/s | compiled images/s | compiled / eager (median, min–max) | "
             "compilation s | eager steps it costs |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['dataset']} | {r['eager']:.0f} | {r['compiled']:.0f} | {r['ratio']:.2f} "
              f"({r['low']:.2f}–{r['high']:.2f}) | {r['compile_s']:.0f} | {r['steps']:.0f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
