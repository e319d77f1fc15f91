"""Sentences rendered from numbers: the interval, the ranking and the verdict counts, checked against hand values."""
import math

import pytest

from a2lib.studies.claims import FAILS, HOLDS, NOT_TESTABLE, Verdict
from a2lib.workbook import narrative


def test_seeds_text_gives_the_t_interval_over_seeds():
    # mean 0.5, sample sd 0.1, t(0.975, 2) = 4.302653: half-width 4.302653 * 0.1 / sqrt(3) = 0.2484
    text = narrative.seeds_text([0.4, 0.5, 0.6])
    assert text == "0.500 ± 0.248 (95% interval, 3 seeds)"
    assert math.isclose(4.302653 * 0.1 / math.sqrt(3), 0.2484, abs_tol=1e-4)


def test_seeds_text_says_one_seed():
    assert narrative.seeds_text(0.41234) == "0.412 (one seed)"


def test_ranking_orders_by_value_and_uses_display_names():
    assert narrative.ranking({"baseline": 0.3, "a2net++": 0.5, "a2net": 0.4}) == \
        "A²-Net++ 0.500 > A²-Net 0.400 > ADSH 0.300"
    assert narrative.ranking({"a": 2.0, "b": 1.0}, digits=1, higher_first=False) == "b 1.0 < a 2.0"


@pytest.mark.parametrize("verdicts, expected", [
    ([HOLDS, HOLDS, NOT_TESTABLE, FAILS], "holds 2, does not hold 1, not testable 1"),
    ([], "no claim"),
])
def test_verdict_counts(verdicts, expected):
    assert narrative.verdict_counts([Verdict(claim=None, verdict=v) for v in verdicts]) == expected
