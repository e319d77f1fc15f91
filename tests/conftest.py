"""Test-session folders: embedded data in the checkout's git-ignored ``data/`` (generated once, reused across
sessions), trained models in a temporary cache, so no test writes into the user's ~/.cache."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER_OUTPUT = "runner-output.txt"
SHORT_SCORE = {"SCORE_STEPS": 2, "SCORE_REPEATS": 1}
"""The runner measures the machine score at the start of every run (about ten seconds on a 2-core machine): in the
tests' runs, two steps once. ``tests/test_machine.py`` measures the score itself."""


@pytest.fixture(autouse=True, scope="session")
def _session_folders(tmp_path_factory):
    from a2lib import machine

    patch = pytest.MonkeyPatch()
    patch.setenv("A2LIB_DATA", str(ROOT / "data"))
    patch.setenv("A2LIB_CACHE", str(tmp_path_factory.mktemp("model-cache")))
    for name, value in SHORT_SCORE.items():
        patch.setattr(machine, name, value)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The one smoke run of every notebook in a session (the runner, profile ``smoke``, in a fresh root with its own
    data and cache): ``(root, the runner's records)``; tests that need its results or cache share it. What the runner
    printed is kept in ``root / RUNNER_OUTPUT`` and passed on."""
    import contextlib
    import io
    import sys

    from a2lib import workbook

    root = tmp_path_factory.mktemp("smoke-run")
    patch = pytest.MonkeyPatch()
    for name, value in (("A2LIB_ROOT", root), ("A2LIB_DATA", root / "data"), ("A2LIB_CACHE", root / "cache")):
        patch.setenv(name, str(value))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            records = workbook.run("smoke", notebooks_dir=ROOT / "notebooks")
    finally:
        patch.undo()
        (root / RUNNER_OUTPUT).write_text(printed.getvalue())
        sys.stdout.write(printed.getvalue())  # still shown by pytest when the run fails
    return root, records


@pytest.fixture(scope="module")
def one_faiss_thread():
    """faiss's OpenMP threads spin badly on a busy shared machine: one thread for a module, restored after."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)


@pytest.fixture
def read_only():
    """``read_only(*folders)`` makes folders unwritable for the test and writable again after it: by their mode, or,
    where the tests run as root (whom modes do not stop), by the immutable attribute (``chattr +i``); skips the
    test where neither works."""
    import os
    import shutil
    import stat
    import subprocess

    undo = []

    def make(*folders):
        for folder in folders:
            mode = folder.stat().st_mode
            folder.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            undo.append(lambda folder=folder, mode=mode: folder.chmod(mode))
            if os.access(folder, os.W_OK) and shutil.which("chattr"):
                if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
                    undo.append(lambda folder=folder: subprocess.run(["chattr", "-i", str(folder)], check=True))
            if os.access(folder, os.W_OK):
                pytest.skip("cannot make a folder read-only here (root without chattr)")

    yield make
    for step in reversed(undo):
        step()
