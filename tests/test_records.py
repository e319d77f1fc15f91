"""Typed results records: each writes its keys where its claims read them, the committed ``results/quick`` files are
in the records' layout, and a record field renamed or removed makes the claims that read it fail by name."""
import copy
import dataclasses
import json
from pathlib import Path

import pytest

from a2lib.studies import claims, records
from a2lib.studies.claims import Claim, Greater, Number

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "results" / "quick"


def test_a_record_writes_its_values_under_its_paths_and_reads_them_back():
    results = {}
    written = [records.Table1Map("a2net", 32, "complex-only (blanked)", [0.4, 0.3]),
               records.Table1Map("baseline", 32, "both", 0.9)]
    records.write_all(results, written)
    assert results == {"table1_map": {"a2net/32/complex-only (blanked)": [0.4, 0.3], "baseline/32/both": 0.9}}
    assert sorted(records.Table1Map.read(results), key=lambda r: r.method) == written
    share = records.BlockShare("a2net++", 12, mean=0.61, ci95=0.02).write({})
    assert share == {"complex_block_share": {"a2net++ / 12": {"mean": 0.61, "ci95": 0.02}}}
    ndcg = records.write_all({}, [records.Ndcg("class oracle", "-", 20, 0.7), records.Ndcg("a2net", 48, 5, 0.2)])
    assert ndcg == {"ndcg": {"class oracle/-": {"@20": 0.7}, "a2net/48": {"@5": 0.2}}}
    assert set(records.Ndcg.read(ndcg)) == {records.Ndcg("class oracle", "-", 20, 0.7),
                                            records.Ndcg("a2net", 48, 5, 0.2)}


def test_a_path_leaves_unbound_fields_as_placeholders_and_gathers_on_request():
    assert records.Table1Map.path("map", method="a2net") == ("table1_map", "a2net/{bits}/{test}")
    assert records.EtaPoint.path("map", eta=records.GATHER) == ("figure7_eta", "map", "{*eta}")
    assert records.DoseResponse.path("ends", "largest η", "both") == ("dose_response", "ends", "largest η", "both")
    with pytest.raises(KeyError, match="Table1Map has no value field 'mAP'; its value fields: map"):
        records.Table1Map.path("mAP")
    with pytest.raises(KeyError, match="no plain field"):
        records.Table1Map.path("map", dataset="cub200")


def test_skipping_a_section_writes_null_and_claims_say_the_profile_left_it_out():
    results = records.AblationStep.skip({"protocol": "x"})
    assert results == {"protocol": "x", "table7_ablation": None}
    (verdict,) = claims.evaluate(next(c for c in claims.CLAIMS if c.id == "T7-steps"), {records.NB02: results})
    assert (verdict.verdict, verdict.cause) == (claims.NOT_TESTABLE, claims.SKIPPED)


def _committed():
    return {path.stem: json.loads(path.read_text()) for path in sorted(QUICK.glob("0*.json"))}


@pytest.mark.parametrize("record", records.RECORDS, ids=lambda r: r.__name__)
def test_the_committed_quick_results_are_in_the_records_layout(record):
    tree = _committed()[record.NOTEBOOK]
    if tree.get(record.section()) is None:
        pytest.skip(f"the quick profile leaves {record.section()} out")
    found = record.read(tree)
    assert found, f"{record.__name__} finds nothing in results/quick/{record.NOTEBOOK}.json"
    rebuilt = records.write_all({}, found)

    def same(part, original):
        if isinstance(part, dict):
            return isinstance(original, dict) and all(k in original and same(v, original[k]) for k, v in part.items())
        return part == original
    assert same(rebuilt, tree)
    first = next(iter(record.values()))
    assert len(found) == len(claims.matches(tree, record.path(first)))


def test_the_claims_on_the_committed_quick_results_find_every_key():
    results = _committed()
    missing = [f"{v.claim.id}: {v.reason}" for v in claims.evaluate_all(results) if v.cause == claims.MISSING_KEY]
    assert not missing, missing
    assert claims.problems() == {}


def _without(record, name, monkeypatch, rename=None):
    """Make ``record`` lose value field ``name`` (or call it ``rename``), as an edit of records.py would."""
    fields = dict(record.__dataclass_fields__)
    dropped = fields.pop(name)
    if rename:
        renamed = copy.copy(dropped)
        renamed.name = rename
        fields[rename] = renamed
    monkeypatch.setattr(record, "__dataclass_fields__", fields)


def test_removing_a_record_field_fails_the_claims_that_read_it_by_name(monkeypatch):
    _without(records.Table1Map, "map", monkeypatch)
    found = claims.problems()
    assert set(found) == {"T1-bias", "T1-combat"}
    assert "Table1Map has no value field 'map'" in found["T1-combat"][0]
    number = Number.of("ADSH", records.Table1Map, "map", method="baseline", test="both")
    with pytest.raises(ValueError, match="claim T1-new: number 'ADSH': Table1Map has no value field 'map'"):
        Claim("T1-new", "Table 1", "q", "s", records.NB01, (number, number), Greater(((0, 1),)))


def test_renaming_a_record_field_fails_the_claims_that_read_it_by_name(monkeypatch):
    _without(records.MaskCoverage, "mean", monkeypatch, rename="average")
    assert set(claims.problems()) == {"F9-coverage", "F9-baseline"}
    assert [f.name for f in dataclasses.fields(records.MaskCoverage)][-1] == "average"


def test_moving_a_record_field_to_another_key_fails_the_claims_that_read_it(monkeypatch):
    fields = dict(records.Ndcg.__dataclass_fields__)
    moved = copy.copy(fields["ndcg"])
    moved.metadata = {records.PATH: ("ndcg", "{method}/{bits}", "NDCG@{k}")}
    fields["ndcg"] = moved
    monkeypatch.setattr(records.Ndcg, "__dataclass_fields__", fields)
    found = claims.problems()
    assert set(found) == {"T8-order", "T8-best"} and "NDCG@20" in found["T8-best"][0]
