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


# --- claims, the README block and the one writer of both ---------------------------------------------------------

TABLE2 = {"synth-birds/48/a2net++": {"map": 0.447}, "synth-birds/48/a2net": {"map": 0.445},
          "synth-birds/48/exchnet": {"map": 0.305}, "synth-birds/48/baseline": {"map": 0.402}}


def _readme(root, profile="quick"):
    begin, end = results.readme_markers(profile)
    (root / "README.md").write_text(f"intro\n\n{begin}\nold\n{end}\n\nafter\n")
    return root / "README.md"


def test_readme_block_without_results_says_how_to_make_them(root):
    block = results.readme_block("quick")
    assert block.startswith(results.README_BEGIN) and block.endswith(results.README_END)
    assert "No results of the `quick` profile are in `results/quick/` yet" in block


def test_readme_block_holds_the_claims_with_computed_verdicts_and_the_tables(root):
    _write(root, "02_training", "R", table2=TABLE2)
    folder = root / "results" / "p"
    block = results.readme_block("p")
    assert "From `results/p/*.json` (1 notebooks; run `R`)" in block
    rows = {line.split(" | ")[0].strip("| "): line for line in block.splitlines() if line.startswith("| T")}
    assert "| A²-Net++ 0.447 > A²-Net 0.445 > ExchNet 0.305 < ADSH 0.402 | not testable | one seed" in rows["T2-order"]
    assert "| not testable | this workbook does not regenerate Table 3" in rows["T3-generic"]
    assert "| synth-birds | 48 | 0.402 | 0.305 | 0.445 | 0.447 |" in block, "Table 2 in the paper's column order"
    table2 = (folder / "02_training.json")
    table2.write_text(json.dumps({"profile": "p", "run": "R", "table2": {
        key: {"map": [value["map"], value["map"] + 0.01, value["map"] - 0.01]} for key, value in TABLE2.items()}}))
    seeded = results.readme_block("p")
    assert "| does not hold | ExchNet − ADSH = -0.097, 95% interval" in seeded, "three seeds: ExchNet < ADSH is shown"


def test_derived_numbers_hold_the_shown_means_intervals_and_claim_differences(root):
    _write(root, "02_training", "R", seeds=[0, 1, 2], table2={
        key: {"map": [value["map"], value["map"] + 0.01, value["map"] - 0.01]} for key, value in TABLE2.items()})
    derived = results.derived_numbers(results.load_results("p"))
    # sd 0.01 over 3 seeds: half-width t(0.975, 2) x 0.01 / sqrt(3) = 4.3027 x 0.005774 = 0.0248
    assert derived["over_seeds"]["02_training.table2.synth-birds/48/exchnet.map"] == {"mean": 0.305, "ci95": 0.025,
                                                                                       "seeds": 3}
    assert "02_training.seeds" not in derived["over_seeds"], "a list of integers is seed ids, not values over seeds"
    order = [c for c in derived["claims"] if c["claim"] == "T2-order"][0]
    assert order["verdict"] == "does not hold"
    assert {"mean": -0.097, "low": -0.097, "high": -0.097, "ci95": 0.0, "seeds": 3} in order["differences"]
    results.write_summary("p", "R", {"02_training": OK})
    saved = json.loads((root / "results" / "p" / results.DERIVED_NAME).read_text())
    assert saved == json.loads(json.dumps(derived)) and set(results.load_results("p")) == {"02_training"}


def test_update_readme_replaces_only_the_block_and_needs_the_markers(root):
    _write(root, "02_training", "R", table2=TABLE2)
    path = _readme(root, "p")
    results.update_readme("p")
    text = path.read_text()
    assert text.startswith("intro\n\n<!-- results:p:begin -->") and text.endswith("<!-- results:p:end -->\n\nafter\n")
    assert results.current_readme_block(text, "p") == results.readme_block("p") and "old" not in text
    with pytest.raises(ValueError, match="needs one results block"):
        results.current_readme_block(text, "quick")
    with pytest.raises(ValueError, match="needs one results block"):
        results.current_readme_block("no markers here")


def test_write_summary_writes_the_readme_block_for_the_readme_profile_only(root):
    path = _readme(root)
    _write(root, "02_training", "R", table2=TABLE2)
    results.write_summary("p", "R", {"02_training": OK})
    assert "old" in path.read_text(), "another profile leaves the README alone"
    (root / "results" / "quick").mkdir()
    (root / "results" / "p" / "02_training.json").rename(root / "results" / "quick" / "02_training.json")
    table, _ = results.write_summary("quick", "R", {"02_training": OK})
    assert results.current_readme_block(path.read_text()) == results.readme_block("quick")
    assert "## Claims" in table and "| T2-order | Table 2 | our proposed" in table, "SUMMARY.md quotes the paper"


def test_summary_claims_use_this_runs_files_only(root):
    _write(root, "02_training", "OLD", table2=TABLE2)
    table = results.summary_table("p", "R", {})
    claims_part = table.split("## Numbers")[0]
    assert "| T2-order |" in claims_part and "02_training.json (its notebook did not run)" in claims_part


def test_claims_table_is_the_notebooks_claims_as_a_table(root):
    twelve = {key.replace("/48/", "/12/"): value for key, value in TABLE2.items()}
    _write(root, "02_training", "R", table2={**TABLE2, **twelve})  # T2-order once per code length
    styled = results.claims_table("p", "02_training")
    frame = styled.data.set_index("claim")
    assert list(frame.columns) == ["paper", "quote", "statement", "this run", "verdict", "why"]
    assert list(frame.loc["T2-order", "verdict"]) == ["not testable", "not testable"]
    assert set(frame.index) >= {"T2-order", "T7-steps", "F7-eta", "T3-generic", "T5-cross-domain"}
    assert not any(i.startswith("T8") for i in frame.index), "notebook 05's claims are not notebook 02's"
    assert "T2-order" in styled.to_html(), "a claim with a row per code length still renders"


def test_markdown_table_escapes_pipes():
    assert results.markdown_table([{"a": "x|y"}], ["a", "b"]) == "| a | b |\n|---|---|\n| x\\|y | – |"


def test_timings_sit_beside_the_results_and_reach_the_readme_block(root):
    _write(root, "02_training", "R", table2=TABLE2)
    path = results.write_timings("p", "R", {"01_simplicity_bias": 120.04, "02_training": 3600.0},
                                 {"01_simplicity_bias": OK, "02_training": FAILED}, {"before": 35, "after": 40})
    saved = json.loads(path.read_text())
    assert path.name == "timings.json" and saved["total_s"] == 3720.0 and saved["run"] == "R"
    assert saved["notebooks"]["02_training"] == {"seconds": 3600.0, "status": FAILED}
    assert saved["machine"]["cpu_cores"] >= 1 and saved["machine"]["torch"]
    assert set(results.load_results("p")) == {"02_training"}, "timings are not a notebook's results"
    block = results.readme_block("p")
    assert "| 01_simplicity_bias | ok | 120 |" in block and "| 02_training | FAILED | 3,600 |" in block
    assert "| total |  | 3,720 |" in block and f"run `R` ({saved['date']};" in block
    assert "the model cache held 35 trained models before the run and 40 after" in block
    assert "timings" not in results.summary_table("p", "R", {})


def test_the_timings_name_the_training_done_before_the_notebooks(tmp_path, monkeypatch):
    """A run with train_workers records the workers' training; the table and each notebook's line say so."""
    from a2lib.workbook import results

    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    results.write_timings("fx", "run-1", {"01_a": 10.0, "02_b": 5.0}, {"01_a": "ok", "02_b": "ok"},
                          {"before": 0, "after": 3}, {"cpu_cores": 2, "torch_threads": 2, "torch": "2", "accelerator": "none"},
                          {"seconds": 30.0, "workers": 2, "entries": 3})
    tree = results.read_timings("fx")
    assert tree["total_s"] == 45.0 and tree["trained_before_notebooks"]["entries"] == 3
    assert "| training before the notebooks (2 workers, 3 models) |  | 30 |" in results.timings_markdown("fx")
    assert "after 2 workers had trained the 3 models of all the notebooks in 30 s" in results.timing_line("fx", "01_a")


def test_a_figure_from_an_earlier_run_or_from_no_run_is_stale(root, monkeypatch):
    import matplotlib.pyplot as plt

    from a2lib.workbook import plots

    _write(root, "02_training", "R2", table2=TABLE2)
    monkeypatch.setenv(RUN_ENV, "R1")
    plots.save_figure(plt.figure(), "old", "p")
    monkeypatch.setenv(RUN_ENV, "R2")
    plots.save_figure(plt.figure(), "new", "p")
    (root / "figures" / "p" / "stray.png").write_bytes(b"")
    record = json.loads((root / "figures" / "p" / results.FIGURES_RECORD).read_text())
    assert record == {"new.png": "R2", "old.png": "R1"}
    problems = results.stale_figures("p")
    assert [p.split(":")[0] for p in problems] == ["stray.png", "old.png"]
    (root / "figures" / "p" / "old.png").unlink()
    (root / "figures" / "p" / "stray.png").unlink()
    assert results.stale_figures("p") == ["old.png: in figures.json but missing"]
