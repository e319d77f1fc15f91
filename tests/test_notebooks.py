"""Every notebook of the workbook runs end to end through the runner with the ``smoke`` profile, and the training
plan (``a2lib plan``) names exactly the cache entries that run created."""
from pathlib import Path

import pytest

from a2lib import workbook
from a2lib.workbook.plan import training_plan

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="notebooks/ holds no notebook yet")
@pytest.mark.slow
def test_smoke_profile_runs_every_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    records = workbook.run("smoke", notebooks_dir=ROOT / "notebooks")
    assert [r.name for r in records] == [p.stem for p in NOTEBOOKS]
    assert all(r.ok for r in records)
    for path in NOTEBOOKS:
        assert (tmp_path / "results" / "smoke" / f"{path.stem}.json").is_file(), f"{path.stem} wrote no results"
    assert (tmp_path / "results" / "smoke" / "SUMMARY.md").is_file()
    created = {p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()}  # one entry per config asked for
    plan = training_plan("smoke", notebooks_dir=ROOT / "notebooks", cost=False)
    assert {item.entry.name for item in plan.items} == created
    assert plan.count("cached") == len(plan.items)
