"""Which CPU options make a training step cheaper: channels_last memory format, the fused Adam kernel, thread count.

One step = the model's forward, the trainer's objective against a database of learned codes, backward and an Adam
step, at the profile's notebook-02 setting (batch, image size, model options). The variants of each method run in
turn (plain, channels_last, fused, ...) for ``--rounds`` rounds of ``--steps`` steps on copies of one initial model,
so a drifting machine slows them alike; the table gives each variant's median ms/step and its ratio to plain.

    python benchmarks/bench_cpu_options.py [--profile quick] [--methods baseline a2net] [--bits 48] [--out t.md]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from a2lib import losses
from a2lib.train.cache import build_model, load_dataset
from a2lib.workbook.profiles import load_profile

VARIANTS = ("plain", "channels_last", "fused adam", "1 thread")
DATABASE = 900
"""Learned codes the hashing term compares against (the quick recipe's database after the validation split)."""
WARMUP = 3


def stepper(model, images, labels, S, database, weights, variant: str):
    """A closure running one training step of ``variant`` on its own copy of ``model``."""
    model = copy.deepcopy(model).train()
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=variant == "fused adam")
    threads = 1 if variant == "1 thread" else torch.get_num_threads()

    def step():
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        out = model(images, labels)
        total, _ = losses.objective(out, images, S, database, database[: len(images)], weights, labels=labels)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        torch.set_num_threads(previous)
    return step


def measure(profile: str, method: str, bits: int, rounds: int, steps: int) -> dict[str, float]:
    """Median ms/step of every variant of ``VARIANTS`` for ``method``."""
    config = load_profile(profile).study("02_training").config(method, bits)
    torch.manual_seed(0)
    model = build_model(config)
    data = load_dataset(config, "train")
    batch = [data[i] for i in range(config.batch_size)]
    images = torch.stack([item[0] for item in batch])
    labels = torch.tensor([int(item[1]) for item in batch])
    gen = torch.Generator().manual_seed(0)
    database = torch.where(torch.rand(DATABASE, bits, generator=gen) > 0.5, 1.0, -1.0)
    database_labels = torch.randint(0, int(labels.max()) + 1, (DATABASE,), generator=gen)
    S = torch.where(labels[:, None] == database_labels[None], 1.0, -1.0)
    run = {v: stepper(model, images, labels, S, database, config.loss_weights, v) for v in VARIANTS}
    for step in run.values():
        for _ in range(WARMUP):
            step()
    times = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant, step in run.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[variant].append((time.perf_counter() - start) / steps * 1e3)
    return {v: statistics.median(t) for v, t in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--methods", nargs="+", default=["baseline", "exchnet", "a2net", "a2net++"])
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    lines = [f"ms per training step (median of {args.rounds} rounds of {args.steps}; `{args.profile}` notebook-02 "
             f"setting, {args.bits} bits, {torch.get_num_threads()} threads unless said; ratio to plain)", "",
             "| method | " + " | ".join(VARIANTS) + " |", "|---" * (len(VARIANTS) + 1) + "|"]
    for method in args.methods:
        ms = measure(args.profile, method, args.bits, args.rounds, args.steps)
        lines.append(f"| {method} | " + " | ".join(f"{ms[v]:.1f} ({ms[v] / ms['plain']:.2f})" for v in VARIANTS)
                     + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
