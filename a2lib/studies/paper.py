"""The paper's published numbers as data, in one place, and ONE ``with_paper`` that puts them beside ours.

Tables 1, 2, 4, 7 are % mAP, Table 8 NDCG@20 (Clothing), Table 6 the retrieval-efficiency comparison; Figure 7 gives
bars only, so only its η grid is data. Our numbers are fractions in [0, 1] (mAP, NDCG) or ratios (speed-up); each
table's ``scale`` turns ours into the paper's unit before the difference is taken.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..data.registry import paper_names
from ..efficiency import SEARCH_METHODS

PERCENT = 100.0

PAPER_METHODS = {"itq": "ITQ", "sdh": "SDH", "dpsh": "DPSH", "hashnet": "HashNet", "baseline": "ADSH",
                 "csq": "CSQ", "orthocos": "OrthoCos+BN", "exchnet": "ExchNet", "a2net": "A²-Net", "a2net++": "A²-Net++"}
"""Our method names -> the paper's column names, in the paper's column order (BASELINE is ADSH: Table 7's "Vanilla
Backbone" column is Table 2's ADSH)."""
PAPER_DATASETS = paper_names()
"""Our data set names -> the paper's, as each loader registers it (``a2lib.data.DATASETS``)."""
PAPER_SEARCH_METHODS = {name: entry.paper_name for name, entry in SEARCH_METHODS.items() if entry.paper_name}
"""``a2lib.efficiency`` method names -> Table 6's rows in its order, as each method registers it (ours: Hamming
ranking of packed codes)."""
PAPER_BITS = (12, 24, 32, 48)


CONTROL_METHODS = {"ce-classifier": "CE classifier", "baseline-llr": "ADSH + LLR"}
"""Methods of ours that are not in the paper's tables: notebook 01's cross-entropy control and its reference remedy,
BASELINE (ADSH) with last-layer re-training (``a2lib.studies.remedy.REMEDY_METHOD``)."""


def display_name(name: str) -> str:
    """The paper's spelling of a method, data set or search method of ours; other names unchanged."""
    return {**PAPER_METHODS, **CONTROL_METHODS, **PAPER_DATASETS, **PAPER_SEARCH_METHODS}.get(name, name)


# Table 1, % mAP on MNIST-CIFAR with ResNet-32: (BASELINE, A²-Net, A²-Net++) per test data and bits
TABLE1_COLUMNS = ("baseline", "a2net", "a2net++")
TABLE1 = {
    "MNIST-CIFAR": {12: (99.69, 99.70, 99.70), 24: (99.68, 99.71, 99.73), 32: (99.71, 99.71, 99.72),
                    48: (99.73, 99.74, 99.75)},
    "MNIST-only": {12: (99.55, 99.58, 99.52), 24: (99.60, 99.64, 99.59), 32: (99.36, 99.37, 99.32),
                   48: (99.52, 99.52, 99.51)},
    "CIFAR-only": {12: (21.05, 21.23, 24.50), 24: (21.33, 22.06, 25.67), 32: (21.66, 22.67, 26.40),
                   48: (21.33, 23.54, 29.40)},
}
TABLE1_DATASET = "mnist-cifar"
TABLE1_TEST_DATA = {"both": "MNIST-CIFAR", "simple-only (blanked)": "MNIST-only",
                    "complex-only (blanked)": "CIFAR-only"}
"""Our dominoes test sets (``a2lib.studies.simplicity.test_set_name``) that match Table 1's rows: its *-only sets
remove the other block, our *blanked* flavour."""

TABLE2_COLUMNS = ("ITQ", "SDH", "DPSH", "HashNet", "ADSH", "ExchNet", "A²-Net", "A²-Net++")
TABLE2 = {  # Table 2, % mAP, ResNet-50; one row per bits in TABLE2_COLUMNS order
    "cub200": {12: (6.80, 10.52, 8.68, 12.03, 20.03, 25.14, 33.83, 37.83),
               24: (9.42, 16.95, 12.51, 17.77, 50.33, 58.98, 61.01, 71.73),
               32: (11.19, 20.43, 12.74, 19.93, 61.68, 67.74, 71.61, 78.39),
               48: (12.45, 22.23, 15.58, 22.13, 65.43, 71.05, 77.33, 82.71)},
    "aircraft": {12: (4.38, 4.89, 8.74, 14.91, 15.54, 33.27, 40.00, 57.53),
                 24: (5.28, 6.36, 10.87, 17.75, 23.09, 45.83, 63.66, 73.45),
                 32: (5.82, 6.90, 13.54, 19.42, 30.37, 51.83, 72.51, 81.59),
                 48: (6.05, 7.65, 13.94, 20.32, 50.65, 59.05, 81.37, 86.65)},
    "food101": {12: (6.46, 10.21, 11.82, 24.42, 35.64, 45.63, 46.44, 54.51),
                24: (8.20, 11.44, 13.05, 34.48, 40.93, 55.48, 66.87, 81.46),
                32: (9.70, 13.36, 16.41, 35.90, 42.89, 56.39, 74.27, 82.92),
                48: (10.07, 15.55, 20.06, 39.65, 48.81, 64.19, 82.13, 83.66)},
    "nabirds": {12: (2.53, 3.10, 2.17, 2.34, 2.53, 5.22, 8.20, 8.80),
                24: (4.22, 6.72, 4.08, 3.29, 8.23, 15.69, 19.15, 22.65),
                32: (5.38, 8.86, 3.61, 4.52, 14.71, 21.94, 24.41, 29.79),
                48: (6.10, 10.38, 3.20, 4.97, 25.34, 34.81, 35.64, 42.94)},
    "vegfru": {12: (3.05, 5.92, 6.33, 3.70, 8.24, 23.55, 25.52, 30.54),
               24: (5.51, 11.55, 9.05, 6.24, 24.90, 35.93, 44.73, 60.56),
               32: (7.48, 14.55, 10.28, 7.83, 36.53, 48.27, 52.75, 73.38),
               48: (8.74, 16.45, 9.11, 10.29, 55.15, 69.30, 69.77, 82.80)},
}
TABLE4_COLUMNS = ("HashNet", "ADSH", "CSQ", "OrthoCos+BN", "ExchNet", "A²-Net", "A²-Net++")
TABLE4 = {  # Table 4, zero-shot protocol, % mAP, ResNet-50
    "cub200": {12: (13.02, 22.41, 20.41, 23.30, 23.53, 23.71, 23.89),
               24: (22.58, 39.02, 31.51, 38.82, 39.51, 39.67, 41.32),
               32: (32.45, 46.98, 41.55, 46.30, 48.13, 51.33, 52.75),
               48: (42.02, 52.91, 48.32, 51.89, 53.77, 58.47, 62.71)},
    "aircraft": {12: (16.54, 21.84, 22.34, 22.14, 23.03, 23.45, 24.14),
                 24: (32.72, 45.16, 43.85, 44.93, 47.90, 51.62, 53.87),
                 32: (39.44, 50.95, 49.49, 49.38, 53.22, 58.91, 60.38),
                 48: (39.75, 55.31, 51.66, 53.49, 56.01, 59.63, 61.59)},
    "food101": {12: (17.89, 22.89, 23.54, 23.18, 24.69, 26.32, 27.98),
                24: (36.54, 42.65, 41.74, 42.01, 43.11, 45.25, 47.85),
                32: (41.06, 46.98, 46.63, 46.10, 48.25, 52.74, 53.27),
                48: (41.85, 50.31, 47.72, 50.69, 51.87, 55.97, 56.30)},
}
TABLE6_COLUMNS = ("wctime", "speedup", "memory")
TABLE6 = {  # Table 6 as printed: WCtime (the paper gives no unit), speed-up over Linear, memory (value, unit)
    "linear": (9481.03, 1.0, (207.2, "MB")),
    "balltree": (236.23, 40.13, (28.1, "MB")),
    "kdtree": (70.16, 135.13, (28.8, "MB")),
    "pq": (43.49, 217.99, (524.5, "KB")),
    "hamming": (39.42, 240.50, (380.2, "KB")),
}
TABLE7_COLUMNS = ("vanilla backbone", "+ attention", "+ feature reconstruction", "+ image reconstruction (g only)",
                  "+ image reconstruction (g' only)", "+ image reconstruction (both)",
                  "+ feature decorrelation (= A²-Net++)", "A²-Net")
"""Table 7's columns in order, named as ``a2lib.studies.comparison.ABLATION_STEPS`` names its steps."""
TABLE7 = {  # Table 7, % mAP, one value per TABLE7_COLUMNS entry (as printed: NABirds 12-bit vanilla 2.34, ADSH 2.53)
    "cub200": {12: (20.03, 27.42, 33.31, 33.42, 34.27, 36.13, 37.83, 33.83),
               24: (50.33, 58.17, 60.65, 60.69, 63.15, 67.73, 71.73, 61.01),
               32: (61.68, 68.24, 71.28, 71.36, 74.63, 77.67, 78.39, 71.61),
               48: (65.43, 76.10, 77.10, 77.15, 79.54, 81.83, 82.71, 77.33)},
    "aircraft": {12: (15.54, 39.78, 41.54, 41.72, 54.67, 52.06, 57.53, 40.00),
                 24: (23.09, 61.73, 64.47, 64.60, 66.24, 70.63, 73.45, 63.66),
                 32: (30.37, 69.34, 71.09, 71.18, 75.49, 79.60, 81.59, 72.51),
                 48: (50.65, 79.21, 81.14, 81.22, 82.93, 84.52, 86.65, 81.37)},
    "food101": {12: (35.64, 41.33, 45.02, 45.63, 47.50, 50.67, 54.51, 46.44),
                24: (40.93, 65.07, 67.49, 68.04, 70.21, 74.64, 81.46, 66.87),
                32: (42.89, 70.06, 73.57, 73.74, 74.51, 75.73, 82.92, 74.27),
                48: (48.81, 78.51, 81.63, 81.74, 82.33, 82.70, 83.66, 82.13)},
    "nabirds": {12: (2.34, 5.03, 7.91, 7.93, 8.13, 8.46, 8.80, 8.20),
                24: (8.23, 16.31, 18.55, 18.71, 20.09, 21.32, 22.65, 19.15),
                32: (14.71, 22.34, 23.87, 23.96, 26.88, 28.14, 29.79, 24.41),
                48: (25.34, 33.47, 34.93, 35.10, 36.65, 40.04, 42.94, 35.64)},
    "vegfru": {12: (8.24, 22.14, 24.79, 24.98, 26.43, 27.86, 30.54, 25.52),
               24: (24.90, 39.69, 44.21, 44.76, 51.07, 55.83, 60.56, 44.73),
               32: (36.53, 47.08, 51.04, 51.80, 63.41, 67.98, 73.38, 52.75),
               48: (55.15, 66.47, 68.63, 69.25, 74.68, 77.80, 82.80, 69.77)},
}
TABLE8_K = 20
TABLE8_DATASET = "Clothing"
TABLE8 = {"itq": 0.296, "sdh": 0.308, "dpsh": 0.319, "hashnet": 0.337, "baseline": 0.342, "exchnet": 0.374,
          "a2net": 0.396, "a2net++": 0.405}
"""Table 8: NDCG@20 of attribute matching on Clothing (a fraction, as ours), per our method name."""
PAPER_ETA_VALUES = (0.05, 0.1, 0.2, 0.3, 0.4)
"""Figure 7's η grid (48 bits, CUB and Aircraft); the paper gives bars only, no numbers: "minimal variations"."""


def _method_column(method: str) -> str:
    if method not in PAPER_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(PAPER_METHODS)}")
    return PAPER_METHODS[method]


def _cell(table: dict, columns, dataset: str, bits: int, column: str) -> float | None:
    row = table.get(dataset, {}).get(bits)
    return None if row is None or column not in columns else row[columns.index(column)]


def paper_map(dataset: str, bits: int, method: str, table: str = "table2") -> float | None:
    """The paper's % mAP of our ``method`` on ``dataset`` at ``bits`` in Table 2 or (``table="table4"``, zero-shot)
    Table 4; None where the paper has no such number (e.g. the embedded data sets)."""
    tables = {"table2": (TABLE2, TABLE2_COLUMNS), "table4": (TABLE4, TABLE4_COLUMNS)}
    if table not in tables:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(tables)}")
    return _cell(*tables[table], dataset, bits, _method_column(method))


def paper_ablation(dataset: str, bits: int) -> dict[str, float] | None:
    """Table 7's % mAP per ``TABLE7_COLUMNS`` name, or None where the paper has no row."""
    row = TABLE7.get(dataset, {}).get(bits)
    return None if row is None else dict(zip(TABLE7_COLUMNS, row))


def _table1(row: dict) -> float | None:
    if row.get("dataset", TABLE1_DATASET) != TABLE1_DATASET or row["method"] not in TABLE1_COLUMNS:
        return None
    values = TABLE1.get(TABLE1_TEST_DATA.get(row["test data"]), {}).get(row["bits"])
    return None if values is None else values[TABLE1_COLUMNS.index(row["method"])]


def _table7(row: dict) -> float | None:
    if row["step"] not in TABLE7_COLUMNS:
        raise ValueError(f"unknown ablation step {row['step']!r}; choose one of {', '.join(TABLE7_COLUMNS)}")
    return (paper_ablation(row["dataset"], row["bits"]) or {}).get(row["step"])


def _table8(row: dict) -> float | None:
    _method_column(row["method"])
    return TABLE8.get(row["method"]) if row.get("k", TABLE8_K) == TABLE8_K else None


def _table6(row: dict) -> float | None:
    entry = TABLE6.get(row["method"])
    return None if entry is None else entry[TABLE6_COLUMNS.index("speedup")]


@dataclass(frozen=True)
class PaperTable:
    """How ``with_paper`` reads one table: the row fields that locate the paper's number, the field with ours,
    the factor that turns ours into the paper's unit, and the unit's label in the added column names."""
    keys: tuple[str, ...]
    value: str
    scale: float
    unit: str
    lookup: Callable[[dict], float | None]


TABLES = {
    "table1": PaperTable(("test data", "bits", "method"), "map", PERCENT, "%", _table1),
    "table2": PaperTable(("dataset", "bits", "method"), "map", PERCENT, "%",
                         lambda row: paper_map(row["dataset"], row["bits"], row["method"], "table2")),
    "table4": PaperTable(("dataset", "bits", "method"), "map", PERCENT, "%",
                         lambda row: paper_map(row["dataset"], row["bits"], row["method"], "table4")),
    "table6": PaperTable(("method",), "speedup", 1.0, "×", _table6),
    "table7": PaperTable(("dataset", "bits", "step"), "map", PERCENT, "%", _table7),
    "table8": PaperTable(("method",), "NDCG", 1.0, "NDCG", _table8),
}
"""Row layouts per table. Table 1 rows may carry ``dataset`` (absent: MNIST-CIFAR); Table 6 compares speed-ups over
the linear scan (``a2lib.efficiency`` rows); Table 8 rows may carry ``k`` (only k = 20 has a paper number; the
paper's data set is Clothing, so the number is a reference, not a like-for-like comparison)."""


def with_paper(rows: list[dict], table: str = "table2") -> list[dict]:
    """``rows`` each extended with ``ours <unit>``, ``paper <unit>`` and ``difference`` (ours - paper in the paper's
    unit; the paper's and the difference are None where the paper has no number). Each row carries the ``keys`` and
    ``value`` of ``TABLES[table]``, e.g. Table 2: ``{dataset, bits, method, map}`` with ``map`` a fraction."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    spec = TABLES[table]
    out = []
    for row in rows:
        missing = [key for key in (*spec.keys, spec.value) if key not in row]
        if missing:
            raise ValueError(f"with_paper(table={table!r}) needs row fields {[*spec.keys, spec.value]}; "
                             f"a row lacks {missing}: {row}")
        paper = spec.lookup(row)
        ours = spec.scale * row[spec.value]
        out.append({**row, f"ours {spec.unit}": ours, f"paper {spec.unit}": paper,
                    "difference": None if paper is None else ours - paper})
    return out


def paper_rows(table: str) -> list[dict]:
    """The paper's ``table`` as long-format records in our names, for showing it on its own: Table 1 ``{test data,
    bits, method, paper %}`` (the paper's test-data names), Tables 2/4 ``{dataset, bits, method, paper %}``, Table 6
    ``{method, wctime, speedup, memory}``, Table 7 ``{dataset, bits, step, paper %}``, Table 8 ``{method, k,
    paper NDCG}``."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    label = f"paper {TABLES[table].unit}"
    if table == "table1":
        return [{"test data": test, "bits": bits, "method": method, label: value}
                for test, by_bits in TABLE1.items() for bits, row in by_bits.items()
                for method, value in zip(TABLE1_COLUMNS, row)]
    if table in ("table2", "table4"):
        data, columns = (TABLE2, TABLE2_COLUMNS) if table == "table2" else (TABLE4, TABLE4_COLUMNS)
        ours = {column: method for method, column in PAPER_METHODS.items()}
        return [{"dataset": dataset, "bits": bits, "method": ours[column], label: value}
                for dataset, by_bits in data.items() for bits, row in by_bits.items()
                for column, value in zip(columns, row)]
    if table == "table6":
        return [{"method": method, **dict(zip(TABLE6_COLUMNS, row))} for method, row in TABLE6.items()]
    if table == "table7":
        return [{"dataset": dataset, "bits": bits, "step": step, label: value}
                for dataset, by_bits in TABLE7.items() for bits, row in by_bits.items()
                for step, value in zip(TABLE7_COLUMNS, row)]
    return [{"method": method, "k": TABLE8_K, label: value} for method, value in TABLE8.items()]


__all__ = [
    "PAPER_BITS", "PAPER_DATASETS", "PAPER_ETA_VALUES", "PAPER_METHODS", "PAPER_SEARCH_METHODS", "PERCENT",
    "TABLE1", "TABLE1_COLUMNS", "TABLE1_TEST_DATA", "TABLE2", "TABLE2_COLUMNS", "TABLE4", "TABLE4_COLUMNS", "TABLE6",
    "TABLE6_COLUMNS", "TABLE7", "TABLE7_COLUMNS", "TABLE8", "TABLE8_K", "TABLES", "display_name", "paper_ablation",
    "paper_map", "paper_rows", "with_paper",
]
