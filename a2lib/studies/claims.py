"""The paper's claims as data, and each claim's verdict on a run's numbers: computed, never typed.

A ``Claim`` quotes the paper (or, for the workbook's own data, Shah et al. 2020), names the table or figure, points
at the numbers of a run it compares (``Number``: a results file of ``results/<profile>/`` and a path of keys inside
it, where ``{bits}``-style placeholders match any key and give one verdict per value) and states a rule: ``Greater``
(each pair a > b, e.g. an ordering A > B > C, or ``factor``: a > factor · b) or ``Within`` (every two numbers closer
than a tolerance). ``evaluate(claim, results)`` gives one ``Verdict`` per placeholder value.

Verdict rule (the same for every claim, so no verdict is typed by hand):

* A comparison between *different trained models* (methods, η values, ablation steps, the models of notebook 01)
  is a difference of means over seeds. With ``MIN_SEEDS`` or more values per number (a results leaf that is a list
  holds one value per seed, in the same seed order in every list) the 95% t-interval of the difference (paired when
  both numbers have the same seeds, Welch otherwise) decides: it *holds* when the interval lies on the claimed side of
  0 (inside ±tolerance for ``Within``), *does not hold* when it lies on the other side, and is *inconclusive* when it
  straddles. With one seed it is *not testable*: no interval, and another seed may reverse a gap of a few hundredths.
* A comparison of numbers that are not different trained models (one model on two test sets, a model against its
  permutation chance level, timings and memory) compares the values themselves when there is one seed.
* A claim whose numbers the run does not have (a table the workbook does not regenerate, such as Tables 3 and 5, a
  code length or method the profile leaves out, a notebook not run) is *not testable*, with the reason.

Every number is read through the ``records`` type that its notebook writes it with (``Number.of``), so a key has one
spelling; a not-testable verdict carries its cause (``CAUSES``: ``ONE_SEED``, ``NAN_SEEDS``, ``MISSING_KEY``, ...),
so that tests tell a legitimate one (one seed) from a broken one (a key no notebook writes).
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from . import records as rec
from . import paper
from .paper import display_name
from .keys import PLACEHOLDER, matches
from .records import NB01, NB02, NB03, NB04, NB05, NB06

HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE = "holds", "does not hold", "inconclusive", "not testable"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE)
MIN_SEEDS = 2
"""Values per number a difference between trained models needs: the fewest that give a t-interval."""
CONFIDENCE = 0.95
SEED_KEY = "per_seed"
"""A results leaf ``{"per_seed": [...]}`` holds one value per seed, like a plain list."""
LARGE_DROP = 2.0
"""Table 1's "large overall accuracy reduction", read as: complex-only mAP below half the intact mAP."""
ETA_TOLERANCE = 0.02
"""Figure 7's "minimal variations", read as: every two η values within 0.02 mAP (2 points) of each other."""
VALUE_FORMAT = "{:.3f}"
ABSENT, NO_NOTEBOOK, SKIPPED, MISSING_KEY, ONE_SEED, NAN_SEEDS, TOO_FEW_VALUES = (
    "absent table", "notebook not run", "left out by the profile", "missing key", "one seed", "NaN in all but one seed",
    "fewer than two values")
CAUSES = (ABSENT, NO_NOTEBOOK, SKIPPED, MISSING_KEY, ONE_SEED, NAN_SEEDS, TOO_FEW_VALUES)
"""Why a verdict is *not testable* (``Verdict.cause``): a table the workbook does not regenerate, a notebook that did
not run, a section its profile leaves out (written as ``null``), a key the run lacks (a renamed or unwritten
record field: never legitimate in a run whose profile computes it), one seed, NaN in all but one seed, or a
``Within`` with one value."""
NO_IMAGE_TERM = ("0", "0.0")
"""η keys that mean no image reconstruction at all (A²-Net), left out of Figure 7's sweep."""


@dataclass(frozen=True)
class Number:
    """One number of a run: ``label`` (display, may use placeholders), the results file (``notebook``, its stem) and
    the path of keys to it inside that file (placeholders as in ``PLACEHOLDER``); keys in ``exclude`` never match a
    placeholder (e.g. η = 0, which is A²-Net, in Figure 7's sweep)."""
    label: str
    notebook: str
    path: tuple[str, ...]
    fmt: str = VALUE_FORMAT
    exclude: tuple[str, ...] = ()
    record: type | None = None
    """The ``records`` type (and its value ``field``) that writes this number; ``path`` is that record's path."""
    field: str | None = None
    deeper: tuple[str, ...] = ()
    bound: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, label: str, record: type, field: str, *deeper: str, fmt: str = VALUE_FORMAT,
           exclude: tuple[str, ...] = (), **bound: Any) -> "Number":
        """The number that ``record``'s value ``field`` holds (``deeper`` keys inside it), plain fields in
        ``bound``; a field the record does not declare leaves the path empty for ``Claim`` to refuse by name."""
        try:
            path = record.path(field, *deeper, **bound)
        except KeyError:
            path = ()
        return cls(label, record.NOTEBOOK, path, fmt, exclude, record, field, tuple(deeper), tuple(bound.items()))

    def problem(self) -> str | None:
        """Why this number's path is not its record's (the record lost or renamed the field), or None."""
        if self.record is None:
            return None
        try:
            path = self.record.path(self.field, *self.deeper, **dict(self.bound))
        except KeyError as error:
            return str(error).strip('"')
        if path != self.path or self.record.NOTEBOOK != self.notebook:
            return f"{self.record.__name__}.{self.field} is now at {path}, not {self.path}"
        return None

    def placeholders(self, gathered: bool = False) -> set[str]:
        """The names of its placeholders: one verdict each (default) or gathered (``{*name}``)."""
        return {name for part in self.path for star, name in PLACEHOLDER.findall(part) if bool(star) == gathered}

    def where(self) -> str:
        return f"results/…/{self.notebook}.json: {' → '.join(self.path)}"


@dataclass(frozen=True)
class Greater:
    """Each pair ``(a, b)`` of indices into the claim's numbers claims a > ``factor`` · b; ``chain`` marks an
    ordering n0 > n1 > n2 … (shown with the observed signs between neighbours)."""
    pairs: tuple[tuple[int, int], ...]
    factor: float = 1.0
    chain: bool = False

    def describe(self) -> str:
        times = "" if self.factor == 1.0 else f"{self.factor:g} × "
        return f"a > {times}b for each pair"


@dataclass(frozen=True)
class Within:
    """Every two of the claim's numbers (gathered placeholders included) differ by less than ``tolerance``."""
    tolerance: float

    def describe(self) -> str:
        return f"|a − b| < {self.tolerance:g} for every two"


@dataclass(frozen=True)
class Claim:
    """A claim of the paper and how a run tests it; ``absent`` says why no run of this workbook has its numbers."""
    id: str
    source: str
    quote: str
    statement: str
    notebook: str
    numbers: tuple[Number, ...] = ()
    rule: Greater | Within | None = None
    across_models: bool = True
    absent: str | None = None
    note: str = ""

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ValueError(f"claim {self.id}: " + "; ".join(problems))
        if self.absent is None and (not self.numbers or self.rule is None):
            raise ValueError(f"claim {self.id}: give numbers and a rule, or say why it is absent")
        rows = {frozenset(n.placeholders()) for n in self.numbers}
        if len(rows) > 1:
            raise ValueError(f"claim {self.id}: every number needs the same placeholders, got "
                             f"{sorted(map(sorted, rows))}")
        if isinstance(self.rule, Greater):
            bad = [p for p in self.rule.pairs if max(p) >= len(self.numbers) or p[0] == p[1]]
            gathered = [n.label for n in self.numbers if n.placeholders(gathered=True)]
            if bad or gathered:
                raise ValueError(f"claim {self.id}: Greater pairs {bad} do not index two numbers, or numbers "
                                 f"{gathered} gather values (only Within compares gathered values)")

    def problems(self) -> list[str]:
        """Each number whose record no longer declares it as this claim reads it (``Number.problem``)."""
        return [f"number {n.label!r}: {n.problem()}" for n in self.numbers if n.problem()]

    def row_placeholders(self) -> tuple[str, ...]:
        return tuple(sorted(self.numbers[0].placeholders())) if self.numbers else ()


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict on a run at one placeholder binding (``where``), with the numbers seen and the reason."""
    claim: Claim
    where: dict = field(default_factory=dict)
    verdict: str = NOT_TESTABLE
    observed: str = ""
    reason: str = ""
    differences: tuple = ()
    """The ``Difference`` of each comparison the verdict rests on (empty when none was judged)."""
    cause: str | None = None
    """Why it is not testable (one of ``CAUSES``); None for a judged verdict."""

    def label(self) -> str:
        """The claim's statement with this verdict's placeholder values filled in."""
        names = {name: f"<{name}>" for name in self.claim.row_placeholders()}
        return self.claim.statement.format(**{**names, **{k: display_name(v) for k, v in self.where.items()}})

    def row(self) -> dict[str, str]:
        """One row of a claims table."""
        return {"claim": self.claim.id, "paper": self.claim.source, "quote": self.claim.quote,
                "statement": self.label(), "this run": self.observed, "verdict": self.verdict, "why": self.reason}


def order(*numbers: Number) -> tuple[tuple[Number, ...], Greater]:
    """Numbers and rule of an ordering ``numbers[0] > numbers[1] > …``."""
    return numbers, Greater(tuple((i, i + 1) for i in range(len(numbers) - 1)), chain=True)


def beats(winner: Number, *others: Number) -> tuple[tuple[Number, ...], Greater]:
    """Numbers and rule of ``winner`` above every one of ``others``."""
    return (winner, *others), Greater(tuple((0, i) for i in range(1, len(others) + 1)))


def below(loser: Number, *others: Number) -> tuple[tuple[Number, ...], Greater]:
    """Numbers and rule of ``loser`` below every one of ``others`` (lower is better: memory, time)."""
    return (loser, *others), Greater(tuple((i, 0) for i in range(1, len(others) + 1)))


# --- reading numbers out of a results tree ---------------------------------------------------------------------

def samples(leaf: Any) -> np.ndarray | None:
    """The values of a results leaf, one per seed: a number (one seed), a list, or ``{"per_seed": [...]}``; None for
    anything else or when no finite value is left."""
    if isinstance(leaf, Mapping) and SEED_KEY in leaf:
        leaf = leaf[SEED_KEY]
    values = leaf if isinstance(leaf, (list, tuple)) else [leaf]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    return array if array.size else None


def _sort_key(binding: tuple) -> tuple:
    return tuple((0, float(v), "") if re.fullmatch(r"-?\d+(\.\d+)?", v) else (1, 0.0, v) for _, v in binding)


def _bindings(claim: Claim, results: Mapping[str, Any]) -> tuple[list[dict], str | None, str | None]:
    """The placeholder values at which every number of ``claim`` exists in ``results``, or why there are none (the
    reason and its cause, ``CAUSES``)."""
    names = claim.row_placeholders()
    common, missing, causes = None, [], set()
    for number in claim.numbers:
        if number.notebook not in results:
            return [], f"this run has no results/…/{number.notebook}.json (its notebook did not run)", NO_NOTEBOOK
        tree = results[number.notebook]
        leaves = matches(tree, number.path, exclude=number.exclude)
        found = {tuple((n, binding[n]) for n in names) for binding, leaf in leaves if samples(leaf) is not None}
        if not found:
            missing.append(number)
            skipped = isinstance(tree, Mapping) and bool(number.path) and tree.get(number.path[0], {}) is None
            causes.add(SKIPPED if skipped else NAN_SEEDS if leaves and all(_raw_size(leaf) for _, leaf in leaves)
                       else MISSING_KEY)
        common = found if common is None else common & found
    if missing:
        labels = ", ".join(number.label.replace("{", "<").replace("}", ">") for number in missing)
        cause = next(c for c in (MISSING_KEY, SKIPPED, NAN_SEEDS) if c in causes)
        return [], f"this run has no {labels} (looked for {missing[0].where()})", cause
    if not common:
        return [], f"no {', '.join(names)} at which this run has every number", MISSING_KEY
    return [dict(binding) for binding in sorted(common, key=_sort_key)], None, None


def _raw_size(leaf: Any) -> int:
    """How many values a results leaf holds before NaNs are dropped (0: not a number or list of numbers)."""
    if isinstance(leaf, Mapping) and SEED_KEY in leaf:
        leaf = leaf[SEED_KEY]
    values = leaf if isinstance(leaf, (list, tuple)) else [leaf]
    return len(values) if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) else 0


def _raw_seeds(claim: Claim, results: Mapping[str, Any], where: dict) -> int:
    """The fewest values any number of ``claim`` holds at ``where``, NaNs counted."""
    sizes = [_raw_size(leaf) for number in claim.numbers
             for _, leaf in matches(results[number.notebook], number.path, where, number.exclude)]
    return min(sizes, default=0)


def _items(claim: Claim, results: Mapping[str, Any], where: dict) -> list[tuple[str, np.ndarray, str]]:
    """``(label, values, format)`` of each number at ``where``; gathered placeholders give one item per value."""
    items = []
    for number in claim.numbers:
        for binding, leaf in matches(results[number.notebook], number.path, where, number.exclude):
            values = samples(leaf)
            if values is not None:
                items.append((number.label.format(**{k: display_name(v) for k, v in binding.items()}), values,
                              number.fmt))
    return items


# --- statistics --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """a − factor · b: its mean, the half-width of its interval over seeds (None: compared as exact numbers) and the
    seeds it rests on."""
    mean: float
    half: float | None
    seeds: int

    @property
    def low(self) -> float:
        return self.mean - (self.half or 0.0)

    @property
    def high(self) -> float:
        return self.mean + (self.half or 0.0)

    def text(self) -> str:
        if self.half is None:
            return f"{self.mean:+.3f}"
        interval = f"[{self.low:+.3f}, {self.high:+.3f}]"
        return f"{self.mean:+.3f}, {CONFIDENCE:.0%} interval {interval} over {self.seeds} seeds"


def _t_quantile(dof: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, dof))


def difference(a: np.ndarray, b: np.ndarray, factor: float = 1.0, exact: bool = False) -> Difference:
    """a − factor · b with its t-interval over seeds: paired when a and b have as many values (same seeds), Welch
    otherwise; ``exact`` (or one value each) gives the difference of means with no interval."""
    if exact or min(a.size, b.size) < MIN_SEEDS:
        return Difference(float(a.mean() - factor * b.mean()), None, min(a.size, b.size))
    if a.size == b.size:
        d = a - factor * b
        return Difference(*interval(d), d.size)
    va, vb = a.var(ddof=1) / a.size, factor ** 2 * b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if se > 0 else 1.0
    return Difference(float(a.mean() - factor * b.mean()), _t_quantile(dof) * se, min(a.size, b.size))


def interval(values) -> tuple[float, float | None]:
    """(mean, half-width of its 95% t-interval over seeds); the half-width is None below ``MIN_SEEDS`` values."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size < MIN_SEEDS:
        return float(values.mean()), None
    return float(values.mean()), _t_quantile(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)


def format_samples(values: np.ndarray, fmt: str = VALUE_FORMAT) -> str:
    """A number's values as text: the value for one seed, else the mean ± the half-width of its 95% t-interval."""
    mean, half = interval(values)
    if half is None:
        return fmt.format(mean)
    return f"{fmt.format(mean)} ± {fmt.format(half)} ({values.size} seeds)"


def _sign(a: float, b: float) -> str:
    return ">" if a > b else "<" if a < b else "="


def _observed(claim: Claim, items: list[tuple[str, np.ndarray, str]]) -> str:
    shown = [f"{label} {format_samples(values, fmt)}" for label, values, fmt in items]
    if isinstance(claim.rule, Greater) and claim.rule.chain and claim.rule.factor == 1.0:
        text = shown[0]
        for (_, left, _), (_, right, _), part in zip(items, items[1:], shown[1:]):
            text += f" {_sign(left.mean(), right.mean())} {part}"
        return text
    return " · ".join(shown)


def _judge(claim: Claim, items, exact: bool, raw_seeds: int = 1) -> tuple[str, str, tuple, str | None]:
    """(verdict, reason, the differences compared, the cause when not testable) of the rule's comparisons;
    ``raw_seeds`` counts the values before NaNs were dropped."""
    rule = claim.rule
    if isinstance(rule, Greater):
        pairs = [(items[a], items[b]) for a, b in rule.pairs]
    else:
        pairs = list(itertools.combinations(items, 2))
        if not pairs:
            return (NOT_TESTABLE, f"this run has {len(items)} value(s); comparing needs two or more", (),
                    TOO_FEW_VALUES)
    seeds = min(values.size for _, values, _ in items)
    if claim.across_models and not exact and seeds < MIN_SEEDS:
        if raw_seeds >= MIN_SEEDS:
            return (NOT_TESTABLE, f"{NAN_SEEDS}: a difference between trained models needs ≥ {MIN_SEEDS} finite "
                    "seeds", (), NAN_SEEDS)
        return NOT_TESTABLE, f"one seed: a difference between trained models needs ≥ {MIN_SEEDS} seeds", (), ONE_SEED
    outcomes = []
    for (name_a, a, _), (name_b, b, _) in pairs:
        d = difference(a, b, rule.factor if isinstance(rule, Greater) else 1.0, exact)
        outcomes.append((_outcome(rule, d), d, f"{name_a} − {_times(rule)}{name_b} = {d.text()}"))
    differences = tuple(d for _, d, _ in outcomes)
    failed = [text for verdict, _, text in outcomes if verdict == FAILS]
    if failed:
        return FAILS, "; ".join(failed), differences, None
    unsure = [text for verdict, _, text in outcomes if verdict == INCONCLUSIVE]
    if unsure:
        return INCONCLUSIVE, "the interval includes the boundary: " + "; ".join(unsure), differences, None
    closest = min(outcomes, key=lambda outcome: abs(outcome[1].mean))[2]
    return (HOLDS, closest if len(outcomes) == 1 else f"every comparison holds (closest: {closest})", differences,
            None)


def _times(rule) -> str:
    return f"{rule.factor:g} × " if isinstance(rule, Greater) and rule.factor != 1.0 else ""


def _outcome(rule, d: Difference) -> str:
    if isinstance(rule, Greater):
        return HOLDS if d.low > 0 else FAILS if d.high <= 0 else INCONCLUSIVE
    if -rule.tolerance < d.low and d.high < rule.tolerance:
        return HOLDS
    return FAILS if d.low >= rule.tolerance or d.high <= -rule.tolerance else INCONCLUSIVE


def evaluate(claim: Claim, results: Mapping[str, Any], exact: bool = False) -> list[Verdict]:
    """``claim``'s verdicts on ``results`` (``{results file stem: its JSON tree}``), one per placeholder binding;
    ``exact`` treats every number as exact (a published table), so single values are compared as they are."""
    if claim.absent is not None:
        return [Verdict(claim, {}, NOT_TESTABLE, "–", claim.absent, cause=ABSENT)]
    bindings, missing, cause = _bindings(claim, results)
    if missing:
        return [Verdict(claim, {}, NOT_TESTABLE, "–", missing, cause=cause)]
    verdicts = []
    for where in bindings:
        items = _items(claim, results, where)
        verdict, reason, differences, cause = _judge(claim, items, exact, _raw_seeds(claim, results, where))
        verdicts.append(Verdict(claim, where, verdict, _observed(claim, items), reason, differences, cause))
    return verdicts


def evaluate_all(results: Mapping[str, Any], notebook: str | None = None,
                 claims: Iterable[Claim] | None = None) -> list[Verdict]:
    """Every claim's verdicts (those shown at the end of ``notebook`` only, when given), in ``CLAIMS`` order."""
    chosen = [c for c in (CLAIMS if claims is None else claims) if notebook is None or c.notebook == notebook]
    return [verdict for claim in chosen for verdict in evaluate(claim, results)]


# --- the claims ----------------------------------------------------------------------------------------------------

STUDIED = ("a2net++", "a2net", "exchnet", "baseline")
"""The paper's order of the four studied methods (Table 2 and Table 8): A²-Net++ > A²-Net > ExchNet > ADSH."""
SHALLOW_AND_PAIRWISE = ("itq", "sdh", "dpsh", "hashnet")


def _table1(method: str, test: str, label: str = "") -> Number:
    return Number.of(label or display_name(method), rec.Table1Map, "map", method=method, test=test)


def _map(method: str) -> Number:
    return Number.of(display_name(method), rec.Table2Map, "map", method=method)


def _ablation(step: str) -> Number:
    return Number.of(step, rec.AblationStep, "map", step=step)


def _zero_shot(method: str) -> Number:
    return Number.of(display_name(method), rec.ZeroShotMap, "map", method=method)


def _block_share(method: str) -> Number:
    return Number.of(display_name(method), rec.BlockShare, "mean", method=method)


def _coverage(method: str) -> Number:
    return Number.of(display_name(method), rec.MaskCoverage, "mean", method=method, cam="gradcam")


def _best_mi(method: str, key: str = "mean_best_mi", label: str = "") -> Number:
    return Number.of(label or display_name(method), rec.BitAttributeMI, key, method=method)


def _ndcg(method: str) -> Number:
    return Number.of(display_name(method), rec.Ndcg, "ndcg", method=method, k=paper.TABLE8_K)


def _search(method: str, quantity: str, fmt: str) -> Number:
    label = "Hamming ranking (Ours)" if method == "hamming" else display_name(method)
    return Number.of(label, rec.SearchTiming, quantity, fmt=fmt, method=method)


def _bias(part: str, label: str) -> Number:
    return Number.of(label, rec.BaselineBias, part)


def _end(record: type, which: str, label: str) -> Number:
    return Number.of(label, record, "ends", rec.dose_end(which, record.DOSE), "complex-only ({flavour})")


def _claim(id: str, source: str, quote: str, statement: str, notebook: str,
           numbers_and_rule: tuple[tuple[Number, ...], Greater], **options) -> Claim:
    numbers, rule = numbers_and_rule
    return Claim(id, source, quote, statement, notebook, numbers, rule, **options)


FIG9_QUOTE = ("[A²-Net] focuses on more (meaningful) image regions corresponding to complex patterns than ExchNet … "
              "[for A²-Net++] basically all object information has been completely attended")
CLAIMS: tuple[Claim, ...] = (
    Claim("T1-bias", "Table 1", "the test data of CIFAR-only shows a large overall accuracy reduction, which confirms "
          "the existence of SB in deep hash learning", "ADSH (BASELINE), {bits} bits: intact mAP > 2 × complex-only "
          "mAP (blanked)", NB01, (_table1("baseline", "both", "intact"),
                                  _table1("baseline", "complex-only (blanked)", "complex-only (blanked)")),
          Greater(((0, 1),), factor=LARGE_DROP), across_models=False,
          note="one trained model on two test sets: compared as measured"),
    _claim("T1-combat", "Table 1", "A²-NET⁺⁺ can further combat simplicity bias based on its enhanced "
           "self-consistency design", "{bits} bits, complex-only mAP (blanked): A²-Net++ > A²-Net > ADSH "
           "(BASELINE)", NB01,
           order(*(_table1(m, "complex-only (blanked)") for m in ("a2net++", "a2net", "baseline")))),
    _claim("F4-share", "Figure 4", "our proposal, which exhibits self-consistency, attends to more complex and "
           "comprehensive patterns than the vanilla baseline", "{bits} bits, share of Grad-CAM on the complex block: "
           "A²-Net++ > A²-Net > ADSH (BASELINE)", NB01,
           order(*(_block_share(m) for m in ("a2net++", "a2net", "baseline")))),
    Claim("D-learnable", "Shah et al. 2020", "neural networks can exclusively rely on the simplest feature and remain "
          "invariant to all predictive complex features", "{bits} bits: (a) ADSH (BASELINE) trained and tested on the "
          "complex block > 2 × (c) the same trained on dominoes, tested on the complex block (randomised)", NB01,
          (_bias("a", "(a) complex block alone"), _bias("c", "(c) dominoes model on it")),
          Greater(((0, 1),), factor=LARGE_DROP), note="the workbook's embedded dominoes, not a claim of the paper"),
    Claim("D-dose", "Sec. 3.4.1", "A²-NET⁺⁺ can further combat simplicity bias based on its enhanced "
          "self-consistency design", "A²-Net++ at the largest η of the dose response: complex-only mAP ({flavour}) "
          "above A²-Net++ at the smallest η (0 in the profiles: no image term)", NB01,
          (_end(rec.DoseResponse, "largest", "largest η"), _end(rec.DoseResponse, "smallest", "smallest η")),
          Greater(((0, 1),)), note="the workbook's dose response (not in the paper): does image reconstruction, "
          "made strong enough to act, raise complex-only mAP"),
    Claim("D-escape", "Shah et al. 2020", "neural networks can exclusively rely on the simplest feature",
          "ADSH (BASELINE) trained with the simple block randomised on the largest fraction p: complex-only mAP "
          "({flavour}) above the same trained with the smallest p (0 in the profiles: the data as is)", NB01,
          (_end(rec.Escape, "largest", "largest p"), _end(rec.Escape, "smallest", "smallest p")),
          Greater(((0, 1),)), note="the workbook's escape exercise: once the shortcut stops predicting the label on "
          "some images, the network learns the complex block"),
    _claim("R-llr", "Kirichenko et al. 2023", "simple last layer retraining can match or outperform state-of-the-art "
           "approaches on spurious correlation benchmarks", "{bits} bits, complex-only mAP ({flavour}): ADSH (BASELINE) "
           "with its hash layer re-trained on held-out items whose simple block is randomised > ADSH", NB01,
           beats(_table1("baseline-llr", "complex-only ({flavour})"), _table1("baseline", "complex-only ({flavour})")),
           note="the workbook's reference remedy (a2lib.studies.remedy), not a claim of the paper: do the frozen "
           "BASELINE features still hold the complex block, paired by seed"),
    _claim("T2-order", "Table 2", "our proposed A²-NET and A²-NET⁺⁺ models consistently outperform the other baseline "
           "methods … A²-NET⁺⁺ achieves much better results over A²-NET", "{dataset}, {bits} bits, mAP: A²-Net++ > "
           "A²-Net > ExchNet > ADSH", NB02, order(*(_map(m) for m in STUDIED)),
           note="the paper has ExchNet above ADSH on every data set and code length"),
    _claim("T2-others", "Table 2", "our proposed A²-NET and A²-NET⁺⁺ models consistently outperform the other baseline "
           "methods on these datasets significantly", "{dataset}, {bits} bits, mAP: A²-Net above ITQ, SDH, DPSH and "
           "HashNet", NB02, beats(_map("a2net"), *(_map(m) for m in SHALLOW_AND_PAIRWISE))),
    _claim("T7-steps", "Table 7", "by stacking these components one by one, the retrieval results are steadily "
           "improved", "ablation, mAP: + decorrelation (= A²-Net++) > + image reconstruction (both) > + feature "
           "reconstruction > + attention > vanilla backbone", NB02, order(*(_ablation(s) for s in (
               "+ feature decorrelation (= A²-Net++)", "+ image reconstruction (both)", "+ feature reconstruction",
               "+ attention", "vanilla backbone")))),
    _claim("T7-both", "Table 7", "Reconstruction with both I^g / I^g′ achieves further improvements over only I^g or "
           "I^g′", "ablation, mAP: image reconstruction from both above g only and g′ only", NB02,
           beats(*(_ablation(s) for s in ("+ image reconstruction (both)", "+ image reconstruction (g only)",
                                          "+ image reconstruction (g' only)"))),
           note="the paper's own Table 7 has one exception: Aircraft, 12 bits (g′ only 54.67 > both 52.06)"),
    _claim("T7-vs-A2Net", "Table 7", "compared with the results of the \"+ Image reconstruction\" column for clearly "
           "observing the large accuracy improvement derived from our novel self-consistency enhancement",
           "ablation, mAP: + image reconstruction (both) > A²-Net", NB02,
           beats(*(_ablation(s) for s in ("+ image reconstruction (both)", "A²-Net")))),
    Claim("F7-eta", "Figure 7", "minimal variations can be observed across different values of η",
          f"A²-Net++ mAP: every two η values within {ETA_TOLERANCE:g}", NB02,
          (Number.of("η = {eta}", rec.EtaPoint, "map", exclude=NO_IMAGE_TERM, eta=rec.GATHER),), Within(ETA_TOLERANCE),
          note="η = 0 (A²-Net, no image decoder) is shown beside the sweep in notebook 02 but is not part of it"),
    _claim("T4-zero-shot", "Table 4", "our proposed models are still the optimal solution under the zero-shot "
           "retrieval setting", "{bits} bits, zero-shot mAP: A²-Net > ADSH", NB02,
           beats(_zero_shot("a2net"), _zero_shot("baseline"))),
    _claim("T4-zero-shot++", "Table 4", "especially for A²-NET⁺⁺. Its retrieval accuracy is consistently and "
           "significantly better than other competing methods", "{bits} bits, zero-shot mAP: A²-Net++ > ADSH", NB02,
           beats(_zero_shot("a2net++"), _zero_shot("baseline"))),
    Claim("T3-generic", "Table 3", "our A²-NET⁺⁺ consistently outperforms all methods by a large margin [on NUS-WIDE "
          "and COCO]", "generic multi-label retrieval", NB02,
          absent="this workbook does not regenerate Table 3 (NUS-WIDE and COCO are not among its data sets)"),
    Claim("T5-cross-domain", "Table 5", "our proposed A²-NET and A²-NET⁺⁺ models significantly outperform other "
          "methods in the cross-domain fine-grained retrieval setting", "cross-domain retrieval on Clothing", NB02,
          absent="this workbook does not regenerate Table 5 (the Clothing data set is not public)"),
    _claim("F9-coverage", "Figure 9", FIG9_QUOTE, "share of the bird covered by the top of the code's Grad-CAM: "
           "A²-Net++ > A²-Net > ExchNet", NB03, order(*(_coverage(m) for m in ("a2net++", "a2net", "exchnet")))),
    _claim("F9-baseline", "Figure 9", FIG9_QUOTE, "share of the bird covered by the top of the code's Grad-CAM: "
           "A²-Net > ADSH (BASELINE, the workbook's control)", NB03, beats(_coverage("a2net"), _coverage("baseline"))),
    _claim("F8-attributes", "Figure 8", "our learned hash bits have strong correspondences to visual attributes of "
           "fine-grained objects, even without employing attribute supervisions", "mean best MI per bit: A²-Net++ "
           "and A²-Net above ADSH (BASELINE, the workbook's control)", NB04,
           below(_best_mi("baseline"), _best_mi("a2net++"), _best_mi("a2net"))),
    _claim("F8-chance", "Figure 8", "the learned hash codes are apparently attribute-aware", "mean best MI per bit of "
           "A²-Net++ above its chance level (attributes shuffled across images)", NB04,
           beats(_best_mi("a2net++"), _best_mi("a2net++", "chance_best_mi", "chance")), across_models=False),
    _claim("T8-order", "Table 8", "our models achieve the best score w.r.t strong attribute-level matching",
           "{bits} bits, NDCG@20: A²-Net++ > A²-Net > ExchNet > ADSH", NB05, order(*(_ndcg(m) for m in STUDIED)),
           note="the paper measures on Clothing; here on the workbook's attribute data"),
    _claim("T8-best", "Table 8", "our models achieve the best score w.r.t strong attribute-level matching",
           "{bits} bits, NDCG@20: A²-Net++ above ITQ, SDH, DPSH and HashNet", NB05,
           beats(_ndcg("a2net++"), *(_ndcg(m) for m in SHALLOW_AND_PAIRWISE))),
    _claim("T6-speed", "Table 6", "achieving the lowest WCtime, highest speedup, and smallest memory cost when "
           "compared to the baseline ANN approaches", "{items} real items: Hamming ranking's speed-up over the linear "
           "scan above BallTree's, KDTree's and PQ's", NB06,
           beats(*(_search(m, "speedup", "{:.1f}×") for m in ("hamming", "balltree", "kdtree", "pq"))),
           across_models=False),
    _claim("T6-memory", "Table 6", "achieving the lowest WCtime, highest speedup, and smallest memory cost when "
           "compared to the baseline ANN approaches", "{items} real items: bytes per item of Hamming ranking below "
           "the linear scan's, BallTree's, KDTree's and PQ's", NB06,
           below(*(_search(m, "bytes_per_item", "{:,.0f} B") for m in ("hamming", "linear", "balltree", "kdtree",
                                                                         "pq"))), across_models=False),
)
"""Every claim the notebooks and the README test, in notebook order."""


def problems(claims: Iterable[Claim] | None = None) -> dict[str, list[str]]:
    """``{claim id: its problems}`` for every claim whose numbers their records no longer declare as the claim reads
    them (a record field renamed or removed after the claims were defined); empty when all agree."""
    found = {claim.id: claim.problems() for claim in (CLAIMS if claims is None else claims)}
    return {claim_id: listed for claim_id, listed in found.items() if listed}


__all__ = ["ABSENT", "CAUSES", "CLAIMS", "CONFIDENCE", "Claim", "Difference", "ETA_TOLERANCE", "FAILS", "Greater",
           "HOLDS", "INCONCLUSIVE", "LARGE_DROP", "MIN_SEEDS", "MISSING_KEY", "NAN_SEEDS", "NOT_TESTABLE",
           "NO_NOTEBOOK", "Number", "ONE_SEED", "SKIPPED", "TOO_FEW_VALUES", "VERDICTS", "Verdict", "Within", "beats",
           "below", "difference", "evaluate", "evaluate_all", "format_samples", "interval", "matches", "order",
           "problems", "samples"]
