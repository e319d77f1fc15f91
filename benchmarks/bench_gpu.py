"""Training throughput per model and code length with the GPU-efficiency switches, and the time a ``full`` run takes.

One step = forward (``Runtime.forward``) + ``losses.objective`` with the paper's weights + backward + an SGD step, on
synthetic images already on the device (data loading not included), in training mode. Each row is measured twice:
plain float32, and with bf16 autocast + channels_last (what ``TrainConfig``'s "auto" runtime fields choose on a GPU).
The projection uses the rate of the device's "auto" choice (float32 on a CPU): seconds per outer iteration =
n_samples x inner_epochs / (images/s), hours per run = that x outer_iterations, with the ``TrainConfig`` defaults,
which are the paper's settings (2,000 samples, 20 epochs, 60 outer iterations, batch 16, ResNet-50 at 224 px).
On a CPU the default is a toy size (the small backbone at 64 px) and the output says so: its projection is for that
toy model, not the paper's. The last lines compare A²-Net's φ_local over all M maps in one batch (the default)
with one map at a time (``local_chunk=1``).

    python benchmarks/bench_gpu.py [--device auto] [--models baseline,exchnet,a2net,a2net++] [--bits 12,24,32,48]
        [--backbone resnet50 --size 224 --batch 16] [--min-seconds 3] [--out table.md]
"""
from __future__ import annotations

import argparse
import copy
import platform
import time
import warnings
from pathlib import Path

import torch

from a2lib import losses
from a2lib.device import select_device
from a2lib.models import build
from a2lib.train import TrainConfig
from a2lib.train.runtime import Runtime, bf16_supported

PAPER = TrainConfig()
"""The paper's settings (``TrainConfig`` defaults): backbone, batch, samples, epochs and outer iterations."""
PAPER_SIZE = 224
TOY = {"backbone": "small", "size": 64, "batch": 16}
"""What a CPU measures by default: the small CPU backbone at 64 px (ResNet-50 at 224 px takes seconds per image)."""
DATABASE_SIZE = PAPER.n_samples
"""Database codes the hashing term compares against."""
WARMUP_STEPS = 2
WARMUP_SECONDS = 1.0
"""Untimed steps first: at least ``WARMUP_STEPS`` and this long (kernel selection, allocator and cudnn autotuning)."""
SWITCHED = "bf16 + channels_last"


def _model(name: str, bits: int, backbone: str, size: int, **options):
    if name.startswith("a2net"):
        options["image_size"] = (size, size)
    if backbone in ("resnet18", "resnet50"):
        options["pretrained"] = False  # weights do not change the speed; nothing is downloaded
    return build(name, bits, backbone=backbone, **options)


def measure(model, runtime: Runtime, batch: int, size: int, bits: int, min_seconds: float) -> float:
    """Images per second of training steps (module docstring) after ``WARMUP_STEPS``, for at least ``min_seconds``."""
    device = runtime.device
    model = runtime.prepare_model(model).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=PAPER.lr, momentum=PAPER.momentum,
                                weight_decay=PAPER.weight_decay)
    gen = torch.Generator().manual_seed(0)
    images = runtime.images(torch.rand(batch, 3, size, size, generator=gen))
    labels = (torch.arange(batch) % 2).to(device)
    database = torch.where(torch.rand(DATABASE_SIZE, bits, generator=gen) > 0.5, 1.0, -1.0).to(device)
    similarity = torch.where(labels[:, None] == (torch.arange(DATABASE_SIZE, device=device) % 2)[None], 1.0, -1.0)
    if getattr(model, "name", "") == "exchnet":
        model.prepare_outer_iteration(0, [(images, labels)], device, 1)

    def step():
        out = runtime.forward(model, images, labels)
        total, _ = losses.objective(out, images, similarity, database, database[:batch], PAPER.loss_weights, labels)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    start, steps = time.perf_counter(), 0
    while steps < WARMUP_STEPS or time.perf_counter() - start < WARMUP_SECONDS:
        step()
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, steps = time.perf_counter(), 0
    while steps == 0 or time.perf_counter() - start < min_seconds:
        step()
        steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def _projection(rate: float) -> tuple[float, float]:
    """(seconds per outer iteration, hours per run) at the paper's settings and ``rate`` images/s."""
    per_iteration = PAPER.n_samples * PAPER.inner_epochs / rate
    return per_iteration, per_iteration * PAPER.outer_iterations / 3600.0


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="baseline,exchnet,a2net,a2net++")
    parser.add_argument("--bits", default="12,24,32,48")
    parser.add_argument("--backbone", default=None, help=f"default: {PAPER.backbone} on CUDA, {TOY['backbone']} on CPU")
    parser.add_argument("--size", type=int, default=None, help=f"input side; default {PAPER_SIZE} / {TOY['size']}")
    parser.add_argument("--batch", type=int, default=None, help=f"default {PAPER.batch_size} / {TOY['batch']}")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds at least per measurement")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    backbone = args.backbone or (PAPER.backbone if cuda else TOY["backbone"])
    size = args.size or (PAPER_SIZE if cuda else TOY["size"])
    batch = args.batch or (PAPER.batch_size if cuda else TOY["batch"])
    paper_size = (backbone, size) == (PAPER.backbone, PAPER_SIZE)
    warnings.simplefilter("ignore", RuntimeWarning)
    where = torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()}), {args.threads} threads"
    plain = Runtime(device)
    switched = Runtime(device, torch.bfloat16 if bf16_supported(device) else None, channels_last=True)
    chosen = "fp32" if not cuda else SWITCHED
    lines = [f"Training steps on {where}, torch {torch.__version__}: {backbone} at {size} px, batch {batch}, "
             "forward + objective + backward + SGD step, synthetic images on the device (no data loading).",
             ("" if paper_size else f"TOY SIZE: not the paper's ResNet-50 at 224 px (a CPU measures {TOY['backbone']} "
              f"at {TOY['size']} px by default); the projected times are for this toy model, not the paper's."),
             f"Projection at the paper's settings with the {chosen} rate: {PAPER.n_samples} samples x "
             f"{PAPER.inner_epochs} epochs per outer iteration, {PAPER.outer_iterations} outer iterations.", "",
             f"| model | bits | images/s fp32 | images/s {SWITCHED} | s per outer iteration | h per run |",
             "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for name in args.models.split(","):
        for bits in (int(b) for b in args.bits.split(",")):
            torch.manual_seed(0)
            model = _model(name, bits, backbone, size)
            rates = {label: measure(copy.deepcopy(model), runtime, batch, size, bits, args.min_seconds)
                     for label, runtime in (("fp32", plain), (SWITCHED, switched))}
            seconds, hours = _projection(rates[chosen])
            row = (f"| {name} | {bits} | {rates['fp32']:.1f} | {rates[SWITCHED]:.1f} | {seconds:,.0f} | "
                   f"{hours:,.2f} |")
            lines.append(row)
            print(row, flush=True)
    bits = max(int(b) for b in args.bits.split(","))
    runtime = switched if cuda else plain
    batched = measure(_model("a2net", bits, backbone, size), runtime, batch, size, bits, args.min_seconds)
    one_by_one = measure(_model("a2net", bits, backbone, size, local_chunk=1), runtime, batch, size, bits,
                         args.min_seconds)
    note = (f"\nA²-Net {bits} bits, φ_local over all {bits} maps as one batch: {batched:.1f} images/s; one map at a "
            f"time (local_chunk=1): {one_by_one:.1f} images/s ({batched / one_by_one:.2f}x).")
    lines.append(note)
    print(note, flush=True)
    table = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
