"""What is training now, told to a process that cannot see the training: one small JSON file, rewritten atomically.

``a2lib run`` executes the notebooks in a kernel subprocess, whose tqdm bars go into the executed notebook, not to
the terminal. So the runner names a file in ``$A2LIB_PROGRESS`` (``PROGRESS_ENV``) for the kernel, and ``report``
rewrites it (a temporary file and a rename, ``a2lib.atomic``) when a training run starts, after each of its outer
iterations, when it ends (``a2lib.train.trainer``) and when a model is loaded from the cache instead
(``a2lib.train.cache``). With the variable unset, ``report`` does nothing; a file it cannot write costs a warning,
never the training. ``read`` gives the latest record, or None when there is none or it cannot be read, and
``describe`` turns a record into one line with the time elapsed and, from the outer iterations done so far, the time
left.
"""
from __future__ import annotations

import json
import numbers
import os
import time
import warnings
from pathlib import Path

from ..atomic import write_atomic

PROGRESS_ENV = "A2LIB_PROGRESS"
"""The environment variable naming the progress file."""
TRAINING, TRAINED, CACHED = "training", "trained", "cached"
"""A record's ``state``: outer iterations under way, all of them done, or the model loaded from the cache."""
STATES = (TRAINING, TRAINED, CACHED)
TEXT_KEYS = ("state", "model", "dataset")
NUMBER_KEYS = ("bits", "seed", "iteration", "outer_iterations", "elapsed_s", "time")
"""A record's fields: ``iteration`` outer iterations of ``outer_iterations`` done, ``elapsed_s`` seconds of training
by then (earlier sessions of a resumed run included), ``time`` when it was written (``time.time()``)."""


def report(config, state: str, iteration: int = 0, elapsed_s: float = 0.0) -> None:
    """Rewrite the progress file with the run of ``config`` (a ``TrainConfig``) in ``state``; nothing without
    ``$A2LIB_PROGRESS``."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    record = {"state": state, "model": config.model, "dataset": config.dataset, "bits": config.bits,
              "seed": config.seed, "iteration": iteration, "outer_iterations": config.outer_iterations,
              "elapsed_s": elapsed_s, "time": time.time()}
    try:
        write_atomic(Path(path), lambda handle: handle.write(json.dumps(record).encode()))
    except OSError as error:
        warnings.warn(f"cannot write the progress file {path} ({error}); training goes on without it", stacklevel=2)


def read(path: str | os.PathLike) -> dict | None:
    """The record in ``path``, or None when the file is missing, cannot be read or holds no valid record."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    valid = (isinstance(record, dict) and record.get("state") in STATES
             and all(isinstance(record.get(key), str) for key in TEXT_KEYS)
             and all(isinstance(record.get(key), numbers.Real) and not isinstance(record.get(key), bool)
                     for key in NUMBER_KEYS))
    return record if valid else None


def clock(seconds: float) -> str:
    """``M:SS``, or ``H:MM:SS`` from an hour."""
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(record: dict, now: float | None = None) -> str:
    """One line for ``record`` at time ``now`` (default: now). While training, the elapsed time runs on from the
    record's and the time left is the mean time per outer iteration so far times the iterations left, less the
    time since the record."""
    now = time.time() if now is None else now
    run = f"{record['model']} ({record['bits']} bits, seed {record['seed']}, {record['dataset']})"
    done, total = int(record["iteration"]), int(record["outer_iterations"])
    if record["state"] == CACHED:
        return f"loaded {run} from the cache"
    if record["state"] == TRAINED:
        return f"trained {run}: {done} outer iterations in {clock(record['elapsed_s'])}"
    since = max(now - record["time"], 0.0)
    line = (f"training {run}: outer iteration {min(done + 1, total)}/{total}, "
            f"{clock(record['elapsed_s'] + since)} elapsed")
    if done == 0:
        return f"{line}, time left known after the first outer iteration"
    left = record["elapsed_s"] / done * (total - done) - since
    return f"{line}, about {clock(left)} left"


__all__ = ["CACHED", "PROGRESS_ENV", "STATES", "TRAINED", "TRAINING", "clock", "describe", "read", "report"]
