"""Training a profile's plan in parallel (``a2lib train --profile P --executor local|slurm``) through submitit.

The missing entries of ``a2lib.workbook.plan.training_plan`` (data present, not cached) are trained by
``load_or_train`` into the shared content-addressed cache, so the notebooks then load every model from it:
- ``local``: submitit's LocalExecutor runs ``workers`` processes on this machine, each with one GPU of ``--gpus N``
  (``CUDA_VISIBLE_DEVICES``) or, without GPUs, on the CPU with its share of the cores; the entries are dealt out
  longest first to the least-loaded worker (by the plan's FLOP estimate);
- ``slurm``: submitit's SLURM executor submits one job per entry (a job array, one GPU each, at most ``--gpus`` at
  once when given) from a login node that has ``sbatch``.
Two writers of one entry cannot corrupt it: ``load_or_train`` holds the entry's file lock while it trains and
publishes the entry by an atomic rename (``a2lib.train.cache``), so a worker that finds an entry being trained waits
and loads it. Job logs and pickles go to ``jobs_folder`` (the CLI: ``runs/<profile>/train-jobs/``; on a cluster
it must be on a file system the nodes share, as the cache and data folders must).
"""
from __future__ import annotations

import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import WorkbookError
from .plan import Plan, PlanItem

EXECUTORS = ("local", "slurm")
JOBS_FOLDER = "train-jobs"
LOCAL_TIMEOUT_MIN = 7 * 24 * 60
"""Time limit of a local worker (submitit's default is 2 minutes): a week, far above a full-profile share."""
SLURM_TIMEOUT_MIN = 24 * 60
"""Time limit of one SLURM job (one entry): a day, above the 6-10 h the paper's runs take on one GPU."""
SLURM_CPUS_PER_TASK = 8
"""CPU cores per SLURM job: DataLoader workers decoding JPEGs for one GPU (``a2lib.train.runtime``)."""


@dataclass
class Outcome:
    """What happened to one entry in a worker: ``error`` is None when it was trained (or found cached)."""

    key: str
    model: str
    bits: int
    seconds: float
    error: str | None = None


def train_entries(configs: list[dict], cache_dir: str, data_root: str, threads: int | None = None,
                  progress_file: str | None = None) -> list[Outcome]:
    """A worker (run by submitit): ``load_or_train`` each config (``TrainConfig.to_dict()`` form) into ``cache_dir``;
    a failure is recorded and the next config trained. ``threads`` caps torch's CPU threads; ``progress_file``
    receives what trains now (``a2lib.train.progress``), for the submitting process to show."""
    import torch

    from ..train import TrainConfig, config_key, load_or_train
    from ..train.progress import PROGRESS_ENV

    if progress_file:
        os.environ[PROGRESS_ENV] = progress_file
    if threads:
        torch.set_num_threads(threads)
    outcomes = []
    for values in configs:
        config = TrainConfig.from_dict(values)
        start = time.perf_counter()
        try:
            load_or_train(config, cache_dir=cache_dir, data_root=data_root, verbose=True)
            error = None
        except Exception:  # reported back to the submitting process, which names the entry
            error = traceback.format_exc()
        outcomes.append(Outcome(config_key(config), config.model, config.bits, time.perf_counter() - start, error))
    return outcomes


def deal(items: Sequence[PlanItem], workers: int) -> list[list[PlanItem]]:
    """The items dealt to ``workers`` shares: longest first (plan FLOPs), each to the least-loaded share."""
    shares: list[list[PlanItem]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for item in sorted(items, key=lambda i: i.train_flops, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(item)
        loads[lightest] += item.train_flops
    return [share for share in shares if share]


def _local_workers(gpus: int | None, workers: int | None) -> tuple[int, bool]:
    """(worker count, whether each worker gets a GPU) for the local executor; a request this machine cannot serve
    is an error saying what it has."""
    import torch

    available = torch.cuda.device_count()
    if gpus is not None:
        if workers is not None and workers != gpus:
            raise WorkbookError(f"--gpus {gpus} runs one worker per GPU; drop --workers {workers}")
        if gpus > available:
            raise WorkbookError(f"--gpus {gpus} asks for more GPUs than torch sees here ({available}); use "
                                f"--gpus {available} or train on the CPU with --workers N" if available else
                                f"--gpus {gpus} but torch sees no CUDA GPU here; use --workers N for CPU workers")
        return gpus, True
    if workers is not None:
        return workers, False
    return (available, True) if available else (1, False)


def check_request(executor: str, gpus: int | None, workers: int | None) -> None:
    """Refuse an unknown executor, a count below one, or a combination the executor does not take."""
    if executor not in EXECUTORS:
        raise WorkbookError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    for value, option in ((gpus, "--gpus"), (workers, "--workers")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise WorkbookError(f"{option} must be a positive integer, got {value!r}")
    if executor == "local":
        _local_workers(gpus, workers)
    elif workers is not None:
        raise WorkbookError("--workers is for --executor local; SLURM runs one job per entry (--gpus caps how "
                            "many run at once)")


def _executor(kind: str, folder: Path, partition: str | None):
    import submitit

    if kind == "local":
        return submitit.LocalExecutor(folder=folder)
    if shutil.which("sbatch") is None:
        raise WorkbookError("--executor slurm needs SLURM's sbatch on PATH (run it on the cluster's login node); "
                            "use --executor local on a single machine")
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    if partition:
        executor.update_parameters(slurm_partition=partition)
    return executor


def _submit_local(runner, missing: list[PlanItem], gpus, workers, common: tuple, log,
                  progress: Sequence[Path] = ()) -> list:
    """One LocalExecutor job per worker, each with its share of ``missing`` (and its GPU, or its CPU cores), worker
    ``i`` reporting its progress to ``progress[i]`` when given."""
    count, per_gpu = _local_workers(gpus, workers)
    shares = deal(missing, count)
    threads = None if per_gpu else max(1, (os.cpu_count() or 1) // len(shares))
    log(f"training {len(missing)} entries with {len(shares)} local {'GPU' if per_gpu else 'CPU'} worker(s); "
        f"logs in {runner.folder}")
    jobs = []
    for index, share in enumerate(shares):
        runner.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=1 if per_gpu else 0,
                                 visible_gpus=(index,) if per_gpu else ())
        jobs.append(runner.submit(train_entries, [item.config.to_dict() for item in share], *common, threads,
                                  str(progress[index]) if index < len(progress) else None))
    return jobs


def _submit_slurm(runner, missing: list[PlanItem], gpus, common: tuple, log) -> list:
    """A SLURM job array: one entry and one GPU per job, at most ``gpus`` jobs running at once when given."""
    runner.update_parameters(timeout_min=SLURM_TIMEOUT_MIN, gpus_per_node=1, tasks_per_node=1,
                             cpus_per_task=SLURM_CPUS_PER_TASK, slurm_array_parallelism=gpus or len(missing))
    jobs = runner.map_array(train_entries, [[item.config.to_dict()] for item in missing],
                            [common[0]] * len(missing), [common[1]] * len(missing))
    log(f"submitted {len(jobs)} SLURM jobs (array {jobs[0].job_id.split('_')[0]}); logs in {runner.folder}")
    return jobs


def train_plan(plan: Plan, jobs_folder: Path, executor: str = "local", gpus: int | None = None,
               workers: int | None = None, partition: str | None = None, log=print,
               progress: Sequence[Path] = ()) -> list[Outcome]:
    """Train ``plan.missing()`` with submitit (module docstring) and return one ``Outcome`` per entry; waits for
    every job. A bad request (executor, counts, GPUs) is a ``WorkbookError`` before anything is submitted. Local
    worker ``i`` reports what it trains to the file ``progress[i]`` (``a2lib.train.progress``)."""
    check_request(executor, gpus, workers)
    missing = plan.missing()
    if not missing:
        log(f"nothing to train: every configuration of the plan whose data is present is cached in {plan.cache_dir}")
        return []
    runner = _executor(executor, Path(jobs_folder), partition)
    common = (str(plan.cache_dir), str(plan.data_root))
    if executor == "local":
        jobs = _submit_local(runner, missing, gpus, workers, common, log, progress)
    else:
        jobs = _submit_slurm(runner, missing, gpus, common, log)
    outcomes = []
    for job in jobs:
        try:
            outcomes += job.result()
        except Exception as error:  # a worker that died (killed, out of memory): its entries stay missing
            outcomes.append(Outcome(f"job {job.job_id}", "?", 0, 0.0, f"{type(error).__name__}: {error}"))
    return outcomes


def format_outcomes(outcomes: list[Outcome]) -> str:
    """One markdown row per entry: key, model, bits, wall time, and the error's last line for a failure."""
    lines = ["| key | model | bits | seconds | result |", "|---|---|---|---|---|"]
    for o in outcomes:
        result = "ok" if o.error is None else "FAILED: " + o.error.strip().splitlines()[-1]
        lines.append(f"| {o.key[:10]} | {o.model} | {o.bits} | {o.seconds:.1f} | {result} |")
    return "\n".join(lines)


def train_command(profile: str, only: Sequence[str] | None, notebooks_dir: Path | None, tflops: float | None,
                  executor: str, gpus: int | None, workers: int | None, partition: str | None,
                  dry_run: bool) -> int:
    """``a2lib train``: plan ``profile`` in the workbook's folders, train the missing entries (``train_plan``) and
    say which are cached now; returns 0 when every entry whose data is present is cached, else 1."""
    from . import paths
    from .plan import check_tflops, format_plan, training_plan

    tflops = check_tflops(tflops)
    check_request(executor, gpus, workers)
    paths.activate()
    plan = training_plan(profile, only, notebooks_dir)
    print(format_plan(plan, tflops, rows=False))
    absent = sorted({item.config.dataset for item in plan.items if item.status == "no data"})
    if absent:
        print(f"not trained, data missing under {plan.data_root}: {', '.join(absent)} (see data/README.md)")
    if dry_run:
        count, _ = _local_workers(gpus, workers) if executor == "local" else (len(plan.missing()), True)
        unit = "worker" if executor == "local" else "job"
        for number, share in enumerate(deal(plan.missing(), count), 1):
            print(f"{unit} {number}: " + ", ".join(f"{i.config.model}/{i.config.bits} {i.key[:10]}" for i in share))
        return 0
    outcomes = train_plan(plan, paths.runs_dir(plan.profile) / JOBS_FOLDER, executor, gpus, workers, partition)
    if outcomes:
        print(format_outcomes(outcomes))
    left = [item for item in plan.missing() if not item.cached]
    print(f"{sum(item.cached for item in plan.items)} of {len(plan.items)} configurations cached in "
          f"{plan.cache_dir}; {len(left)} failed to train; {plan.count('no data')} lack their data")
    return 1 if left else 0


__all__ = ["EXECUTORS", "Outcome", "check_request", "deal", "format_outcomes", "train_command", "train_entries",
           "train_plan"]
