"""Fault injection as a new user meets it: each case does one wrong (or risky) thing and its outcome is classed.

Run: ``OMP_NUM_THREADS=1 python benchmarks/fault_cases.py [--out benchmarks/fault_cases.md] [--skip-cli]``. Every case
runs in a fresh temporary folder (small image folders of 3 classes x 8 images, the ``smoke`` recipe, one thread),
in-process under try/except, or in a subprocess where it kills a process or runs the ``a2lib`` command. Each case
states its expected outcome; ``classify_error`` is the rule that decides whether an error is clear:

* **clear error**: the exception's type is defined in ``a2lib``, or it is a built-in error (``CLEAR_TYPES``) raised
  from a2lib's own code, and its message names the offending thing (one of the case's ``names``: a parameter, a
  file, a folder); a warning naming it counts too where a warning is the expected answer. For the command line: a
  non-zero exit, no traceback, and the output names it.
* **right answer**: the call was correct (or a fault was survived) and the expected result was checked.
* **silently wrong**: a wrong input ran without an error, or gave a meaningless result, or planted code ran.
* **unclear error**: an error that does not meet the rule (a raw torch/zipfile/OSError traceback, a message not
  naming the problem), or a correct input refused.
* **blocking state**: the fault left something behind that makes a following correct call fail.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "a2lib"
CLASSES = ("clear error", "right answer", "silently wrong", "unclear error", "blocking state", "skipped")
CLEAR_TYPES = (ValueError, TypeError, KeyError, LookupError, FileNotFoundError, NotADirectoryError,
               FileExistsError, PermissionError, RuntimeError, IsADirectoryError)
"""Built-in errors that are clear when a2lib raised them itself and the message names the problem."""
SIGINT_AFTER_S, CTRL_C_LIMIT_S = 4, 90
"""Ctrl-C cases: SIGINT this long after the notebook's progress bar first shows; skipped when that takes longer than
the limit."""
ONE_LINE_LIMIT = 3
"""Lines an interrupted run may print after the SIGINT and still count as a clear one-line ending."""


PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+/\d+ \[\d")
"""A tqdm bar (``name:  20%|██  | 5/25 [00:14<...``): redrawn and closed on an interrupt, not a message."""
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_progress_bar(line: str) -> bool:
    """A tqdm bar, or what is left of one once cleared (spaces and cursor moves)."""
    bare = ANSI.sub("", line).strip()
    return not bare or bool(PROGRESS_BAR.search(bare))


def first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def _raised_in_a2lib(error: BaseException) -> bool:
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    filename = Path(last.tb_frame.f_code.co_filename).resolve()
    return any(part == "a2lib" for part in filename.parts) and "site-packages" not in filename.parts


def is_a2lib_type(error: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] == "a2lib" for cls in type(error).__mro__)


def classify_error(error: BaseException, names) -> str:
    """``clear error`` or ``unclear error`` for an exception raised where an error was expected (module docstring)."""
    message = f"{error}"
    named = any(str(name).lower() in message.lower() for name in names)
    ours = is_a2lib_type(error) or (isinstance(error, CLEAR_TYPES) and _raised_in_a2lib(error))
    return "clear error" if ours and named else "unclear error"


def classify_cli(returncode: int, output: str, names) -> str:
    """The same rule for the ``a2lib`` command: non-zero exit, no traceback, output naming the problem."""
    named = any(str(name).lower() in output.lower() for name in names)
    if returncode != 0 and "Traceback (most recent call last)" not in output and named:
        return "clear error"
    return "unclear error" if returncode != 0 else "silently wrong"


@dataclass
class Outcome:
    outcome: str
    message: str


@dataclass
class Case:
    name: str
    group: str
    expected: str
    run: Callable[[Path], Outcome]


CASES: list[Case] = []


def case(group: str, expected: str):
    def register(fn):
        CASES.append(Case(fn.__name__.removeprefix("case_"), group, expected, fn))
        return fn
    return register


def _warning_text(caught) -> list[str]:
    return [str(w.message) for w in caught]


def expect_error(action: Callable[[], object], names, warning_ok: bool = False) -> Outcome:
    """Run ``action``, which should fail (or, with ``warning_ok``, warn) naming one of ``names``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = action()
        except Exception as error:  # noqa: BLE001 - every failure is classed
            return Outcome(classify_error(error, names), f"{type(error).__name__}: {first_line(error)}")
    texts = _warning_text(caught)
    if warning_ok:
        for text in texts:
            if any(str(name).lower() in text.lower() for name in names):
                return Outcome("clear error", f"warning: {first_line(text)}")
    shown = f"; warnings: {first_line(texts[0])}" if texts else ""
    return Outcome("silently wrong", f"ran without error, returned {_short(result)}{shown}")


def expect_right(action: Callable[[], object], check: Callable[[object], str | None], follow_up: bool = False
                 ) -> Outcome:
    """Run a correct ``action``; ``check(result)`` returns None when right, else what is wrong."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = action()
        except Exception as error:  # noqa: BLE001
            return Outcome("blocking state" if follow_up else "unclear error",
                           f"{type(error).__name__}: {first_line(error)}")
    problem = check(result)
    texts = _warning_text(caught)
    note = f" (warned: {first_line(texts[0])})" if texts else ""
    if problem is None:
        return Outcome("right answer", f"{_short(result)}{note}")
    return Outcome("silently wrong", f"{problem}{note}")


def _short(value, limit: int = 90) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------- fixtures

def make_folder(root: Path, classes=3, per_class=8, size=20, seed=0, ext="jpg") -> Path:
    """``root/<class>/<image>``: small coloured images, a different mean colour per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for c in range(classes):
        folder = root / f"class_{c}"
        folder.mkdir(exist_ok=True)
        for i in range(per_class):
            pixels = (rng.random((size, size, 3)) * 80 + c * 60).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"img_{i}.{ext}")
    return root


def load_pair(root: Path, size=16):
    from a2lib import data

    return (data.load("folder", "train", root=root, size=size),
            data.load("folder", "test", root=root, size=size))


def fit_small(train, cache_dir: Path, seed=0, method="a2net", **overrides):
    import a2lib

    return a2lib.fit(train, method=method, bits=12, recipe="smoke", cache_dir=cache_dir, verbose=False, seed=seed,
                     **overrides)


def array_set(n=24, classes=3, size=16, labels=None, scale=1.0, seed=0):
    import torch
    from a2lib.data import ArrayDataset

    g = torch.Generator().manual_seed(seed)
    ys = torch.arange(n) % classes if labels is None else labels
    images = torch.rand(n, 3, size, size, generator=g) * scale
    if labels is None:
        images += (ys.float() / classes).view(-1, 1, 1, 1) * scale
        images = images / images.max() * scale
    return ArrayDataset(images, ys)


class Evil:
    """A pickle whose loading runs a shell command (creates ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def plant(path: Path, marker: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Evil(marker), "optimizer": {}}, path)


def security(outcome: Outcome, marker: Path) -> Outcome:
    if marker.exists():
        return Outcome("silently wrong", f"planted code RAN ({marker.name} created); {outcome.message}")
    return outcome


def saved_fitted(tmp: Path, seed=0, name="fitted"):
    train, _ = load_pair(make_folder(tmp / "photos"))
    fitted = fit_small(train, tmp / "cache", seed=seed)
    return fitted, fitted.save(tmp / name)


# ---------------------------------------------------------------- security

@case("security", "planted .partial/checkpoint.pt refused (no code runs); training goes on or names the file")
def case_partial_checkpoint_pickle(tmp):
    from a2lib.data.identity import fingerprint
    from a2lib.fitting import fit_config
    from a2lib.train.cache import entry_dir

    train, _ = load_pair(make_folder(tmp / "photos"))
    config = fit_config(train, "a2net", 12, "smoke", seed=0)
    entry = entry_dir(config, fingerprint(train), tmp / "cache")
    marker = tmp / "PWNED"
    plant(entry.with_name(entry.name + ".partial") / "checkpoint.pt", marker)
    outcome = expect_right(lambda: fit_small(train, tmp / "cache"), lambda f: None if f.bits == 12 else "bad bits")
    if outcome.outcome != "right answer":
        outcome = expect_error(lambda: fit_small(train, tmp / "cache"), ["checkpoint.pt", ".partial"])
    return security(outcome, marker)


@case("security", "crafted model.pt in a Fitted folder refused naming the file; no code runs")
def case_fitted_model_pickle(tmp):
    import a2lib

    _, folder = saved_fitted(tmp)
    marker = tmp / "PWNED"
    plant(folder / "model.pt", marker)
    return security(expect_error(lambda: a2lib.Fitted.load(folder), ["model.pt"]), marker)


@case("security", "crafted model.pt in a cache entry: refused, named, entry moved aside and retrained; no code runs")
def case_cache_entry_pickle(tmp):
    from a2lib.data.identity import fingerprint
    from a2lib.train.cache import entry_dir

    train, _ = load_pair(make_folder(tmp / "photos"))
    fitted = fit_small(train, tmp / "cache")
    entry = entry_dir(fitted.config, fingerprint(train), tmp / "cache")
    marker = tmp / "PWNED"
    plant(entry / "model.pt", marker)
    return security(expect_error(lambda: fit_small(train, tmp / "cache"), ["model.pt"], warning_ok=True), marker)


@case("security", "crafted embedded-data cache file refused (warned, regenerated); no code runs")
def case_data_cache_pickle(tmp):
    from a2lib import data

    options = dict(n_train=40, n_test=20)
    data.load("synth-birds", "train", root=tmp / "data", **options)
    files = sorted((tmp / "data" / "synth-birds").glob("*.pt"))
    if not files:
        return Outcome("skipped", "no synth-birds cache file written")
    marker = tmp / "PWNED"
    for path in files:
        plant(path, marker)
    return security(expect_error(lambda: data.load("synth-birds", "train", root=tmp / "data", **options),
                                 [files[0].name, "synth-birds"], warning_ok=True), marker)


def reseal(folder: Path) -> None:
    """Rewrite ``folder``'s manifest to match its files, as someone who can plant a file can: the manifest alone
    then cannot stop the planted file, only loading without unpickling can."""
    import json
    from a2lib.manifest import MANIFEST_NAME, file_digest

    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["files"] = {p.name: file_digest(p) for p in sorted(folder.iterdir())
                         if p.is_file() and p.name != MANIFEST_NAME}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))


@case("security", "crafted model.pt in a Fitted folder with its manifest rewritten to match: refused, no code runs")
def case_fitted_model_pickle_resealed(tmp):
    import a2lib

    _, folder = saved_fitted(tmp)
    marker = tmp / "PWNED"
    plant(folder / "model.pt", marker)
    reseal(folder)
    return security(expect_error(lambda: a2lib.Fitted.load(folder), ["model.pt"]), marker)


@case("security", "crafted db_codes.pt in a cache entry, manifest rewritten to match: refused, retrained; no code runs")
def case_cache_entry_pickle_resealed(tmp):
    from a2lib.data.identity import fingerprint
    from a2lib.train.cache import entry_dir

    train, _ = load_pair(make_folder(tmp / "photos"))
    fitted = fit_small(train, tmp / "cache")
    entry = entry_dir(fitted.config, fingerprint(train), tmp / "cache")
    marker = tmp / "PWNED"
    plant(entry / "db_codes.pt", marker)
    reseal(entry)
    return security(expect_error(lambda: fit_small(train, tmp / "cache"), ["db_codes.pt"], warning_ok=True), marker)


# ---------------------------------------------------------------- silently wrong (earlier round)

def _two_runs(tmp):
    a, folder_a = saved_fitted(tmp, seed=0, name="run_a")
    b, folder_b = saved_fitted(tmp, seed=1, name="run_b")
    return folder_a, folder_b


@case("silently wrong", "Fitted.load with model.pt copied from another run: error naming model.pt")
def case_model_from_other_run(tmp):
    import a2lib

    a, b = _two_runs(tmp)
    shutil.copy(b / "model.pt", a / "model.pt")
    return expect_error(lambda: a2lib.Fitted.load(a), ["model.pt"])


@case("silently wrong", "Fitted.load with db_codes.pt copied from another run: error naming db_codes.pt")
def case_codes_from_other_run(tmp):
    import a2lib

    a, b = _two_runs(tmp)
    shutil.copy(b / "db_codes.pt", a / "db_codes.pt")
    return expect_error(lambda: a2lib.Fitted.load(a), ["db_codes.pt"])


@case("silently wrong", "data.load('folder', 'test') on a root with only train/<class>/: error naming test/")
def case_test_split_missing(tmp):
    from a2lib import data

    make_folder(tmp / "root" / "train")
    return expect_error(lambda: data.load("folder", "test", root=tmp / "root"), ["test"])


@case("silently wrong", "a2lib.fit on an in-memory set of one class: error saying one class")
def case_fit_one_class(tmp):
    import torch

    ds = array_set(labels=torch.zeros(24, dtype=torch.long))
    return expect_error(lambda: fit_small(ds, tmp / "cache"), ["one class", "class"])


@case("silently wrong", "data.load on a folder holding one class folder: error saying one class")
def case_folder_one_class(tmp):
    from a2lib import data

    make_folder(tmp / "photos", classes=1)
    return expect_error(lambda: data.load("folder", "train", root=tmp / "photos"), ["1 class", "one class"])


@case("silently wrong", "mAP with queries whose class is absent from the database: warning with the count")
def case_map_dropped_queries(tmp):
    import torch
    from a2lib.evaluate import mean_average_precision

    codes = torch.tensor([[1., 1.], [1., -1.], [-1., 1.]])
    return expect_error(lambda: mean_average_precision(codes, codes[:2], torch.tensor([0, 1, 2]),
                                                       torch.tensor([0, 1])), ["1 of 3", "1 query", "dropped"],
                        warning_ok=True)


@case("silently wrong", "Fitted.save over its own folder holding README.txt and notes/: error, user files kept")
def case_save_over_user_files(tmp):
    fitted, folder = saved_fitted(tmp)
    (folder / "README.txt").write_text("mine")
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("mine")
    outcome = expect_error(lambda: fitted.save(folder), ["README.txt", "notes"])
    if not (folder / "README.txt").exists() or not (folder / "notes" / "a.txt").exists():
        return Outcome("silently wrong", f"user files deleted; {outcome.message}")
    return outcome


# ---------------------------------------------------------------- unclear / blocking (earlier round)

KILL_SCRIPT = r"""
import os, sys
import a2lib, a2lib.atomic as atomic
atomic._RENAMEAT2 = None
def step(name):
    if name == sys.argv[3]:
        os._exit(9)
atomic._step = step
a2lib.Fitted.load(sys.argv[1]).save(sys.argv[2])
"""


def _kill_publish(tmp, step):
    import a2lib

    fitted, source = saved_fitted(tmp)
    target = fitted.save(tmp / "target")
    code = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(source), str(target), step],
                          env=_env(tmp), capture_output=True, text=True, timeout=120).returncode
    if code != 9:
        return Outcome("skipped", f"the writer was not killed at {step!r} (exit {code})")

    def reload():
        loaded = a2lib.Fitted.load(target)
        loaded.save(target)
        return loaded

    def check(_):
        left = sorted(p.name for p in tmp.iterdir() if p.name.startswith("target.") and p.name != "target")
        return f"left beside the folder after the next save: {left}" if left else None

    return expect_right(reload, check, follow_up=True)


@case("blocking", "kill between the two renames of publish_folder (no renameat2): next load restores the old copy")
def case_kill_between_renames(tmp):
    return _kill_publish(tmp, "moved aside")


@case("blocking", "kill after the new folder is published, before the old is removed: next load and save work")
def case_kill_after_publish(tmp):
    return _kill_publish(tmp, "published")


KILL_CACHE_SCRIPT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import a2lib.atomic as atomic
atomic._RENAMEAT2 = None
def step(name):
    if name == "moved aside":
        os._exit(9)
atomic._step = step
from pathlib import Path
from benchmarks.fault_cases import array_set, fit_small
fit_small(array_set(), Path(sys.argv[2]), retrain=True)
"""


@case("blocking", "kill of a cache writer between its two renames: the next fit loads the entry")
def case_kill_cache_publish(tmp):
    train = array_set()
    first = fit_small(train, tmp / "cache")
    code = subprocess.run([sys.executable, "-c", KILL_CACHE_SCRIPT, str(REPO), str(tmp / "cache")], env=_env(tmp),
                          capture_output=True, text=True, timeout=120).returncode
    if code != 9:
        return Outcome("skipped", f"the writer was not killed between the renames (exit {code})")
    return expect_right(lambda: fit_small(train, tmp / "cache"),
                        lambda f: None if f.db_codes.shape == first.db_codes.shape else "another entry", follow_up=True)


@case("blocking", "stale *.tmp folders of a killed save are removed by the next publication")
def case_stale_tmp_cleaned(tmp):
    fitted, folder = saved_fitted(tmp)
    stale = [tmp / f"fitted.{i:032x}.tmp" for i in range(2)]
    for path in stale:
        path.mkdir()
        (path / "model.pt").write_bytes(b"half")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    outcome = expect_right(lambda: fitted.save(folder), lambda _: None if not any(p.exists() for p in stale)
                           else "stale .tmp folders still there after the next save")
    return outcome


def with_read_only(tmp: Path, folder: Path, script: str, *args) -> subprocess.CompletedProcess | None:
    """Run ``script`` with ``folder`` read-only: by its permissions, or (as root, whom permissions do not stop) as a
    read-only bind mount in a private mount namespace; None where neither is possible."""
    script_path = tmp / "read_only_script.py"
    script_path.write_text(script)
    command = [sys.executable, str(script_path), *args]
    if os.geteuid() != 0:
        for root, _, _ in os.walk(folder):
            os.chmod(root, 0o555)
        return subprocess.run(command, env=_env(tmp), capture_output=True, text=True, timeout=240)
    if shutil.which("unshare") is None:
        return None
    quoted = " ".join(f"'{part}'" for part in command)
    shell = (f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}' '{folder}' "
             f"&& exec {quoted}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", shell], env=_env(tmp), capture_output=True, text=True,
                          timeout=240)
    return None if "mount:" in done.stderr or "unshare:" in done.stderr else done


READ_ONLY_CACHE = r"""
import os, sys, warnings
warnings.simplefilter("always")
sys.path.insert(0, sys.argv[1])
from benchmarks.fault_cases import load_pair, fit_small
from pathlib import Path
tmp = Path(sys.argv[2])
train, _ = load_pair(tmp / "photos")
f = fit_small(train, tmp / "cache")
print("OK", f.bits)
"""


@case("blocking", "read-only cache holding the entry: the model is loaded, nothing written")
def case_read_only_cache(tmp):
    train, _ = load_pair(make_folder(tmp / "photos"))
    fit_small(train, tmp / "cache")
    done = with_read_only(tmp, tmp / "cache", READ_ONLY_CACHE, str(REPO), str(tmp))
    if done is None:
        return Outcome("skipped", "cannot make the cache read-only here")
    if done.returncode == 0 and "OK 12" in done.stdout:
        return Outcome("right answer", "loaded from the read-only cache" +
                       (f" (stderr: {first_line(done.stderr)})" if done.stderr.strip() else ""))
    return Outcome("blocking state", first_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                                                else done.stdout))


@case("blocking", "cache_dir pointing at a file: error naming the path")
def case_cache_dir_is_file(tmp):
    train, _ = load_pair(make_folder(tmp / "photos"))
    bad = tmp / "cache.txt"
    bad.write_text("not a folder")
    return expect_error(lambda: fit_small(train, bad), [str(bad), "cache.txt"])


@case("unclear", "ArrayDataset with string labels: error saying to map names to indices")
def case_string_labels(tmp):
    import torch
    from a2lib.data import ArrayDataset

    return expect_error(lambda: ArrayDataset(torch.rand(4, 3, 8, 8), ["cat", "dog", "cat", "dog"]), ["labels"])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@case("unclear", "truncated model.pt in a Fitted folder: error naming model.pt")
def case_truncated_model(tmp):
    import a2lib

    _, folder = saved_fitted(tmp)
    _truncate(folder / "model.pt")
    return expect_error(lambda: a2lib.Fitted.load(folder), ["model.pt"])


@case("unclear", "truncated db_codes.pt in a Fitted folder: error naming db_codes.pt")
def case_truncated_codes(tmp):
    import a2lib

    _, folder = saved_fitted(tmp)
    _truncate(folder / "db_codes.pt")
    return expect_error(lambda: a2lib.Fitted.load(folder), ["db_codes.pt"])


@case("unclear", "truncated model.pt in a cache entry: named, moved aside, retrained")
def case_truncated_cache_entry(tmp):
    from a2lib.data.identity import fingerprint
    from a2lib.train.cache import entry_dir

    train, _ = load_pair(make_folder(tmp / "photos"))
    fitted = fit_small(train, tmp / "cache")
    _truncate(entry_dir(fitted.config, fingerprint(train), tmp / "cache") / "model.pt")
    return expect_error(lambda: fit_small(train, tmp / "cache"), ["model.pt"], warning_ok=True)


@case("unclear", "mAP over zero queries: error, not NaN")
def case_zero_queries(tmp):
    import torch
    from a2lib.evaluate import mean_average_precision

    codes = torch.ones(3, 4)
    return expect_error(lambda: mean_average_precision(codes[:0], codes, torch.zeros(0, dtype=torch.long),
                                                       torch.zeros(3, dtype=torch.long)), ["query", "queries"])


@case("unclear", "data.load('folder', 'train') on a root with train/ but no test/: error naming test/")
def case_train_without_test(tmp):
    from a2lib import data

    make_folder(tmp / "root" / "train")
    return expect_error(lambda: data.load("folder", "train", root=tmp / "root"), ["test"])


@case("unclear", "images nested below the class folders: error saying to move them up")
def case_nested_images(tmp):
    from a2lib import data

    make_folder(tmp / "root" / "group")
    return expect_error(lambda: data.load("folder", "train", root=tmp / "root"), ["nested", "move them up", "group"])


@case("unclear", "eta for a method without image reconstruction: error naming eta")
def case_option_without_effect_eta(tmp):
    train, _ = load_pair(make_folder(tmp / "photos"))
    return expect_error(lambda: fit_small(train, tmp / "cache", method="a2net", eta=0.5), ["eta"])


@case("unclear", "an asymmetric-objective option for a method with its own loss: error naming it")
def case_option_without_effect_loss(tmp):
    train, _ = load_pair(make_folder(tmp / "photos"))
    return expect_error(lambda: fit_small(train, tmp / "cache", method="csq", dcc_sweeps=3), ["dcc_sweeps"])


@case("unclear", "a local-branch option with attention off: error naming it")
def case_option_without_effect_attention(tmp):
    return expect_error(lambda: fit_small(array_set(), tmp / "cache", method="a2net", attention=False, num_maps=4),
                        ["num_maps"])


@case("unclear", "evaluation images of another size than the training images: error naming the shape")
def case_eval_other_size(tmp):
    from a2lib import data

    root = make_folder(tmp / "photos")
    train, _ = load_pair(root)
    fitted = fit_small(train, tmp / "cache")
    other = data.load("folder", "test", root=root, size=24)
    return expect_error(lambda: fitted.evaluate(other), ["24", "size", "shape"])


@case("unclear", "evaluation images on 0-255 when the model was trained on 0-1: warning naming the scale")
def case_eval_other_scale(tmp):
    train = array_set()
    fitted = fit_small(train, tmp / "cache")
    return expect_error(lambda: fitted.evaluate(array_set(scale=255.0, seed=1)), ["scale", "255", "normalis"],
                        warning_ok=True)


# ---------------------------------------------------------------- a new user's other mistakes

@case("new user", "unknown dataset name: error listing the valid ones")
def case_unknown_dataset(tmp):
    from a2lib import data

    return expect_error(lambda: data.load("cub", "train", root=tmp), ["cub200", "folder"])


@case("new user", "unknown split name: error listing train/test")
def case_unknown_split(tmp):
    from a2lib import data

    make_folder(tmp / "photos")
    return expect_error(lambda: data.load("folder", "val", root=tmp / "photos"), ["val", "split"])


@case("new user", "bits given as a string: error naming bits")
def case_bits_string(tmp):
    import a2lib

    return expect_error(lambda: a2lib.fit(array_set(), bits="32", recipe="smoke", cache_dir=tmp, verbose=False),
                        ["bits"])


@case("new user", "bits = 0: error naming bits")
def case_bits_zero(tmp):
    import a2lib

    return expect_error(lambda: a2lib.fit(array_set(), bits=0, recipe="smoke", cache_dir=tmp, verbose=False),
                        ["bits"])


@case("new user", "negative lr: error naming lr")
def case_negative_lr(tmp):
    return expect_error(lambda: fit_small(array_set(), tmp, lr=-0.1), ["lr"])


@case("new user", "outer_iterations as a float: error naming it")
def case_float_iterations(tmp):
    return expect_error(lambda: fit_small(array_set(), tmp, outer_iterations=2.5), ["outer_iterations"])


@case("new user", "unknown fit() keyword (typo): error listing the valid ones")
def case_unknown_override(tmp):
    return expect_error(lambda: fit_small(array_set(), tmp, learning_rate=0.01), ["learning_rate"])


@case("new user", "unknown method name: error listing the methods")
def case_unknown_method(tmp):
    return expect_error(lambda: fit_small(array_set(), tmp, method="a2net+++"), ["a2net+++", "a2net++"])


@case("new user", "unknown recipe name: error listing the recipes")
def case_unknown_recipe(tmp):
    import a2lib

    return expect_error(lambda: a2lib.fit(array_set(), bits=12, recipe="fast", cache_dir=tmp, verbose=False),
                        ["fast", "quick"])


@case("new user", "device='cuda' without a GPU: error saying so")
def case_cuda_without_gpu(tmp):
    import torch

    if torch.cuda.is_available():
        return Outcome("skipped", "this machine has a GPU")
    return expect_error(lambda: fit_small(array_set(), tmp, device="cuda"), ["cuda"])


@case("new user", "image folder that does not exist: error naming it")
def case_missing_folder(tmp):
    from a2lib import data

    return expect_error(lambda: data.load("folder", "train", root=tmp / "no_such_photos"), ["no_such_photos"])


@case("new user", "empty image folder: error naming it")
def case_empty_folder(tmp):
    from a2lib import data

    (tmp / "empty").mkdir()
    return expect_error(lambda: data.load("folder", "train", root=tmp / "empty"), [str(tmp / "empty")])


@case("new user", "a class folder without images: error naming it")
def case_empty_class_folder(tmp):
    from a2lib import data

    make_folder(tmp / "photos")
    (tmp / "photos" / "class_empty").mkdir()
    return expect_error(lambda: data.load("folder", "train", root=tmp / "photos"), ["class_empty"])


@case("new user", "a corrupt .jpg in a class folder: error naming the file (at load or at fit)")
def case_corrupt_image(tmp):
    root = make_folder(tmp / "photos")
    (root / "class_1" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    def go():
        train, _ = load_pair(root)
        return fit_small(train, tmp / "cache")

    return expect_error(go, ["broken.jpg"])


@case("new user", "a notes.txt beside the images in a class folder: ignored, the images load")
def case_non_image_file(tmp):
    root = make_folder(tmp / "photos")
    (root / "class_0" / "notes.txt").write_text("taken in May")
    return expect_right(lambda: load_pair(root), lambda pair: None if len(pair[0]) + len(pair[1]) == 24 else
                        f"{len(pair[0]) + len(pair[1])} items, expected 24")


@case("new user", "images beside the class folders: error saying to move them into a class folder")
def case_stray_images(tmp):
    from a2lib import data

    root = make_folder(tmp / "photos")
    shutil.copy(root / "class_0" / "img_0.jpg", root / "stray.jpg")
    return expect_error(lambda: data.load("folder", "train", root=root), ["stray.jpg"])


@case("new user", "PNG, grey and RGBA images mixed with JPEGs of other sizes: all load as RGB of one size")
def case_mixed_formats(tmp):
    from PIL import Image

    root = make_folder(tmp / "photos")
    Image.new("L", (31, 17), 128).save(root / "class_0" / "grey.png")
    Image.new("RGBA", (12, 40), (10, 20, 30, 128)).save(root / "class_1" / "alpha.png")

    def check(pair):
        shapes = {tuple(pair[0][i][0].shape) for i in range(len(pair[0]))}
        return None if shapes == {(3, 16, 16)} else f"shapes {shapes}"

    return expect_right(lambda: load_pair(root), check)


@case("new user", "test_fraction = 1.5: error naming test_fraction")
def case_bad_test_fraction(tmp):
    from a2lib import data

    make_folder(tmp / "photos")
    return expect_error(lambda: data.load("folder", "train", root=tmp / "photos", test_fraction=1.5),
                        ["test_fraction"])


@case("new user", "size given as a string: error naming size")
def case_size_string(tmp):
    from a2lib import data

    make_folder(tmp / "photos")
    return expect_error(lambda: data.load("folder", "train", root=tmp / "photos", size="64"), ["size"])


@case("new user", "a folder path with spaces, saved to a folder with spaces: works, loads back the same codes")
def case_paths_with_spaces(tmp):
    import a2lib
    import torch

    train, test = load_pair(make_folder(tmp / "my photos"))

    def go():
        fitted = fit_small(train, tmp / "my cache")
        folder = fitted.save(tmp / "my model dir")
        return fitted, a2lib.Fitted.load(folder), test

    def check(result):
        fitted, loaded, test = result
        return None if torch.equal(fitted.encode(test), loaded.encode(test)) else "codes differ after load"

    return expect_right(go, check)


@case("new user", "cache entry copied in from another config: detected, retrained with the requested config")
def case_entry_from_other_config(tmp):
    from a2lib.data.identity import fingerprint
    from a2lib.train.cache import entry_dir

    train = array_set()
    a = fit_small(train, tmp / "cache", seed=0)
    from a2lib.fitting import fit_config
    config_b = fit_config(train, "a2net", 12, "smoke", seed=1)
    src = entry_dir(a.config, fingerprint(train), tmp / "cache")
    dst = entry_dir(config_b, fingerprint(train), tmp / "cache")
    shutil.copytree(src, dst)
    return expect_right(lambda: fit_small(train, tmp / "cache", seed=1),
                        lambda f: None if f.config.seed == 1 and not _same_codes(f, a) else
                        "returned the other config's model", follow_up=True)


def _same_codes(f, g) -> bool:
    import torch

    return f.db_codes.shape == g.db_codes.shape and torch.equal(f.db_codes, g.db_codes)


@case("new user", "Fitted.save to a path that is a file: error naming it")
def case_save_onto_file(tmp):
    fitted = fit_small(array_set(), tmp / "cache")
    target = tmp / "model.bin"
    target.write_text("mine")
    outcome = expect_error(lambda: fitted.save(target), ["model.bin"])
    if target.is_dir() or not target.exists():
        return Outcome("silently wrong", f"the file was replaced; {outcome.message}")
    return outcome


@case("new user", "$A2LIB_CACHE pointing at a file, no cache_dir=: error naming it")
def case_cache_env_is_file(tmp):
    import a2lib

    bad = tmp / "cachefile"
    bad.write_text("x")
    old = os.environ.get("A2LIB_CACHE")
    os.environ["A2LIB_CACHE"] = str(bad)
    try:
        return expect_error(lambda: a2lib.fit(array_set(), method="a2net", bits=12, recipe="smoke", verbose=False),
                            ["cachefile", "A2LIB_CACHE"])
    finally:
        if old is None:
            os.environ.pop("A2LIB_CACHE")
        else:
            os.environ["A2LIB_CACHE"] = old


@case("new user", "data.load(classes=) given class folder names (it takes indices): error saying so")
def case_unknown_class_filter(tmp):
    from a2lib import data

    make_folder(tmp / "photos")
    return expect_error(lambda: data.load("folder", "train", root=tmp / "photos", classes=["class_0", "class_2"]),
                        ["classes", "class indices"])


@case("new user", "Fitted.load on a folder that does not exist: error naming it")
def case_load_missing(tmp):
    import a2lib

    return expect_error(lambda: a2lib.Fitted.load(tmp / "no_model"), ["no_model"])


@case("new user", "Fitted.load on a folder lacking db_codes.pt: error naming it")
def case_load_missing_file(tmp):
    import a2lib

    _, folder = saved_fitted(tmp)
    (folder / "db_codes.pt").unlink()
    return expect_error(lambda: a2lib.Fitted.load(folder), ["db_codes.pt"])


@case("new user", "Fitted.load(config=) with another config than the saved one: error naming the field")
def case_load_other_config(tmp):
    import a2lib
    from dataclasses import replace

    fitted, folder = saved_fitted(tmp)
    return expect_error(lambda: a2lib.Fitted.load(folder, config=replace(fitted.config, seed=7)), ["seed"])


@case("new user", "Fitted.load on a cache entry folder (not a saved Fitted): loads, or says what it is")
def case_load_cache_entry(tmp):
    import a2lib
    from a2lib.data.identity import fingerprint
    from a2lib.train.cache import entry_dir

    train = array_set()
    fitted = fit_small(train, tmp / "cache")
    entry = entry_dir(fitted.config, fingerprint(train), tmp / "cache")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            loaded = a2lib.Fitted.load(entry)
        except Exception as error:  # noqa: BLE001
            return Outcome(classify_error(error, ["Fitted", "format", "cache"]),
                           f"{type(error).__name__}: {first_line(error)}")
    return Outcome("right answer" if _same_codes(loaded, fitted) else "silently wrong",
                   "loaded the entry as a Fitted" if _same_codes(loaded, fitted) else "codes differ")


@case("new user", "unknown metric name in evaluate(): error naming it")
def case_unknown_metric(tmp):
    train = array_set()
    fitted = fit_small(train, tmp / "cache")
    return expect_error(lambda: fitted.evaluate(train, metrics=("mAP@x",)), ["mAP@x"])


@case("new user", "encoding grey (1-channel) images with a model trained on RGB: error naming the channels")
def case_encode_grey(tmp):
    import torch
    from a2lib.data import ArrayDataset

    fitted = fit_small(array_set(), tmp / "cache")
    grey = ArrayDataset(torch.rand(6, 1, 16, 16), torch.arange(6) % 3)
    return expect_error(lambda: fitted.encode(grey), ["channel", "1x16x16", "(1, 16, 16)", "shape"])


@case("new user", "ArrayDataset with fewer labels than images: error naming both counts")
def case_label_count(tmp):
    import torch
    from a2lib.data import ArrayDataset

    return expect_error(lambda: ArrayDataset(torch.rand(6, 3, 8, 8), torch.arange(5)), ["5", "6"])


@case("new user", "ArrayDataset with a negative label: error naming the labels")
def case_negative_label(tmp):
    import torch
    from a2lib.data import ArrayDataset

    return expect_error(lambda: ArrayDataset(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, -1, 0])),
                        ["labels", "class indices", ">= 0"])


@case("new user", "ArrayDataset with HxWxC float images: read the right way round, or an error naming the layout")
def case_nhwc_float(tmp):
    import torch
    from a2lib.data import ArrayDataset

    def go():
        return ArrayDataset(torch.rand(4, 16, 16, 3), torch.arange(4) % 2)

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            ds = go()
        except Exception as error:  # noqa: BLE001
            return Outcome(classify_error(error, ["NCHW", "NHWC", "channels"]),
                           f"{type(error).__name__}: {first_line(error)}")
    shape = tuple(ds[0][0].shape)
    return Outcome("right answer" if shape == (3, 16, 16) else "silently wrong", f"item shape {shape}")


@case("new user", "a search with k larger than the database: k capped, or an error naming k")
def case_search_big_k(tmp):
    fitted = fit_small(array_set(), tmp / "cache")
    n = fitted.db_codes.shape[0]
    queries = fitted.db_codes[:2]

    def check(result):
        distances, found = result
        found = found[found >= 0] if hasattr(found, "__getitem__") else found
        return None if int(found.max()) < n else f"index {int(found.max())} past the database of {n}"

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            result = fitted.index().search(queries, k=n + 10)
        except Exception as error:  # noqa: BLE001
            return Outcome(classify_error(error, ["k"]), f"{type(error).__name__}: {first_line(error)}")
    problem = check(result)
    return Outcome("right answer" if problem is None else "silently wrong",
                   problem or f"returned {tuple(result[1].shape)} hits for a database of {n}")


# ---------------------------------------------------------------- the a2lib command

def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", A2LIB_CACHE=str(tmp / "cache"), A2LIB_DATA=str(tmp / "data"),
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def workbook_copy(tmp: Path) -> Path:
    """A workbook root of its own: the notebooks and pyproject.toml, empty results/figures/runs."""
    root = tmp / "workbook"
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def a2lib_command(tmp: Path, *args, timeout=120) -> tuple[int, str]:
    root = workbook_copy(tmp) if not (tmp / "workbook").exists() else tmp / "workbook"
    env = _env(tmp) | {"A2LIB_ROOT": str(root)}
    done = subprocess.run([sys.executable, "-m", "a2lib", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp)
    return done.returncode, done.stdout + done.stderr


def cli_case(tmp, args, names) -> Outcome:
    code, output = a2lib_command(tmp, *args)
    lines = output.strip().splitlines()
    return Outcome(classify_cli(code, output, names), f"exit {code}, {len(lines)} line(s): "
                   f"{first_line(lines[-1] if 'Traceback' in output and lines else output)}")


@case("cli", "a2lib run --profile nonesuch: one-line error listing the profiles, exit 2")
def case_unknown_profile(tmp):
    return cli_case(tmp, ["run", "--profile", "nonesuch"], ["nonesuch", "smoke"])


@case("cli", "a2lib run --only 09: one-line error listing the notebooks, exit 2")
def case_unknown_notebook(tmp):
    return cli_case(tmp, ["run", "--profile", "smoke", "--only", "09"], ["09"])


@case("cli", "profile YAML with a string where a list of integers belongs: error naming notebook and parameter")
def case_profile_string_for_list(tmp):
    path = tmp / "mine.yaml"
    path.write_text("extends: smoke\nname: mine\nnotebooks:\n  05_ndcg_attribute_matching:\n    bits_list: \"12\"\n")
    return cli_case(tmp, ["run", "--profile", str(path), "--only", "05"], ["bits_list"])


@case("cli", "profile YAML that is not YAML: error naming the file")
def case_profile_malformed(tmp):
    path = tmp / "broken.yaml"
    path.write_text("notebooks: [unclosed\n  : :\n")
    return cli_case(tmp, ["run", "--profile", str(path)], ["broken.yaml"])


@case("cli", "read-only results/ folder: error before any notebook runs, naming the folder")
def case_read_only_results(tmp):
    root = workbook_copy(tmp)
    (root / "results" / "smoke").mkdir(parents=True)
    script = ("import os, subprocess, sys\n"
              "env = dict(os.environ, A2LIB_ROOT=sys.argv[1])\n"
              "p = subprocess.run([sys.executable, '-m', 'a2lib', 'run', '--profile', 'smoke', '--only', '06'], "
              "env=env, capture_output=True, text=True, timeout=150)\n"
              "print('EXIT', p.returncode); print(p.stdout + p.stderr)\n")
    started = time.time()
    done = with_read_only(tmp, root / "results", script, str(root))
    if done is None:
        return Outcome("skipped", "cannot make results/ read-only here")
    out = done.stdout
    code = int(out.split("EXIT", 1)[1].split()[0]) if "EXIT" in out else done.returncode
    body = out.split("\n", 1)[1] if "EXIT" in out else out + done.stderr
    outcome = classify_cli(code, body, ["results"])
    if outcome == "clear error" and time.time() - started > 60:
        outcome = "unclear error"
    return Outcome(outcome, f"exit {code} after {time.time() - started:.0f} s: {first_line(body)}")


def interrupt_run(tmp: Path, root: Path, args, wait_for: str) -> Outcome:
    """Start ``a2lib run *args`` in workbook ``root``, send Ctrl-C (SIGINT to its process group, as a terminal does)
    ``SIGINT_AFTER_S`` seconds after its output first shows ``wait_for``, and class how it ends."""
    env = _env(tmp) | {"A2LIB_ROOT": str(root)}
    process = subprocess.Popen([sys.executable, "-m", "a2lib", "run", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp, start_new_session=True)
    lines: list[tuple[float, str]] = []

    def read():
        for line in process.stdout:
            lines.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    while not any(wait_for in line for _, line in lines) and process.poll() is None:
        if time.monotonic() - started > CTRL_C_LIMIT_S:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return Outcome("skipped", f"{wait_for!r} not shown within {CTRL_C_LIMIT_S} s")
        time.sleep(0.2)
    time.sleep(SIGINT_AFTER_S)
    if process.poll() is not None:
        reader.join(timeout=10)
        last = lines[-1][1] if lines else ""
        return Outcome("skipped", f"the run ended (exit {process.returncode}) before the SIGINT: {first_line(last)}")
    interrupted = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=CTRL_C_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return Outcome("unclear error", f"no exit within {CTRL_C_LIMIT_S} s of the SIGINT")
    ran_on = time.monotonic() - interrupted
    reader.join(timeout=10)
    after = [line for stamp, line in lines if stamp >= interrupted]
    after = [part for line in after for part in line.replace("\r", "\n").splitlines()]
    after = [line for line in after if not is_progress_bar(line)]
    tracebacks = sum("Traceback" in line for line in after)
    if process.returncode == 0:
        return Outcome("silently wrong", f"Ctrl-C ignored: the run went on {ran_on:.0f} s and exited 0 "
                       f"({len(after)} line(s) after the SIGINT, ending: {first_line(after[-1] if after else '')})")
    clear = (process.returncode == 130 and tracebacks == 0 and len(after) <= ONE_LINE_LIMIT
             and any("resume" in line.lower() for line in after))
    return Outcome("clear error" if clear else "unclear error",
                   f"exit {process.returncode} {ran_on:.0f} s after the SIGINT, {len(after)} line(s) "
                   f"({tracebacks} traceback(s)): {first_line(after[-1] if after else '')}")


@case("cli", "Ctrl-C during a2lib run (smoke, notebook 06): one line saying what is kept and how to resume, exit 130")
def case_ctrl_c(tmp):
    return interrupt_run(tmp, workbook_copy(tmp), ["--profile", "smoke", "--only", "06"], "06_retrieval_efficiency")


SHORT_CELLS = 150


@case("cli", "Ctrl-C during a notebook of many short cells (the kernel often idle between them): stops, exit 130")
def case_ctrl_c_between_cells(tmp):
    import nbformat

    root = tmp / "workbook"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    parameters = nbformat.v4.new_code_cell('cells = 1\nprofile = "mine"\ndevice = "cpu"')
    parameters.metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# Short cells"), parameters] + [
        nbformat.v4.new_code_cell("import time; time.sleep(0.01)") for _ in range(SHORT_CELLS)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, root / "notebooks" / "01_cells.ipynb")
    profile = tmp / "mine.yaml"
    profile.write_text("name: mine\ndescription: short cells\ndevice: cpu\nnotebooks:\n  01_cells:\n    cells: 2\n")
    return interrupt_run(tmp, root, ["--profile", str(profile)], "01_cells")


# ---------------------------------------------------------------- driver

def machine_score() -> str:
    tool = Path("/work/shared/tools/cpu_score.py")
    if not tool.is_file():
        return "n/a"
    done = subprocess.run([sys.executable, str(tool)], capture_output=True, text=True, timeout=300)
    return first_line(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr)


def run_cases(selected, keep: bool = False) -> list[tuple[Case, Outcome, float]]:
    import torch

    torch.set_num_threads(1)
    rows = []
    base = Path(tempfile.mkdtemp(prefix="a2lib faults "))
    os.chmod(base, 0o755)
    for index, item in enumerate(selected):
        tmp = base / f"{index:02d}_{item.name}"
        tmp.mkdir()
        started = time.time()
        try:
            outcome = item.run(tmp)
        except Exception as error:  # noqa: BLE001 - the case's own setup failed
            outcome = Outcome("unclear error", f"case setup failed: {type(error).__name__}: {first_line(error)}")
            traceback.print_exc()
        seconds = time.time() - started
        rows.append((item, outcome, seconds))
        print(f"[{index + 1}/{len(selected)}] {item.name}: {outcome.outcome} ({seconds:.1f} s) {outcome.message}",
              flush=True)
    if not keep:
        subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    return rows


def table(rows) -> str:
    lines = ["| # | case | group | expected | outcome | message (first line) |", "|---|---|---|---|---|---|"]
    for i, (item, outcome, _) in enumerate(rows, 1):
        message = outcome.message.replace("|", "\\|")
        lines.append(f"| {i} | `{item.name}` | {item.group} | {item.expected} | **{outcome.outcome}** | {message} |")
    return "\n".join(lines)


def counts(rows) -> dict[str, int]:
    return {name: sum(outcome.outcome == name for _, outcome, _ in rows) for name in CLASSES}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="markdown report (e.g. benchmarks/fault_cases.md)")
    parser.add_argument("--only", default=None, help="comma-separated case names")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the cases that run the a2lib command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    selected = [c for c in CASES if (args.only is None or c.name in args.only.split(","))
                and not (args.skip_cli and c.group == "cli")]
    started = time.time()
    rows = run_cases(selected, keep=args.keep)
    tally = counts(rows)
    report = [table(rows), "", "| class | cases |", "|---|---|"]
    report += [f"| {name} | {n} |" for name, n in tally.items()]
    report.append(f"| **all** | {len(rows)} |")
    others = [(item, outcome) for item, outcome, _ in rows if outcome.outcome not in ("clear error", "right answer")]
    report += ["", "Cases neither a clear error nor a right answer:", ""]
    report += [f"- `{item.name}` ({outcome.outcome}; expected: {item.expected}): {outcome.message}"
               for item, outcome in others] or ["- none"]
    text = "\n".join(report).replace(str(Path(tempfile.gettempdir())) + "/", "$TMP/")
    print(text)
    if args.out is not None:
        command = "OMP_NUM_THREADS=1 python benchmarks/fault_cases.py " + " ".join(argv or sys.argv[1:])
        header = [
            "# Fault cases: what a new user's mistakes give",
            "",
            f"Command: `{command.strip()}`  ",
            f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {time.time() - started:.0f} s wall; "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"machine score (`python /work/shared/tools/cpu_score.py`): {machine_score()}",
            "",
            "Classes (rule in `benchmarks/fault_cases.py`, `classify_error`): **clear error** = an a2lib error type, "
            "or a built-in error raised by a2lib's own code, whose message names the offending parameter/file/folder "
            "(a warning naming it where a warning is the expected answer; for the command: non-zero exit, no "
            "traceback, output naming it); **right answer** = the expected result checked; **silently wrong** = ran "
            "and gave a wrong or meaningless result, or planted code ran; **unclear error** = raw library error or "
            "message not naming the problem, or a correct input refused; **blocking state** = a following correct "
            "call fails; **skipped** = the case could not be set up here (reason given).",
            "",
            "",
        ]
        args.out.write_text("\n".join(header) + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
