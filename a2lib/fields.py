"""Config dataclass fields that declare what they accept and whether they define the result, beside the field.

``declare(constraint, default)`` is a dataclass ``field`` whose metadata holds its ``a2lib.checks.Constraint`` and
whether it is a runtime field (how a result is computed, not what: device, workers, precision; left out of cache
keys). ``check_fields`` checks every field of an instance with one message form, a nested declared config under
its field's name; ``declared`` refuses a class with a field that declares nothing when the class is defined, so a
new field cannot slip past the checks or into the cache key unnoticed (as scikit-learn's
``_parameter_constraints``).
"""
from __future__ import annotations

import dataclasses

from .checks import Constraint

CONSTRAINT, RUNTIME = "constraint", "runtime"
"""The field metadata keys ``declare`` writes."""


def declare(constraint: Constraint, default=dataclasses.MISSING, *, factory=dataclasses.MISSING,
            runtime: bool = False):
    """A dataclass field with ``default`` (or ``factory`` for a mutable one), its constraint and whether it is a
    runtime field."""
    if not isinstance(constraint, Constraint):
        raise TypeError(f"declare needs an a2lib.checks.Constraint, got {constraint!r}")
    return dataclasses.field(default=default, default_factory=factory,
                             metadata={CONSTRAINT: constraint, RUNTIME: runtime})


def _declared_instance(value) -> bool:
    """Whether ``value`` is an instance of a dataclass whose every field declares a constraint."""
    return (dataclasses.is_dataclass(value) and not isinstance(value, type)
            and all(CONSTRAINT in f.metadata for f in dataclasses.fields(value)))


def declared(cls):
    """Class decorator over ``@dataclass``: ``cls``, or a TypeError naming each field that declares no constraint."""
    missing = [f.name for f in dataclasses.fields(cls) if CONSTRAINT not in f.metadata]
    if missing:
        raise TypeError(f"{cls.__name__} field(s) {', '.join(missing)} declare no constraint; define each with "
                        "a2lib.fields.declare(constraint, default), runtime=True where it leaves the result unchanged")
    return cls


def check_fields(config, prefix: str) -> None:
    """Check every field of the declared dataclass instance ``config``; errors name ``<prefix>.<field>``."""
    for item in dataclasses.fields(config):
        name, value = f"{prefix}.{item.name}", getattr(config, item.name)
        item.metadata[CONSTRAINT].check(name, value)
        if _declared_instance(value):
            check_fields(value, name)


def runtime_fields(cls) -> tuple[str, ...]:
    """The names of ``cls``'s runtime fields, in field order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(RUNTIME))


__all__ = ["CONSTRAINT", "RUNTIME", "check_fields", "declare", "declared", "runtime_fields"]
