"""Typed records of the results files: one frozen dataclass per notebook section that a claim or the README reads,
so that a notebook writes a key and a claim reads it with one spelling.

A record's plain fields say which entry it is (method, bits, test set, ...); each value field, declared with
``at(*path)``, is written under that path of keys in its notebook's results dict, the path's ``{name}`` templates
filled in with the plain fields. ``record.write(results)`` puts it there, ``Record.read(tree)`` gives back every
record a results tree holds, and ``Record.path(field, *deeper, **bound)`` is the key path a claim reads (plain fields
not bound stay ``{name}`` placeholders, ``keys.PLACEHOLDER``; ``GATHER`` gives ``{*name}``). A value that holds one
number per seed is a number (one seed) or a list, as ``claims.samples`` reads it.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, MutableMapping

from .keys import matches

NB01, NB02, NB03, NB04, NB05, NB06 = ("01_simplicity_bias", "02_training", "03_activation_maps",
                                      "04_attribute_galleries", "05_ndcg_attribute_matching",
                                      "06_retrieval_efficiency")
GATHER = "*"
"""A ``bound`` value of ``Record.path`` that gathers every value of that field into one verdict (``{*name}``)."""
PATH = "path"
TEMPLATE = re.compile(r"\{(\w+)\}")
Seeds = "float | list[float]"
"""One value per seed: a number for one seed, else a list in seed order."""


def at(*path: str, default: Any = None):
    """A value field written under ``path`` (templates over the record's plain fields)."""
    return field(default=default, metadata={PATH: tuple(path)})


def dose_end(which: str, dose: str) -> str:
    """The key of one end of a dose response: ``smallest η``, ``largest p``."""
    return f"{which} {dose}"


def per_seed(values) -> Any:
    """Values of one number over seeds as the results files hold them: the number itself for one seed, else the
    list in seed order (``claims.samples`` reads both)."""
    values = [v.item() if hasattr(v, "item") else v for v in values]
    return values if len(values) > 1 else values[0]


def _text(value: Any) -> str:
    return str(value)


@dataclass(frozen=True)
class Record:
    """Base of the records (module docstring); ``NOTEBOOK`` is the results file (its stem) a record belongs to."""

    NOTEBOOK = ""

    @classmethod
    def keys(cls) -> list[str]:
        """The plain fields: which entry a record is."""
        return [f.name for f in dataclasses.fields(cls) if PATH not in f.metadata]

    @classmethod
    def values(cls) -> dict[str, tuple[str, ...]]:
        """Each value field and the path templates it is written under."""
        return {f.name: f.metadata[PATH] for f in dataclasses.fields(cls) if PATH in f.metadata}

    @classmethod
    def section(cls) -> str:
        """The top-level key every value field lives under."""
        heads = {path[0] for path in cls.values().values()}
        if len(heads) != 1:
            raise TypeError(f"{cls.__name__}: value fields under several top-level keys {sorted(heads)}")
        return heads.pop()

    @classmethod
    def path(cls, name: str, *deeper: str, **bound: Any) -> tuple[str, ...]:
        """The key path of value field ``name`` (then ``deeper`` keys inside it), plain fields given in ``bound``
        filled in, the others left ``{field}`` placeholders (``GATHER``: ``{*field}``)."""
        values = cls.values()
        if name not in values:
            raise KeyError(f"{cls.__name__} has no value field {name!r}; its value fields: {', '.join(values)}")
        unknown = sorted(set(bound) - set(cls.keys()))
        if unknown:
            raise KeyError(f"{cls.__name__} has no plain field(s) {unknown}; its plain fields: {', '.join(cls.keys())}")

        def fill(match: re.Match) -> str:
            key = match[1]
            if key not in bound:
                return "{" + key + "}"
            return "{*" + key + "}" if bound[key] == GATHER else _text(bound[key])
        return tuple(TEMPLATE.sub(fill, part) for part in values[name]) + tuple(deeper)

    def write(self, results: MutableMapping) -> MutableMapping:
        """Put every value field under its path in ``results`` (a notebook's results dict); returns ``results``."""
        bound = {key: getattr(self, key) for key in self.keys()}
        for name in self.values():
            *parents, leaf = self.path(name, **bound)
            tree = results
            for part in parents:
                tree = tree.setdefault(part, {})
                if not isinstance(tree, MutableMapping):
                    raise TypeError(f"{type(self).__name__}.{name}: {part!r} already holds a value, not a dict")
            tree[leaf] = getattr(self, name)
        return results

    @classmethod
    def skip(cls, results: MutableMapping) -> MutableMapping:
        """Mark the record's section as left out by the profile (``None``: what ``claims.SKIPPED`` reads)."""
        results[cls.section()] = None
        return results

    @classmethod
    def read(cls, tree: Mapping) -> list["Record"]:
        """Every record of this type in ``tree`` (a results file's dict), found by its first value field's path."""
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        first, *_ = cls.values()
        found = []
        for binding, _ in matches(tree, cls.path(first)):
            keys = {key: _typed(types[key], binding[key]) for key in cls.keys()}
            values = {}
            for name in cls.values():
                leaves = matches(tree, cls.path(name, **binding))
                values[name] = leaves[0][1] if leaves else None
            found.append(cls(**keys, **values))
        return found


def _typed(annotation: Any, text: str) -> Any:
    """A plain field's value read back from its key text: ``int`` fields as integers where the text is one."""
    if "int" in str(annotation) and re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


# --- notebook 01: simplicity bias ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table1Map(Record):
    """Table 1: tie-aware mAP of one method and code length on one test set, one value per seed."""
    NOTEBOOK = NB01
    method: str
    bits: int
    test: str
    map: Seeds = at("table1_map", "{method}/{bits}/{test}")


@dataclass(frozen=True)
class BlockShare(Record):
    """Figure 4's measure: share of a model's Grad-CAM on the complex block (mean over images per seed; ``ci95``
    the half-width over images)."""
    NOTEBOOK = NB01
    method: str
    bits: int
    mean: Seeds = at("complex_block_share", "{method} / {bits}", "mean")
    ci95: Seeds = at("complex_block_share", "{method} / {bits}", "ci95")


@dataclass(frozen=True)
class BaselineBias(Record):
    """Shah et al.'s comparison: (a) BASELINE trained and tested on the complex block alone, (b) the dominoes model
    on the simple block alone, (c) the dominoes model on the complex block (randomised), ``c_over_a``."""
    NOTEBOOK = NB01
    bits: int
    a: Seeds = at("baseline_bias", "{bits}", "a")
    b: Seeds = at("baseline_bias", "{bits}", "b")
    c: Seeds = at("baseline_bias", "{bits}", "c")
    c_over_a: Seeds = at("baseline_bias", "{bits}", "c_over_a")


@dataclass(frozen=True)
class DoseResponse(Record):
    """A²-Net++ against η (``simplicity.dose_response``: ``map`` per η and test set, ``ends`` at the smallest and
    largest η, keys ``dose_end``), trained once per seed of ``seeds``."""
    NOTEBOOK = NB01
    bits: int = at("dose_response", "bits")
    seeds: list = at("dose_response", "seeds")
    map: dict = at("dose_response", "map")
    ends: dict = at("dose_response", "ends")
    fall_onset: float | None = at("dose_response", "fall_onset")
    image_share: dict = at("dose_response", "image_share")
    DOSE = "η"


@dataclass(frozen=True)
class Escape(Record):
    """BASELINE against the fraction p of training images whose simple block is randomised (as ``DoseResponse``)."""
    NOTEBOOK = NB01
    bits: int = at("escape", "bits")
    seeds: list = at("escape", "seeds")
    map: dict = at("escape", "map")
    ends: dict = at("escape", "ends")
    fall_onset: float | None = at("escape", "fall_onset")
    DOSE = "p"


# --- notebook 02: training and the paper's tables -----------------------------------------------------------------

TABLE2_ENTRY = ("table2", "{dataset}/{bits}/{method}")


@dataclass(frozen=True)
class Table2Map(Record):
    """Table 2: one method's retrieval scores on one data set and code length (values per seed where trained so)."""
    NOTEBOOK = NB02
    dataset: str
    bits: int
    method: str
    map: Seeds = at(*TABLE2_ENTRY, "map")
    map_legacy: Seeds = at(*TABLE2_ENTRY, "map_legacy")
    precision_at_10: Seeds = at(*TABLE2_ENTRY, "precision@10")
    paper_percent: float | None = at(*TABLE2_ENTRY, "paper %")
    difference: float | None = at(*TABLE2_ENTRY, "difference")


@dataclass(frozen=True)
class AblationStep(Record):
    """Table 7: mAP of one ablation step at the ablation's code length."""
    NOTEBOOK = NB02
    step: str
    map: Seeds = at("table7_ablation", "map", "{step}")
    bits: int | None = at("table7_ablation", "bits")


@dataclass(frozen=True)
class EtaPoint(Record):
    """Figure 7: A²-Net++ mAP at one η (η = 0: A²-Net, no image term)."""
    NOTEBOOK = NB02
    eta: float
    map: Seeds = at("figure7_eta", "map", "{eta}")
    bits: int | None = at("figure7_eta", "bits")


@dataclass(frozen=True)
class ZeroShotMap(Record):
    """Table 4: zero-shot mAP and precision@10 of one method and code length on the unseen classes."""
    NOTEBOOK = NB02
    method: str
    bits: int
    map: Seeds = at("table4_zero_shot", "map", "{method}/{bits}")
    precision_at_10: Seeds = at("table4_zero_shot", "precision@10", "{method}/{bits}")
    unseen_classes: str | None = at("table4_zero_shot", "unseen_classes")


# --- notebooks 03-06 ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaskShare(Record):
    """Notebook 03: share of one map's mass inside the bird (``cam``: ``gradcam`` or ``attention``)."""
    NOTEBOOK = NB03
    method: str
    cam: str
    mean: Seeds = at("mask_share", "{method}/{cam}", "mean")
    ci95: Seeds = at("mask_share", "{method}/{cam}", "ci95")


@dataclass(frozen=True)
class MaskCoverage(Record):
    """Figure 9's measure (notebook 03): share of the bird covered by the top of one map."""
    NOTEBOOK = NB03
    method: str
    cam: str
    mean: Seeds = at("mask_coverage", "{method}/{cam}", "mean")
    ci95: Seeds = at("mask_coverage", "{method}/{cam}", "ci95")


@dataclass(frozen=True)
class BitAttributeMI(Record):
    """Figure 8's measure (notebook 04): per model, the mean over bits of each bit's best attribute MI, its chance
    level (attributes shuffled), the mean best AUC and how many distinct attributes the bits pick."""
    NOTEBOOK = NB04
    method: str
    mean_best_mi: Seeds = at("summary", "{method}", "mean_best_mi")
    chance_best_mi: Seeds = at("summary", "{method}", "chance_best_mi")
    mean_best_auc: Seeds = at("summary", "{method}", "mean_best_auc")
    distinct_attributes: Seeds = at("summary", "{method}", "distinct_attributes")
    bits: int | None = at("summary", "{method}", "bits")


@dataclass(frozen=True)
class Ndcg(Record):
    """Table 8 (notebook 05): NDCG@k of attribute matching of one method and code length (``-``: references)."""
    NOTEBOOK = NB05
    method: str
    bits: int | str
    k: int
    ndcg: Seeds = at("ndcg", "{method}/{bits}", "@{k}")


@dataclass(frozen=True)
class SearchTiming(Record):
    """Table 6 (notebook 06): one search method on ``items`` real database items (``efficiency.SUMMARY_FIELDS``)."""
    NOTEBOOK = NB06
    method: str
    items: int
    speedup: float = at("real", "methods", "{method}", "{items}", "speedup")
    bytes_per_item: float = at("real", "methods", "{method}", "{items}", "bytes_per_item")
    seconds_per_query: float = at("real", "methods", "{method}", "{items}", "seconds_per_query")
    recall_at_k: float = at("real", "methods", "{method}", "{items}", "recall_at_k")
    memory_mb: float = at("real", "methods", "{method}", "{items}", "memory_mb")
    build_seconds: float = at("real", "methods", "{method}", "{items}", "build_seconds")


RECORDS: tuple[type[Record], ...] = (Table1Map, BlockShare, BaselineBias, DoseResponse, Escape, Table2Map,
                                     AblationStep, EtaPoint, ZeroShotMap, MaskShare, MaskCoverage, BitAttributeMI,
                                     Ndcg, SearchTiming)
"""Every record type, in notebook order."""


def write_all(results: MutableMapping, records: Iterator[Record] | list[Record]) -> MutableMapping:
    """Write every record of ``records`` into ``results``; returns ``results``."""
    for record in records:
        record.write(results)
    return results


__all__ = ["AblationStep", "BaselineBias", "BitAttributeMI", "BlockShare", "DoseResponse", "Escape", "EtaPoint",
           "GATHER", "MaskCoverage", "MaskShare", "NB01", "NB02", "NB03", "NB04", "NB05", "NB06", "Ndcg", "RECORDS",
           "Record", "SearchTiming", "Table1Map", "Table2Map", "ZeroShotMap", "at", "dose_end", "per_seed", "write_all"]
