"""Training-step images/s before and after the CPU fast paths (``a2lib.speed``), paired and interleaved in one run.

For each method x dataset it builds the training step of the ``quick`` profile's notebooks (synth-dominoes: notebook
01 at 32 bits; synth-birds: notebook 02 at 48 bits; their own configs, recipes and data options) twice from the
same seed, one on the reference code path
(``a2lib.speed.reference_paths``) and one on the fast paths, then times one step of each in turn, alternating
which goes first, so that the load of a shared machine falls on both alike. Reports the median images/s of each and
the median of the paired ratios (fast / reference), with the machine score and ``uptime`` before and after.
With ``--machine`` it also measures the whole machine's training throughput the way a profile trains: before, the
reference path in one process using every core (how the notebooks trained before ``train_workers``); after, the fast
paths in one one-thread worker per core, stepping at the same time (``train_workers: 2`` on a 2-core machine). Each
pair times ``MACHINE_STEPS`` steps of each side, alternating which goes first.
With ``--maps`` it also trains each method briefly (``MAP_TRAINING``) from seeds 0-2 on both paths and reports the
test mAP of each and their paired differences: the fast paths change rounding, not what is learned.

    OMP_NUM_THREADS=1 python benchmarks/bench_speed.py [--pairs 15] [--threads 1] [--machine] [--maps] [--out F]
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from a2lib import machine, speed
from a2lib.train.cache import build_model, load_dataset
from a2lib.train.config import TrainConfig
from a2lib.evaluate import mean_average_precision
from a2lib.inference import binary, encode_dataset
from a2lib.train.trainer import Trainer, dataset_labels, train
from a2lib.workbook import load_profile

SETTINGS = {"synth-dominoes": ("01_simplicity_bias", 32), "synth-birds": ("02_training", 48)}
"""Dataset -> (notebook, bits) of the quick profile that trains on it (01: dominoes; 02-06: birds)."""
METHODS = ("a2net++", "a2net", "baseline", "exchnet")
OMEGA = 200
"""Items of the one outer iteration the steps are drawn from (the timed step does not depend on it)."""
WARMUP = 2
MAP_TRAINING = {"outer_iterations": 3, "n_samples": 256, "inner_epochs": 1, "eval_every": 3, "lr_decay_at": 2}
"""The brief training of the mAP check: the quick config's model and optimiser, three short outer iterations."""
MAP_SEEDS = (0, 1, 2)
MACHINE_STEPS = 4
"""Steps each side runs per pair in the machine throughput (a block long enough to time several processes)."""


def quick_config(method: str, dataset: str, **overrides) -> TrainConfig:
    """The config the quick profile trains ``method`` with on ``dataset`` (``SETTINGS``), on the CPU, without the
    gradient diagnostic, with ``overrides``."""
    notebook, bits = SETTINGS[dataset]
    config = load_profile("quick").study(notebook).config(method, bits)
    return dataclasses.replace(config, **{"grad_diagnostic": False, "device": "cpu", **overrides})


def test_map(method: str, dataset: str, seed: int, fast: bool) -> float:
    """Test mAP (queries: the test split; database: the learned codes) of a brief training on one path."""
    config = quick_config(method, dataset, **MAP_TRAINING, seed=seed)
    with (_nothing() if fast else speed.reference_paths()):
        result = train(build_model(config), load_dataset(config, "train"), config, verbose=False)
        test = load_dataset(config, "test")
        queries = binary(encode_dataset(result.model, test, config.eval_batch_size, "cpu"), "query codes")
    return float(mean_average_precision(queries, result.database_codes(), dataset_labels(test), result.db_labels))


def map_rows(methods, datasets) -> list[dict]:
    rows = []
    for dataset in datasets:
        for method in methods:
            before = [test_map(method, dataset, seed, fast=False) for seed in MAP_SEEDS]
            after = [test_map(method, dataset, seed, fast=True) for seed in MAP_SEEDS]
            rows.append({"method": method, "dataset": dataset, "before": before, "after": after,
                         "diffs": [a - b for a, b in zip(after, before)]})
    return rows


def training_step(method: str, dataset: str, fast: bool, compiled: bool = False):
    """A function running one training step (forward, loss, backward, optimiser step) of ``method`` on a fixed
    batch, built on the fast paths or the reference ones (``compiled``: the model wrapped in ``torch.compile``);
    and the batch size."""
    config = quick_config(method, dataset, n_samples=OMEGA)
    context = speed.reference_paths if not fast else _nothing
    with context():
        trainer = Trainer(build_model(config), load_dataset(config, "train"), config, None, verbose=False)
    omega = torch.arange(min(OMEGA, len(trainer.db_indices)))
    trainer.scheme.begin_outer_iteration(omega)
    trainer.model.prepare_outer_iteration(0, trainer.loader(omega), trainer.device, config.outer_iterations)
    trainer.model.train()
    images, labels, positions = next(iter(trainer.loader(omega)))
    images = trainer.runtime.images(images)
    if compiled:
        trainer.model = torch.compile(trainer.model)

    def step():
        with context():
            out = trainer.runtime.forward(trainer.model, images, labels)
            total, _ = trainer.scheme.batch_loss(trainer.model, out, images, labels, positions)
            trainer.optimizer.zero_grad(set_to_none=True)
            total.backward()
            trainer.optimizer.step()
    return step, len(images)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def alternate(first, second, batch: int, pairs: int) -> tuple[list[float], list[float]]:
    """Images/s of ``pairs`` single steps of each of two step functions, run in turn with the order swapped every
    pair (so that the load of a shared machine falls on both alike), after ``WARMUP`` steps of each."""
    for _ in range(WARMUP):
        first()
        second()
    rates: dict = {first: [], second: []}
    for i in range(pairs):
        for step in ((first, second) if i % 2 == 0 else (second, first)):
            start = time.perf_counter()
            step()
            rates[step].append(batch / (time.perf_counter() - start))
    return rates[first], rates[second]


def paired(method: str, dataset: str, pairs: int) -> dict:
    """Median images/s of the reference and fast steps and the median of their paired ratios."""
    reference, batch = training_step(method, dataset, fast=False)
    fast, _ = training_step(method, dataset, fast=True)
    return _summary(method, dataset, *alternate(reference, fast, batch, pairs))


def _summary(method: str, dataset: str, before: list[float], after: list[float]) -> dict:
    """Median images/s of each side and the median and range of the paired ratios (after / before)."""
    ratios = [a / b for a, b in zip(after, before)]
    return {"method": method, "dataset": dataset, "before": statistics.median(before),
            "after": statistics.median(after), "ratio": statistics.median(ratios),
            "low": min(ratios), "high": max(ratios)}


def _stepper(method: str, dataset: str, fast: bool, threads: int, pipe) -> None:
    """A process holding one training step: for every number k it receives, it runs k steps and answers."""
    torch.set_num_threads(threads)
    step, batch = training_step(method, dataset, fast)
    for _ in range(WARMUP):
        step()
    pipe.send(batch)
    while (k := pipe.recv()) > 0:
        for _ in range(k):
            step()
        pipe.send(k)


def machine_paired(method: str, dataset: str, pairs: int, cores: int) -> dict:
    """Images/s of the machine: the reference step in one ``cores``-thread process against the fast step in
    ``cores`` one-thread processes at once (all their images over the block's wall time), ``pairs`` interleaved
    blocks of each."""
    context = multiprocessing.get_context("spawn")
    sides = {"before": [(False, cores)], "after": [(True, 1)] * cores}
    pipes, processes = {}, []
    for side, specs in sides.items():
        pipes[side] = []
        for fast, threads in specs:
            mine, theirs = context.Pipe()
            process = context.Process(target=_stepper, args=(method, dataset, fast, threads, theirs), daemon=True)
            process.start()
            pipes[side].append(mine)
            processes.append(process)
    batch = [pipe.recv() for side in pipes.values() for pipe in side][0]

    def block(side: str) -> float:
        start = time.perf_counter()
        for pipe in pipes[side]:
            pipe.send(MACHINE_STEPS)
        for pipe in pipes[side]:
            pipe.recv()
        return len(pipes[side]) * batch * MACHINE_STEPS / (time.perf_counter() - start)
    rates: dict = {"before": [], "after": []}
    for i in range(pairs):
        for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
            rates[side].append(block(side))
    for side in pipes.values():
        for pipe in side:
            pipe.send(0)
    for process in processes:
        process.join()
    return _summary(method, dataset, rates["before"], rates["after"])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _row(r: dict) -> str:
    return (f"| {r['method']} | {r['dataset']} | {r['before']:.0f} | {r['after']:.0f} | {r['ratio']:.2f}x "
            f"| {r['low']:.2f}-{r['high']:.2f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS))
    parser.add_argument("--machine", action="store_true",
                        help="also the machine throughput: reference on all cores against one fast worker per core")
    parser.add_argument("--maps", action="store_true", help="also the mAP check of a brief training, seeds 0-2")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before, score = uptime(), machine.score().images_per_s
    rows = [paired(method, dataset, args.pairs) for dataset in args.datasets for method in args.methods]
    cores = os.cpu_count() or 1
    whole = ([machine_paired(method, dataset, args.pairs, cores) for dataset in args.datasets
              for method in args.methods] if args.machine else [])
    maps = map_rows(args.methods, args.datasets) if args.maps else []
    load_after = uptime()
    command = "OMP_NUM_THREADS=1 python " + " ".join(["benchmarks/bench_speed.py", *(argv or sys.argv[1:])])
    lines = [f"Made by `{command}` ({args.pairs} interleaved pairs of training steps per row, {args.threads} "
             f"thread(s); {machine.cpu_model()}, {machine.cpu_capability()}, torch {torch.__version__}; machine score "
             f"{score:.0f} images/s at {args.threads} thread(s), measured at the start).", "",
             f"Load before: `{load_before}`; after: `{load_after}`.", "",
             "| method | data | images/s before | images/s after | paired ratio (median) | ratio range |",
             "|---|---|---|---|---|---|"]
    lines += [_row(r) for r in rows]
    if whole:
        lines += ["", f"The machine's training throughput, {cores} cores: before, the reference path in one process "
                      f"with {cores} threads; after, the fast paths in {cores} one-thread workers stepping at once "
                      f"(all their images over the block's wall time). {args.pairs} interleaved pairs of "
                      f"{MACHINE_STEPS} steps per worker.", "",
                  "| method | data | images/s before | images/s after | paired ratio (median) | ratio range |",
                  "|---|---|---|---|---|---|", *[_row(r) for r in whole]]
    if maps:
        lines += ["", f"Test mAP after a brief training ({MAP_TRAINING}, the quick config otherwise), seeds "
                      f"{list(MAP_SEEDS)}: reference path / fast path and the paired difference (fast - reference).",
                  "", "| method | data | mAP reference | mAP fast | paired differences |", "|---|---|---|---|---|"]
        for r in maps:
            fmt = lambda values: ", ".join(f"{v:.4f}" for v in values)  # noqa: E731
            diffs = ", ".join(f"{d:+.4f}" for d in r["diffs"])
            lines.append(f"| {r['method']} | {r['dataset']} | {fmt(r['before'])} | {fmt(r['after'])} | {diffs} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
