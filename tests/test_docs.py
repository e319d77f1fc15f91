"""The README's commands, its generated results block, references and licence, and the words the notebooks use."""
import json
import re
import tomllib
from pathlib import Path

import pytest

from a2lib.workbook import results

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV = "python3 -m venv .venv && . .venv/bin/activate"
SETUP, MAIN, TESTS = 'python3 -m pip install -e ".[dev]"', "a2lib run --profile quick", "python3 -m pytest"
REFERENCES = ("arxiv.org/abs/2311.12894", "arxiv.org/abs/2008.01369", "arxiv.org/abs/2006.07710",
              "arxiv.org/abs/1705.08562", "proceedings.neurips.cc/paper/2021")
"""A²-Net++ (TPAMI 2023), ExchNet (ECCV 2020), Shah et al. (NeurIPS 2020), He et al. (CVPR 2018), A²-Net (NeurIPS 2021)."""
JARGON = ("issue", "DESIGN §", "DESIGN.md", "the issue's targets", "helper", "wave 1", "wave 2")
"""Words of the people who build the workbook, not of the student who reads it."""


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _bash_blocks(text: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"^```bash\n(.*?)^```$", text, re.S | re.M)]


def readme_mismatch(readme_text: str, profile: str = results.README_PROFILE) -> str | None:
    """Why the README's results block is not what ``results.readme_block`` makes of the results, or None."""
    try:
        block = results.current_readme_block(readme_text, profile)
    except ValueError as missing:
        return str(missing)
    expected = results.readme_block(profile)
    if block == expected:
        return None
    diff = [f"README: {a!r}\nfrom results: {b!r}" for a, b in zip(block.splitlines(), expected.splitlines()) if a != b]
    return "\n".join(diff[:3]) or "the blocks differ in length"


@pytest.mark.parametrize("profile", results.README_PROFILES)
def test_the_readme_results_block_is_what_the_committed_results_give(monkeypatch, profile):
    monkeypatch.setenv("A2LIB_ROOT", str(ROOT))
    problem = readme_mismatch(README.read_text(), profile)
    assert problem is None, (f"README.md's {profile} results block differs from results/{profile}/*.json:\n"
                             f"{problem}\nregenerate it: python3 -c 'from a2lib.workbook.results import "
                             f"update_readme; update_readme(\"{profile}\")'")


@pytest.mark.parametrize("profile", [p for p in results.README_PROFILES if (ROOT / "figures" / p).is_dir()])
def test_the_committed_figures_are_exactly_those_of_the_documented_run(monkeypatch, profile):
    monkeypatch.setenv("A2LIB_ROOT", str(ROOT))
    problems = results.stale_figures(profile)
    assert not problems, (f"figures/{profile}/ holds figures its committed results' runs did not write:\n"
                          + "\n".join(problems) + f"\nremove them, or re-run `a2lib run --profile {profile}`")


@pytest.mark.parametrize("profile", [p for p in results.README_PROFILES if (ROOT / "results" / p).is_dir()])
def test_the_committed_derived_numbers_are_what_the_committed_results_give(monkeypatch, profile):
    monkeypatch.setenv("A2LIB_ROOT", str(ROOT))
    saved = json.loads((ROOT / "results" / profile / results.DERIVED_NAME).read_text())
    assert saved == json.loads(json.dumps(results.derived_numbers(results.load_results(profile)))), (
        f"results/{profile}/{results.DERIVED_NAME} differs from what results/{profile}/*.json give; regenerate it "
        "with a run (write_summary writes it)")


@pytest.mark.parametrize("notebook", sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_each_notebooks_run_time_line_is_what_the_committed_timings_give(monkeypatch, notebook):
    monkeypatch.setenv("A2LIB_ROOT", str(ROOT))
    opening = "".join(json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"][0]["source"])
    assert results.notebook_timing_block(opening) == results.timing_line(results.README_PROFILE, notebook), (
        f"{notebook}'s run-time line differs from results/{results.README_PROFILE}/timings.json; regenerate it: "
        "python3 -c 'from a2lib.workbook.results import update_notebook_timings; update_notebook_timings()'")


def test_a_notebooks_run_time_line_says_the_measured_seconds_and_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    folder = tmp_path / "results" / "quick"
    folder.mkdir(parents=True)
    results.write_timings("quick", "R1", {"01_a": 400.4, "02_b": 99.6}, {"01_a": "ok", "02_b": "ok"},
                          {"before": 0, "after": 7})
    line = results.timing_line("quick", "01_a")
    assert "**400 s** (ok) in run `R1`" in line and "from an empty model cache" in line
    assert "the whole workbook took 500 s" in line and "CPU cores" in line
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    cell = {"cell_type": "markdown", "metadata": {}, "source": ["# 01\n", "text\n",
                                                                f"{results.TIMING_BEGIN}\nold\n{results.TIMING_END}"]}
    (notebooks / "01_a.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                      "nbformat_minor": 5}))
    assert results.update_notebook_timings("quick", notebooks) == [notebooks / "01_a.ipynb"]
    opening = "".join(json.loads((notebooks / "01_a.ipynb").read_text())["cells"][0]["source"])
    assert opening.startswith("# 01\ntext\n") and results.notebook_timing_block(opening) == line


def test_a_changed_number_in_the_readme_block_is_caught(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    folder = tmp_path / "results" / results.README_PROFILE
    folder.mkdir(parents=True)
    (folder / "05_ndcg_attribute_matching.json").write_text(json.dumps({"run": "R", "ndcg": {
        "a2net++/48": {"@20": 0.796}, "a2net/48": {"@20": 0.797}, "exchnet/48": {"@20": 0.726},
        "baseline/48": {"@20": 0.780}}}))
    text = f"# title\n\n{results.README_BEGIN}\n{results.README_END}\n"
    assert readme_mismatch(text) is not None, "an empty block is not the generated one"
    generated = text.replace(f"{results.README_BEGIN}\n{results.README_END}", results.readme_block())
    assert readme_mismatch(generated) is None
    assert "| 48 | 0.780 | 0.726 | 0.797 | 0.796 |" in generated
    changed = generated.replace("| 0.780 |", "| 0.781 |")
    assert "0.781" in readme_mismatch(changed)
    assert "needs one results block" in readme_mismatch("# no block")


def test_the_readme_gives_one_setup_one_main_job_and_one_test_command_after_a_virtual_environment():
    text = README.read_text()
    section = _section(text, "## Three commands")
    assert _bash_blocks(section) == [[VENV], [SETUP, MAIN, TESTS]]
    assert "PEP 668" in section and ". .venv/bin/activate" in section
    everywhere = [line for block in _bash_blocks(text) for line in block]
    assert [everywhere.count(c) for c in (SETUP, MAIN, TESTS)] == [1, 1, 1], "each command appears once"


def test_ci_runs_the_readmes_commands_in_order():
    lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-3:] == [VENV, SETUP, TESTS], "the README's environment, setup and test commands, verbatim"


def test_the_readme_has_a_course_path_and_links_the_papers():
    text = README.read_text()
    course = _section(text, "### A course through the notebooks")
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert all(f"`{name}`" in course for name in notebooks), "the course path covers every notebook"
    assert re.search(r"\| 1 \| `01_simplicity_bias` \| \d+ min \|", course)
    references = _section(text, "## References")
    assert all(link in references for link in REFERENCES)
    assert "Tables 3 (NUS-WIDE, COCO) and 5" in text, "the README says which tables are not regenerated"


def test_license_is_mit_as_pyproject_says():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the a2lib authors" in licence
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "MIT"}


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_speak_to_students(path):
    text = "".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    found = [word for word in JARGON if re.search(rf"\b{re.escape(word)}", text, re.I)]
    assert not found, f"{path.name} uses the builders' words {found}; say it for a student"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_end_with_their_claims_table(path):
    last = json.loads(path.read_text())["cells"][-1]
    assert last["cell_type"] == "code" and f'claims_table(profile, "{path.stem}")' in "".join(last["source"])


GLOSSARY = ROOT / "docs" / "glossary.md"
GLOSSARY_TERMS = ("map", "tie-aware-ap", "hamming-distance", "sign-code-and-pre-sign-code-u",
                  "asymmetric-hashing-adsh", "database-codes-b", "outer-iteration",
                  "blanked-and-randomised-test-variants", "simple-and-complex-block", "grad-cam",
                  "trunk-gradient-share", "seed-interval", "ndcg", "η-reconstruction-weight")
"""The anchors the glossary must define (the terms the course uses)."""
LOCATION = re.compile(r"`(a2lib/[\w/]+\.py)`: ((?:`[\w.]+`(?:, )?)+)")
"""``a2lib/<file>.py`: `name`, `Class.method`` in a glossary entry."""


def _glossary_anchors() -> set[str]:
    from a2lib.workbook.book import github_slug

    return {github_slug(line.lstrip("#")) for line in GLOSSARY.read_text().splitlines() if line.startswith("#")}


def _doc_texts() -> dict[str, tuple[Path, str]]:
    """Every markdown text of the workbook: README, docs/*.md and the notebooks' markdown cells."""
    texts = {p.relative_to(ROOT).as_posix(): (p, p.read_text()) for p in [README, *sorted((ROOT / "docs").glob("*.md"))]}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        texts[path.relative_to(ROOT).as_posix()] = (path, "\n".join("".join(c["source"]) for c in cells
                                                                  if c["cell_type"] == "markdown"))
    return texts


def test_the_glossary_defines_the_course_terms_with_an_anchor_each():
    anchors = _glossary_anchors()
    assert set(GLOSSARY_TERMS) <= anchors, f"missing glossary entries: {set(GLOSSARY_TERMS) - anchors}"


def test_every_glossary_anchor_linked_from_the_docs_and_notebooks_exists():
    anchors, links = _glossary_anchors(), []
    for name, (path, text) in _doc_texts().items():
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", text):
            if (path.parent / target).resolve() == GLOSSARY.resolve() or (path == GLOSSARY and not target):
                links.append((name, anchor))
    assert links, "the docs link no glossary entry"
    broken = [f"{name} -> #{anchor}" for name, anchor in links if anchor not in anchors]
    assert not broken, f"links to glossary anchors that do not exist: {broken}"


def _defined(path: Path, name: str) -> bool:
    """Whether ``name`` (a function, class or constant; ``Class.method`` for a method) is defined at the top of
    the module ``path``."""
    import ast

    body = ast.parse(path.read_text()).body
    head, _, member = name.partition(".")
    for node in body:
        names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                 [t.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)])
        if head in names:
            return not member or (isinstance(node, ast.ClassDef) and any(
                isinstance(item, ast.FunctionDef) and item.name == member for item in node.body))
    return False


def test_every_a2lib_file_and_function_the_glossary_names_exists():
    named = [(file, name.strip("`")) for file, names in LOCATION.findall(GLOSSARY.read_text())
             for name in names.split(", ")]
    assert len(named) >= len(GLOSSARY_TERMS), "every entry names where a2lib computes it"
    missing = [f"{file}: {name}" for file, name in named if not (ROOT / file).is_file() or not _defined(ROOT / file, name)]
    assert not missing, f"the glossary names code that does not exist: {missing}"


def test_the_definition_check_finds_a_missing_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("X = 1\n\n\ndef f():\n    pass\n\n\nclass C:\n    def g(self):\n        pass\n")
    assert all(_defined(module, name) for name in ("X", "f", "C", "C.g"))
    assert not any(_defined(module, name) for name in ("g", "C.f", "h", "f.g"))
