"""Publishing a folder (``a2lib.atomic.publish_folder``): under a kill at every step the path holds the old complete
folder or the new one, the next reader or writer recovers, and temporary folders a killed writer left are removed.

Each kill runs a writer in a subprocess that ``os._exit``s at the chosen step (``atomic._step``), as SIGKILL would:
no ``finally`` block, no cleanup. Both ways of replacing are tried: the one-step swap (``renameat2`` on Linux) and
the two renames of systems without it, where a kill between them is undone by ``restore``.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from a2lib import atomic
from a2lib.manifest import read_manifest, verify, write_manifest

ROOT = Path(__file__).resolve().parents[1]
KILLED = 137
WRITTEN = "written"
"""A kill after the new folder's files are written, before it is published."""
WRITER = """
import os, sys
from pathlib import Path
from a2lib import atomic
from a2lib.manifest import write_manifest

path, content, step, swap = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "swap"
if not swap:
    atomic._exchange = lambda a, b: False
atomic._step = lambda name: os._exit({killed}) if name == step else None
folder = atomic.unique_temporary(path)
folder.mkdir()
(folder / "a.txt").write_text(content)
(folder / "b.txt").write_text(content * 2)
if step == "{written}":
    os._exit({killed})
write_manifest(folder, {{"content": content}}, None)
atomic.publish_folder(folder, path)
""".format(killed=KILLED, written=WRITTEN)


def write(path: Path, content: str, step: str = "", swap: bool = True) -> int:
    """Publish a folder holding ``content`` at ``path`` in a subprocess killed at ``step``; its exit status."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", WRITER, str(path), content, step, "swap" if swap else "two"],
                          env=env, timeout=60).returncode


def content_of(path: Path) -> str:
    """The content of the complete folder at ``path`` (its manifest verified)."""
    manifest = read_manifest(path)
    verify(path, manifest)
    assert (path / "b.txt").read_text() == manifest["config"]["content"] * 2
    return manifest["config"]["content"]


@pytest.mark.skipif(atomic._RENAMEAT2 is None, reason="no renameat2 on this system")
def test_the_swap_is_available_here_so_the_one_step_path_is_tested(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    assert atomic._exchange(tmp_path / "a", tmp_path / "b") and (tmp_path / "b" / "x").read_text() == "a"


@pytest.mark.parametrize("swap", [True, False], ids=["swap", "two-renames"])
@pytest.mark.parametrize("step", [WRITTEN, *atomic.PUBLISH_STEPS])
def test_a_kill_at_any_step_leaves_the_old_or_the_new_folder_and_the_next_write_recovers(tmp_path, step, swap):
    """Issue 28: a kill between the two renames left no folder at the path and the old copy in a .tmp folder."""
    if swap and atomic._RENAMEAT2 is None:
        pytest.skip("no renameat2 on this system")
    path = tmp_path / "model"
    assert write(path, "old", swap=swap) == 0 and content_of(path) == "old"
    status = write(path, "new", step, swap)
    if step == "moved aside" and swap:
        assert status == 0  # the swap has no such step: the write completed
    else:
        assert status == KILLED
    if not path.exists():
        assert not swap and step == "moved aside", "only a kill between the two renames leaves the path empty"
        atomic.restore(path)  # what every reader and writer does first
    expected = "old" if step in (WRITTEN, "restored", "moved aside") and status == KILLED else "new"
    assert content_of(path) == expected
    time.sleep(0.01)  # the next write's files are newer than the killed writer's on any clock
    assert write(path, "newer", swap=swap) == 0
    assert content_of(path) == "newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "a killed writer's temporary folder was kept"


def test_a_reader_restores_a_folder_left_aside_by_a_kill_between_the_two_renames(tmp_path):
    path = tmp_path / "model"
    write(path, "old", swap=False)
    assert write(path, "new", "moved aside", swap=False) == KILLED and not path.exists()
    atomic.restore(path)
    assert content_of(path) == "old"
    atomic.restore(path)  # nothing to do once the folder is back
    assert content_of(path) == "old"


def _temporary(path: Path, age_s: float, replaced: bool = False) -> Path:
    folder = atomic.unique_temporary(path.with_name(path.name + (atomic.REPLACED_SUFFIX if replaced else "")))
    folder.mkdir()
    (folder / "a.txt").write_text("partial")
    when = time.time() + age_s
    for item in (folder / "a.txt", folder):
        os.utime(item, (when, when))
    return folder


def test_stale_temporary_folders_are_removed_on_the_next_write_but_not_a_writer_still_writing(tmp_path):
    """Issue 28: killed saves left ``*.tmp`` folders that nothing removed."""
    path = tmp_path / "model"
    write(path, "old")
    stale = [_temporary(path, -3600), _temporary(path, -3600, replaced=True)]
    busy = _temporary(path, 3600)  # changed after the next folder is written: a writer at work
    mine = tmp_path / "model.tmp"  # the user's own folder of a similar name
    mine.mkdir()
    unrelated = _temporary(tmp_path / "other", -3600)
    write(path, "new")
    assert content_of(path) == "new"
    assert not any(folder.exists() for folder in stale)
    assert busy.is_dir() and mine.is_dir() and unrelated.is_dir()


def test_publishing_onto_a_free_path_and_onto_an_existing_folder(tmp_path):
    path = tmp_path / "model"
    for content in ("first", "second"):
        folder = atomic.unique_temporary(path)
        folder.mkdir()
        (folder / "a.txt").write_text(content)
        (folder / "b.txt").write_text(content * 2)
        write_manifest(folder, {"content": content}, None)
        atomic.publish_folder(folder, path)
        assert content_of(path) == content and not folder.exists()
    assert json.loads((path / "manifest.json").read_text())["files"]["a.txt"]["bytes"] == len("second")
