"""Forward+backward throughput (images/s) of every asymmetric model at the ``quick`` and ``full`` input sizes.

One step = model(images, labels) + losses.objective(...) + backward (no optimiser step), in training mode.
Prints a markdown table and writes it to ``--out`` when given.

    python benchmarks/bench_models.py [--device cpu|cuda|auto] [--bits 12] [--min-seconds 3] [--out table.md]
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import torch

from a2lib import losses
from a2lib.device import select_device
from a2lib.models import build, list_models

DATABASE_SIZE = 2000
"""Database codes the hashing term compares against (one ADSH outer iteration's sample size, Sec. 4.2)."""
WARMUP_STEPS = 2
SETTINGS = (
    # (profile, backbone, (H, W), cpu batch, gpu batch)
    ("quick", "small", (64, 64), 16, 16),
    ("quick", "small", (64, 32), 16, 16),
    ("full", "resnet50", (224, 224), 2, 16),
)


def _step(model, images, labels, similarity, database, batch_codes, weights):
    out = model(images, labels)
    total, _ = losses.objective(out, images, similarity, database, batch_codes, weights, labels)
    model.zero_grad(set_to_none=True)
    total.backward()


def measure(name: str, backbone: str, size, batch: int, bits: int, device, repeats: int,
            min_seconds: float) -> float:
    """Images per second of forward+backward: after warm-up steps, at least ``repeats`` steps and ``min_seconds``."""
    options = {"image_size": size} if name.startswith("a2net") else {}
    if backbone in ("resnet18", "resnet50"):
        options["pretrained"] = False
    model = build(name, bits, backbone=backbone, **options).to(device).train()
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, *size, generator=gen).to(device)
    labels = (torch.arange(batch) % 2).to(device)
    database = torch.where(torch.rand(DATABASE_SIZE, bits, generator=gen) > 0.5, 1.0, -1.0).to(device)
    similarity = torch.where(labels[:, None] == (torch.arange(DATABASE_SIZE, device=device) % 2)[None], 1.0, -1.0)
    weights = losses.LossWeights()
    if name == "exchnet":
        model.prepare_outer_iteration(0, [(images, labels)], device)
    args = (model, images, labels, similarity, database, database[:batch], weights)
    for _ in range(WARMUP_STEPS):
        _step(*args)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, steps = time.perf_counter(), 0
    while steps < repeats or time.perf_counter() - start < min_seconds:
        _step(*args)
        steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bits", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps at least")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds at least per row")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (at most 2 on the workbook's machine)")
    parser.add_argument("--models", default=",".join(list_models(asymmetric=True)))
    parser.add_argument("--profiles", default="quick,full")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    warnings.simplefilter("ignore", RuntimeWarning)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    lines = [
        f"Forward+backward throughput, {args.bits}-bit codes, {where}, torch {torch.__version__}, "
        f"{platform.machine()} (training mode, objective with the paper's weights, no optimiser step).",
        "",
        "| model | profile | backbone | input | batch | images/s |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    profiles = args.profiles.split(",")
    for name in args.models.split(","):
        for profile, backbone, size, cpu_batch, gpu_batch in SETTINGS:
            if profile not in profiles:
                continue
            batch = gpu_batch if device.type == "cuda" else cpu_batch
            rate = measure(name, backbone, size, batch, args.bits, device, args.repeats, args.min_seconds)
            row = f"| {name} | {profile} | {backbone} | 3x{size[0]}x{size[1]} | {batch} | {rate:.1f} |"
            lines.append(row)
            print(row, flush=True)
    table = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
