"""Speed and memory of tie-aware mAP@all (issue 5): 10,000 x 10,000 codes at 48 bits, and 50,000 x 100,000 chunked.

Run: ``python benchmarks/bench_evaluate.py`` (about a minute on 2 cores). Each case runs in a fresh child process so
its peak resident memory (``ru_maxrss``) is its own; the figure includes the Python/torch runtime (~0.3 GB).
Targets: <= 5 s for the first case on 2 cores, <= 4 GiB peak for the second. CPU seconds are printed too: on a
busy machine wall time grows with the load, CPU time does not (wall ~ CPU / threads when the cores are free).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

BITS = 48
NUM_CLASSES = 200
TIME_TARGET_S = 5.0
MEMORY_TARGET_GIB = 4.0


def run_case(n_query: int, n_db: int, ties: str, threads: int) -> dict:
    import numpy as np
    import torch

    from a2lib.evaluate import mean_average_precision

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    q = torch.from_numpy(np.where(rng.random((n_query, BITS)) < 0.5, -1.0, 1.0).astype(np.float32))
    d = torch.from_numpy(np.where(rng.random((n_db, BITS)) < 0.5, -1.0, 1.0).astype(np.float32))
    ql = torch.from_numpy(rng.integers(0, NUM_CLASSES, n_query))
    dl = torch.from_numpy(rng.integers(0, NUM_CLASSES, n_db))
    start, cpu_start = time.perf_counter(), time.process_time()
    value = mean_average_precision(q, d, ql, dl, ties=ties)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"queries": n_query, "database": n_db, "bits": BITS, "ties": ties, "threads": threads,
            "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3), "peak_rss_gib": round(peak_gib, 3),
            "map": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-large", action="store_true", help="only the 10k x 10k timing")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n_query, n_db, ties = args.case.split(",")
        print(json.dumps(run_case(int(n_query), int(n_db), ties, args.threads)))
        return
    cases = [(10_000, 10_000, "average"), (10_000, 10_000, "legacy")]
    if not args.skip_large:
        cases.append((50_000, 100_000, "average"))
    for n_query, n_db, ties in cases:
        out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--case",
                              f"{n_query},{n_db},{ties}"], check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"mAP@all ties={ties:7s} {n_query:>6d} queries x {n_db:>7d} db x {BITS} bits, "
              f"{args.threads} threads: {result['seconds']:7.2f} s wall ({result['cpu_seconds']:.2f} s CPU), "
              f"peak RSS {result['peak_rss_gib']:.2f} GiB "
              f"(mAP {result['map']:.4f})")


if __name__ == "__main__":
    main()
