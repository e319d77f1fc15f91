"""Every notebook of the workbook runs end to end through the runner with the ``smoke`` profile (once per session:
the ``smoke_run`` fixture), the training plan (``a2lib plan``) names exactly the cache entries that run created, and
every claim finds the numbers it reads in that run's results."""
import json
from pathlib import Path

import pytest

from a2lib.studies import claims
from a2lib.workbook.plan import training_plan
from a2lib.workbook.results import load_results

from conftest import RUNNER_OUTPUT

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
pytestmark = [pytest.mark.skipif(not NOTEBOOKS, reason="notebooks/ holds no notebook yet"), pytest.mark.slow]
LEGITIMATE = {claims.ABSENT, claims.ONE_SEED, claims.NAN_SEEDS, claims.SKIPPED}
"""Why a claim may stay not testable on the smoke run: a table not regenerated, one seed, NaN in all but one seed,
a section its profile leaves out; never a missing key or notebook."""


def test_smoke_profile_runs_every_notebook(smoke_run, monkeypatch):
    root, records = smoke_run
    monkeypatch.setenv("A2LIB_ROOT", str(root))
    monkeypatch.setenv("A2LIB_DATA", str(root / "data"))
    monkeypatch.setenv("A2LIB_CACHE", str(root / "cache"))
    assert [r.name for r in records] == [p.stem for p in NOTEBOOKS]
    assert all(r.ok for r in records)
    for path in NOTEBOOKS:
        assert (root / "results" / "smoke" / f"{path.stem}.json").is_file(), f"{path.stem} wrote no results"
    assert (root / "results" / "smoke" / "SUMMARY.md").is_file()
    created = {p.name for p in (root / "cache").iterdir() if p.is_dir()}  # one entry per config asked for
    plan = training_plan("smoke", notebooks_dir=ROOT / "notebooks", cost=False)
    assert {item.entry.name for item in plan.items} == created
    assert plan.count("cached") == len(plan.items)


def test_the_smoke_run_trains_its_plan_in_two_workers_before_the_notebooks(smoke_run):
    """``train_workers: 2``: the runner trains every model of the plan in two workers first (the notebooks then load
    them), records it in timings.json and says so on its output."""
    root, _ = smoke_run
    timings = json.loads((root / "results" / "smoke" / "timings.json").read_text())
    trained = timings["trained_before_notebooks"]
    created = sum(1 for p in (root / "cache").iterdir() if p.is_dir())
    assert trained["workers"] == 2
    assert trained["entries"] == created
    assert timings["total_s"] >= trained["seconds"] > 0
    assert f"trained {created} models with 2 workers" in (root / RUNNER_OUTPUT).read_text()


def test_every_claim_finds_its_numbers_in_the_smoke_run(smoke_run, monkeypatch):
    root, records = smoke_run
    assert all(r.ok for r in records)
    monkeypatch.setenv("A2LIB_ROOT", str(root))
    results = load_results("smoke")
    assert set(results) == {p.stem for p in NOTEBOOKS}
    verdicts = claims.evaluate_all(results)
    assert {v.claim.id for v in verdicts} == {c.id for c in claims.CLAIMS}
    wrong = [f"{v.claim.id}: {v.cause}: {v.reason}" for v in verdicts
             if v.verdict == claims.NOT_TESTABLE and v.cause not in LEGITIMATE]
    assert not wrong, "claims that cannot find their numbers in the smoke run:\n" + "\n".join(wrong)
    assert all(v.cause is None for v in verdicts if v.verdict != claims.NOT_TESTABLE)
