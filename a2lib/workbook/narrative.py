"""Sentences about a run's results, rendered from its numbers (Markdown from code), so that a notebook's prose
cannot contradict what the run measured. Typed prose explains ideas; these functions state results.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from ..studies.claims import VERDICTS, interval
from ..studies.comparison import INERT_SHARE
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
    """``A²-Net++ 0.412 > BASELINE 0.398 > …`` from {name: value}, names shown as in the figures; a NaN value (not
    measured) goes last, shown as ``nan``."""
    sign_of = -1.0 if higher_first else 1.0
    order = sorted(scores, key=lambda name: (np.isnan(float(scores[name])),
                                             0.0 if np.isnan(float(scores[name])) else sign_of * float(scores[name])))
    sign = " > " if higher_first else " < "
    return sign.join(f"{display_name(name)} {number(scores[name], digits)}" for name in order)


def count(n: int, noun: str) -> str:
    """``one seed``, ``3 seeds``, ``no seed``: a count in words for a sentence (plural by adding "s")."""
    return {0: f"no {noun}", 1: f"one {noun}"}.get(int(n), f"{int(n)} {noun}s")


def gap_text(row: Mapping, method: str, reference: str, digits: int = DIGITS) -> str:
    """One row of ``simplicity.paired_gap`` in words: ``A²-Net++ − ADSH on complex-only (blanked): +0.040, 95%
    interval [-0.010, +0.090] over 3 seeds, which straddles 0`` (or lies above / below 0; one seed: no interval)."""
    name = f"{display_name(method)} − {display_name(reference)} on {row['test data']}: {float(row['difference']):+.{digits}f}"
    if row.get("low") is None or row.get("high") is None:
        return f"{name} ({count(row['seeds'], 'seed')}: no interval, so no verdict)"
    low, high = float(row["low"]), float(row["high"])
    side = "lies above 0" if low > 0 else "lies below 0" if high < 0 else "straddles 0"
    return f"{name}, 95% interval [{low:+.{digits}f}, {high:+.{digits}f}] over {count(row['seeds'], 'seed')}, which {side}"


def term_share_text(rows: Mapping[float, Mapping], dose: str = "η", term: str = "image term",
                    threshold: float = INERT_SHARE) -> str:
    """Where a loss term acts along a dose, from ``comparison.term_say`` rows keyed by dose (``first``, ``last``,
    ``verdict``): its share of the trunk gradient at the last outer iteration per dose, and at which doses it acts."""
    doses = sorted(rows)
    shares = ", ".join(f"{dose} = {d:g}: {float(rows[d]['last']):.2%}" for d in doses if rows[d].get("last") is not None)
    acting = [f"{d:g}" for d in doses if rows[d].get("verdict") == "acts"]
    where = (f"it acts (at least {threshold:.0%} at the first or last outer iteration) at {dose} = {', '.join(acting)}"
             if acting else f"it acts (at least {threshold:.0%}) at no {dose} of this run")
    return f"The {term}'s share of the trunk gradient at the last outer iteration: {shares or 'not recorded'}; {where}."


def onset_text(onset: float | None, tolerance: float, dose: str = "η", score: str = "intact mAP") -> str:
    """The sentence about ``simplicity.fall_onset``'s result: where the dotted line is, or that there is none."""
    if onset is None:
        return (f"No dotted line: {score} stays within {tolerance:g} of its value at the smallest {dose} at every "
                f"{dose} of this run.")
    return (f"The dotted line marks {dose} = {onset:g}, the first {dose} whose {score} lies more than {tolerance:g} "
            f"below its value at the smallest {dose}.")


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


__all__ = ["DIGITS", "claims_sentence", "count", "gap_text", "number", "onset_text", "ranking", "say", "seeds_text",
           "summary", "term_share_text", "verdict_counts"]
