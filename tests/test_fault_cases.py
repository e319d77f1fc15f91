"""The rule of benchmarks/fault_cases.py that classes an error as clear or unclear, on synthetic errors."""
import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_cases.py"


@pytest.fixture(scope="module")
def faults():
    spec = importlib.util.spec_from_file_location("fault_cases", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _raised(action):
    try:
        action()
    except Exception as error:  # noqa: BLE001
        return error
    raise AssertionError("nothing raised")


def test_a2lib_check_naming_the_parameter_is_clear(faults):
    from a2lib.checks import check_positive_int

    error = _raised(lambda: check_positive_int("bits", "32"))
    assert faults.classify_error(error, ["bits"]) == "clear error"
    assert faults.classify_error(error, ["lr"]) == "unclear error"


def test_a2lib_error_type_is_clear_wherever_raised(faults):
    from a2lib.safe_load import UnreadableFile

    assert faults.classify_error(UnreadableFile(Path("/x/model.pt"), "is truncated"), ["model.pt"]) == "clear error"


def test_raw_library_errors_are_unclear(faults):
    zip_error = _raised(lambda: zipfile.ZipFile(__file__))
    assert faults.classify_error(zip_error, ["test_fault_cases.py", "zip"]) == "unclear error"
    type_error = _raised(lambda: "64" / 2)
    assert faults.classify_error(type_error, ["str"]) == "unclear error"


def test_command_rule(faults):
    assert faults.classify_cli(2, "a2lib: error: unknown profile 'x'", ["profile"]) == "clear error"
    assert faults.classify_cli(1, "Traceback (most recent call last):\n  ...profile", ["profile"]) == "unclear error"
    assert faults.classify_cli(0, "done", ["profile"]) == "silently wrong"


def test_expect_error_counts_a_run_without_error_as_silently_wrong(faults):
    assert faults.expect_error(lambda: 1.0, ["x"]).outcome == "silently wrong"
    assert faults.expect_right(lambda: 2, lambda r: None if r == 2 else "no").outcome == "right answer"
    assert faults.expect_right(lambda: 3, lambda r: None if r == 2 else "no").outcome == "silently wrong"


def test_progress_bars_are_not_counted_as_output(faults):
    bar = "06_retrieval_efficiency:  20%|██        | 5/25 [00:14<00:58,  2.91s/cell]\x1b[A"
    assert faults.is_progress_bar(bar)
    assert faults.is_progress_bar("            \x1b[A\x1b[A")
    assert not faults.is_progress_bar("a2lib: interrupted (Ctrl-C) in notebook 06; resume with --only 06")


def test_at_least_forty_cases_each_with_an_expected_outcome(faults):
    names = [case.name for case in faults.CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)
    assert all(case.expected for case in faults.CASES)
