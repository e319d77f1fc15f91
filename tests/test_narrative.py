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


def test_count_says_one_and_none_in_words():
    assert [narrative.count(n, "seed") for n in (0, 1, 3)] == ["no seed", "one seed", "3 seeds"]


def test_gap_text_says_on_which_side_of_zero_the_interval_lies():
    row = {"test data": "complex-only (blanked)", "difference": 0.04, "low": -0.01, "high": 0.09, "seeds": 3}
    assert narrative.gap_text(row, "a2net++", "baseline") == (
        "A²-Net++ − ADSH on complex-only (blanked): +0.040, 95% interval [-0.010, +0.090] over 3 seeds, which "
        "straddles 0")
    assert narrative.gap_text({**row, "low": 0.01}, "a2net++", "baseline").endswith("which lies above 0")
    assert narrative.gap_text({**row, "high": -0.01}, "a2net++", "baseline").endswith("which lies below 0")
    one = {**row, "low": None, "high": None, "seeds": 1}
    assert narrative.gap_text(one, "a2net++", "baseline").endswith("+0.040 (one seed: no interval, so no verdict)")


def test_term_share_text_names_the_doses_where_the_term_acts():
    rows = {0.5: {"first": 0.0004, "last": 0.0003, "verdict": "inert"},
            50.0: {"first": 0.02, "last": 0.015, "verdict": "acts"}}
    assert narrative.term_share_text(rows) == (
        "The image term's share of the trunk gradient at the last outer iteration: η = 0.5: 0.03%, η = 50: 1.50%; it "
        "acts (at least 1% at the first or last outer iteration) at η = 50.")
    assert narrative.term_share_text({0.5: rows[0.5]}).endswith("it acts (at least 1%) at no η of this run.")


def test_onset_text_says_where_the_line_is_or_that_there_is_none():
    assert narrative.onset_text(None, 0.02).startswith("No dotted line: intact mAP stays within 0.02")
    assert narrative.onset_text(500.0, 0.02) == (
        "The dotted line marks η = 500, the first η whose intact mAP lies more than 0.02 below its value at the "
        "smallest η.")


def test_ranking_puts_an_unmeasured_value_last():
    assert narrative.ranking({"a": float("nan"), "b": 0.2, "c": 0.5}) == "c 0.500 > b 0.200 > a nan"
    assert narrative.ranking({"a": float("nan"), "b": 0.2, "c": 0.5}, higher_first=False) == "b 0.200 < c 0.500 < a nan"
