"""The papermill batch runner: ``a2lib run --profile P [--only 01,03] [--device auto|cpu|cuda]``, and the CLI that
also dispatches ``a2lib plan`` (``a2lib.workbook.plan``), ``a2lib train`` (``a2lib.workbook.fanout``) and ``a2lib
book`` (``a2lib.workbook.book``).

A profile (``a2lib/profiles/<name>.yaml`` or any YAML path) sets every notebook's parameters. The runner checks the
whole request before anything runs (profile, ``--only`` entries, every injected parameter against the notebook's
``parameters`` cell, names and types; the output folders writable: ``preflight``), executes the notebooks in order
into ``runs/<profile>/``, shows under the notebook bar what its kernel is training now (``a2lib.workbook.status``),
stops at the first failure with the failing cell's source and error, and ends with one table of the numbers this run
wrote to ``results/<profile>/*.json`` (numbers of earlier runs or failed notebooks listed apart, marked stale).

Ctrl-C is passed to the running notebook's kernel, which stops its cell as Jupyter's interrupt button does (the
executed copy so far and every model trained so far are kept; a model cut off mid-training resumes from its last
outer iteration); the runner then ends with one line saying what was interrupted, what is kept and the command that
resumes, and exit status 130. A second Ctrl-C stops the runner at once.
"""
from __future__ import annotations

import _thread
import argparse
import hashlib
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from . import paths
from .errors import WorkbookError
from .notebooks import PREFIX_LENGTH, discover_notebooks, notebook_parameters, plan_parameters, select_notebooks
from .preflight import check_output_folders
from .profiles import PROFILES, Profile, load_profile
from .results import FAILED, OK, RUN_ENV, machine, new_run_id, stale_figures, write_summary, write_timings

KERNEL_PREFIX = "a2lib-"
KERNEL_START_TIMEOUT_S = 120
INTERRUPTED_STATUS = 130
"""The exit status of a run ended by Ctrl-C: 128 + SIGINT, as shells report an interrupted command."""
INTERRUPT_GRACE_S = 5.0
"""Seconds a notebook has to stop after the first Ctrl-C reaches its kernel before the runner stops it itself."""


class NotebookFailed(Exception):
    """A notebook of the batch raised; ``run`` has reported the failing cell, the batch stopped there."""


class Interrupted(Exception):
    """Ctrl-C ended the batch; the message is the line the CLI prints (what stopped, what is kept, how to resume)."""


@dataclass
class NotebookRun:
    """What happened to one notebook in a batch."""

    name: str
    output: Path
    seconds: float
    ok: bool


def resolve_device(requested: str, profile: Profile) -> str:
    """Pick the device (``auto`` says what it chose); warn when the ``full`` profile would run on a CPU."""
    from ..device import select_device

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


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set the environment variable ``name`` for the kernels started in the block, and restore it afterwards."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _recording_kernel_manager(kernels: list):
    """A kernel manager class that appends each instance to ``kernels``, so Ctrl-C can be passed to the kernel."""
    from jupyter_client import AsyncKernelManager

    class RecordingKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            kernels.append(self)

    return RecordingKernelManager


def _kernel_group(kernels: list) -> int | None:
    """The process group of the latest kernel while it runs (kernels run in their own session), else None."""
    provisioner = getattr(kernels[-1], "provisioner", None) if kernels else None
    process = getattr(provisioner, "process", None)
    if process is None or process.poll() is not None:
        return None
    return getattr(provisioner, "pgid", None)


@contextmanager
def _passing_interrupts_to(kernels: list) -> Iterator[dict]:
    """While the block runs, the first Ctrl-C goes to the running kernel (its cell stops, the notebook fails with a
    KeyboardInterrupt, the batch ends there); a second one, or one while no kernel runs, raises KeyboardInterrupt
    here. A kernel between two cells drops the signal, so a notebook that has not stopped ``INTERRUPT_GRACE_S`` after
    the first Ctrl-C is stopped here as by a second one. Yields ``{"count": Ctrl-Cs so far}``."""
    state = {"count": 0}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    grace: list[threading.Timer] = []

    def on_interrupt(signum, frame):
        state["count"] += 1
        group = _kernel_group(kernels)
        if state["count"] > 1 or group is None:
            raise KeyboardInterrupt
        os.killpg(group, signal.SIGINT)
        grace.append(threading.Timer(INTERRUPT_GRACE_S, _thread.interrupt_main))
        grace[-1].daemon = True
        grace[-1].start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield state
    finally:
        for timer in grace:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)


def _is_interrupt(err: Exception, interrupts: dict) -> bool:
    return bool(interrupts["count"]) or getattr(err, "ename", None) == "KeyboardInterrupt"


def _interrupted(profile: str, path: Path, output: Path, records: list[NotebookRun], plan: dict,
                 finished: bool = False) -> Interrupted:
    """The one line an interrupted run ends with: what stopped, what is kept and the command that resumes
    (``finished``: the Ctrl-C came while notebook ``path`` ended, so it is kept whole)."""
    from ..folders import cache_root

    done = ", ".join(r.name for r in records)
    kept = f"the results and executed copies of {done}, " if done else ""
    names = list(plan)
    remaining = [p.stem[:PREFIX_LENGTH] for p in names[names.index(path) + finished:]]
    where = f"after notebook {path.stem} ended" if finished else f"in notebook {path.stem}"
    partial = "" if finished else f"its partial copy {output} and "
    resume = (f"Resume with: a2lib run --profile {profile} --only {','.join(remaining)}" if remaining
              else "Nothing was left to run")
    return Interrupted(f"interrupted (Ctrl-C) {where}; kept: {kept}{partial}every model trained so far in "
                       f"{cache_root()} (one cut off mid-training resumes from its last outer iteration). {resume}")


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
    """Execute the selected notebooks of ``profile`` in order; return one record per notebook attempted.

    A bad request raises ``WorkbookError`` before anything runs; a failing notebook ends the batch with
    ``NotebookFailed`` after its cell is reported and the summary is written (the failure marked)."""
    prof = load_profile(profile)
    folder = Path(notebooks_dir) if notebooks_dir else paths.notebooks_dir()
    workbook = discover_notebooks(folder)
    chosen = select_notebooks(workbook, only)
    requested = device or prof.device
    plan = plan_parameters(prof, workbook, chosen, requested)
    import papermill  # seconds to import (its schema validators): only once the request is known to be good
    from tqdm.auto import tqdm

    from ..train.progress import PROGRESS_ENV
    from .status import training_status

    resolved = resolve_device(requested, prof)
    for params in plan.values():
        params["device"] = resolved
    paths.activate()
    check_output_folders(prof.name)
    kernel = ensure_kernel()
    out_dir = paths.runs_dir(prof.name)
    run_id = new_run_id()
    cached_before = cache_entries()
    box = machine(measure=True)  # the machine score, measured before the notebooks load the CPU
    pretrained = _pretrain(prof, chosen, folder, resolved, tqdm.write)

    records: list[NotebookRun] = []
    kernels: list = []
    bar = tqdm(plan.items(), desc=f"profile {prof.name}", unit="notebook", position=0)
    with _environment(RUN_ENV, run_id), tempfile.TemporaryDirectory(prefix="a2lib-progress-") as progress_dir, \
            _passing_interrupts_to(kernels) as interrupts:
        for path, params in bar:
            bar.set_postfix_str(path.stem)
            output = out_dir / path.name
            progress_file = Path(progress_dir) / f"{path.stem}.json"
            start = time.perf_counter()
            try:
                with _environment(PROGRESS_ENV, str(progress_file)), training_status(path.stem, progress_file):
                    papermill.execute_notebook(
                        str(path), str(output), parameters=params, kernel_name=kernel, cwd=str(path.parent),
                        progress_bar={"desc": path.stem, "leave": False, "position": 1}, log_output=log_output,
                        start_timeout=KERNEL_START_TIMEOUT_S, kernel_manager_class=_recording_kernel_manager(kernels),
                    )
            except KeyboardInterrupt:
                bar.close()
                raise _interrupted(profile, path, output, records, plan) from None
            except Exception as err:  # papermill raises its own and the kernel's errors; all end the batch
                if _is_interrupt(err, interrupts):
                    bar.close()
                    raise _interrupted(profile, path, output, records, plan) from None
                records.append(NotebookRun(path.stem, output, time.perf_counter() - start, ok=False))
                bar.close()
                _report_failure(path.stem, output, err)
                _finish(records, prof.name, run_id, cached_before, box, pretrained)
                raise NotebookFailed(f"notebook {path.stem} failed; executed copy: {output}") from err
            records.append(NotebookRun(path.stem, output, time.perf_counter() - start, ok=True))
            tqdm.write(f"{path.stem}: {records[-1].seconds:.1f} s -> {output}")
            if interrupts["count"]:
                bar.close()
                raise _interrupted(profile, path, output, records, plan, finished=True)
    bar.close()
    _finish(records, prof.name, run_id, cached_before, box, pretrained)
    return records


def cache_entries() -> int:
    """How many trained models the model cache holds (``a2lib.folders.cache_root``; entries in progress excluded)."""
    from ..folders import cache_root

    root = cache_root()
    return sum(1 for p in root.iterdir() if p.is_dir() and "." not in p.name) if root.is_dir() else 0


def _pretrain(prof: Profile, chosen: list[Path], folder: Path, device: str, log) -> dict | None:
    """Train the chosen notebooks' missing models with ``prof.train_workers`` CPU workers before the first notebook
    (``a2lib.workbook.fanout``), so the notebooks load them; None when the profile trains in the notebooks (one
    worker, or a GPU). Returns what ``write_timings`` records: seconds, workers and entries trained."""
    if prof.train_workers <= 1 or device != "cpu":
        return None
    from .fanout import JOBS_FOLDER, train_plan
    from .plan import training_plan

    from .status import STATUS_POSITION, training_status

    start = time.perf_counter()
    plan = training_plan(prof, [p.stem[:PREFIX_LENGTH] for p in chosen], folder)
    with tempfile.TemporaryDirectory(prefix="a2lib-workers-") as progress_dir, ExitStack() as shown:
        files = [Path(progress_dir) / f"worker-{i}.json" for i in range(prof.train_workers)]
        for i, file in enumerate(files):
            shown.enter_context(training_status(f"training worker {i + 1} of {len(files)}", file, STATUS_POSITION + i))
        outcomes = train_plan(plan, paths.runs_dir(prof.name) / JOBS_FOLDER, "local", workers=prof.train_workers,
                              log=log, progress=files)
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        log(f"{len(failed)} of {len(outcomes)} models failed to train in the workers; the notebooks train them "
            f"(first error: {failed[0].error.strip().splitlines()[-1]})")
    seconds = time.perf_counter() - start
    log(f"trained {len(outcomes) - len(failed)} models with {prof.train_workers} workers in {seconds:.1f} s")
    return {"seconds": seconds, "workers": prof.train_workers, "entries": len(outcomes) - len(failed)}


def _finish(records: list[NotebookRun], profile: str, run_id: str, cached_before: int, box: dict,
            pretrained: dict | None = None) -> None:
    """Print and save the timings (with the machine ``box`` measured at the start and the workers' training before
    the notebooks, ``pretrained``), then write and print the summary of this run's results."""
    total = sum(r.seconds for r in records) + (pretrained["seconds"] if pretrained else 0.0)
    print("\n| notebook | status | wall time (s) |\n|---|---|---|")
    if pretrained:
        print(f"| training before the notebooks ({pretrained['workers']} workers) | | {pretrained['seconds']:.1f} |")
    for r in records:
        print(f"| {r.name} | {OK if r.ok else FAILED} | {r.seconds:.1f} |")
    print(f"| total | | {total:.1f} |\n")
    statuses = {r.name: OK if r.ok else FAILED for r in records}
    write_timings(profile, run_id, {r.name: r.seconds for r in records}, statuses,
                  {"before": cached_before, "after": cache_entries()}, box, pretrained)
    table, summary = write_summary(profile, run_id, statuses)
    print(table)
    print(f"summary written to {summary}")
    for problem in stale_figures(profile):
        print(f"stale figure in figures/{profile}/ (remove it or re-run its notebook): {problem}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="a2lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="execute the workbook's notebooks with papermill")
    run_p.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} or a YAML path (default quick)")
    run_p.add_argument("--only", default=None, help="comma-separated notebooks, e.g. 01,03")
    run_p.add_argument("--device", default=None, help="auto | cpu | cuda (default: the profile's, usually auto)")
    run_p.add_argument("--notebooks", default=None, type=Path,
                       help="notebook folder (default: the workbook's notebooks/, see A2LIB_ROOT)")
    run_p.add_argument("--log-output", action="store_true", help="stream the notebooks' output to the terminal")
    for name, text in (("plan", "list the training configurations the notebooks ask the model cache for, with cost"),
                       ("train", "train the plan's missing cache entries in parallel through submitit")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} or a YAML path")
        command.add_argument("--only", default=None, help="comma-separated notebooks, e.g. 02,03")
        command.add_argument("--notebooks", default=None, type=Path, help="notebook folder (default: notebooks/)")
        command.add_argument("--tflops", default=None, type=float,
                             help="sustained TFLOP/s assumed for the hours estimate (default 40)")
    book_p = sub.add_parser("book", help="build a static HTML site of a run's executed notebooks (runs/<profile>/book)")
    book_p.add_argument("--profile", default="quick", help=f"{' | '.join(PROFILES)} (the run's folder name)")
    book_p.add_argument("--only", default=None, help="comma-separated notebooks, e.g. 00,01 (default: all)")
    book_p.add_argument("--out", default=None, type=Path, help="output folder (default runs/<profile>/book)")
    book_p.add_argument("--export", "--commit-notebooks", dest="export", action="store_true",
                        help="also copy the executed notebooks, images compressed, to notebooks/executed/<profile>/")
    plan_p, train_p = sub.choices["plan"], sub.choices["train"]
    plan_p.add_argument("--summary", action="store_true", help="print the totals without one row per configuration")
    train_p.add_argument("--executor", default="local", help="local (this machine) | slurm (a cluster)")
    train_p.add_argument("--gpus", default=None, type=int,
                         help="local: one worker per GPU on this many GPUs; slurm: at most this many jobs at once")
    train_p.add_argument("--workers", default=None, type=int, help="local CPU workers (default 1 without GPUs)")
    train_p.add_argument("--partition", default=None, help="SLURM partition")
    train_p.add_argument("--dry-run", action="store_true", help="show how the entries would be dealt out, train none")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``a2lib`` and ``python -m a2lib`` (``run``, ``plan``, ``train``, ``book``): 0 done, 1 a
    notebook or a training entry failed (reported above), 2 a bad request (one line on stderr, nothing ran), 130
    interrupted by Ctrl-C (one line on stderr: what is kept and how to resume)."""
    args = build_parser().parse_args(argv)
    only = None if args.only is None else args.only.split(",")
    try:
        if args.command == "plan":
            from .plan import plan_command  # imports torch: only for this command
            return plan_command(args.profile, only, args.notebooks, args.tflops, args.summary)
        if args.command == "book":
            from .book import book_command
            return book_command(args.profile, only, args.out, args.export)
        if args.command == "train":
            from .fanout import train_command
            return train_command(args.profile, only, args.notebooks, args.tflops, args.executor, args.gpus,
                                 args.workers, args.partition, args.dry_run)
        run(args.profile, only=only, device=args.device, notebooks_dir=args.notebooks, log_output=args.log_output)
    except WorkbookError as err:
        print(f"a2lib: error: {err}", file=sys.stderr)
        return 2
    except NotebookFailed:
        return 1
    except Interrupted as stop:
        print(f"\na2lib: {stop}", file=sys.stderr)
        return INTERRUPTED_STATUS
    except KeyboardInterrupt:
        print("\na2lib: interrupted (Ctrl-C); models trained so far stay in the cache. Run the same command again "
              "to resume", file=sys.stderr)
        return INTERRUPTED_STATUS
    return 0


__all__ = ["Interrupted", "NotebookFailed", "NotebookRun", "build_parser", "discover_notebooks", "ensure_kernel", "main",
           "notebook_parameters", "plan_parameters", "resolve_device", "run", "select_notebooks"]
