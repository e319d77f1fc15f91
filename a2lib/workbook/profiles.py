"""Profiles: YAML files (``a2lib/profiles/<name>.yaml`` or any path) that set every notebook's parameters and the
default device. ``smoke`` tests the pipeline in minutes, ``quick`` teaches on a CPU in 15 minutes, ``extended`` adds
on a CPU what does not fit them (more code lengths, the ablation, the η sweep, zero-shot), ``full`` reproduces the
paper. A profile may ``extends: <profile>``: it starts from that profile's notebook blocks and its own entries replace
the base's, parameter by parameter."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import WorkbookError

if TYPE_CHECKING:
    from ..studies import Study

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
PROFILES = ("smoke", "quick", "extended", "full", "headline")
PROFILE_SUFFIXES = (".yaml", ".yml")
PROFILE_KEYS = ("name", "description", "device", "train_workers", "extends", "notebooks")
SHARED_PREFIX = "x-"
"""Top-level profile keys starting with this hold YAML anchors shared by several notebooks (``x-birds: &birds``)."""


@dataclass
class Profile:
    """A profile file: parameters for every notebook, and the default device."""

    name: str
    description: str = ""
    device: str = "auto"
    train_workers: int = 1
    """CPU worker processes that train the run's missing models before the first notebook (``a2lib run``; 1: the
    notebooks train them as they go). Two one-thread workers on two cores train small CNNs faster than one."""
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def study(self, notebook: str, **overrides) -> "Study":
        """The ``Study`` of ``notebook``'s block (its ``study`` entry), on the profile's device unless
        ``overrides`` (e.g. ``device=...``, ``dataset=...``) say otherwise: what that notebook builds its configs from.
        (``a2lib.studies`` is imported here, not at the top, so that the ``a2lib`` command starts without torch.)"""
        from ..studies import Study

        if notebook not in self.notebooks:
            raise WorkbookError(f"profile {self.name!r} has no block for notebook {notebook!r}; it has "
                                f"{', '.join(self.notebooks)}")
        values = {"device": self.device, **(self.notebooks[notebook].get("study") or {}), **overrides}
        if "dataset" not in values:
            raise WorkbookError(f"profile {self.name!r}, notebook {notebook!r}: the block's 'study' entry lacks "
                                "'dataset'; add it or pass dataset=...")
        return Study.from_dict(values)


def profile_path(name_or_path: str) -> Path:
    """The YAML file of a built-in profile name, or ``name_or_path`` itself when it ends in .yaml/.yml."""
    path = Path(name_or_path)
    if path.suffix not in PROFILE_SUFFIXES:
        if name_or_path not in PROFILES:
            raise WorkbookError(
                f"unknown profile {name_or_path!r}; choose one of {', '.join(PROFILES)} (or give a .yaml path)"
            )
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise WorkbookError(f"profile file {path} does not exist; built-in profiles: {', '.join(PROFILES)}")
    return path


def _yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: its problem and where (PyYAML's own text spans several lines)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(problem.split())


def load_profile(name_or_path: str, _seen: tuple[Path, ...] = ()) -> Profile:
    """Read a profile by name (``smoke``, ``quick``, ``extended``, ``full``) or from a YAML path, merged over the
    profile it ``extends``; a file that is not valid YAML or not a mapping of the allowed keys, or a chain of
    ``extends`` that returns to itself, is a ``WorkbookError`` naming the file and the problem."""
    path = profile_path(name_or_path)
    if path.resolve() in _seen:
        raise WorkbookError(f"profile {path} extends itself through {' -> '.join(p.stem for p in _seen)}; "
                            "remove the loop from the 'extends' entries")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise WorkbookError(f"profile {path} is not valid YAML: {_yaml_problem(err)}") from err
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise WorkbookError(f"profile {path} must be a mapping of {', '.join(PROFILE_KEYS)}; "
                            f"it holds a {type(spec).__name__}")
    unknown = {key for key in spec if not str(key).startswith(SHARED_PREFIX)} - set(PROFILE_KEYS)
    if unknown:
        raise WorkbookError(
            f"profile {path} has unknown keys {sorted(map(str, unknown))}; allowed: {', '.join(PROFILE_KEYS)}, "
            f"and '{SHARED_PREFIX}*' blocks for shared YAML anchors"
        )
    notebooks = spec.get("notebooks") or {}
    bad = [str(k) for k, v in (notebooks.items() if isinstance(notebooks, dict) else [])
           if not isinstance(v, (dict, type(None)))]
    if not isinstance(notebooks, dict) or bad:
        raise WorkbookError(f"profile {path}: 'notebooks' must map each notebook name to a mapping of its "
                            f"parameters" + (f" (not so for {', '.join(bad)})" if bad else ""))
    workers = spec.get("train_workers", None)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise WorkbookError(f"profile {path}: 'train_workers' must be a positive integer, got {workers!r}")
    own = {str(k): dict(v or {}) for k, v in notebooks.items()}
    base = load_profile(str(spec["extends"]), _seen + (path.resolve(),)) if spec.get("extends") else Profile(path.stem)
    merged = {name: {**base.notebooks.get(name, {}), **own.get(name, {})} for name in {**base.notebooks, **own}}
    return Profile(
        name=spec.get("name", path.stem),
        description=spec.get("description", base.description),
        device=spec.get("device", base.device),
        train_workers=workers if workers is not None else base.train_workers,
        notebooks=merged,
    )


__all__ = ["PROFILES", "PROFILE_DIR", "Profile", "SHARED_PREFIX", "load_profile", "profile_path"]
