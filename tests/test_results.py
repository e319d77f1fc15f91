"""Results JSON stamped with the run that wrote it, and SUMMARY.md keeping this run's numbers apart from stale ones."""
import json
import re

import numpy as np
import pytest

from a2lib.workbook import results
from a2lib.workbook.results import FAILED, OK, RUN_ENV


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    monkeypatch.delenv(RUN_ENV, raising=False)
    return tmp_path


def _write(root, name, run, **numbers):
    folder = root / "results" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"profile": "p", "run": run, **numbers}))


def test_save_results_stamps_profile_and_run(root, monkeypatch):
    path = results.save_results("01_x", "p", {"codes": np.array([1, 2]), "name": "a"})
    assert path == root / "results/p/01_x.json"
    assert json.loads(path.read_text()) == {"profile": "p", "run": None, "codes": [1, 2], "name": "a"}
    monkeypatch.setenv(RUN_ENV, "run-7")
    assert json.loads(results.save_results("01_x", "p", {}).read_text())["run"] == "run-7"


@pytest.mark.parametrize("key", ["profile", "run"])
def test_save_results_refuses_its_own_keys(root, key):
    with pytest.raises(ValueError, match=f"rename {key}"):
        results.save_results("01_x", "p", {key: 1})


def test_save_results_refuses_objects_it_cannot_write(root):
    with pytest.raises(TypeError, match="cannot write object"):
        results.save_results("01_x", "p", {"thing": object()})


def test_flatten_numbers_skips_text_and_booleans():
    tree = {"b": {"x": 1, "ok": True, "name": "a"}, "a": [0.5, {"y": 2}]}
    assert list(results.flatten_numbers(tree)) == [("a[0]", 0.5), ("a[1].y", 2.0), ("b.x", 1.0)]


def test_run_ids_are_fresh():
    first, second = results.new_run_id(), results.new_run_id()
    assert first != second and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", first)


def test_summary_lists_only_this_runs_numbers_and_marks_the_rest(root):
    _write(root, "01_fresh", "R", map=0.5)
    _write(root, "02_failed_late", "R", map=0.4)  # written this run, then the notebook failed
    _write(root, "03_not_rewritten", "OLD", map=0.3)  # ran ok this run without saving under this name
    _write(root, "04_not_run", "OLD", map=0.2)
    _write(root, "05_by_hand", None, map=0.1, note="text only is not a row")
    table = results.summary_table("p", "R", {"01_fresh": OK, "02_failed_late": FAILED, "03_not_rewritten": OK})
    current, stale = table.split("## Not from this run")
    assert "Run `R`; notebooks: 01_fresh ok, 02_failed_late FAILED, 03_not_rewritten ok." in current
    assert re.findall(r"^\| (\S+) \| map \| (\S+) \|$", current, re.M) == [("01_fresh", "0.5")]
    assert re.findall(r"^\| (\S+) \| (.+?) \| (.+?) \| map \| (\S+) \|$", stale, re.M) == [
        ("02_failed_late", "run R", "notebook FAILED in this run", "0.4"),
        ("03_not_rewritten", "run OLD", "notebook ran in this run but did not rewrite this file", "0.3"),
        ("04_not_run", "run OLD", "notebook not run in this run", "0.2"),
        ("05_by_hand", "outside the runner", "notebook not run in this run", "0.1"),
    ]
    assert not re.search(r"\| (note|run|profile) \|", table), "text and the stamp are not quantities"


def test_summary_without_stale_files_has_no_stale_section(root):
    _write(root, "01_fresh", "R", map=0.5)
    table, path = results.write_summary("p", "R", {"01_fresh": OK})
    assert "Not from this run" not in table and path.read_text() == table


def test_summary_names_a_broken_results_file(root):
    (root / "results/p").mkdir(parents=True)
    (root / "results/p/01_x.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"01_x.json is not valid JSON .* re-run its notebook"):
        results.summary_table("p", "R", {})
