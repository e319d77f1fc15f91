"""The papermill runner: order, injection, failure reporting, bad input, summary table; the workbook's folders."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from a2lib import machine, workbook
from a2lib.folders import CACHE_ENV, DATA_ENV
from a2lib.workbook import paths
from a2lib.workbook.results import RUN_ENV

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    return tmp_path


def _profile(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return str(path)


def test_runs_in_order_injects_parameters_and_summarises(root, capsys):
    records = workbook.run(str(FIXTURES / "profile.yaml"), notebooks_dir=FIXTURES / "notebooks", device="cpu")
    assert [r.name for r in records] == ["01_fixture", "02_second"]
    assert all(r.ok and r.output.is_file() for r in records)
    result = json.loads((root / "results/fixture/01_fixture.json").read_text())
    assert result["answer"] == 3 * 21 and result["device"] == "cpu"  # scale=3 came from the profile
    summary = (root / "results/fixture/SUMMARY.md").read_text()
    assert "| 01_fixture | answer | 63 |" in summary
    assert "| 02_second | metrics.map | 0.5 |" in summary
    assert summary in capsys.readouterr().out
    timings = json.loads((root / "results/fixture/timings.json").read_text())
    assert set(timings["notebooks"]) == {"01_fixture", "02_second"}
    assert timings["machine"]["score_images_per_s"] > 0 and timings["machine"]["cpu_model"]
    assert not (root / "runs/fixture/timings.json").exists()  # one timings file, beside the results


def test_only_runs_the_named_notebooks(root):
    records = workbook.run(str(FIXTURES / "profile.yaml"), only=["02"], notebooks_dir=FIXTURES / "notebooks")
    assert [r.name for r in records] == ["02_second"]
    assert not (root / "results/fixture/01_fixture.json").exists()


def test_failure_stops_and_reports_cell_source(root, tmp_path, capsys):
    profile = _profile(tmp_path, "name: fx\ndevice: cpu\n")
    (root / "results/fx").mkdir(parents=True)
    (root / "results/fx/02_boom.json").write_text(json.dumps({"profile": "fx", "run": "earlier-run", "map": 0.9}))
    (root / "results/fx/99_by_hand.json").write_text(json.dumps({"profile": "fx", "run": None, "map": 0.8}))
    code = workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "failing")])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 1
    assert "FAILED: notebook 02_boom" in err
    assert "raise ValueError('boom from the fixture')" in err
    assert "ValueError: boom from the fixture" in err
    assert str(root / "runs/fx/02_boom.ipynb") in err
    assert not (root / "results/fx/03_never.txt").exists(), "a notebook after the failure ran"
    summary = (root / "results/fx/SUMMARY.md").read_text()  # written on failure too, the failure marked
    assert "01_ok ok, 02_boom FAILED" in summary and summary in captured.out
    assert "| (no results from this run) | | |" in summary
    assert "| 02_boom | run earlier-run | notebook FAILED in this run | map | 0.9 |" in summary
    assert "| 99_by_hand | outside the runner | notebook not run in this run | map | 0.8 |" in summary


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "nope"], "unknown profile 'nope'; choose one of smoke, quick, extended, full"),
        (["--only", "01,07"], "unknown --only entry 07; valid: 01 (01_fixture), 02 (02_second)"),
        (["--device", "tpu"], "unknown device 'tpu'; choose one of auto, cpu, cuda"),
    ],
)
def test_bad_input_is_one_line_error_before_anything_runs(root, capsys, args, message):
    base = ["run", "--profile", str(FIXTURES / "profile.yaml"), "--notebooks", str(FIXTURES / "notebooks")]
    assert workbook.main(base + args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (root / "runs").exists()


@pytest.mark.parametrize("only", ["", ",", " , "])
def test_only_naming_no_notebook_is_an_error(root, capsys, only):
    base = ["run", "--profile", str(FIXTURES / "profile.yaml"), "--notebooks", str(FIXTURES / "notebooks")]
    assert workbook.main(base + ["--only", only]) == 2
    err = capsys.readouterr().err
    assert "--only names no notebook" in err and "01 (01_fixture), 02 (02_second)" in err
    assert len(err.strip().splitlines()) == 1
    assert not (root / "runs").exists()


@pytest.mark.parametrize(
    "text, problem",
    [
        ("name: fx\nnotebooks:\n  01_fixture: {scale: 3\n",
         "line 4, column 1: expected ',' or '}', but got '<stream end>'"),
        ("name: fx\n  device: cpu\n", "line 2, column 9: mapping values are not allowed here"),
        ("name: fx\n\tdevice: cpu\n", "found character '\\t' that cannot start any token"),
    ],
)
def test_malformed_profile_is_one_line_naming_file_and_problem(root, tmp_path, capsys, text, problem):
    profile = _profile(tmp_path, text)
    assert workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "notebooks")]) == 2
    err = capsys.readouterr().err
    assert f"profile {profile} is not valid YAML: " in err and problem in err
    assert len(err.strip().splitlines()) == 1
    assert not (root / "runs").exists()


@pytest.mark.parametrize("text, message", [
    ("- 01_fixture\n- 02_second\n", "must be a mapping of name, description, device, train_workers, extends, notebooks; it holds a list"),
    ("name: fx\nnotebooks: [01_fixture]\n", "'notebooks' must map each notebook name to a mapping"),
    ("name: fx\nnotebooks:\n  01_fixture: 3\n", "(not so for 01_fixture)"),
])
def test_profile_of_the_wrong_shape_is_rejected(tmp_path, text, message):
    with pytest.raises(workbook.WorkbookError, match=message.replace("(", "\\(").replace(")", "\\)")):
        workbook.load_profile(_profile(tmp_path, text))


def test_a_profile_extends_another_parameter_by_parameter(tmp_path):
    base = _profile(tmp_path, "name: base\ndevice: cpu\nnotebooks:\n  01_fixture: {scale: 3, seed: 1}\n"
                              "  02_second: {n: 5}\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"name: child\nextends: {base}\nnotebooks:\n  01_fixture: {{scale: 7}}\n  03_third: {{k: 1}}\n")
    profile = workbook.load_profile(str(child))
    assert profile.name == "child" and profile.device == "cpu"  # the device comes from the base
    assert profile.notebooks == {"01_fixture": {"scale": 7, "seed": 1}, "02_second": {"n": 5}, "03_third": {"k": 1}}


def test_a_profile_that_extends_itself_is_refused(tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"name: loop\nextends: {loop}\n")
    with pytest.raises(workbook.WorkbookError, match="extends itself"):
        workbook.load_profile(str(loop))


def test_extended_is_the_reproduction_run_quick_is_its_budgeted_subset():
    """Every comparison of trained models has three seeds in extended; quick keeps what fits its budget."""
    quick, extended = workbook.load_profile("quick"), workbook.load_profile("extended")
    assert quick.train_workers == extended.train_workers == 2
    for name, block in extended.notebooks.items():
        for key in ("seeds", "eta_seeds", "escape_seeds"):
            if key in block:
                assert len(block[key]) >= 3, (name, key)
    assert quick.notebooks["01_simplicity_bias"]["seeds"] == [0, 1]
    assert quick.notebooks["02_training"]["bits_list"] == [48]
    assert extended.notebooks["02_training"]["bits_list"] == [12, 48]
    assert quick.notebooks["02_training"]["ablation_bits"] is None and extended.notebooks["02_training"]["ablation_bits"]
    assert not quick.notebooks["02_training"]["eta_values"] and extended.notebooks["02_training"]["eta_values"]
    assert extended.notebooks["02_training"]["zero_shot_methods"] and extended.notebooks["02_training"]["other_methods"]
    assert extended.notebooks["02_training"]["study"]["train_options"] == quick.notebooks["02_training"]["study"][
        "train_options"], "extended trains the birds at the schedule the recipe search chose its options at"


def test_summary_keeps_this_runs_numbers_apart_from_earlier_runs(root, monkeypatch, capsys):
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.delenv(CACHE_ENV)
    workbook.run(str(FIXTURES / "profile.yaml"), notebooks_dir=FIXTURES / "notebooks", device="cpu")
    first = json.loads((root / "results/fixture/01_fixture.json").read_text())["run"]
    workbook.run(str(FIXTURES / "profile.yaml"), only=["02"], notebooks_dir=FIXTURES / "notebooks", device="cpu")
    second = json.loads((root / "results/fixture/02_second.json").read_text())
    assert first and second["run"] and second["run"] != first
    assert second["data"] == str(root / "data") and second["cache"] == str(root / "cache")  # the kernel inherited
    assert RUN_ENV not in os.environ, "the run id leaked out of the batch"
    summary = (root / "results/fixture/SUMMARY.md").read_text()
    current, stale = summary.split("## Not from this run")
    assert f"Run `{second['run']}`; notebooks: 02_second ok." in current
    assert "| 02_second | metrics.map | 0.5 |" in current and "01_fixture" not in current
    assert f"| 01_fixture | run {first} | notebook not run in this run | answer | 63 |" in stale


def test_undefined_parameter_is_rejected(root, tmp_path, capsys):
    profile = _profile(tmp_path, "name: fx\nnotebooks:\n  01_fixture:\n    scale: 1\n    sclae: 2\n")
    assert workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "notebooks")]) == 2
    err = capsys.readouterr().err
    assert "parameter(s) sclae" in err and "it defines: device, profile, scale" in err


def test_profile_for_unknown_notebook_is_rejected(root, tmp_path, capsys):
    profile = _profile(tmp_path, "name: fx\nnotebooks:\n  09_missing: {}\n")
    assert workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "notebooks")]) == 2
    assert "unknown notebook(s) 09_missing" in capsys.readouterr().err


def test_cuda_without_gpu_is_a_clear_error(root, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    base = ["run", "--profile", str(FIXTURES / "profile.yaml"), "--notebooks", str(FIXTURES / "notebooks")]
    assert workbook.main(base + ["--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_full_on_cpu_warns(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.warns(UserWarning, match="hours"):
        assert workbook.resolve_device("auto", workbook.Profile(name="full")) == "cpu"


def test_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(workbook.ensure_kernel())
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


def test_python_dash_m_entry_point(root):
    done = subprocess.run([sys.executable, "-m", "a2lib", "run", "--profile", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown profile" in done.stderr


def test_shared_anchor_blocks_are_allowed_and_expand(root, tmp_path):
    profile = _profile(tmp_path, "name: fx\nx-common: &c\n  scale: 5\nnotebooks:\n  01_fixture: *c\n")
    workbook.run(profile, only=["01"], notebooks_dir=FIXTURES / "notebooks", device="cpu")
    assert '"answer": 105' in (root / "results/fx/01_fixture.json").read_text()


def test_unknown_top_level_key_is_rejected(tmp_path):
    with pytest.raises(workbook.WorkbookError, match="unknown keys \\['notebook'\\]"):
        workbook.load_profile(_profile(tmp_path, "name: fx\nnotebook: {}\n"))


def test_select_notebooks_keeps_order_and_rejects_an_empty_choice():
    found = workbook.discover_notebooks(FIXTURES / "failing")
    assert [p.stem for p in workbook.select_notebooks(found, ["03", "01_ok"])] == ["01_ok", "03_never"]
    assert workbook.select_notebooks(found, None) == found
    with pytest.raises(workbook.WorkbookError, match="names no notebook"):
        workbook.select_notebooks(found, [])


def test_root_is_the_environment_variable_else_the_checkout_never_the_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path / "wb"))
    assert paths.workbook_root() == tmp_path / "wb"
    assert paths.results_dir("p") == tmp_path / "wb/results/p" and (tmp_path / "wb/results/p").is_dir()
    assert paths.figures_dir("p", create=False) == tmp_path / "wb/figures/p"
    assert not (tmp_path / "wb/figures").exists()
    monkeypatch.delenv("A2LIB_ROOT")
    decoy = tmp_path / "decoy"  # looks like a checkout; the old search walked up from the cwd and took it
    (decoy / "notebooks").mkdir(parents=True)
    (decoy / "pyproject.toml").write_text("")
    monkeypatch.chdir(decoy / "notebooks")
    assert paths.workbook_root() == Path(workbook.__file__).resolve().parents[2]
    monkeypatch.setattr(paths, "CHECKOUT", tmp_path / "site-packages")
    with pytest.raises(workbook.WorkbookError, match="set A2LIB_ROOT=/path/to/workbook"):
        paths.workbook_root()


def test_activate_sets_the_root_and_fills_unset_data_and_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("A2LIB_ROOT", raising=False)
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "my-cache"))
    assert paths.activate(tmp_path) == tmp_path
    assert os.environ["A2LIB_ROOT"] == str(tmp_path)
    assert os.environ[DATA_ENV] == str(tmp_path / "data")
    assert os.environ[CACHE_ENV] == str(tmp_path / "my-cache"), "a folder the user set is kept"


def test_start_activates_styles_and_returns_the_device(tmp_path, monkeypatch):
    import matplotlib

    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    monkeypatch.delenv(DATA_ENV)
    matplotlib.rcdefaults()
    assert workbook.start("quick", "cpu") == torch.device("cpu")
    assert os.environ[DATA_ENV] == str(tmp_path / "data")
    assert matplotlib.rcParams["axes.titleweight"] == "bold"
    with pytest.raises(ValueError, match="plain name"):
        workbook.start("../quick", "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        workbook.start("quick", "tpu")


@pytest.mark.parametrize("parameters, message", [
    ("bits_list: '12'", "01_typed: parameter bits_list must be a list of integers (like its default [12, 24]); got "
                        "the string '12' (from profile 'fx')"),
    ("bits_list: [12, '24']", "parameter bits_list[1] must be an integer (like the items of its default [12, 24]); "
                              "got the string '24'"),
    ("eta: 'high'", "parameter eta must be a number (like its default 0.5); got the string 'high'"),
    ("verbose: 1", "parameter verbose must be True or False (like its default True); got the integer 1"),
    ("study: {dataset: synth-birds, seed: '0'}", "parameter study.seed must be an integer (like its default 0); got "
                                                 "the string '0'"),
])
def test_a_parameter_of_the_wrong_type_is_one_line_before_anything_runs(root, tmp_path, capsys, parameters, message):
    """Issue 28: a string where a list of integers belongs reached the notebook and failed there."""
    profile = _profile(tmp_path, f"name: fx\nnotebooks:\n  01_typed: {{{parameters}}}\n")
    assert workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "typed")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (root / "runs").exists()


def test_parameters_of_the_right_types_and_null_pass_the_check(root, tmp_path):
    profile = _profile(tmp_path, "name: fx\nnotebooks:\n  01_typed: {bits_list: [48], eta: 1, verbose: false, "
                                 "study: {dataset: cub200, recipe: paper}, limit: [1, 2]}\n")
    records = workbook.run(profile, notebooks_dir=FIXTURES / "typed", device="cpu")
    assert records[0].ok and json.loads((root / "results/fx/01_typed.json").read_text())["bits"] == [48]
    for value in ("null", "[12, null]"):
        plan = workbook.plan_parameters(workbook.load_profile(_profile(tmp_path, f"name: fx\nnotebooks:\n  01_typed: "
                                                                                 f"{{bits_list: {value}}}\n")),
                                        [FIXTURES / "typed/01_typed.ipynb"], [FIXTURES / "typed/01_typed.ipynb"], "cpu")
        assert list(plan.values())[0]["bits_list"] == json.loads(value)


def test_an_unwritable_results_folder_is_refused_before_any_notebook_runs(root, capsys, read_only):
    """Issue 28: a read-only results/ was found after a notebook had run, and the runner died writing
    timings.json."""
    (root / "results" / "fixture").mkdir(parents=True)
    read_only(root / "results" / "fixture")
    base = ["run", "--profile", str(FIXTURES / "profile.yaml"), "--notebooks", str(FIXTURES / "notebooks")]
    assert workbook.main(base) == 2
    err = capsys.readouterr().err
    assert f"{root / 'results' / 'fixture'} is not writable" in err and "their results there" in err
    assert len(err.strip().splitlines()) == 1
    assert not (root / "runs" / "fixture").exists() or not any((root / "runs" / "fixture").iterdir())


@pytest.mark.slow
def test_ctrl_c_ends_the_run_with_one_line_status_130_and_no_traceback(root, tmp_path):
    """Issue 28: Ctrl-C printed a 58-line ZMQ/KeyboardInterrupt traceback. The signal goes to the runner's
    process group, as a terminal sends it; the notebook says when its long cell has started."""
    started = tmp_path / "started"
    profile = _profile(tmp_path, f"name: fx\nnotebooks:\n  01_sleep: {{started: '{started}'}}\n")
    returncode, out, err = _interrupt(profile, FIXTURES / "interrupt", root, started)
    assert returncode == 130, err
    assert "Traceback" not in err + out
    last = err.strip().splitlines()[-1]
    assert last.startswith("a2lib: interrupted (Ctrl-C) in notebook 01_sleep; kept: its partial copy "
                           f"{root / 'runs/fx/01_sleep.ipynb'}") and last.endswith(f"--profile {profile} --only 01")
    assert (root / "runs/fx/01_sleep.ipynb").is_file()
    kernel = int(started.read_text())
    deadline = time.monotonic() + STARTUP_S
    while _alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(kernel), "the kernel outlived the runner"


STARTUP_S = 120
"""Seconds allowed for a kernel to start (or stop) on a busy machine."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _interrupt(profile: str, notebooks: Path, root: Path, started: Path, settle_s: float = 0.0) -> tuple:
    """Run ``a2lib run --profile profile`` on ``notebooks`` in its own process group, send it Ctrl-C (SIGINT to the
    group, as a terminal does) ``settle_s`` after the notebook has written ``started``; (returncode, out, err)."""
    runner = subprocess.Popen([sys.executable, "-m", "a2lib", "run", "--profile", profile, "--notebooks",
                               str(notebooks)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True,
                              env={**os.environ, "A2LIB_ROOT": str(root), machine.NO_SCORE_ENV: "1"})
    try:
        deadline = time.monotonic() + STARTUP_S
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            assert runner.poll() is None, runner.communicate()
            time.sleep(0.2)
        time.sleep(settle_s)
        os.killpg(runner.pid, signal.SIGINT)
        out, err = runner.communicate(timeout=STARTUP_S)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    return runner.returncode, out, err


SHORT_CELLS = 1000


@pytest.mark.slow
def test_ctrl_c_between_short_cells_still_stops_the_run(root, tmp_path):
    """Fault case: a kernel idle between two cells drops the SIGINT, and the run went on to exit 0. The notebook's
    1,000 short cells (mostly idle between them) take far longer than the grace period, so only the runner's own
    stop ends it early."""
    import nbformat

    started = tmp_path / "started"
    parameters = nbformat.v4.new_code_cell('profile = "fx"\ndevice = "cpu"\nstarted = ""')
    parameters.metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    book.cells = [parameters, nbformat.v4.new_code_cell("open(started, 'w').write('1')")] + [
        nbformat.v4.new_code_cell("import time; time.sleep(0.01)") for _ in range(SHORT_CELLS)]
    (tmp_path / "nb").mkdir()
    nbformat.write(book, tmp_path / "nb" / "01_cells.ipynb")
    profile = _profile(tmp_path, f"name: fx\nnotebooks:\n  01_cells: {{started: '{started}'}}\n")
    returncode, out, err = _interrupt(profile, tmp_path / "nb", root, started, settle_s=1.0)
    assert returncode == 130, err
    assert "Traceback" not in err + out
    assert err.strip().splitlines()[-1].startswith("a2lib: interrupted (Ctrl-C) in notebook 01_cells")


@pytest.mark.parametrize("value", ["2", 0, 1.5, True])
def test_train_workers_must_be_a_positive_integer(tmp_path, value):
    profile = _profile(tmp_path, f"name: fx\ntrain_workers: {json.dumps(value)}\nnotebooks: {{}}\n")
    with pytest.raises(workbook.WorkbookError, match=r"'train_workers' must be a positive integer"):
        workbook.load_profile(profile)


def test_train_workers_is_inherited_and_defaults_to_one(tmp_path):
    base = _profile(tmp_path, "name: base\ntrain_workers: 2\nnotebooks: {}\n")
    child = tmp_path / "child.yaml"
    child.write_text(f"name: child\nextends: {base}\nnotebooks: {{}}\n")
    assert workbook.load_profile(str(child)).train_workers == 2
    assert workbook.load_profile(_profile(tmp_path, "name: plain\nnotebooks: {}\n")).train_workers == 1
