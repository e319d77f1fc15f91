"""The papermill batch runner: ``a2lib run --profile P [--only 01,03] [--device auto|cpu|cuda]``.

A profile (``a2lib/profiles/<name>.yaml`` or any YAML path) sets every notebook's parameters. The runner checks the
whole request before anything runs (profile, ``--only`` entries, every injected parameter against the notebook's
``parameters`` cell), executes the notebooks in order into ``runs/<profile>/``, stops at the first failure with the
failing cell's source and error, and ends with one table of the numbers in ``results/<profile>/*.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from . import paths
from .results import write_summary

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("smoke", "quick", "full")
RUNNER_PARAMETERS = ("profile", "device")
KERNEL_PREFIX = "a2lib-"
KERNEL_START_TIMEOUT_S = 120
SHARED_PREFIX = "x-"
"""Top-level profile keys starting with this hold YAML anchors shared by several notebooks (``x-birds: &birds``)."""


class WorkbookError(Exception):
    """A bad request to the runner (unknown profile, notebook or parameter); the message lists the valid choices."""


@dataclass
class Profile:
    """A profile file: parameters for every notebook, and the default device."""

    name: str
    description: str = ""
    device: str = "auto"
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class NotebookRun:
    """What happened to one notebook in a batch."""

    name: str
    output: Path
    seconds: float
    ok: bool


def load_profile(name_or_path: str) -> Profile:
    """Read a profile by name (``smoke``, ``quick``, ``full``) or from a YAML path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        if name_or_path not in PROFILES:
            raise WorkbookError(
                f"unknown profile {name_or_path!r}; choose one of {', '.join(PROFILES)} (or give a .yaml path)"
            )
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise WorkbookError(f"profile file {path} does not exist; built-in profiles: {', '.join(PROFILES)}")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = {key for key in spec if not key.startswith(SHARED_PREFIX)} - {"name", "description", "device", "notebooks"}
    if unknown:
        raise WorkbookError(
            f"profile {path} has unknown keys {sorted(unknown)}; allowed: name, description, device, notebooks, "
            f"and '{SHARED_PREFIX}*' blocks for shared YAML anchors"
        )
    return Profile(
        name=spec.get("name", path.stem),
        description=spec.get("description", ""),
        device=spec.get("device", "auto"),
        notebooks={k: dict(v or {}) for k, v in (spec.get("notebooks") or {}).items()},
    )


def discover_notebooks(folder: Path) -> list[Path]:
    """The workbook's notebooks in order: ``NN_name.ipynb`` files of ``folder``, sorted by name."""
    if not folder.is_dir():
        raise WorkbookError(f"notebook folder {folder} does not exist; pass --notebooks DIR")
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if not p.name.endswith("-checkpoint.ipynb"))
    if not found:
        raise WorkbookError(f"no notebooks named NN_name.ipynb in {folder}")
    return found


def select_notebooks(notebooks: list[Path], only: Sequence[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only`` (number prefix like ``01`` or full stem), in workbook order."""
    if not only:
        return notebooks
    valid = {p.stem: p for p in notebooks} | {p.stem[:2]: p for p in notebooks}
    wanted = [entry.strip() for entry in only if entry.strip()]
    unknown = [entry for entry in wanted if entry not in valid]
    if unknown:
        choices = ", ".join(p.stem[:2] + " (" + p.stem + ")" for p in notebooks)
        raise WorkbookError(f"unknown --only entry {', '.join(unknown)}; valid: {choices}")
    chosen = {valid[entry] for entry in wanted}
    return [p for p in notebooks if p in chosen]


def notebook_parameters(path: Path) -> set[str]:
    """Names defined in the notebook's cell tagged ``parameters``."""
    import papermill

    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise WorkbookError(f"{path.name} must have exactly one cell tagged 'parameters' (it has {len(tagged)})")
    return set(papermill.inspect_notebook(str(path)))


def plan_parameters(
    profile: Profile, workbook: list[Path], chosen: list[Path], device: str
) -> dict[Path, dict[str, Any]]:
    """The parameters injected into each chosen notebook, checked against its ``parameters`` cell."""
    all_stems = {p.stem for p in workbook}
    stray = sorted(set(profile.notebooks) - all_stems)
    if stray:
        raise WorkbookError(
            f"profile {profile.name!r} sets parameters for unknown notebook(s) {', '.join(stray)}; "
            f"notebooks: {', '.join(sorted(all_stems))}"
        )
    plan = {}
    for path in chosen:
        params = {"profile": profile.name, "device": device, **profile.notebooks.get(path.stem, {})}
        defined = notebook_parameters(path)
        unknown = sorted(set(params) - defined)
        if unknown:
            raise WorkbookError(
                f"{path.stem}: parameter(s) {', '.join(unknown)} from profile {profile.name!r} are not defined in "
                f"its parameters cell; it defines: {', '.join(sorted(defined))}"
            )
        plan[path] = params
    return plan


def resolve_device(requested: str, profile: Profile) -> str:
    """Pick the device (``auto`` says what it chose); warn when the ``full`` profile would run on a CPU."""
    from .device import select_device

    try:
        device = select_device(requested)
    except (ValueError, RuntimeError) as err:
        raise WorkbookError(str(err)) from err
    if requested == "auto" and device.type == "cpu":
        print("device auto: no CUDA GPU found, using the CPU")
    if profile.name == "full" and device.type == "cpu":
        warnings.warn(
            "profile 'full' trains ResNet-50 models on the paper's datasets; on a CPU this takes hours to days. "
            "Use a CUDA GPU (--device cuda) or the 'quick' profile.",
            stacklevel=2,
        )
    return device.type


def ensure_kernel() -> str:
    """Register (once) a Jupyter kernel running this interpreter and return its name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    digest = hashlib.sha1(sys.executable.encode()).hexdigest()[:8]
    name = KERNEL_PREFIX + digest
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return name
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    display = f"Python (a2lib, {sys.prefix})"
    if os.access(sys.prefix, os.W_OK):
        install(kernel_name=name, display_name=display, prefix=sys.prefix)
    else:
        install(kernel_name=name, display_name=display, user=True)
    return name


def _report_failure(name: str, output: Path, err: Exception) -> None:
    from papermill.exceptions import PapermillExecutionError

    print(f"\nFAILED: notebook {name}", file=sys.stderr)
    if isinstance(err, PapermillExecutionError):
        print(f"--- failing cell (In [{err.exec_count}]) ---", file=sys.stderr)
        print(err.source, file=sys.stderr)
        print("--- error ---", file=sys.stderr)
        print(f"{err.ename}: {err.evalue}", file=sys.stderr)
    else:
        print(f"--- error ---\n{type(err).__name__}: {err}", file=sys.stderr)
    print(f"executed copy: {output}", file=sys.stderr)


def run(
    profile: str,
    only: Sequence[str] | None = None,
    device: str | None = None,
    notebooks_dir: Path | None = None,
    log_output: bool = False,
) -> list[NotebookRun]:
    """Execute the selected notebooks of ``profile`` in order; return one record per notebook attempted."""
    import papermill
    from tqdm.auto import tqdm

    prof = load_profile(profile)
    folder = Path(notebooks_dir) if notebooks_dir else paths.project_root() / "notebooks"
    workbook = discover_notebooks(folder)
    chosen = select_notebooks(workbook, only)
    requested = device or prof.device
    plan = plan_parameters(prof, workbook, chosen, requested)
    resolved = resolve_device(requested, prof)
    for params in plan.values():
        params["device"] = resolved
    kernel = ensure_kernel()
    out_dir = paths.runs_dir(prof.name)
    os.environ.setdefault(paths.ROOT_ENV, str(paths.project_root()))

    records: list[NotebookRun] = []
    bar = tqdm(plan.items(), desc=f"profile {prof.name}", unit="notebook", position=0)
    for path, params in bar:
        bar.set_postfix_str(path.stem)
        output = out_dir / path.name
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path), str(output), parameters=params, kernel_name=kernel, cwd=str(path.parent),
                progress_bar={"desc": path.stem, "leave": False, "position": 1}, log_output=log_output,
                start_timeout=KERNEL_START_TIMEOUT_S,
            )
        except Exception as err:  # papermill raises its own and the kernel's errors; all end the batch
            records.append(NotebookRun(path.stem, output, time.perf_counter() - start, ok=False))
            bar.close()
            _report_failure(path.stem, output, err)
            _print_timings(records, out_dir)
            raise
        records.append(NotebookRun(path.stem, output, time.perf_counter() - start, ok=True))
        tqdm.write(f"{path.stem}: {records[-1].seconds:.1f} s -> {output}")
    bar.close()
    _print_timings(records, out_dir)
    table, summary = write_summary(prof.name)
    print(table)
    print(f"summary written to {summary}")
    return records


def _print_timings(records: list[NotebookRun], out_dir: Path) -> None:
    total = sum(r.seconds for r in records)
    print("\n| notebook | status | wall time (s) |\n|---|---|---|")
    for r in records:
        print(f"| {r.name} | {'ok' if r.ok else 'FAILED'} | {r.seconds:.1f} |")
    print(f"| total | | {total:.1f} |\n")
    timings = {r.name: {"seconds": round(r.seconds, 2), "ok": r.ok} for r in records}
    (out_dir / "timings.json").write_text(json.dumps(timings, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="a2lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="execute the workbook's notebooks with papermill")
    run_p.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} or a YAML path (default quick)")
    run_p.add_argument("--only", default=None, help="comma-separated notebooks, e.g. 01,03")
    run_p.add_argument("--device", default=None, help="auto | cpu | cuda (default: the profile's, usually auto)")
    run_p.add_argument("--notebooks", default=None, type=Path, help="notebook folder (default: ./notebooks)")
    run_p.add_argument("--log-output", action="store_true", help="stream the notebooks' output to the terminal")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``a2lib`` and ``python -m a2lib``."""
    args = build_parser().parse_args(argv)
    only = args.only.split(",") if args.only else None
    try:
        run(args.profile, only=only, device=args.device, notebooks_dir=args.notebooks, log_output=args.log_output)
    except WorkbookError as err:
        print(f"a2lib: error: {err}", file=sys.stderr)
        return 2
    except Exception:  # the failure was reported by run(); the exit status says it failed
        return 1
    return 0
