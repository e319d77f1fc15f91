"""The papermill runner: order, injection, failure reporting, bad input, summary table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from a2lib import workbook
from a2lib.results import flatten_numbers

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
    assert set(json.loads((root / "runs/fixture/timings.json").read_text())) == {"01_fixture", "02_second"}


def test_only_runs_the_named_notebooks(root):
    records = workbook.run(str(FIXTURES / "profile.yaml"), only=["02"], notebooks_dir=FIXTURES / "notebooks")
    assert [r.name for r in records] == ["02_second"]
    assert not (root / "results/fixture/01_fixture.json").exists()


def test_failure_stops_and_reports_cell_source(root, tmp_path, capsys):
    profile = _profile(tmp_path, "name: fx\ndevice: cpu\n")
    code = workbook.main(["run", "--profile", profile, "--notebooks", str(FIXTURES / "failing")])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED: notebook 02_boom" in err
    assert "raise ValueError('boom from the fixture')" in err
    assert "ValueError: boom from the fixture" in err
    assert str(root / "runs/fx/02_boom.ipynb") in err
    assert not (root / "results/fx/03_never.txt").exists(), "a notebook after the failure ran"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "nope"], "unknown profile 'nope'; choose one of smoke, quick, full"),
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


def test_flatten_numbers_skips_text_and_booleans():
    tree = {"b": {"x": 1, "ok": True, "name": "a"}, "a": [0.5, {"y": 2}]}
    assert list(flatten_numbers(tree)) == [("a[0]", 0.5), ("a[1].y", 2.0), ("b.x", 1.0)]


def test_shared_anchor_blocks_are_allowed_and_expand(root, tmp_path):
    profile = _profile(tmp_path, "name: fx\nx-common: &c\n  scale: 5\nnotebooks:\n  01_fixture: *c\n")
    workbook.run(profile, only=["01"], notebooks_dir=FIXTURES / "notebooks", device="cpu")
    assert '"answer": 105' in (root / "results/fx/01_fixture.json").read_text()


def test_unknown_top_level_key_is_rejected(tmp_path):
    with pytest.raises(workbook.WorkbookError, match="unknown keys \\['notebook'\\]"):
        workbook.load_profile(_profile(tmp_path, "name: fx\nnotebook: {}\n"))
