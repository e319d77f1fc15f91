"""Where a profile's wall time goes: every training configuration's time, images/s and the notebooks that ask for it,
and each notebook's time with the training charged to it.

It reads a finished run: the profile's training plan (``a2lib.workbook.plan``: every config and who requests it),
each config's cache entry (its ``history.json`` holds the training's wall time, ``elapsed_s``) and the run's
``results/<profile>/timings.json`` (each notebook's wall time). A config is charged to the first notebook, in run
order, that asks for it (the one that trained it when the run started from an empty cache); a notebook's time
time with its training adds the training charged to it (at its share of the pre-training's wall time where
workers trained the models before the notebooks). With ``--run`` it first runs the profile from an
empty model cache (``a2lib run --profile P`` with ``A2LIB_CACHE`` set to a fresh folder).

    python benchmarks/bench_quick.py [--profile quick] [--run] [--cache DIR] [--out table.md]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from a2lib.workbook import paths
from a2lib.workbook.plan import config_options, training_plan
from a2lib.workbook.results import machine_text, read_timings


def run_profile(profile: str, cache: Path) -> None:
    """``a2lib run --profile P`` with the model cache at ``cache`` (normally empty), in this checkout."""
    env = {**os.environ, "A2LIB_CACHE": str(cache)}
    subprocess.run([sys.executable, "-m", "a2lib", "run", "--profile", profile], env=env, check=True)


def training_rows(profile: str, cache: Path) -> list[dict]:
    """One row per config of the plan: its wall time and images/s from its cache entry, and who asks for it."""
    plan = training_plan(profile, cache_dir=cache, cost=False)
    rows = []
    for item in plan.items:
        history_path = item.entry / "history.json" if item.entry is not None else None
        seconds = None
        if history_path is not None and history_path.is_file():
            history = json.loads(history_path.read_text())
            seconds = history[-1]["elapsed_s"] if history else 0.0
        config = item.config
        passes = config.outer_iterations * config.inner_epochs * config.n_samples
        notebooks = sorted({request[:2] for request in item.requests})
        rows.append({"model": config.model, "bits": config.bits, "dataset": config.dataset,
                     "seed": config.seed, "options": config_options(config), "key": item.key[:10],
                     "seconds": seconds, "images/s": passes / seconds if seconds else None,
                     "notebooks": notebooks, "first": notebooks[0], "requests": len(item.requests)})
    return rows


def outside_training(rows: list[dict], timings: dict) -> list[dict]:
    """Per notebook: wall time, the training of the configs it asks for first (worker seconds) and its time with
    that training. Where workers trained every model before the notebooks (``trained_before_notebooks``), a notebook
    only loads its models, and its training counts at its share of the pre-training's wall time (worker seconds
    scaled by that wall time over all worker seconds); else the training ran inside the notebook's wall time."""
    pretrained = timings.get("trained_before_notebooks")
    total = sum(r["seconds"] or 0.0 for r in rows)
    scale = pretrained["seconds"] / total if pretrained and total else None
    table = []
    for name, entry in timings["notebooks"].items():
        training = sum(r["seconds"] or 0.0 for r in rows if r["first"] == name[:2])
        with_training = entry["seconds"] + training * scale if scale is not None else entry["seconds"]
        table.append({"notebook": name, "wall s": entry["seconds"], "training s": training,
                      "with its training s": with_training})
    return table


def markdown(rows: list[dict], notebooks: list[dict], timings: dict) -> str:
    lines = [f"Run `{timings['run']}` of {timings['date']} ({machine_text(timings['machine'])}); "
             f"cache entries before/after: {timings.get('cache_entries')}", "",
             "| model | bits | data | seed | options | wall s | images/s | asked for by notebooks |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -(r["seconds"] or 0)):
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else "not cached"
        speed = f"{r['images/s']:.0f}" if r["images/s"] else ""
        lines.append(f"| {r['model']} | {r['bits']} | {r['dataset']} | {r['seed']} | {r['options']} | {seconds} | {speed} "
                     f"| {', '.join(r['notebooks'])} ({r['requests']} requests) |")
    total = sum(r["seconds"] or 0.0 for r in rows)
    pretrained = timings.get("trained_before_notebooks")
    lines += ["", f"Training in all: {total:.0f} s over {len(rows)} configurations, each trained once."]
    if pretrained:
        lines.append(f"They trained before the notebooks in {pretrained['workers']} workers, {pretrained['seconds']:.0f} s "
                     "of wall time; a notebook's training below is in worker seconds, and the last column adds its share "
                     "of that wall time to the notebook's own.")
    lines += ["", "| notebook | wall s | training s (first asked for here) | with its training s |", "|---|---|---|---|"]
    cache = timings.get("cache_entries") or {}
    if cache.get("before"):
        lines.insert(2, f"**The run found {cache['before']} models cached**: they trained in an earlier run, so the "
                        "notebooks' times below are not those of an empty cache.\n")
    for n in notebooks:
        lines.append(f"| {n['notebook']} | {n['wall s']:.0f} | {n['training s']:.0f} | {n['with its training s']:.0f} |")
    lines.append(f"| total | {timings['total_s']:.0f} | {total:.0f} | {sum(n['with its training s'] for n in notebooks):.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--run", action="store_true", help="first run the profile from an empty model cache")
    parser.add_argument("--cache", type=Path, help="the model cache of the run (default: the workbook's)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    paths.activate()
    cache = args.cache
    if args.run:
        cache = cache or Path(tempfile.mkdtemp(prefix="a2lib-cache-"))
        if any(cache.iterdir()):
            raise SystemExit(f"--run needs an empty model cache; {cache} holds entries")
        run_profile(args.profile, cache)
    cache = cache or Path(os.environ["A2LIB_CACHE"])
    timings = read_timings(args.profile)
    if timings is None:
        raise SystemExit(f"no results/{args.profile}/timings.json: run the profile first (a2lib run --profile "
                         f"{args.profile}) or pass --run")
    rows = training_rows(args.profile, cache)
    text = markdown(rows, outside_training(rows, timings), timings)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
