"""Claims are data and their verdicts are computed from numbers: hand-made results whose verdict is known, intervals
checked against scipy's t-tests, and every claim read against the paper's own tables."""
import math

import numpy as np
import pytest
from scipy import stats

from a2lib.studies import claims, paper
from a2lib.studies.claims import FAILS, HOLDS, INCONCLUSIVE, NOT_TESTABLE, Claim, Greater, Number, Within

NB = "99_test"


def _claim(rule, *numbers, across_models=True, statement="{bits} bits"):
    return Claim("X", "Table 0", "a quote", statement, NB, tuple(numbers), rule, across_models=across_models)


def _number(method):
    return Number(method, NB, ("scores", f"{method}/{{bits}}"))


def _results(**by_method):
    """``{NB: {"scores": {"<method>/12": values}}}``: one code length, values as given (a number or a seed list)."""
    return {NB: {"scores": {f"{method}/12": values for method, values in by_method.items()}}}


def _verdict(rule, results, across_models=True):
    numbers = [_number(m) for m in ("a", "b", "c") if any(k.startswith(m + "/") for k in results[NB]["scores"])]
    (verdict,) = claims.evaluate(_claim(rule, *numbers, across_models=across_models), results)
    return verdict


A_ABOVE_B = Greater(((0, 1),))


def test_a_difference_over_seeds_holds_when_its_interval_excludes_zero():
    a, b = [0.50, 0.52, 0.54], [0.40, 0.41, 0.42]
    verdict = _verdict(A_ABOVE_B, _results(a=a, b=b))
    assert verdict.verdict == HOLDS
    low, high = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert f"[{low:+.3f}, {high:+.3f}] over 3 seeds" in verdict.reason
    assert verdict.observed.startswith("a 0.520 ± ")


def test_a_reversed_difference_does_not_hold_and_a_straddling_one_is_inconclusive():
    assert _verdict(A_ABOVE_B, _results(a=[0.40, 0.41, 0.42], b=[0.50, 0.52, 0.54])).verdict == FAILS
    straddling = _verdict(A_ABOVE_B, _results(a=[0.50, 0.40, 0.60], b=[0.45, 0.50, 0.50]))
    assert straddling.verdict == INCONCLUSIVE and "includes the boundary" in straddling.reason


def test_one_seed_makes_a_difference_between_models_not_testable_but_shows_the_numbers():
    verdict = _verdict(A_ABOVE_B, _results(a=0.9, b=0.1))
    assert verdict.verdict == NOT_TESTABLE and verdict.reason.startswith("one seed")
    assert verdict.observed == "a 0.900 · b 0.100"


def test_one_seed_compares_numbers_that_are_not_different_models():
    assert _verdict(A_ABOVE_B, _results(a=0.9, b=0.1), across_models=False).verdict == HOLDS
    assert _verdict(A_ABOVE_B, _results(a=0.1, b=0.9), across_models=False).verdict == FAILS
    assert _verdict(A_ABOVE_B, _results(a=0.5, b=0.5), across_models=False).verdict == FAILS, "a tie is not a > b"


def test_unequal_seed_counts_use_welchs_interval():
    a, b = np.array([0.50, 0.55, 0.60, 0.52]), np.array([0.40, 0.42])
    difference = claims.difference(a, b)
    low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (difference.low, difference.high) == pytest.approx((low, high))
    assert difference.mean == pytest.approx(a.mean() - b.mean())


def test_a_factor_compares_a_with_a_multiple_of_b():
    rule = Greater(((0, 1),), factor=2.0)
    assert _verdict(rule, _results(a=0.9, b=0.4), across_models=False).verdict == HOLDS
    verdict = _verdict(rule, _results(a=0.9, b=0.5), across_models=False)
    assert verdict.verdict == FAILS and verdict.reason == "a − 2 × b = -0.100"


def test_an_ordering_needs_every_neighbour_and_names_the_pair_that_fails():
    numbers, rule = claims.order(_number("a"), _number("b"), _number("c"))
    results = _results(a=[0.6, 0.61, 0.62], b=[0.3, 0.31, 0.32], c=[0.4, 0.41, 0.42])
    (verdict,) = claims.evaluate(_claim(rule, *numbers), results)
    assert verdict.verdict == FAILS and verdict.reason.startswith("b − c = -0.100")
    assert " > b " in verdict.observed and " < c " in verdict.observed


def test_within_a_tolerance():
    rule = Within(0.05)
    assert _verdict(rule, _results(a=[0.50, 0.51, 0.50], b=[0.50, 0.50, 0.51])).verdict == HOLDS
    assert _verdict(rule, _results(a=[0.70, 0.71, 0.72], b=[0.50, 0.50, 0.51])).verdict == FAILS
    assert _verdict(rule, _results(a=[0.50, 0.60, 0.52], b=[0.50, 0.50, 0.50])).verdict == INCONCLUSIVE
    assert _verdict(rule, _results(a=0.50, b=0.53), across_models=False).verdict == HOLDS


def test_gathered_values_are_compared_together_and_excluded_keys_left_out():
    number = Number("η = {eta}", NB, ("eta", "{*eta}"), exclude=("0.0",))
    claim = Claim("E", "Figure 0", "q", "η sweep", NB, (number,), Within(0.02), across_models=False)
    (verdict,) = claims.evaluate(claim, {NB: {"eta": {"0.0": 0.1, "0.1": 0.40, "0.4": 0.41}}})
    assert verdict.verdict == HOLDS and verdict.observed == "η = 0.1 0.400 · η = 0.4 0.410"
    (spread,) = claims.evaluate(claim, {NB: {"eta": {"0.1": 0.40, "0.4": 0.45}}})
    assert spread.verdict == FAILS


def test_each_placeholder_value_gets_its_own_verdict_in_numeric_order():
    results = {NB: {"scores": {"a/48": 0.9, "b/48": 0.1, "a/12": 0.2, "b/12": 0.8, "a/24": 0.5}}}
    verdicts = claims.evaluate(_claim(A_ABOVE_B, _number("a"), _number("b"), across_models=False), results)
    assert [(v.where, v.verdict, v.label()) for v in verdicts] == [
        ({"bits": "12"}, FAILS, "12 bits"), ({"bits": "48"}, HOLDS, "48 bits")]


def test_missing_numbers_make_a_claim_not_testable_and_say_which():
    claim = _claim(A_ABOVE_B, _number("a"), _number("z"))
    (verdict,) = claims.evaluate(claim, _results(a=0.5))
    assert verdict.verdict == NOT_TESTABLE and verdict.reason.startswith("this run has no z")
    assert verdict.label() == "<bits> bits"
    (absent,) = claims.evaluate(claim, {})
    assert absent.reason == f"this run has no results/…/{NB}.json (its notebook did not run)"


def test_results_leaves_hold_one_value_per_seed():
    assert list(claims.samples(0.5)) == [0.5]
    assert list(claims.samples([0.5, 0.7])) == [0.5, 0.7]
    assert list(claims.samples({"per_seed": [0.1, float("nan"), 0.3]})) == [0.1, 0.3]
    assert claims.samples(float("nan")) is None and claims.samples("text") is None and claims.samples(True) is None


def test_claims_are_checked_when_defined():
    with pytest.raises(ValueError, match="do not index two numbers"):
        _claim(Greater(((0, 2),)), _number("a"), _number("b"))
    with pytest.raises(ValueError, match="same placeholders"):
        _claim(A_ABOVE_B, _number("a"), Number("b", NB, ("b",)))
    with pytest.raises(ValueError, match="say why it is absent"):
        Claim("Y", "Table 0", "q", "s", NB)


def test_absent_tables_are_not_testable_with_their_reason():
    absent = {c.id: c for c in claims.CLAIMS if c.absent}
    assert set(absent) == {"T3-generic", "T5-cross-domain"}
    (verdict,) = claims.evaluate(absent["T3-generic"], {})
    assert verdict.verdict == NOT_TESTABLE and "Table 3" in verdict.reason


def test_claim_ids_are_unique_and_every_verdict_is_known():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids))
    assert {v.verdict for v in claims.evaluate_all({})} == {NOT_TESTABLE}


# --- every claim, read against the paper's own numbers (exact: the published table) ---------------------------------

def _by_id(claim_id):
    return next(c for c in claims.CLAIMS if c.id == claim_id)


def _paper_table2():
    return {claims.NB02: {"table2": {f"{row['dataset']}/{row['bits']}/{row['method']}": {"map": row["paper %"] / 100}
                                     for row in paper.paper_rows("table2")}}}


def test_the_table2_ordering_is_the_papers_on_every_data_set_and_length():
    verdicts = claims.evaluate(_by_id("T2-order"), _paper_table2(), exact=True)
    assert len(verdicts) == len(paper.TABLE2) * len(paper.PAPER_BITS)
    assert {v.verdict for v in verdicts} == {HOLDS}, "the paper has A²-Net++ > A²-Net > ExchNet > ADSH everywhere"
    assert {v.verdict for v in claims.evaluate(_by_id("T2-others"), _paper_table2(), exact=True)} == {HOLDS}


def test_exchnet_below_adsh_breaks_the_table2_ordering():
    results = _paper_table2()
    table = results[claims.NB02]["table2"]
    table["cub200/48/exchnet"]["map"], table["cub200/48/baseline"]["map"] = 0.290, 0.402
    broken = [v for v in claims.evaluate(_by_id("T2-order"), results, exact=True) if v.verdict != HOLDS]
    assert [(v.where, v.verdict) for v in broken] == [({"bits": "48", "dataset": "cub200"}, FAILS)]
    assert "ExchNet − ADSH = -0.112" in broken[0].reason


def test_the_table1_claims_are_the_papers():
    rows = paper.paper_rows("table1")
    tests = {name: ours for ours, name in paper.TABLE1_TEST_DATA.items()}
    tree = {claims.NB01: {"table1_map": {f"{r['method']}/{r['bits']}/{tests[r['test data']]}": r["paper %"] / 100
                                         for r in rows}}}
    for claim_id in ("T1-bias", "T1-combat"):
        verdicts = claims.evaluate(_by_id(claim_id), tree, exact=True)
        assert [v.where["bits"] for v in verdicts] == [str(b) for b in paper.PAPER_BITS]
        assert {v.verdict for v in verdicts} == {HOLDS}, claim_id


def test_the_table7_claims_are_the_papers_but_one_cell():
    outcomes = {}
    for dataset, by_bits in paper.TABLE7.items():
        for bits in by_bits:
            tree = {claims.NB02: {"table7_ablation": {"bits": bits, "map": {
                step: value / 100 for step, value in paper.paper_ablation(dataset, bits).items()}}}}
            for claim_id in ("T7-steps", "T7-both", "T7-vs-A2Net"):
                (verdict,) = claims.evaluate(_by_id(claim_id), tree, exact=True)
                outcomes[(claim_id, dataset, bits)] = verdict.verdict
    assert [key for key, verdict in outcomes.items() if verdict != HOLDS] == [("T7-both", "aircraft", 12)]
    assert "Aircraft, 12 bits" in _by_id("T7-both").note


def test_the_table8_ordering_is_the_papers():
    tree = {claims.NB05: {"ndcg": {f"{method}/48": {"@20": value} for method, value in paper.TABLE8.items()}}}
    for claim_id in ("T8-order", "T8-best"):
        (verdict,) = claims.evaluate(_by_id(claim_id), tree, exact=True)
        assert verdict.verdict == HOLDS, claim_id


def test_the_table6_claims_are_the_papers():
    methods = {m: {"speedup": row[1], "bytes_per_item": row[2][0] * (1e6 if row[2][1] == "MB" else 1e3)}
               for m, row in paper.TABLE6.items()}
    tree = {claims.NB06: {"real": {"methods": {m: {"1000": values} for m, values in methods.items()}}}}
    for claim_id in ("T6-speed", "T6-memory"):
        (verdict,) = claims.evaluate(_by_id(claim_id), tree)
        assert verdict.verdict == HOLDS and verdict.where == {"items": "1000"}, claim_id


def test_an_interval_needs_two_seeds():
    assert claims.MIN_SEEDS == 2
    one = claims.difference(np.array([0.5]), np.array([0.4, 0.45]))
    assert (one.mean, one.half, one.seeds) == (pytest.approx(0.075), None, 1)
    two = claims.difference(np.array([0.5, 0.6]), np.array([0.4, 0.4]))
    assert two.half == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.1, 0.2], ddof=1) / math.sqrt(2))


def test_the_dose_and_escape_claims_read_the_ends_of_their_curves():
    def tree(largest, smallest):
        ends = {"largest η": {"complex-only (blanked)": largest, "complex-only (randomised)": largest},
                "smallest η": {"complex-only (blanked)": smallest, "complex-only (randomised)": smallest}}
        return {claims.NB01: {"dose_response": {"ends": ends}}}
    verdicts = claims.evaluate(_by_id("D-dose"), tree([0.50, 0.55, 0.52], [0.30, 0.33, 0.31]))
    assert [(v.where["flavour"], v.verdict) for v in verdicts] == [("blanked", HOLDS), ("randomised", HOLDS)]
    assert {v.verdict for v in claims.evaluate(_by_id("D-dose"), tree(0.5, 0.3))} == {NOT_TESTABLE}  # one seed
    escape = {claims.NB01: {"escape": {"ends": {"largest p": {"complex-only (blanked)": [0.2, 0.25, 0.22]},
                                                "smallest p": {"complex-only (blanked)": [0.30, 0.32, 0.31]}}}}}
    (verdict,) = claims.evaluate(_by_id("D-escape"), escape)
    assert verdict.verdict == FAILS


def test_a_not_testable_verdict_names_its_cause():
    one = _verdict(A_ABOVE_B, _results(a=0.9, b=0.1))
    assert one.cause == claims.ONE_SEED
    nan = _verdict(A_ABOVE_B, _results(a=[0.9, float("nan")], b=[0.1, 0.2]))
    assert (nan.verdict, nan.cause) == (NOT_TESTABLE, claims.NAN_SEEDS) and nan.reason.startswith(claims.NAN_SEEDS)
    all_nan = _verdict(A_ABOVE_B, _results(a=[float("nan"), float("nan")], b=[0.1, 0.2]))
    assert (all_nan.verdict, all_nan.cause) == (NOT_TESTABLE, claims.NAN_SEEDS)
    (missing,) = claims.evaluate(_claim(A_ABOVE_B, _number("a"), _number("z")), _results(a=0.5))
    assert missing.cause == claims.MISSING_KEY
    (skipped,) = claims.evaluate(_claim(A_ABOVE_B, _number("a"), _number("b")), {NB: {"scores": None}})
    assert skipped.cause == claims.SKIPPED
    assert claims.evaluate(_claim(A_ABOVE_B, _number("a"), _number("b")), {})[0].cause == claims.NO_NOTEBOOK
    assert claims.evaluate_all({}, claims=[_by_id("T3-generic")])[0].cause == claims.ABSENT
    judged = _verdict(A_ABOVE_B, _results(a=[0.5, 0.52, 0.54], b=[0.4, 0.41, 0.42]))
    assert judged.cause is None and set(claims.CAUSES) >= {claims.ONE_SEED, claims.NAN_SEEDS, claims.MISSING_KEY}


def test_the_remedy_claim_pairs_llr_with_the_baseline_of_each_flavour_and_ignores_other_tests():
    from a2lib.studies.remedy import REFERENCE_METHOD, REMEDY_METHOD

    claim = _by_id("R-llr")
    assert [n.bound for n in claim.numbers] == [(("method", REMEDY_METHOD), ("test", "complex-only ({flavour})")),
                                                (("method", REFERENCE_METHOD), ("test", "complex-only ({flavour})"))]
    maps = {f"{m}/32/{t}": values for m, by_test in {
        "baseline": {"both": [0.99, 0.99], "complex-only (blanked)": [0.30, 0.28],
                     "complex-only (randomised)": [0.16, 0.17]},
        "baseline-llr": {"both": [0.70, 0.75], "complex-only (blanked)": [0.55, 0.35],
                         "complex-only (randomised)": [0.77, 0.78]}}.items() for t, values in by_test.items()}
    verdicts = claims.evaluate(claim, {claims.NB01: {"table1_map": maps}})
    assert [(v.where, v.verdict) for v in verdicts] == [({"bits": "32", "flavour": "blanked"}, INCONCLUSIVE),
                                                        ({"bits": "32", "flavour": "randomised"}, HOLDS)]
    # the Table 1 claims name their methods: the re-fitted rows add no verdict to them
    for claim_id in ("T1-bias", "T1-combat"):
        with_llr = claims.evaluate(_by_id(claim_id), {claims.NB01: {"table1_map": maps}})
        without = claims.evaluate(_by_id(claim_id), {claims.NB01: {"table1_map": {
            k: v for k, v in maps.items() if not k.startswith("baseline-llr/")}}})
        assert [(v.where, v.verdict, v.observed) for v in with_llr] == [
            (v.where, v.verdict, v.observed) for v in without]
