"""How a lesser CPU class changes the workbook's training steps: the machine score and the images/s of one A²-Net++
and one BASELINE training step (synth-dominoes, ``quick-dominoes``), with this CPU as it is, with torch and oneDNN
limited to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, ``DNNL_MAX_CPU_ISA=AVX2``: an AVX2-only AMD EPYC), and AVX2 with oneDNN
off (``torch.backends.mkldnn.enabled=False``). The settings are per process, so each round runs one child process
per setting, in an order that rotates between rounds (load falls on all alike); each child also profiles one step of
each method and reports its top kernels. Prints markdown.

    python benchmarks/cpu_class.py [--rounds 3] [--out table.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SETTINGS = {
    "as is": {},
    "AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2"},
    "AVX2, oneDNN off": {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2", "A2LIB_NO_MKLDNN": "1"},
}
METHODS = ("a2net++", "baseline")
STEPS = 6
TOP = 6


def child() -> None:
    """One measurement in this process's setting: JSON on stdout."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    if os.environ.get("A2LIB_NO_MKLDNN"):
        torch.backends.mkldnn.enabled = False
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_speed

    from a2lib import machine

    out = {"capability": machine.cpu_capability(), "mkldnn": torch.backends.mkldnn.enabled,
           "score": machine.score(repeats=3).images_per_s}
    for method in METHODS:
        step, batch = bench_speed.training_step(method, "synth-dominoes", fast=True)
        step()
        rates = []
        for _ in range(STEPS):
            start = time.perf_counter()
            step()
            rates.append(batch / (time.perf_counter() - start))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in events)
        out[method] = {"images_per_s": statistics.median(rates),
                       "top": [(e.key, round(100 * e.self_cpu_time_total / total)) for e in events[:TOP]]}
    print(json.dumps(out))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    names = list(SETTINGS)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    load = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            env = {**os.environ, "OMP_NUM_THREADS": "1", **SETTINGS[name]}
            done = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True,
                                  check=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    load.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    base = runs["as is"]
    lines = [f"Made by `python benchmarks/cpu_class.py --rounds {args.rounds}` (1 thread; one child process per "
             f"setting per round, rotating order; load before: `{load[0]}`, after: `{load[1]}`).", "",
             "| setting | torch capability | oneDNN | machine score | A²-Net++ images/s | BASELINE images/s | "
             "score / as is | A²-Net++ / as is | BASELINE / as is |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        rows = runs[name]

        def med(key, sub=None):
            return statistics.median(r[key] if sub is None else r[key][sub] for r in rows)

        def ratio(key, sub=None):
            return statistics.median((r[key] if sub is None else r[key][sub]) / (b[key] if sub is None else
                                                                               b[key][sub])
                                     for r, b in zip(rows, base))
        lines.append(f"| {name} | {rows[0]['capability']} | {'on' if rows[0]['mkldnn'] else 'off'} | "
                     f"{med('score'):.0f} | {med('a2net++', 'images_per_s'):.0f} | "
                     f"{med('baseline', 'images_per_s'):.0f} | {ratio('score'):.2f} | "
                     f"{ratio('a2net++', 'images_per_s'):.2f} | {ratio('baseline', 'images_per_s'):.2f} |")
    lines += ["", "Top kernels (share of self CPU time of one profiled step, last round):", ""]
    for name in names:
        for method in METHODS:
            top = ", ".join(f"{key} {share}%" for key, share in runs[name][-1][method]["top"])
            lines.append(f"- {name}, {method}: {top}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
