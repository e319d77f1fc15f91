"""Notebook numbers as JSON under ``results/<profile>/``, each stamped with the run that wrote it; the claims table
each notebook ends with (``claims_table``, verdicts from ``a2lib.studies.claims``); and the one function that writes
the summary (``write_summary``): SUMMARY.md and, for the README's profile, the README's generated results block.

The summary separates this run's numbers from the rest: a results file counts for this run when the runner's run
id (``$A2LIB_RUN``, set for the kernels it starts) is the one stamped in it and its notebook did not fail. Every
other file (written by an earlier run, outside the runner, or by a notebook that failed in this run) is listed in
a second table, each row marked with the run that wrote it and why it is not this run's.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any, Collection, Iterator, Mapping, Sequence

from ..atomic import write_atomic
from ..jsonable import json_default
from .paths import figures_dir, notebooks_dir, results_dir, runs_dir, workbook_root

SUMMARY_NAME = "SUMMARY.md"
TIMINGS_NAME = "timings.json"
"""The runner's wall times of the last run of a profile (``write_timings``), next to the results but not one."""
DERIVED_NAME = "derived.json"
"""The numbers the summary computes from the results (``derived_numbers``), next to them but not one."""
DERIVED_DECIMALS = 3
"""Decimals of ``derived_numbers``: those the tables and claims show (``claims.VALUE_FORMAT``)."""
RUN_ENV = "A2LIB_RUN"
"""The id of the runner's batch; the kernels inherit it and ``save_results`` stamps it into every results file."""
RESERVED_KEYS = ("profile", "run")
"""Keys ``save_results`` writes itself: the profile, and the run id (``None`` outside the runner)."""
OUTSIDE_RUNNER = "outside the runner"
OK, FAILED = "ok", "FAILED"
README_NAME = "README.md"
README_PROFILE = "quick"
"""The profile of the documented run: its executed notebooks are committed and carry its run-time lines."""
README_PROFILES = ("extended", "quick")
"""The profiles whose committed results have a generated block in the README: the reproduction run, then quick."""


def readme_markers(profile: str) -> tuple[str, str]:
    """The begin and end markers of ``profile``'s results block in the README."""
    return f"<!-- results:{profile}:begin -->", f"<!-- results:{profile}:end -->"


README_BEGIN, README_END = readme_markers(README_PROFILE)
TIMING_BEGIN, TIMING_END = "<!-- timing:begin -->", "<!-- timing:end -->"
"""Markers of the generated run-time line in each notebook's opening cell (``update_notebook_timings``)."""
README_NOTE = ("<!-- generated from results/{profile}/*.json by a2lib.workbook.results.write_summary (every "
               "`a2lib run --profile {profile}` rewrites it): do not edit by hand -->")
CLAIM_COLUMNS = ("claim", "paper", "statement", "this run", "verdict", "why")
"""The columns of a claims table (``Verdict.row`` also has ``quote``, shown in notebooks and SUMMARY.md)."""
TABLE1_RESULTS, TABLE2_RESULTS, TABLE8_RESULTS = "01_simplicity_bias", "02_training", "05_ndcg_attribute_matching"
MISSING = "–"


def new_run_id() -> str:
    """A fresh run id: the local start time and a random suffix (``20240131-154501-3fa2c1``)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def current_run() -> str | None:
    """The runner's run id of this process, or ``None`` (a notebook run by hand)."""
    return os.environ.get(RUN_ENV) or None


FIGURES_RECORD = "figures.json"
"""In ``figures/<profile>/``: which run wrote each figure (``record_figure``), so that a stale one can be found."""


def record_figure(path: Path) -> None:
    """Note in its folder's ``FIGURES_RECORD`` that this run (``current_run``) wrote the figure at ``path``."""
    record_path = path.parent / FIGURES_RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record[path.name] = current_run() or OUTSIDE_RUNNER
    text = json.dumps(dict(sorted(record.items())), indent=1) + "\n"
    write_atomic(record_path, lambda handle: handle.write(text.encode()))


def stale_figures(profile: str) -> list[str]:
    """The figures of ``figures/<profile>/`` that no run of its committed results wrote (or that the record lists
    but are gone), each with why; empty when the folder holds exactly the figures of those runs."""
    folder = figures_dir(profile, create=False)
    if not folder.is_dir():
        return []
    record_path = folder / FIGURES_RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    runs = {str(tree.get("run")) for tree in load_results(profile).values()}
    files = {p.name for p in folder.iterdir() if p.is_file() and p.name != FIGURES_RECORD}
    problems = [f"{name}: not in {FIGURES_RECORD} (no run recorded writing it)" for name in sorted(files - set(record))]
    problems += [f"{name}: written by run {record[name]}, which wrote none of results/{profile}/*.json"
                 for name in sorted(files & set(record)) if record[name] not in runs]
    problems += [f"{name}: in {FIGURES_RECORD} but missing" for name in sorted(set(record) - files)]
    return problems


def save_results(name: str, profile: str, results: dict[str, Any]) -> Path:
    """Write ``results`` (nested dicts/lists of numbers and strings) to ``results/<profile>/<name>.json``, with the
    profile and the id of the run that wrote it."""
    clash = sorted(set(results) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"save_results writes the keys {', '.join(RESERVED_KEYS)} itself; rename {', '.join(clash)}")
    path = results_dir(profile) / f"{name}.json"
    tree = {"profile": profile, "run": current_run(), **results}
    path.write_text(json.dumps(tree, indent=2, sort_keys=True, default=json_default))
    return path


def flatten_numbers(tree: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Yield ``(dotted.key, number)`` for every numeric leaf of a nested dict/list (booleans excluded)."""
    if isinstance(tree, dict):
        for key in sorted(tree, key=str):
            yield from flatten_numbers(tree[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            yield from flatten_numbers(item, f"{prefix}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.0f}" if value.is_integer() and abs(value) < 1e9 else f"{value:.4g}"


def _read(path: Path) -> dict:
    try:
        tree = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run its notebook") from err
    if not isinstance(tree, dict):
        raise ValueError(f"{path} holds a {type(tree).__name__}, not a results mapping; delete it and re-run its "
                         "notebook")
    return tree


def _stale_reason(name: str, written_by: str | None, run: str, statuses: Mapping[str, str]) -> str | None:
    """Why the results file ``name`` does not count for ``run`` (``None``: it does)."""
    status = statuses.get(name)
    if status == FAILED:
        return "notebook FAILED in this run"
    if written_by == run:
        return None
    if status == OK:
        return "notebook ran in this run but did not rewrite this file"
    return "notebook not run in this run"


def load_results(profile: str, names: Collection[str] | None = None) -> dict[str, dict]:
    """``{notebook: results tree}`` of ``results/<profile>/*.json`` (only ``names`` when given)."""
    return {path.stem: _read(path) for path in _result_paths(profile) if names is None or path.stem in names}


def _result_paths(profile: str) -> list[Path]:
    folder = results_dir(profile, create=False)
    return (sorted(p for p in folder.glob("*.json") if p.name not in (TIMINGS_NAME, DERIVED_NAME))
            if folder.is_dir() else [])


def machine(measure: bool = False) -> dict[str, Any]:
    """What a timing depends on: CPU model and torch's CPU capability, cores, torch and its threads, the accelerator
    (none when absent); with ``measure`` also the machine score (``a2lib.machine.score``, a few seconds)."""
    import platform

    import torch

    from ..machine import describe

    accelerator = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {**describe(measure), "torch": torch.__version__, "accelerator": accelerator,
            "python": platform.python_version()}


def write_timings(profile: str, run: str, seconds: Mapping[str, float], statuses: Mapping[str, str],
                  cache: Mapping[str, int] | None = None, box: Mapping[str, Any] | None = None,
                  pretrained: Mapping[str, Any] | None = None) -> Path:
    """``results/<profile>/timings.json``: each notebook's wall time in this run, the date, the machine (``box``, as
    ``machine`` measured it at the start of the run; else ``machine()`` now, without a score) and the model cache's
    entries ``before`` and ``after`` the run (a run that found its models cached trained little)."""
    path = results_dir(profile) / TIMINGS_NAME
    tree = {"run": run, "date": time.strftime("%Y-%m-%d"), "machine": dict(box) if box is not None else machine(),
            "cache_entries": dict(cache or {}),
            "notebooks": {name: {"seconds": round(value, 1), "status": statuses.get(name)}
                          for name, value in seconds.items()},
            "total_s": round(sum(seconds.values()) + (pretrained["seconds"] if pretrained else 0.0), 1)}
    if pretrained:
        tree["trained_before_notebooks"] = {**pretrained, "seconds": round(pretrained["seconds"], 1)}
    path.write_text(json.dumps(tree, indent=2) + "\n")
    return path


def read_timings(profile: str) -> dict | None:
    """``results/<profile>/timings.json`` (``write_timings``), or None when the profile has none."""
    path = results_dir(profile, create=False) / TIMINGS_NAME
    return _read(path) if path.is_file() else None


def machine_text(box: Mapping[str, Any]) -> str:
    """The machine of a timing (``machine()``) in words; the CPU model, capability and score where recorded."""
    cpu = (f"{box['cpu_model']} ({box.get('cpu_capability', 'capability not recorded')}), "
           if box.get("cpu_model") else "")
    score = (f", machine score {box['score_images_per_s']:,.0f} images/s"
             if box.get("score_images_per_s") is not None else "")
    return (f"{cpu}{box['cpu_cores']} CPU cores, torch {box['torch']} with {box['torch_threads']} threads, "
            f"accelerator: {box['accelerator']}{score}")


def budget_text(box: Mapping[str, Any], profile: str) -> str:
    """The wall-time budget of ``profile`` for the recorded machine score (``a2lib.machine.budget_seconds``); empty
    when no score was recorded or the profile has no budget."""
    from ..machine import NOTEBOOK01_BUDGET_S, QUICK_BUDGET_S, REFERENCE_SCORE, budget_seconds

    score = box.get("score_images_per_s")
    if profile != "quick" or not score:
        return ""
    return (f"Budget for this machine score: the whole workbook at most {budget_seconds(score):,.0f} s "
            f"({QUICK_BUDGET_S:,.0f} x {REFERENCE_SCORE:,.0f} / {score:,.0f}), notebook 01 at most "
            f"{budget_seconds(score, NOTEBOOK01_BUDGET_S):,.0f} s ({NOTEBOOK01_BUDGET_S:,.0f} x "
            f"{REFERENCE_SCORE:,.0f} / {score:,.0f}).")


def timings_markdown(profile: str) -> str:
    """The wall-time table of ``timings.json`` (empty when the profile has none)."""
    tree = read_timings(profile)
    if tree is None:
        return ""
    rows = [{"notebook": name, "status": entry["status"], "wall time (s)": f"{entry['seconds']:,.0f}"}
            for name, entry in tree["notebooks"].items()]
    done = tree.get("trained_before_notebooks")
    if done:
        rows.insert(0, {"notebook": f"training before the notebooks ({done['workers']} workers, {done['entries']} "
                                    "models)", "status": "", "wall time (s)": f"{done['seconds']:,.0f}"})
    rows.append({"notebook": "total", "status": "", "wall time (s)": f"{tree['total_s']:,.0f}"})
    cache = tree.get("cache_entries") or {}
    trained = (f"; the model cache held {cache['before']} trained models before the run and {cache['after']} after"
               if {"before", "after"} <= set(cache) else "")
    budget = budget_text(tree["machine"], profile)
    return (f"Wall time of run `{tree['run']}` ({tree['date']}; {machine_text(tree['machine'])}{trained}):\n\n"
            + markdown_table(rows, ["notebook", "status", "wall time (s)"]) + (f"\n\n{budget}" if budget else ""))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` (dicts) with ``columns``; ``|`` in cells escaped."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column, MISSING)) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def _verdicts(results: Mapping[str, dict], notebook: str | None = None) -> list:
    """``a2lib.studies.claims.evaluate_all``, imported here so that the runner's CLI does not load torch."""
    from ..studies.claims import evaluate_all

    return evaluate_all(results, notebook)


def claims_markdown(results: Mapping[str, dict], notebook: str | None = None, quotes: bool = False) -> str:
    """The claims table of ``results`` (every claim, or ``notebook``'s) as markdown; ``quotes`` adds the paper's
    words."""
    columns = list(CLAIM_COLUMNS[:2]) + (["quote"] if quotes else []) + list(CLAIM_COLUMNS[2:])
    return markdown_table([v.row() for v in _verdicts(results, notebook)], columns)


def claims_table(profile: str, notebook: str):
    """The claims ``notebook`` tests, with this run's numbers and the computed verdicts, as a pandas table styled
    to wrap its text (``.data`` is the DataFrame); read from ``results/<profile>/*.json``."""
    import pandas as pd

    verdicts = _verdicts(load_results(profile), notebook)
    frame = pd.DataFrame([v.row() for v in verdicts])  # a claim with placeholders has a row per value: no unique index
    return frame.style.hide(axis="index").set_properties(**{"white-space": "pre-wrap", "text-align": "left"})


def _pivot(cells: Mapping[tuple, Any], rows: Sequence, columns: Sequence, headers: Sequence[str]) -> str:
    """Markdown of ``cells[(row, column)]`` (results leaves: three decimals, ± over seeds; ``MISSING`` where absent),
    one line per row tuple."""
    from ..studies.claims import format_samples, samples
    from ..studies.paper import display_name

    def shown(leaf) -> str:
        values = samples(leaf)
        return MISSING if values is None else format_samples(values)

    table = [dict(zip(headers, row)) | {display_name(c): shown(cells[(row, c)]) if (row, c) in cells else MISSING
                                        for c in columns} for row in rows]
    return markdown_table(table, [*headers, *(display_name(c) for c in columns)])


def results_tables(results: Mapping[str, dict]) -> str:
    """Markdown of the run's main numbers: Table 1 (notebook 01), Table 2 (02) and NDCG@20 (05), where present (read
    through their ``a2lib.studies.records``)."""
    from ..studies import records
    from ..studies.paper import PAPER_METHODS, TABLE8_K

    blocks = []
    if TABLE1_RESULTS in results:
        cells = {((int(r.bits), r.test), r.method): r.map for r in records.Table1Map.read(results[TABLE1_RESULTS])}
        rows = sorted(dict.fromkeys(row for row, _ in cells), key=lambda r: r[0])
        methods = [m for m in PAPER_METHODS if any(c == m for _, c in cells)]
        blocks.append("Table 1 (notebook 01, tie-aware mAP):\n\n" + _pivot(cells, rows, methods,
                                                                           ["bits", "test data"]))
    if TABLE2_RESULTS in results:
        cells = {((r.dataset, int(r.bits)), r.method): r.map for r in records.Table2Map.read(results[TABLE2_RESULTS])}
        rows = sorted({row for row, _ in cells})
        methods = [m for m in PAPER_METHODS if any(c == m for _, c in cells)]
        blocks.append("Table 2 (notebook 02, tie-aware mAP):\n\n" + _pivot(cells, rows, methods,
                                                                           ["data set", "bits"]))
    if TABLE8_RESULTS in results:
        cells = {((r.bits,), r.method): r.ndcg for r in records.Ndcg.read(results[TABLE8_RESULTS])
                 if isinstance(r.bits, int) and r.k == TABLE8_K and r.ndcg is not None}
        rows = sorted({row for row, _ in cells})
        methods = [m for m in PAPER_METHODS if any(c == m for _, c in cells)]
        blocks.append("NDCG@20 of attribute matching (notebook 05):\n\n" + _pivot(cells, rows, methods, ["bits"]))
    return "\n\n".join(blocks)


def _seed_leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted.key, leaf)`` of every leaf of a results tree that holds one measured value per seed
    (``claims.samples``): a list of floats or ``{"per_seed": [...]}``; lists of integers (seed ids, sizes) are not."""
    from ..studies.claims import SEED_KEY

    if isinstance(tree, Mapping) and SEED_KEY not in tree:
        for key in sorted(tree, key=str):
            yield from _seed_leaves(tree[key], f"{prefix}.{key}" if prefix else str(key))
        return
    values = tree[SEED_KEY] if isinstance(tree, Mapping) else tree
    if isinstance(values, (list, tuple)) and values and all(isinstance(v, float) for v in values):
        yield prefix, tree


def derived_numbers(results: Mapping[str, dict]) -> dict:
    """What the summary and the README block compute from ``results`` rather than read: the mean and 95% half-width
    of every value over seeds (``claims.interval``), and every claim verdict's differences with their intervals,
    rounded as shown. ``write_summary`` saves it as ``derived.json``, so each shown number has a file it stands in."""
    from ..studies.claims import interval, samples

    def shown(value):
        return None if value is None else round(value, DERIVED_DECIMALS)

    over_seeds = {}
    for name, tree in results.items():
        for key, leaf in _seed_leaves(tree):
            values = samples(leaf)
            mean, half = interval(values)
            over_seeds[f"{name}.{key}"] = {"mean": shown(mean), "ci95": shown(half), "seeds": int(values.size)}
    verdicts = [{"claim": v.claim.id, "where": v.where, "verdict": v.verdict,
                 "differences": [{"mean": shown(d.mean), "low": shown(d.low), "high": shown(d.high),
                                  "ci95": shown(d.half), "seeds": d.seeds} for d in v.differences]}
                for v in _verdicts(results)]
    return {"over_seeds": over_seeds, "claims": verdicts}


def readme_block(profile: str = README_PROFILE) -> str:
    """The README's results block (markers included) from ``results/<profile>/*.json``: where the numbers come
    from, the claims table with computed verdicts, and the main tables."""
    from ..studies.claims import MIN_SEEDS

    results = load_results(profile)
    if not results:
        body = (f"No results of the `{profile}` profile are in `results/{profile}/` yet: `a2lib run --profile "
                f"{profile}` writes them and this block.")
    else:
        runs = sorted({str(tree.get("run") or OUTSIDE_RUNNER) for tree in results.values()})
        body = "\n\n".join([
            f"From `results/{profile}/*.json` ({len(results)} notebooks; run {', '.join(f'`{r}`' for r in runs)}). "
            "Verdicts are computed by `a2lib.studies.claims`: a difference between trained models needs an interval "
            f"over at least {MIN_SEEDS} seeds, so with one seed it is *not testable* and the numbers are "
            "shown unjudged.",
            claims_markdown(results), results_tables(results), timings_markdown(profile)])
    begin, end = readme_markers(profile)
    return "\n".join([begin, README_NOTE.format(profile=profile), "", body.strip(), "", end])


def readme_path() -> Path:
    return workbook_root() / README_NAME


def current_readme_block(text: str, profile: str = README_PROFILE) -> str:
    """``profile``'s results block of README text (markers included); an error if its markers are missing or out of
    order."""
    begin_mark, end_mark = readme_markers(profile)
    begin, end = text.find(begin_mark), text.find(end_mark)
    if begin < 0 or end < begin:
        raise ValueError(f"{README_NAME} needs one results block between {begin_mark} and {end_mark}")
    return text[begin:end + len(end_mark)]


def update_readme(profile: str = README_PROFILE) -> Path:
    """Replace the README's results block of ``profile`` with ``readme_block(profile)``."""
    path = readme_path()
    text = path.read_text()
    path.write_text(text.replace(current_readme_block(text, profile), readme_block(profile)))
    return path


def timing_line(profile: str, notebook: str) -> str:
    """The opening cell's run-time line of ``notebook`` (markers included) from ``results/<profile>/timings.json``."""
    return _timing_line(read_timings(profile), profile, notebook)


def _pretrained_text(timings: Mapping[str, Any]) -> str:
    """What the workers trained before the notebooks (``write_timings``' ``trained_before_notebooks``), or ''."""
    done = timings.get("trained_before_notebooks")
    return (f", after {done['workers']} workers had trained the {done['entries']} models of all the notebooks in "
            f"{done['seconds']:,.0f} s" if done else "")


def _timing_line(timings: dict | None, profile: str, notebook: str) -> str:
    entry = (timings or {}).get("notebooks", {}).get(notebook)
    if entry is None:
        text = f"No measured run time of `{profile}` yet (`a2lib run --profile {profile}` writes it here)."
    else:
        cache = timings.get("cache_entries") or {}
        start = ("an empty model cache" if cache.get("before") == 0 else
                 f"{cache['before']} models already in the cache" if cache.get("before") else "the cache as it was")
        text = (f"Measured run time in `{profile}`: **{entry['seconds']:,.0f} s** ({entry['status']}) in run "
                f"`{timings['run']}` of {timings['date']}, from {start}, on {machine_text(timings['machine'])}"
                f"{_pretrained_text(timings)}; the whole workbook took {timings['total_s']:,.0f} s "
                f"(`results/{profile}/timings.json`).")
    return f"{TIMING_BEGIN}\n{text}\n{TIMING_END}"


def notebook_timing_block(source: str) -> str:
    """The generated run-time block of a notebook cell's source; an error if the markers are missing."""
    begin, end = source.find(TIMING_BEGIN), source.find(TIMING_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the notebook's opening cell needs a run-time block between {TIMING_BEGIN} and {TIMING_END}")
    return source[begin:end + len(TIMING_END)]


def update_notebook_timings(profile: str = README_PROFILE, folder: Path | None = None) -> list[Path]:
    """Rewrite the run-time line of the opening cell of every notebook in ``results/<profile>/timings.json``."""
    timings = read_timings(profile)
    written = []
    for name in (timings or {}).get("notebooks", {}):
        notebook = Path(folder or notebooks_dir()) / f"{name}.ipynb"
        if not notebook.is_file():
            continue
        tree = json.loads(notebook.read_text())
        cell = tree["cells"][0]
        source = "".join(cell["source"])
        if folder is not None and TIMING_BEGIN not in source:
            continue  # an executed copy of a notebook without a run-time line (the sources have one)
        cell["source"] = source.replace(notebook_timing_block(source), _timing_line(timings, profile, name)).splitlines(
            keepends=True)
        notebook.write_text(json.dumps(tree, indent=1, ensure_ascii=False) + "\n")
        written.append(notebook)
    return written


def summary_table(profile: str, run: str, statuses: Mapping[str, str]) -> str:
    """Markdown for ``results/<profile>/*.json``: this run's numbers (notebook | quantity | value), then every other
    file's numbers marked with the run that wrote them and why they are stale. ``statuses``: notebook -> ok/FAILED
    for the notebooks this run attempted."""
    current, stale, fresh = [], [], {}
    for path in _result_paths(profile):
        tree = _read(path)
        numbers = {key: value for key, value in tree.items() if key not in RESERVED_KEYS}
        rows = [(key, _fmt(value)) for key, value in flatten_numbers(numbers)]
        written_by = tree.get("run")
        reason = _stale_reason(path.stem, written_by, run, statuses)
        if reason is None:
            fresh[path.stem] = tree
            current += [f"| {path.stem} | {key} | {value} |" for key, value in rows]
        else:
            origin = f"run {written_by}" if written_by else OUTSIDE_RUNNER
            stale += [f"| {path.stem} | {origin} | {reason} | {key} | {value} |" for key, value in rows or [("", "")]]
    attempted = ", ".join(f"{name} {status}" for name, status in statuses.items()) or "none"
    lines = [f"# Results, profile `{profile}`", "", f"Run `{run}`; notebooks: {attempted}.", "",
             "## Claims", "", "The paper's claims against this run's numbers (verdicts computed by "
             "`a2lib.studies.claims`).", "", claims_markdown(fresh, quotes=True), "", "## Numbers", "",
             "| notebook | quantity | value |", "|---|---|---|"]
    lines += current or ["| (no results from this run) | | |"]
    if stale:
        lines += ["", "## Not from this run", "",
                  "Written by an earlier run, outside the runner, or by a notebook that failed in this run: "
                  "check before quoting.", "",
                  "| notebook | written by | why stale | quantity | value |", "|---|---|---|---|---|", *stale]
    return "\n".join(lines) + "\n"


def write_summary(profile: str, run: str, statuses: Mapping[str, str]) -> tuple[str, Path]:
    """Write ``results/<profile>/SUMMARY.md``, ``derived.json`` (``derived_numbers``), the README's results block of
    ``profile`` when the README has one (``README_PROFILES``, ``update_readme``), the run-time lines of the executed
    copies in ``runs/<profile>/`` and, for ``README_PROFILE``, of the source notebooks (``update_notebook_timings``);
    returns the summary and its path."""
    table = summary_table(profile, run, statuses)
    path = results_dir(profile) / SUMMARY_NAME
    path.write_text(table)
    derived = derived_numbers(load_results(profile))
    (results_dir(profile) / DERIVED_NAME).write_text(json.dumps(derived, indent=2, sort_keys=True) + "\n")
    readme = readme_path()
    if profile in README_PROFILES and readme.is_file() and readme_markers(profile)[0] in readme.read_text():
        update_readme(profile)
        if profile == README_PROFILE:
            update_notebook_timings(profile)
    update_notebook_timings(profile, runs_dir(profile))
    return table, path


__all__ = ["DERIVED_NAME", "FIGURES_RECORD", "record_figure", "stale_figures", "README_BEGIN", "README_END", "README_PROFILE", "README_PROFILES", "readme_markers", "RUN_ENV", "SUMMARY_NAME", "budget_text",
           "claims_markdown", "claims_table", "current_readme_block", "current_run", "derived_numbers", "flatten_numbers",
           "load_results", "machine", "machine_text", "markdown_table", "new_run_id", "read_timings", "readme_block",
           "readme_path", "results_tables", "save_results", "summary_table", "timing_line", "timings_markdown",
           "update_notebook_timings", "update_readme", "write_summary", "write_timings"]
