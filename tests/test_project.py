"""Project hygiene: one source of dependencies, clean notebooks, profiles that match the notebooks."""
import json
import re
import tomllib
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from a2lib import workbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CELL_LINES = 15
"""A code cell other than ``parameters`` holds at most this many lines: longer logic belongs in the library."""
REPEAT_LINES = 4
"""A run of this many code lines (whitespace normalised) in two notebooks is repeated code the library should hold."""
IMPORT = re.compile(r"^(import|from) \S+")
REQUIRED = {"torch", "torchvision", "jupyterlab", "ipykernel", "ipywidgets", "matplotlib", "seaborn", "grad-cam",
            "papermill", "scikit-learn", "faiss-cpu", "tqdm", "pyyaml"}
"""``ipywidgets``: ``tqdm.auto`` (the trainer's and the runner's bars) draws widgets in Jupyter, and without it warns
"IProgress not found" in every notebook."""


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def test_pyproject_lists_every_dependency_and_a_dev_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert REQUIRED <= {_name(r) for r in project["dependencies"]}
    assert "pytest" in {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert not any("==" in r for r in project["dependencies"]), "pin with lower bounds only"


def test_environment_yml_installs_exactly_the_pyproject_set():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert {_name(d) for d in conda} == {"python", "pip"}, "conda installs python and pip only"
    assert pip == [{"pip": ["-e .[dev]"]}], "everything else comes from pyproject.toml through pip"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", "a notebook starts with a markdown cell"
    assert not any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"), (
        f"{path.name} is committed with outputs; clear them"
    )
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    ids = [c.get("id") for c in cells]
    assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: every cell needs a unique id (nbformat 4.5)"


@pytest.mark.parametrize("name", workbook.PROFILES)
def test_profiles_parse_and_match_the_notebooks(name):
    profile = workbook.load_profile(name)
    assert profile.name == name
    if NOTEBOOKS:
        workbook.plan_parameters(profile, NOTEBOOKS, NOTEBOOKS, "cpu")  # raises on any unknown parameter
    assert set(profile.notebooks) == {p.stem for p in NOTEBOOKS}, "a profile (with the one it extends) sets every notebook"
    simplicity = profile.notebooks.get("01_simplicity_bias", {})
    for doses in ("eta_values", "escape_fractions"):
        if doses in simplicity:
            assert len(set(simplicity[doses])) >= 2, f"{name}: notebook 01's {doses} needs two doses (a dose response)"


def _code_cells(path):
    """(index, lines) of each code cell except the one tagged ``parameters``."""
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"]).splitlines()) for i, c in enumerate(cells)
            if c["cell_type"] == "code" and "parameters" not in c.get("metadata", {}).get("tags", [])]


def _statements(lines):
    """Code lines with whitespace normalised; blank lines, comments and imports (every notebook imports the same
    few modules) dropped."""
    normal = (" ".join(line.split()) for line in lines)
    return [line for line in normal if line and not line.startswith("#") and not IMPORT.match(line)]


def _blocks(path):
    """Every run of ``REPEAT_LINES`` consecutive statements inside one code cell -> the cell holding it."""
    return {tuple(code[i:i + REPEAT_LINES]): index for index, lines in _code_cells(path)
            for code in [_statements(lines)] for i in range(len(code) - REPEAT_LINES + 1)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_code_cells_are_short(path):
    long = {index: len(lines) for index, lines in _code_cells(path) if len(lines) > MAX_CELL_LINES}
    assert not long, (f"{path.name}: code cell(s) {long} (cell index: lines) exceed {MAX_CELL_LINES} lines; move the "
                      "logic into a2lib (studies, workbook.plots, ...) and call it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_starts_the_workbook_and_builds_configs_from_one_study(path):
    cells = _code_cells(path)
    assert "torch_device = workbook.start(profile, device)" in cells[0][1], (
        f"{path.name}: the first code cell after the parameters calls workbook.start(profile, device)")
    code = "\n".join(line for _, lines in cells for line in lines)
    for banned in ("TrainConfig(", "config_for", "method_config", "shared = dict("):
        assert banned not in code, f"{path.name} builds configs by hand ({banned!r}); use a2lib.studies.Study"
    if "load_or_train" in code or ".train(" in code:
        assert "setup = Study(**study, device=device)" in code, f"{path.name} trains without its Study"


def test_no_code_block_is_repeated_between_notebooks():
    blocks = {path: _blocks(path) for path in NOTEBOOKS}
    repeated = [f"{a.stem} cell {blocks[a][block]} and {b.stem} cell {blocks[b][block]}: " + " / ".join(block)
                for a, b in combinations(NOTEBOOKS, 2) for block in set(blocks[a]) & set(blocks[b])]
    assert not repeated, f"{REPEAT_LINES}-line blocks repeated between notebooks (move them into a2lib):\n" + (
        "\n".join(sorted(repeated)))


def test_the_repeat_check_finds_a_block_and_ignores_imports(tmp_path):
    def notebook(name, code):
        path = tmp_path / f"{name}.ipynb"
        path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": code}]}))
        return path

    shared = ["x = 1\n", "y  = x + 1\n", "# a comment\n", "z = y * 2\n", "print(z)\n"]
    one, two = notebook("one", ["import numpy\n", *shared]), notebook("two", [line.strip() + "\n" for line in shared])
    assert set(_blocks(one)) & set(_blocks(two)) == {("x = 1", "y = x + 1", "z = y * 2", "print(z)")}
    imports = ["import numpy as np\n", "import pandas as pd\n", "import torch\n", "from a2lib import workbook\n"]
    assert not _blocks(notebook("three", imports))
