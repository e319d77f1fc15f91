"""What each notebook section trains, declared once: a function per section gives its ``Request`` list (why, the
TrainConfig, where the notebook keeps the result), the notebook trains exactly those (``train_all``) and the
training plan (``a2lib plan``, ``a2lib.workbook.plan``) enumerates the same functions from the notebook's parameters.

Every function takes the ``Study`` and the notebook's parameters it reads; ``seeds`` trains each model once per seed
(``Study.config``'s ``seed``), so claims that compare trained models are judged over seeds. ITQ/SDH are fitted on
the BASELINE of the same bits and seed (``setup.fit_shallow``): their request's config is that BASELINE's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Sequence

from ..train import TrainConfig, TrainResult, load_dataset, load_or_train
from .setup import SHALLOW_METHODS, SHALLOW_REFERENCE, Study, fit_shallow

@dataclass(frozen=True)
class Request:
    """One model a notebook section asks for: ``key`` (where the notebook keeps it), ``why`` (shown by the plan),
    the ``config`` it loads or trains, and for ITQ/SDH the shallow ``method`` fitted on that config's network."""
    key: Hashable
    why: str
    config: TrainConfig
    method: str | None = None
    shallow_features: str = "trained"

    def train(self) -> TrainResult:
        """The model: loaded from the cache or trained (``load_or_train``); ITQ/SDH fitted as ``Study.train`` does."""
        if self.method in SHALLOW_METHODS:
            reference = load_or_train(self.config)
            return fit_shallow(self.method, self.config.bits, reference, load_dataset(self.config, "train"),
                               self.shallow_features)
        return load_or_train(self.config)


def request(study: Study, key: Hashable, why: str, method: str, bits: int, **overrides) -> Request:
    """The request of ``study.train(method, bits, **overrides)``."""
    if method in SHALLOW_METHODS:
        return Request(key, why, study.config(SHALLOW_REFERENCE, bits, **overrides), method, study.shallow_features)
    return Request(key, why, study.config(method, bits, **overrides))


def train_all(requests: Iterable[Request]) -> dict:
    """``{request.key: its model}`` for every request, in order (a key asked twice is trained once)."""
    trained: dict = {}
    for item in requests:
        if item.key not in trained:
            trained[item.key] = item.train()
    return trained


def _seed_text(seed: int) -> str:
    return f" seed {seed}"


# --- notebook 01 --------------------------------------------------------------------------------------------------

def table1(study: Study, methods: Sequence[str], bits_list: Sequence[int], seeds: Sequence[int],
           train_variant: str) -> list[Request]:
    """Table 1: every method on the training variant once per seed, with the learning-curve monitors; key
    ``(method, bits, seed)``."""
    from .simplicity import MONITORS

    return [request(study, (m, b, s), f"table 1 {m}/{b}{_seed_text(s)}", m, b, seed=s, variant=train_variant,
                    monitors=MONITORS) for s in seeds for b in bits_list for m in methods]


def complex_reference(study: Study, bits_list: Sequence[int], seeds: Sequence[int]) -> list[Request]:
    """Shah et al.'s reference (a): BASELINE trained on the complex block alone, once per seed; key ``(bits, seed)``."""
    return [request(study, (b, s), f"reference baseline/{b} complex-only{_seed_text(s)}", "baseline", b, seed=s,
                    variant="complex-only") for b in bits_list for s in seeds]


def dose_response(study: Study, bits_list: Sequence[int], eta_values: Sequence[float], eta_seeds: Sequence[int],
                  train_variant: str) -> list[Request]:
    """The dose response: A²-Net++ at each η at the longest code length, once per seed; key ``(eta, seed)``."""
    from .simplicity import MONITORS

    return [request(study, (eta, s), f"dose response eta {eta:g}{_seed_text(s)}", "a2net++", bits_list[-1],
                    eta=float(eta), seed=s, variant=train_variant, monitors=MONITORS)
            for eta in eta_values for s in eta_seeds]


def escape(study: Study, bits_list: Sequence[int], escape_fractions: Sequence[float], escape_seeds: Sequence[int],
           train_variant: str) -> list[Request]:
    """The escape exercise: BASELINE at the longest code length with the simple block randomised on a fraction p of
    the training images, once per seed; key ``(p, seed)``."""
    from .simplicity import MONITORS, escape_options

    return [request(study, (p, s), f"escape p {p:g}{_seed_text(s)}", "baseline", bits_list[-1], seed=s,
                    variant=train_variant, dataset_options=escape_options(p), monitors=MONITORS)
            for p in escape_fractions for s in escape_seeds]


# --- notebooks 02-06 ------------------------------------------------------------------------------------------------

def extra_studies(study: Study, extra_datasets: Mapping[str, dict], replace=None) -> dict[str, Study]:
    """Notebook 02's other data sets: the study on each, its train options overridden as given (``replace``: how
    a study is changed, ``Study.replace`` unless given)."""
    change = replace or (lambda base, **changes: base.replace(**changes))
    return {name: change(study, dataset=name, dataset_options={}, train_options={**study.train_options, **overrides})
            for name, overrides in extra_datasets.items()}


def table2(studies: Mapping[str, Study], methods: Sequence[str], bits_list: Sequence[int],
           other_methods: Sequence[str], other_bits: Sequence[int], seeds: Sequence[int]) -> list[Request]:
    """Table 2: on each study's data set (``{name: study}``: notebook 02's own and its extra data sets), the studied
    methods at ``bits_list`` and the other methods at ``other_bits``, once per seed; key
    ``(dataset, method, bits, seed)``."""
    requests = []
    for name, run in studies.items():
        for s in seeds:
            for group, lengths in ((methods, bits_list), (other_methods, other_bits)):
                requests += [request(run, (name, m, b, s), f"table 2 {name} {m}/{b}{_seed_text(s)}", m, b, seed=s)
                             for b in lengths for m in group]
    return requests


def ablation(study: Study, ablation_bits: int | None, seeds: Sequence[int]) -> list[Request]:
    """Table 7: each ablation step at ``ablation_bits`` (None: none), once per seed; key ``(step, seed)``."""
    from .comparison import ABLATION_STEPS

    if ablation_bits is None:
        return []
    return [request(study, (step.name, s), f"table 7 {step.name}{_seed_text(s)}", step.method, ablation_bits,
                    options=step.options, seed=s) for s in seeds for step in ABLATION_STEPS]


def eta_sweep(study: Study, eta_bits: int, eta_values: Sequence[float], seeds: Sequence[int]) -> list[Request]:
    """Figure 7: A²-Net++ at each η and A²-Net as η = 0 (no image decoder), once per seed (no η: none); key
    ``(eta, seed)``."""
    requests = []
    for s in seeds if eta_values else ():
        requests.append(request(study, (0.0, s), f"eta 0 (A²-Net){_seed_text(s)}", "a2net", eta_bits, seed=s))
        requests += [request(study, (float(eta), s), f"eta {eta}{_seed_text(s)}", "a2net++", eta_bits,
                             eta=float(eta), seed=s) for eta in eta_values]
    return requests


def zero_shot(study: Study, zero_shot_methods: Sequence[str], zero_shot_bits: Sequence[int], unseen_fraction: float,
              seeds: Sequence[int]) -> list[Request]:
    """Table 4: each method trained on the seen classes only (``comparison.zero_shot_classes``), once per seed (no
    method: none); key ``(method, bits, seed)``."""
    from .comparison import zero_shot_classes, zero_shot_config

    if not zero_shot_methods:
        return []
    seen, _ = zero_shot_classes(study, unseen_fraction)
    return [Request((m, b, s), f"table 4 {m}/{b}{_seed_text(s)}", zero_shot_config(study, m, b, seen, seed=s))
            for s in seeds for b in zero_shot_bits for m in zero_shot_methods]


def _shown(study: Study, methods: Sequence[str], bits: int, seeds: Sequence[int]) -> list[Request]:
    return [request(study, (m, s), f"shown {m}/{bits}{_seed_text(s)}", m, bits, seed=s) for s in seeds for m in methods]


def cam_models(study: Study, methods: Sequence[str], bits_list: Sequence[int], cam_bits: int | None,
               seeds: Sequence[int]) -> list[Request]:
    """Notebook 03: every method at ``cam_bits`` (None: the longest of ``bits_list``), once per seed; key
    ``(method, seed)``."""
    return _shown(study, methods, cam_bits or max(bits_list), seeds)


def gallery_models(study: Study, methods: Sequence[str], bits_list: Sequence[int], gallery_bits: int | None,
                   seeds: Sequence[int]) -> list[Request]:
    """Notebook 04: every method at ``gallery_bits`` (None: the longest of ``bits_list``), once per seed; key
    ``(method, seed)``."""
    return _shown(study, methods, gallery_bits or max(bits_list), seeds)


def ndcg_models(study: Study, methods: Sequence[str], bits_list: Sequence[int], other_methods: Sequence[str],
                other_bits: Sequence[int], seeds: Sequence[int]) -> list[Request]:
    """Notebook 05: Table 2's models on the study's data set (Table 8); key ``(dataset, method, bits, seed)``."""
    return table2({study.dataset: study}, methods, bits_list, other_methods, other_bits, seeds)


def timed(study: Study, model_name: str, bits: int) -> list[Request]:
    """Notebook 06: the one model whose features and codes are timed; key ``model_name``."""
    return [request(study, model_name, f"timed {model_name}/{bits}", model_name, bits)]


NOTEBOOK_SECTIONS = {
    "00_deep_hashing_in_ten_minutes": (),  # its toy runs train outside the model cache (a2lib.fit(..., cache=False))
    "01_simplicity_bias": (table1, complex_reference, dose_response, escape),
    "02_training": (table2, ablation, eta_sweep, zero_shot),
    "03_activation_maps": (cam_models,),
    "04_attribute_galleries": (gallery_models,),
    "05_ndcg_attribute_matching": (ndcg_models,),
    "06_retrieval_efficiency": (timed,),
}
"""The section functions each notebook trains through, in its order; each takes ``study`` (``table2``: ``studies``)
and the notebook parameters named as its other arguments, so that ``a2lib plan`` calls them as the notebook does."""


__all__ = ["NOTEBOOK_SECTIONS", "Request", "ablation", "cam_models", "complex_reference", "dose_response", "escape",
           "eta_sweep", "extra_studies", "gallery_models", "ndcg_models", "request", "table1", "table2", "timed",
           "train_all", "zero_shot"]
