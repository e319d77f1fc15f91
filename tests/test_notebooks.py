"""Every notebook of the workbook runs end to end through the runner with the ``smoke`` profile."""
from pathlib import Path

import pytest

from a2lib import workbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="notebooks/ holds no notebook yet")
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
