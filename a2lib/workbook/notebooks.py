"""The workbook's notebooks: finding them (``NN_name.ipynb``), choosing some (``--only``), their ``parameters`` cell
(the names it defines and their default values) and the parameters a profile injects into each, checked against it:
names and types (``preflight.check_parameter_types``). Shared by the runner (``a2lib run``) and the training plan
(``a2lib plan`` / ``a2lib train``)."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Sequence

from .errors import WorkbookError
from .preflight import check_parameter_types
from .profiles import Profile

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PREFIX_LENGTH = 2
"""A notebook is named ``NN_name.ipynb``; ``--only`` accepts the ``NN`` prefix or the full stem."""


def discover_notebooks(folder: Path) -> list[Path]:
    """The workbook's notebooks in order: ``NN_name.ipynb`` files of ``folder``, sorted by name."""
    if not folder.is_dir():
        raise WorkbookError(f"notebook folder {folder} does not exist; pass --notebooks DIR")
    found = sorted(p for p in folder.glob(NOTEBOOK_GLOB) if not p.name.endswith("-checkpoint.ipynb"))
    if not found:
        raise WorkbookError(f"no notebooks named NN_name.ipynb in {folder}")
    return found


def select_notebooks(notebooks: list[Path], only: Sequence[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only`` (number prefix like ``01`` or full stem), in workbook order;
    ``None`` keeps all. An ``only`` that names no notebook (``--only ''`` or ``--only ,``) is an error."""
    if only is None:
        return notebooks
    valid = {p.stem: p for p in notebooks} | {p.stem[:PREFIX_LENGTH]: p for p in notebooks}
    choices = ", ".join(f"{p.stem[:PREFIX_LENGTH]} ({p.stem})" for p in notebooks)
    wanted = [entry.strip() for entry in only if entry.strip()]
    if not wanted:
        raise WorkbookError(f"--only names no notebook ({','.join(only)!r}); omit it to run all, or name some of: "
                            f"{choices}")
    unknown = [entry for entry in wanted if entry not in valid]
    if unknown:
        raise WorkbookError(f"unknown --only entry {', '.join(unknown)}; valid: {choices}")
    chosen = {valid[entry] for entry in wanted}
    return [p for p in notebooks if p in chosen]


def _parameters_cell(path: Path) -> str:
    """The source of the notebook's one cell tagged ``parameters``."""
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise WorkbookError(f"{path.name} must have exactly one cell tagged 'parameters' (it has {len(tagged)})")
    source = tagged[0]["source"]
    return source if isinstance(source, str) else "".join(source)


def notebook_parameters(path: Path) -> set[str]:
    """Names defined in the notebook's cell tagged ``parameters`` (read as ``notebook_defaults`` does, so planning
    needs no papermill, whose import takes seconds)."""
    return set(notebook_defaults(path))


def plan_parameters(
    profile: Profile, workbook: list[Path], chosen: list[Path], device: str
) -> dict[Path, dict[str, Any]]:
    """The parameters injected into each chosen notebook, checked against its ``parameters`` cell: each must be
    defined there and have its default's type."""
    all_stems = {p.stem for p in workbook}
    stray = sorted(set(profile.notebooks) - all_stems)
    if stray:
        raise WorkbookError(
            f"profile {profile.name!r} sets parameters for unknown notebook(s) {', '.join(stray)}; "
            f"notebooks: {', '.join(sorted(all_stems))}"
        )
    plan = {}
    for path in chosen:
        params = {"profile": profile.name, "device": device, **profile.notebooks.get(path.stem, {})}
        defined = notebook_parameters(path)
        unknown = sorted(set(params) - defined)
        if unknown:
            raise WorkbookError(
                f"{path.stem}: parameter(s) {', '.join(unknown)} from profile {profile.name!r} are not defined in "
                f"its parameters cell; it defines: {', '.join(sorted(defined))}"
            )
        check_parameter_types(path.stem, profile.name, params, notebook_defaults(path))
        plan[path] = params
    return plan


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The values the ``parameters`` cell assigns (``name = <literal>`` lines), read without running the notebook;
    an assignment of anything but a literal is an error naming it."""
    values = {}
    for statement in ast.parse(_parameters_cell(path)).body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise WorkbookError(f"{path.name}: the parameters cell may hold only 'name = <literal>' lines, not "
                                f"{ast.unparse(statement)!r}")
        try:
            values[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError:
            raise WorkbookError(f"{path.name}: parameter {statement.targets[0].id} is not a literal "
                                f"({ast.unparse(statement.value)}); give it a literal default") from None
    return values


__all__ = ["NOTEBOOK_GLOB", "PREFIX_LENGTH", "discover_notebooks", "notebook_defaults", "notebook_parameters",
           "plan_parameters", "select_notebooks"]
