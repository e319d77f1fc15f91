"""How much of each dominoes block's pixel variance its class explains (what a pixel reconstruction can see).

For the digit block and the complex block of ``synth-dominoes`` (each complex style, or the one given), over the
first ``--n`` training images: eta squared (between-class variance of the class-mean images over total variance),
its bias-adjusted form epsilon squared, and the mean pixel variance (values in [0, 1]); see
``a2lib.studies.simplicity.block_signal``. Target for the complex block: explained share >= 0.05.
Usage: python benchmarks/dominoes_signal.py [--n 2000] [--seed 0] [--root data] [--options JSON]  (seconds)
"""
import argparse
import json

from a2lib.data import load
from a2lib.data.synth_dominoes import COMPLEX_STYLES
from a2lib.studies.simplicity import BLOCKS, block_signal

DIGITS = 3


def measure(n: int, seed: int, root: str, options: dict) -> dict:
    """``{style: {block: block_signal(...)}}`` for each complex style (only ``options["complex_style"]`` if set)."""
    styles = [options["complex_style"]] if "complex_style" in options else COMPLEX_STYLES
    results = {}
    for style in styles:
        data = load("synth-dominoes", "train", root=root, **{**options, "complex_style": style, "n_train": n,
                                                               "seed": seed})
        results[style] = {block: {k: round(v, DIGITS + 2) if isinstance(v, float) else v
                                  for k, v in block_signal(data, block).items()} for block in BLOCKS}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="training images measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="data")
    parser.add_argument("--options", default="{}", help="JSON of synth-dominoes options (layout=..., digits=...)")
    args = parser.parse_args()
    print(json.dumps(measure(args.n, args.seed, args.root, json.loads(args.options)), indent=1))
