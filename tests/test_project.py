"""Project hygiene: one source of dependencies, clean notebooks, profiles that match the notebooks."""
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from a2lib import workbook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED = {"torch", "torchvision", "jupyterlab", "ipykernel", "matplotlib", "seaborn", "grad-cam", "papermill",
            "scikit-learn", "faiss-cpu", "tqdm", "pyyaml"}


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


@pytest.mark.parametrize("name", workbook.PROFILES)
def test_profiles_parse_and_match_the_notebooks(name):
    profile = workbook.load_profile(name)
    assert profile.name == name
    if NOTEBOOKS:
        workbook.plan_parameters(profile, NOTEBOOKS, NOTEBOOKS, "cpu")  # raises on any unknown parameter
    raw = yaml.safe_load((workbook.PROFILE_DIR / f"{name}.yaml").read_text())
    assert set(raw["notebooks"] or {}) == {p.stem for p in NOTEBOOKS}, "a profile sets every notebook"
