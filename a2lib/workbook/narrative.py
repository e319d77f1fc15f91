"""Sentences about a run's results, rendered from its numbers (Markdown from code), so that a notebook's prose
cannot contradict what the run measured. Typed prose explains ideas; these functions state results.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from ..studies.claims import VERDICTS, interval
from ..studies.paper import display_name

DIGITS = 3
"""Decimals of a result in a sentence, as in the notebooks' tables."""


def number(value: float, digits: int = DIGITS) -> str:
    """``value`` with ``digits`` decimals."""
    return f"{float(value):.{digits}f}"


def seeds_text(values: Sequence[float] | float, digits: int = DIGITS) -> str:
    """A quantity over training runs: ``0.412 ± 0.031 (95% interval, 3 seeds)``, or ``0.412 (one seed)``."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    mean, half = interval(values)
    if half is None:
        return f"{number(mean, digits)} (one seed)" if values.size == 1 else \
            f"{number(mean, digits)} (mean of {values.size} seeds)"
    return f"{number(mean, digits)} ± {number(half, digits)} (95% interval, {values.size} seeds)"


def ranking(scores: Mapping[str, float], digits: int = DIGITS, higher_first: bool = True) -> str:
    """``A²-Net++ 0.412 > BASELINE 0.398 > …`` from {name: value}, names shown as in the figures."""
    order = sorted(scores, key=lambda name: float(scores[name]), reverse=higher_first)
    sign = " > " if higher_first else " < "
    return sign.join(f"{display_name(name)} {number(scores[name], digits)}" for name in order)


def verdict_counts(verdicts: Sequence) -> str:
    """``holds 3, does not hold 1, not testable 2`` for a list of ``claims.Verdict`` (none: ``no claim``)."""
    counts = Counter(v.verdict for v in verdicts)
    parts = [f"{name} {counts[name]}" for name in VERDICTS if counts[name]]
    return ", ".join(parts) if parts else "no claim"


def claims_sentence(profile: str, notebook: str) -> str:
    """What the claims table of ``notebook`` says on this run, counted from ``results/<profile>/*.json``."""
    from .results import _verdicts, load_results

    verdicts = _verdicts(load_results(profile), notebook)
    return f"On this run the claims table below judges {len(verdicts)} claim rows: {verdict_counts(verdicts)}."


def summary(points: Sequence[str], profile: str | None = None, notebook: str | None = None):
    """A notebook's closing "Summary": ``points`` (sentences computed from its numbers), then, with ``profile``
    and ``notebook``, the count of its claim verdicts; a Markdown object for ``display``."""
    from IPython.display import Markdown

    lines = ["## Summary", *(f"* {point}" for point in points)]
    if profile is not None and notebook is not None:
        lines.append(f"* {claims_sentence(profile, notebook)}")
    return Markdown("\n".join(lines))


def say(text: str):
    """``text`` (Markdown whose numbers were filled in from results) as a Markdown object for ``display``."""
    from IPython.display import Markdown

    return Markdown(text)


__all__ = ["DIGITS", "claims_sentence", "number", "ranking", "say", "seeds_text", "summary", "verdict_counts"]
