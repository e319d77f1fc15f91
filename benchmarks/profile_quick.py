"""Where one outer iteration's time goes, per model family, in a profile's training setting (torch.profiler).

For each method it builds the config a notebook would train (``Study`` of the profile's notebook-02 block, or
notebook 01's with ``--notebook 01_simplicity_bias``), runs one warm-up outer iteration, then profiles one more and
attributes its CPU time to named parts: the forward of the model's top-level pieces (trunk, attention, local
branches, global branch, decoder, ...), the loss, backward, optimiser step, the data (loading and batching), the
similarity matrix, the DCC update of B and validation. Prints a markdown table of milliseconds and shares.

    python benchmarks/profile_quick.py [--profile quick] [--notebook 02_training] [--methods baseline a2net] \
        [--bits 12] [--out table.md]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

import a2lib.models.parts as parts_module
import a2lib.train.schemes as schemes_module
from a2lib.studies import Study
from a2lib.train.cache import build_model, load_dataset
from a2lib.train.trainer import Trainer
from a2lib.workbook.profiles import load_profile

PHASES = ("data", "forward", "loss", "backward", "optimizer", "similarity", "dcc", "validation")
"""Trainer-level ranges; forward is split further by the model's pieces (``PIECES``)."""
PIECES = {
    "trunk": ("parts.trunk", "trunk"),
    "attention": ("parts.attention",),
    "local branches": (),  # a2lib.models.parts.local_features, wrapped in _instrument (the fused path skips hooks)
    "global branch": ("parts.phi_global",),
    "decoder": ("decoder", "W_prime"),
    "hash layer": ("hash_layer", "classifier", "head"),
}


def _wrap(owner, name: str, label: str):
    """Replace ``owner.name`` (a function) by one that runs inside ``record_function(label)``."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        with record_function(label):
            return original(*args, **kwargs)
    setattr(owner, name, wrapped)


def _annotate_modules(model: torch.nn.Module) -> None:
    """Forward hooks that open a ``record_function`` range named after each piece of ``PIECES`` present."""
    modules = dict(model.named_modules())
    for piece, names in PIECES.items():
        for name in names:
            if name not in modules:
                continue
            state = {}

            def pre(module, args, piece=piece, state=state):
                state["range"] = record_function(f"piece/{piece}")
                state["range"].__enter__()

            def post(module, args, output, state=state):
                state.pop("range").__exit__(None, None, None)
            modules[name].register_forward_pre_hook(pre)
            modules[name].register_forward_hook(post)


class _TimedLoader:
    """A loader whose iteration (reading and collating a batch) is a ``data`` range."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        iterator = iter(self.loader)
        while True:
            with record_function("phase/data"):
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
            yield batch

    def __len__(self):
        return len(self.loader)


def _instrument(trainer: Trainer) -> None:
    _wrap(schemes_module, "objective", "phase/loss")
    if not getattr(parts_module.local_features, "profiled", False):
        _wrap(parts_module, "local_features", "piece/local branches")
        parts_module.local_features.profiled = True
    _wrap(schemes_module, "similarity", "phase/similarity")
    _wrap(schemes_module, "dcc_update", "phase/dcc")
    make_loader = trainer.loader
    trainer.loader = lambda omega: _TimedLoader(make_loader(omega))
    model = trainer.model
    forward = model.forward

    def timed_forward(*args, **kwargs):
        with record_function("phase/forward"):
            return forward(*args, **kwargs)
    model.forward = timed_forward
    if hasattr(model, "loss"):
        _wrap(model, "loss", "phase/loss")
    optimizer_step = trainer.optimizer.step

    def timed_step(*args, **kwargs):
        with record_function("phase/optimizer"):
            return optimizer_step(*args, **kwargs)
    trainer.optimizer.step = timed_step
    _annotate_modules(model)


def _backward_total(events) -> float:
    """CPU time (µs) of autograd's backward functions (they run one after another): the backward pass."""
    return sum(e.cpu_time_total for e in events if e.key.startswith("autograd::engine::evaluate_function"))


def profile_method(study: Study, method: str, bits: int) -> dict[str, float]:
    """Milliseconds per part of one profiled outer iteration (after one warm-up iteration) and the total."""
    config = study.config(method, bits)
    model = build_model(config)
    trainer = Trainer(model, load_dataset(config, "train"), config, None, verbose=False)
    _instrument(trainer)
    trainer.outer_iteration(0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        trainer.outer_iteration(1)
        with record_function("phase/validation"):
            trainer.validate()
        wall = time.perf_counter() - start
    totals = {e.key: e.cpu_time_total for e in prof.key_averages() if e.key.startswith(("phase/", "piece/"))}
    row = {"method": method, "total": wall * 1e3}
    for phase in PHASES:
        row[phase] = totals.get(f"phase/{phase}", 0.0) / 1e3
    row["backward"] = _backward_total(prof.key_averages()) / 1e3
    for piece in PIECES:
        row[f"fwd {piece}"] = totals.get(f"piece/{piece}", 0.0) / 1e3
    return row


def table(rows: list[dict]) -> str:
    columns = ["total", *PHASES, *(f"fwd {piece}" for piece in PIECES)]
    lines = ["| method | " + " | ".join(f"{c} ms" for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        cells = [f"{row[c]:,.0f} ({100 * row[c] / row['total']:.0f}%)" if c != "total" else f"{row[c]:,.0f}"
                 for c in columns]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--notebook", default="02_training")
    parser.add_argument("--methods", nargs="+", default=["baseline", "exchnet", "a2net", "a2net++", "dpsh"])
    parser.add_argument("--bits", type=int, default=12)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    study = load_profile(args.profile).study(args.notebook)
    torch.manual_seed(0)
    rows = [profile_method(study, method, args.bits) for method in args.methods]
    text = (f"One outer iteration (+ validation) of `{args.profile}`/{args.notebook} at {args.bits} bits, "
            f"{torch.get_num_threads()} threads; CPU ms (share of the wall time; ranges nest: the pieces are inside "
            "forward)\n\n" + table(rows))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
