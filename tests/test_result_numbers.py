"""No typed number in the workbook's prose states a result of a run.

Every result-like number (a decimal such as 0.437, a percentage such as 12.5%, a ratio such as 37.5×) in a markdown
cell of ``notebooks/*.ipynb`` and in README.md outside its generated blocks must be either

* a constant of the method: a number written in the paper's tables (``a2lib/studies/paper.py``), in the notebook's
  ``parameters`` cell, in a profile (``a2lib/profiles/``), in a recipe (``a2lib/recipes.py``), or in ``METHOD_CONSTANTS``
  below (each with the reason), or
* a number of a committed results file ``results/*/*.json``, rounded as written (a notebook: its own results file and
  ``timings.json``), or
* for the README, which cites the benchmark scripts' committed records, a number of one of them
  (``benchmarks/*.md``, ``results/*/*.md``), as written.

A measured number that appears in prose must be rendered by code from the results instead (``a2lib.workbook.narrative``),
so that the prose cannot contradict the run.
"""
from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from a2lib.workbook import results

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = ROOT / "README.md"

METHOD_CONSTANTS = {
    "0.5": "chance AUC, an even split of a bit, and η on dominoes (a2lib/losses.py)",
    "0.1": "η, the paper's reconstruction weight (Sec. 4.2.2)",
    "90%": "the share of variance the synthetic stand-in's latent dimension keeps (efficiency.fit_synthetic)",
    "95%": "the seed interval's level (a2lib.studies.claims.interval)",
    "1%": "the share of the trunk gradient under which a loss term is called inert (a2lib.diagnostics)",
    "1×": "the linear scan's speed-up over itself (Table 6)",
}
"""Numbers of the method that no source file above spells as written, each with where it comes from."""

NUMBER = re.compile(
    r"(?<![\w.,/:#=+\-−±])"                  # not the tail of a word, a version, a path, a keyword value or a sign
    r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"      # 12, 1,000 or 0.437
    r"(?![\w]|\.\d|,\d{3})"                  # not the head of a word or of a longer number
    r"(\s?%|×(?!\s?\d))?")                   # a percentage or a ratio (``N × M``, ``224×224``: a product)
SKIP = [
    re.compile(r"<!--.*?-->", re.S),                                   # HTML comments
    re.compile(r"\]\([^)]*\)"),                                        # link targets
    re.compile(r"https?://\S+"),                                       # bare addresses
    re.compile(r"\b(?:arXiv|doi):\S+"),                                # references
    re.compile(r"\b(?:Sec|Eq|Table|Figure|Section|Tables|Eqs)\.? ?\(?\d+(?:\.\d+)*"),  # the paper's numbering
    re.compile(r"\$[^$]+\$"),                                          # formulas
    re.compile(r"\d+(?:\.\d+){2,}"),                                   # versions and section numbers
]


GENERATED = [*map(results.readme_markers, results.README_PROFILES), (results.TIMING_BEGIN, results.TIMING_END)]
"""The blocks code writes: the README's results block of each profile and a notebook's run-time line
(a2lib.workbook.results)."""


def without_generated(text: str) -> str:
    """``text`` with each generated block (markers included) blanked to its line breaks, so lines keep their numbers."""
    for begin, end in GENERATED:
        while (start := text.find(begin)) >= 0 and (stop := text.find(end, start)) >= 0:
            stop += len(end)
            text = text[:start] + "\n" * text.count("\n", start, stop) + text[stop:]
    return text


def result_like_numbers(text: str) -> list[str]:
    """The decimals, percentages and ratios of markdown ``text``, as written (``0.437``, ``12.5%``, ``37.5×``)."""
    for pattern in SKIP:
        text = pattern.sub(" ", text)
    found = []
    for match in NUMBER.finditer(text):
        whole, decimals, unit = match.groups()
        if decimals or unit:
            found.append(f"{whole}{decimals or ''}{(unit or '').strip()}")
    return found


def _value(written: str) -> tuple[float, int, str]:
    unit = written[-1] if written[-1] in "%×" else ""
    digits = written.rstrip("%×").replace(",", "")
    places = len(digits.split(".")[1]) if "." in digits else 0
    return float(digits), places, unit


def _code_numbers(source: str) -> set[float]:
    """The numeric literals of Python ``source`` (not the numbers in its docstrings and comments)."""
    return {float(node.value) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)}


def _yaml_numbers(source: str) -> set[float]:
    """The numeric values of a YAML profile (not the numbers in its comments)."""
    return set(_leaves(yaml.safe_load(source), strings=False))


@lru_cache(maxsize=None)
def method_constants() -> frozenset[float]:
    """Every number the paper's tables, the recipes and the profiles set (their code and values, not their prose)."""
    profiles = ROOT / "a2lib" / "profiles"
    numbers = [_code_numbers((ROOT / "a2lib" / "studies" / "paper.py").read_text()),
               _code_numbers((ROOT / "a2lib" / "recipes.py").read_text()),
               *(_yaml_numbers(path.read_text()) for path in sorted(profiles.glob("*.yaml"))),
               *(_code_numbers(path.read_text()) for path in sorted(profiles.glob("*.py")))]
    return frozenset().union(*numbers)


def _leaves(tree, strings: bool = True):
    """The numbers of a JSON or YAML tree (with ``strings``: also the numbers written inside its strings)."""
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _leaves(value, strings)
    elif isinstance(tree, list):
        for value in tree:
            yield from _leaves(value, strings)
    elif isinstance(tree, bool) or tree is None:
        return
    elif isinstance(tree, (int, float)):
        yield float(tree)
    elif isinstance(tree, str) and strings:
        yield from (float(n) for n in re.findall(r"\d+(?:\.\d+)?", tree))


@lru_cache(maxsize=None)
def result_numbers(notebook: str = "*") -> frozenset[str]:
    """Every number of ``results/*/<notebook>.json`` and ``timings.json`` (all files: ``*``), and a hundred times
    it (percentages), at 0 to 4 decimals."""
    shown = set()
    paths = {*(ROOT / "results").glob(f"*/{notebook}.json"), *(ROOT / "results").glob("*/timings.json")}
    for path in sorted(paths):
        for value in _leaves(json.loads(path.read_text())):
            for scaled in (value, 100 * value):
                shown.update(f"{scaled:.{places}f}" for places in range(5))
    return frozenset(shown)


def _is_constant(written: str, constants: set[float]) -> bool:
    """A number of ``METHOD_CONSTANTS``, or one of ``constants`` rounded as written (a percentage: also 100 times
    one, so 90% is 0.9)."""
    if written in METHOD_CONSTANTS:
        return True
    value, places, unit = _value(written)
    shown = f"{value:.{places}f}"
    scales = (1, 100) if unit == "%" else (1,)
    return any(f"{scale * k:.{places}f}" == shown for k in constants for scale in scales)


@lru_cache(maxsize=None)
def benchmark_records() -> str:
    """The committed records of the benchmark scripts, which the README's Benchmarks section cites."""
    paths = [*sorted((ROOT / "benchmarks").glob("*.md")), *sorted((ROOT / "results").glob("*/*.md"))]
    return "\n".join(path.read_text() for path in paths)


def in_benchmark_records(written: str) -> bool:
    digits = re.escape(written.rstrip("%×"))
    return re.search(rf"(?<![\d.,]){digits}(?![\d]|[.,]\d)", benchmark_records()) is not None


def _is_result(written: str, notebook: str) -> bool:
    value, places, _ = _value(written)
    return f"{value:.{places}f}" in result_numbers(notebook)


def offenders(cells: list[tuple[str, str]], constants: set[float], notebook: str = "*") -> list[str]:
    """``where: number`` for every result-like number of ``cells`` ((where, markdown)) that neither rule allows: not
    a constant and not in the results of ``notebook`` (``*``: any notebook's)."""
    return [f"{where}: {number}" for where, text in cells for number in result_like_numbers(without_generated(text))
            if not _is_constant(number, constants) and not _is_result(number, notebook)]


def _parameter_constants(cells) -> set[float]:
    return set().union(*(_code_numbers("".join(c["source"])) for c in cells
                         if "parameters" in c.get("metadata", {}).get("tags", [])))


FIX = ("a typed number that states a result of a run: render it from the notebook's variables or results "
       "(a2lib.workbook.narrative: say, number, seeds_text, ranking), or remove it; a constant of the method "
       "belongs in the paper tables, the parameters cell, a profile, a recipe or METHOD_CONSTANTS with its reason")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prose_types_no_result(path):
    cells = json.loads(path.read_text())["cells"]
    constants = set(method_constants()) | _parameter_constants(cells)
    markdown = [(f"{path.name}, cell {i}", "".join(c["source"])) for i, c in enumerate(cells)
                if c["cell_type"] == "markdown"]
    found = offenders(markdown, constants, path.stem)
    assert not found, f"{FIX}:\n" + "\n".join(found)


def test_readme_prose_types_no_result():
    notebooks = [json.loads(p.read_text())["cells"] for p in NOTEBOOKS]
    constants = set(method_constants()).union(*(_parameter_constants(cells) for cells in notebooks))
    lines = without_generated(README.read_text()).splitlines()
    found = [where for where in offenders([(f"README.md, line {i + 1}", line) for i, line in enumerate(lines)],
                                          constants) if not in_benchmark_records(where.rsplit(": ", 1)[1])]
    assert not found, f"{FIX}:\n" + "\n".join(found)


def test_the_scan_finds_results_and_passes_constants():
    assert result_like_numbers("mAP 0.437, 12.5% of it and a 37.5× speed-up; 48 bits, Sec. 4.5.1, v2.14.1") == [
        "0.437", "12.5%", "37.5×"]
    assert without_generated(f"a {results.TIMING_BEGIN}\n0.25\n{results.TIMING_END} b") == "a \n\n b"
    assert offenders([("x", "a made-up mAP of 0.4375 and η = 0.1")], set()) == ["x: 0.4375"]
    assert offenders([("x", "the paper's 240.50×")], set(method_constants())) == []


def test_a_committed_result_rounded_as_written_passes_and_a_changed_one_fails():
    ratio = json.loads((ROOT / "results" / "quick" / "06_retrieval_efficiency.json").read_text())["paired_ratio"]["ratio"]
    written = f"{ratio:.2f}×"
    assert offenders([("x", f"a time ratio of {written}")], set(), "06_retrieval_efficiency") == []
    changed = f"{ratio + 0.37:.4f}"
    assert offenders([("x", f"a time ratio of {changed}")], set(), "06_retrieval_efficiency") == [f"x: {changed}"]
