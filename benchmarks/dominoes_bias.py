"""Simplicity bias of ``synth-dominoes`` measured as notebook 01 measures it: the ``quick-dominoes`` recipe's BASELINE.

For each method (default: BASELINE) it trains one model on intact dominoes, one on the complex block alone and one
on the digit block alone (the other block blanked), through ``a2lib.studies.Study`` as notebook 01 does, and prints
tie-aware mAP on Table 1's five test sets; a (complex block alone), b (simple-only) and c (complex-only) in both
flavours (``bias_by_flavour``); the validation mAP per evaluated outer iteration of the block-alone models (which
block is learned faster); a linear probe of the complex block's class in the frozen features of the dominoes model
and, as the probe's floor, of the untrained network; the blocks' explained variance and the training times.
Trained models go to a temporary cache (``--cache`` keeps them).
Usage: python benchmarks/dominoes_bias.py [--bits 32] [--seed 0] [--methods baseline ce-classifier]
       [--options JSON] [--root data] [--cache DIR]   (about a minute per method on 2 CPU cores)
"""
import argparse
import json
import os
import tempfile
import time

import torch

from a2lib.folders import DATA_ENV
from a2lib.studies import Study, simplicity
from a2lib.train import build_model, load_or_train

RECIPE = "quick-dominoes"
DIGITS = 3


def _rounded(values):
    if isinstance(values, dict):
        return {k: _rounded(v) for k, v in values.items()}
    return round(values, DIGITS) if isinstance(values, float) else values


def measure(bits: int, seed: int, methods: list[str], options: dict, cache: str) -> dict:
    """Every number of the module docstring, per method, as a JSON-able dict (data under ``data_root()``)."""
    study = Study(dataset="synth-dominoes", recipe=RECIPE, dataset_options=options, seed=seed, device="cpu")
    train = study.load("train")
    results = {"recipe": RECIPE, "bits": bits, "seed": seed, "dataset_options": options,
               "signal": {block: simplicity.block_signal(train, block) for block in simplicity.BLOCKS}}
    for method in methods:
        start = time.perf_counter()
        trained = {name: load_or_train(study.config(method, bits, variant=variant), cache_dir=cache, verbose=False)
                   for name, variant in (("dominoes", None), ("complex_alone", "complex-only"),
                                         ("simple_alone", "simple-only"))}
        maps = {name: simplicity.variant_maps(result, study) for name, result in trained.items()}
        untrained = build_model(study.config(method, bits))
        results[method] = {
            "map": maps, "bias": simplicity.bias_by_flavour(maps["dominoes"], maps["complex_alone"]),
            "val_map_by_iteration": {name: {r["iteration"]: r["val_map"] for r in result.history if "val_map" in r}
                                     for name, result in trained.items() if name != "dominoes"},
            "probe_complex_features": {
                model: {f: simplicity.complex_probe(network, study, f) for f in simplicity.FLAVOURS}
                for model, network in (("dominoes", trained["dominoes"]), ("untrained", untrained))},
            "kept_iteration": {name: result.best_iteration for name, result in trained.items()},
            "seconds": time.perf_counter() - start}
    return _rounded(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=["baseline"])
    parser.add_argument("--options", default="{}", help="JSON of synth-dominoes options (layout=..., digits=...)")
    parser.add_argument("--root", default="data", help="data folder (sets $A2LIB_DATA, as the workbook's runner does)")
    parser.add_argument("--cache", default=None, help="model cache folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ[DATA_ENV] = os.path.abspath(args.root)
    with tempfile.TemporaryDirectory() as temporary:
        print(json.dumps(measure(args.bits, args.seed, args.methods, json.loads(args.options), args.cache or temporary),
                         indent=1))
