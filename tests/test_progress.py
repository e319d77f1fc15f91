"""Progress where the user looks: the trainer and the cache write the progress file, the runner shows it as a line."""
import json
import re
from pathlib import Path

import pytest

from a2lib import workbook
from a2lib.train import TrainConfig, load_or_train, progress, train
from a2lib.workbook.status import status_text

from test_train import SMALL_RUN, TinyHash, TinySet, _images, _small, tiny_config

FIXTURES = Path(__file__).parent / "fixtures"


def record(**changes):
    values = {"state": "training", "model": "a2net", "dataset": "synth-birds", "bits": 12, "seed": 1, "iteration": 3,
              "outer_iterations": 8, "elapsed_s": 30.0, "time": 1000.0}
    return {**values, **changes}


def test_the_trainer_rewrites_the_file_after_each_outer_iteration(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    seen = []
    result = train(TinyHash(), TinySet(), tiny_config(), verbose=False,
                   callback=lambda done, history: seen.append(progress.read(path)))
    assert [(r["state"], r["iteration"]) for r in seen] == [("training", 1), ("training", 2), ("training", 3)]
    assert [r["elapsed_s"] for r in seen] == [h["elapsed_s"] for h in result.history]
    final = json.loads(path.read_text())
    assert {k: final[k] for k in ("state", "model", "dataset", "bits", "seed", "iteration", "outer_iterations")} == {
        "state": "trained", "model": "tiny", "dataset": "tiny", "bits": 6, "seed": 3, "iteration": 3,
        "outer_iterations": 3}
    assert final["elapsed_s"] == result.history[-1]["elapsed_s"]


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    train(TinyHash(), TinySet(), tiny_config(outer_iterations=1), verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_a_model_loaded_from_the_cache_is_reported_as_such(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    config = TrainConfig.for_model(_small(), dataset="arrays", **SMALL_RUN)
    load_or_train(config, cache_dir=tmp_path / "cache", dataset=_images(), verbose=False)
    assert progress.read(path)["state"] == "trained"
    load_or_train(config, cache_dir=tmp_path / "cache", dataset=_images(), verbose=False)
    assert progress.read(path)["state"] == "cached"
    assert status_text("02_training", progress.read(path)) == ("02_training: loaded baseline (8 bits, seed 0, arrays) "
                                                               "from the cache")


def test_an_unwritable_progress_file_warns_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "a-file" / "progress.json"))
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.warns(UserWarning, match="cannot write the progress file"):
        result = train(TinyHash(), TinySet(), tiny_config(outer_iterations=1), verbose=False)
    assert len(result.history) == 1


@pytest.mark.parametrize("content", [None, "", "{not json", "[1, 2]", json.dumps(record(state="paused")),
                                     json.dumps({k: v for k, v in record().items() if k != "bits"}),
                                     json.dumps(record(bits=True)), json.dumps(record(model=3))])
def test_a_missing_or_bad_file_reads_as_no_record(tmp_path, content):
    path = tmp_path / "progress.json"
    if content is not None:
        path.write_text(content)
    assert progress.read(path) is None


def test_the_line_says_what_trains_with_elapsed_and_time_left():
    # 3 of 8 outer iterations in 30 s: 10 s each, 5 left = 50 s; the record is 5 s old: 35 s elapsed, 45 s left
    assert progress.describe(record(), now=1005.0) == (
        "training a2net (12 bits, seed 1, synth-birds): outer iteration 4/8, 0:35 elapsed, about 0:45 left")
    assert progress.describe(record(iteration=0, elapsed_s=0.0), now=1002.0) == (
        "training a2net (12 bits, seed 1, synth-birds): outer iteration 1/8, 0:02 elapsed, time left known after "
        "the first outer iteration")
    assert progress.describe(record(state="trained", iteration=8, elapsed_s=3725.4), now=5000.0) == (
        "trained a2net (12 bits, seed 1, synth-birds): 8 outer iterations in 1:02:05")
    assert status_text("01_simplicity_bias", None) == "01_simplicity_bias: no model trained or loaded yet"
    assert status_text("01_simplicity_bias", record(), now=1000.0) == (
        "01_simplicity_bias: training a2net (12 bits, seed 1, synth-birds): outer iteration 4/8, 0:30 elapsed, "
        "about 0:50 left")


@pytest.mark.slow
def test_the_runner_shows_the_kernels_progress_under_the_notebook_bar(tmp_path, monkeypatch, capsys):
    """The fixture notebook reports 3 of 8 outer iterations done in 30 s, then waits 3 s: the runner's line shows
    30-34 s elapsed and 46-50 s left."""
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    profile = tmp_path / "p.yaml"
    profile.write_text("name: progress\ndescription: status line test\ndevice: cpu\nnotebooks:\n  01_progress: {}\n")
    records = workbook.run(str(profile), notebooks_dir=FIXTURES / "progress", device="cpu")
    assert [r.ok for r in records] == [True]
    err = capsys.readouterr().err
    assert re.search(r"01_progress: training baseline \(12 bits, seed 1, fixture-data\): outer iteration 4/8, "
                     r"0:3[0-4] elapsed, about 0:(4[6-9]|50) left", err), err[-2000:]
