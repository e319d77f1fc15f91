"""What ``a2lib run`` checks before the first notebook starts, so that a bad request fails in a second, not after a
notebook has run: every profile parameter has the type of its default in the notebook's ``parameters`` cell, and the
folders the run writes are writable.

Types: a parameter must be what its default is (an integer, a number, a string, True/False, a list or a mapping),
lists element by element when the default's elements share a type, mappings key by key for the keys both have;
``null`` (None) is accepted everywhere, since the notebooks use it for "off" or "all", and a parameter whose default
is None takes anything. Folders: ``results/``, ``figures/`` and ``runs/`` of the profile must be writable (a run
that cannot write its results is refused); a model cache that is not writable is only warned about, because a
read-only cache holding every model the notebooks need is a valid way to run them.
"""
from __future__ import annotations

import numbers
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..folders import cache_root
from . import paths
from .errors import WorkbookError


def _kind(default) -> str | None:
    """What a value of ``default``'s type is called in an error, or None when any value will do."""
    if default is None:
        return None
    if isinstance(default, bool):
        return "True or False"
    if isinstance(default, numbers.Integral):
        return "an integer"
    if isinstance(default, numbers.Real):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, (list, tuple)):
        element = _element_default(default)
        return "a list" if element is None else f"a list of {_plural(_kind(element))}"
    if isinstance(default, dict):
        return "a mapping"
    return None


def _plural(kind: str) -> str:
    return {"True or False": "True/False values", "an integer": "integers", "a number": "numbers",
            "a string": "strings", "a mapping": "mappings"}.get(kind, "lists")


def _element_default(default: list | tuple):
    """A representative of the default list's elements when they share a type (integers and floats: a number)."""
    kinds = {_kind(value) for value in default}
    if not default or None in kinds:
        return None
    if kinds <= {"an integer", "a number"}:
        return 0.0 if "a number" in kinds else 0
    return default[0] if len(kinds) == 1 else None


def _fits(value, default) -> bool:
    kind = _kind(default)
    if value is None or kind is None:
        return True
    if kind == "True or False":
        return isinstance(value, bool)
    if kind == "an integer":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind == "a number":
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "a string":
        return isinstance(value, str)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, (list, tuple))


def _given(value) -> str:
    names = {bool: "the value", int: "the integer", float: "the number", str: "the string", list: "the list",
             dict: "the mapping"}
    return f"{names.get(type(value), 'a ' + type(value).__name__)} {value!r}"


def type_problem(name: str, value, default, like: str | None = None) -> str | None:
    """Why ``value`` cannot stand where ``default`` does (naming the parameter, or its item or key), or None;
    ``like``: what the message compares with (default: ``default`` itself)."""
    if not _fits(value, default):
        return f"{name} must be {_kind(default)} ({like or f'like its default {default!r}'}); got {_given(value)}"
    if isinstance(default, (list, tuple)) and value is not None:
        element = _element_default(default)
        for index, item in enumerate(value):
            problem = None if element is None else type_problem(f"{name}[{index}]", item, element,
                                                                f"like the items of its default {default!r}")
            if problem:
                return problem
    if isinstance(default, dict) and value is not None:
        for key in sorted(set(value) & set(default), key=str):
            problem = type_problem(f"{name}.{key}", value[key], default[key])
            if problem:
                return problem
    return None


def check_parameter_types(notebook: str, profile: str, params: dict[str, Any], defaults: dict[str, Any]) -> None:
    """A ``WorkbookError`` for the first parameter of ``params`` whose type is not its default's (module docstring)."""
    for name in sorted(set(params) & set(defaults)):
        problem = type_problem(name, params[name], defaults[name])
        if problem:
            raise WorkbookError(f"{notebook}: parameter {problem} (from profile {profile!r})")


def _writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (made when missing), else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def check_output_folders(profile: str) -> None:
    """Refuse a run whose results, figures or executed copies cannot be written; warn when the model cache cannot
    be (it may still hold every model the notebooks need)."""
    for kind, folder in (("results", paths.results_dir(profile, create=False)),
                         ("figures", paths.figures_dir(profile, create=False)),
                         ("executed copies", paths.runs_dir(profile, create=False))):
        problem = _writable(folder)
        if problem:
            raise WorkbookError(f"{folder} is not writable ({problem}): the notebooks write their {kind} there. Make "
                                f"it writable, or set {paths.ROOT_ENV} to a writable copy of the workbook")
    cache = cache_root()
    if cache.exists() and not cache.is_dir():
        raise WorkbookError(f"the model cache {cache} is a file, not a folder; point $A2LIB_CACHE at a folder")
    if _writable(cache):
        warnings.warn(f"the model cache {cache} is not writable: the notebooks load the models it holds but cannot "
                      "train missing ones; point $A2LIB_CACHE at a writable folder to train them", stacklevel=2)


__all__ = ["check_output_folders", "check_parameter_types", "type_problem"]
