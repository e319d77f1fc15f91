"""A machine's speed at the workbook's kind of work, and the wall-time budgets it implies.

``score`` is training images per second of a fixed small CNN (four 3x3 conv + BN + ReLU + max-pool stages of 32, 64,
128, 128 channels, 3x64x32 inputs, batch 32, Adam, forward + backward + step) with the torch threads the process
has: the same workload and images/s as the standalone ``cpu_score.py`` tool, so their numbers compare. Budgets
measured on one machine carry to another by the ratio of their scores (``budget_seconds``).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_positive_int

SCORE_WIDTHS = (32, 64, 128, 128)
SCORE_INPUT = (3, 64, 32)
SCORE_BATCH = 32
SCORE_OUTPUTS = 48
SCORE_STEPS = 12
SCORE_REPEATS = 7
SCORE_WARMUP = 3
SCORE_LR = 1e-3
REFERENCE_SCORE = 300.0
"""cpu_score of the slow 2-core reference machine the budgets below are set for (an AVX2 AMD EPYC scores 297-327)."""
QUICK_BUDGET_S = 900.0
"""The whole ``quick`` workbook on the reference machine: 15 minutes."""
NOTEBOOK01_BUDGET_S = 480.0
"""Notebook 01 (simplicity bias) of ``quick`` on the reference machine: 8 minutes."""
NO_SCORE_ENV = "A2LIB_NO_SCORE"
"""Set (to anything but empty) to record no machine score (``describe``): the test suite's many short runs."""


def score_network() -> nn.Module:
    """The fixed small CNN that ``score`` trains."""
    layers, channels = [], SCORE_INPUT[0]
    for width in SCORE_WIDTHS:
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                   nn.MaxPool2d(2)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, SCORE_OUTPUTS))


@dataclass(frozen=True)
class Score:
    """``images_per_s``: the median over ``repeats`` timed blocks of ``steps`` training steps; ``rates`` each block's."""

    images_per_s: float
    rates: tuple[float, ...]


def score(steps: int | None = None, repeats: int | None = None, batch: int = SCORE_BATCH) -> Score:
    """Images/s of training ``score_network`` (module docstring); a few seconds on a 2-core CPU (``steps`` and
    ``repeats`` default to ``SCORE_STEPS`` and ``SCORE_REPEATS``). The global torch generator is restored
    afterwards, so measuring does not change a run's random draws."""
    steps = check_positive_int("steps", SCORE_STEPS if steps is None else steps)
    repeats = check_positive_int("repeats", SCORE_REPEATS if repeats is None else repeats)
    check_positive_int("batch", batch)
    state = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        model, images = score_network(), torch.rand(batch, *SCORE_INPUT)
        target = torch.randn(batch, SCORE_OUTPUTS).sign()
        optimizer = torch.optim.Adam(model.parameters(), SCORE_LR)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = ((torch.tanh(model(images)) - target) ** 2).mean()
            loss.backward()
            optimizer.step()

        for _ in range(SCORE_WARMUP):
            step()
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rates.append(steps * batch / (time.perf_counter() - start))
    finally:
        torch.set_rng_state(state)
    return Score(statistics.median(rates), tuple(rates))


def budget_seconds(machine_score: float, reference_seconds: float = QUICK_BUDGET_S) -> float:
    """The wall-time budget on a machine of ``machine_score``: ``reference_seconds`` x ``REFERENCE_SCORE`` / score
    (quick: 900 x 300 / S; notebook 01: ``NOTEBOOK01_BUDGET_S`` x 300 / S)."""
    if not machine_score > 0:
        raise ValueError(f"machine_score must be a positive images/s, got {machine_score!r}; measure it with "
                         "a2lib.machine.score()")
    return reference_seconds * REFERENCE_SCORE / machine_score


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo ("model name"), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The vector instructions torch's CPU kernels use here (e.g. AVX512, AVX2; ``ATEN_CPU_CAPABILITY`` lowers it)."""
    return str(torch.backends.cpu.get_cpu_capability())


def describe(measure: bool = True) -> dict:
    """CPU model, torch's CPU capability, cores, torch threads and (with ``measure``, unless ``NO_SCORE_ENV`` is
    set) the machine score."""
    box = {"cpu_model": cpu_model(), "cpu_capability": cpu_capability(), "cpu_cores": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "mkldnn": bool(torch.backends.mkldnn.enabled)}
    if measure and not os.environ.get(NO_SCORE_ENV):
        box["score_images_per_s"] = round(score().images_per_s, 1)
    return box


__all__ = ["NOTEBOOK01_BUDGET_S", "NO_SCORE_ENV", "QUICK_BUDGET_S", "REFERENCE_SCORE", "Score", "budget_seconds",
           "cpu_capability", "cpu_model", "describe", "score", "score_network"]
