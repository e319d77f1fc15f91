"""The training plan of a profile: every ``TrainConfig`` its notebooks will ask the model cache for, found without
running them (``a2lib plan --profile P [--only 02,03]``), and what each costs.

``training_plan`` builds each chosen notebook's ``Study`` from its parameters (the notebook's defaults overridden by
the profile's block, as papermill injects them) and calls the section functions that notebook trains through
(``a2lib.studies.sections.NOTEBOOK_SECTIONS``, the same calls its cells make; ``tests/test_notebooks.py`` checks the
``smoke`` plan against the cache entries a smoke run of every notebook creates). ITQ/SDH stand for the BASELINE
they are fitted on. Configs are deduplicated by ``config_key``; where the data set is present (``data_root``) each
item also has its cache entry (``entry_key``: config and data fingerprint) and is marked cached when that entry
exists. Where it is absent, the configs are still exact: what they take from the data (class count, image size, the
zero-shot class split) comes from the data set's published facts (``PUBLISHED_DATA``, from the data set registry
``a2lib.data.DATASETS``); such items are marked
"no data" (notebook 02 skips an absent extra data set; the other notebooks stop at their first load).

Cost: forward+backward training passes (outer iterations x inner epochs x the images sampled per outer iteration)
times the forward FLOPs of one image (counted by ``torch.utils.flop_counter`` on meta tensors, so nothing is
computed) times ``TRAIN_FLOPS_PER_FORWARD``; validation, the B update and ExchNet's anchor passes are left out.
Hours assume ``ASSUMED_TFLOPS`` sustained (``--tflops`` changes it; ``benchmarks/bench_gpu.py`` measures images/s).
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .. import data as data_module
from .. import folders
from ..data.identity import fingerprint
from ..data.registry import DataFacts, published_facts
from ..data.transforms import PAPER_IMAGE, PAPER_KINDS, PAPER_SIZE
from ..losses import LossWeights
from ..models import build
from ..studies import Study, sections
from ..train import TrainConfig, config_key, entry_dir, split_validation
from ..train.cache import CONFIG_NAME
from .errors import WorkbookError
from .notebooks import discover_notebooks, notebook_defaults, plan_parameters, select_notebooks
from .profiles import load_profile

if TYPE_CHECKING:
    from .profiles import Profile

TRAIN_FLOPS_PER_FORWARD = 3
"""A training step costs about three forward passes (the backward pass computes gradients for inputs and weights)."""
ASSUMED_TFLOPS = 40.0
"""Sustained training throughput assumed for the hours column, in TFLOP/s: what bf16 training of ResNet-50-sized
convolutions typically sustains on an A100/H100-class GPU fed by DataLoader workers (far below the peak)."""
FLOP_BATCH = 2
"""Images in the batch the FLOPs are counted on (BatchNorm in train mode needs two); the count is per image."""
TERA, PETA, SECONDS_PER_HOUR = 1e12, 1e15, 3600.0
CPU_BUILD_ERRORS = (RuntimeError, NotImplementedError)
"""What building a model on meta tensors raises when its constructor needs real values (CSQ's hash centres)."""


DEFAULT_TRANSFORM = "full"
"""The transform kind the fine-grained loaders use unless their ``profile`` option says otherwise."""
PUBLISHED_DATA: dict[str, DataFacts] = published_facts()
"""Training splits of the real data sets as each loader registers them (paper Sec. 4.1): classes, training images
(Aircraft: trainval), and the model input under the ``full`` transforms (224 px crops; MNIST over CIFAR-10:
3x64x32)."""


class _StandIn(Dataset):
    """The training split of an absent data set as far as configs and costs read it: ``labels`` (classes in turn),
    ``num_classes`` and zero images of the right shape."""

    def __init__(self, facts: DataFacts, classes=None):
        self.num_classes, self.image_shape = facts.num_classes, facts.image_shape
        labels = torch.arange(facts.train_items) % facts.num_classes
        if classes is not None:
            labels = labels[torch.isin(labels, torch.as_tensor(sorted(int(c) for c in classes)))]
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return torch.zeros(self.image_shape), int(self.labels[index])


def _no_download(name: str) -> dict:
    """``download=False`` for a loader that would otherwise fetch its data (the plan never downloads)."""
    loader = getattr(data_module, name.replace("-", "_"), None)
    accepts = loader is not None and "download" in inspect.signature(loader).parameters
    return {"download": False} if accepts else {}


class _DataSets:
    """Training splits loaded once per (name, options); an absent real data set becomes its ``_StandIn``."""

    def __init__(self, root: Path, cache_dir: Path):
        self.root, self.cache_dir, self.loaded, self.prints = root, cache_dir, {}, {}

    def _key(self, name: str, options: dict) -> str:
        return json.dumps([name, options], sort_keys=True, default=str)

    def train_split(self, name: str, options: dict) -> tuple[Dataset, bool]:
        """(the training split, whether it is the real data)."""
        key = self._key(name, options)
        if key not in self.loaded:
            try:
                dataset = data_module.load(name, "train", root=str(self.root), **{**options, **_no_download(name)})
                self.loaded[key] = (dataset, True)
            except FileNotFoundError as missing:
                if name not in PUBLISHED_DATA:
                    raise WorkbookError(f"cannot plan without data set {name!r}: {missing}") from None
                self.loaded[key] = (_StandIn(_facts(name, options), options.get("classes")), False)
        return self.loaded[key]

    def fingerprint(self, name: str, options: dict) -> str:
        key = self._key(name, options)
        if key not in self.prints:
            self.prints[key] = fingerprint(self.train_split(name, options)[0])
        return self.prints[key]


def _facts(name: str, options: dict) -> DataFacts:
    """``PUBLISHED_DATA[name]`` with the crop size the options ask for (fine-grained sets: ``size``, default 224);
    light transforms without a ``size`` keep each image's own size, which only the images tell: an error."""
    facts = PUBLISHED_DATA[name]
    if facts.image_shape != PAPER_IMAGE:
        return facts
    if options.get("profile", DEFAULT_TRANSFORM) not in PAPER_KINDS and options.get("size") is None:
        raise WorkbookError(f"data set {name!r} is absent and its options {options} keep the images' own sizes; "
                            "put the data under the data folder or give a 'size' option")
    size = options.get("size") or PAPER_SIZE
    return dataclasses.replace(facts, image_shape=(PAPER_IMAGE[0], size, size))


class _PlanStudy(Study):
    """A ``Study`` whose data come from a ``_DataSets`` (shared, loaded once; published facts where absent)."""

    data_sets: _DataSets | None = None

    def load(self, split: str, **options) -> Dataset:
        if split != "train":
            raise WorkbookError("the plan reads training splits only")
        return self.data_sets.train_split(self.dataset, {**self.dataset_options, **options})[0]


def _study(values: dict, data_sets: _DataSets) -> Study:
    study = _PlanStudy.from_dict(values)
    object.__setattr__(study, "data_sets", data_sets)
    return study


def _replace(study: Study, **changes) -> Study:
    """``study.replace(...)`` keeping the plan's data sets."""
    return _study({**dataclasses.asdict(study), **changes}, study.data_sets)


def section_requests(section: Callable, study: Study, params: dict, stem: str) -> list[sections.Request]:
    """``section``'s requests as the notebook ``stem`` asks for them: ``study`` (``studies``: the study and one per
    extra data set, absent ones as stand-ins) and the notebook's parameters named as its other arguments."""
    arguments = {}
    for name in inspect.signature(section).parameters:
        if name == "study":
            arguments[name] = study
        elif name == "studies":
            arguments[name] = {study.dataset: study, **sections.extra_studies(study, params.get("extra_datasets", {}),
                                                                           _replace)}
        elif name in params:
            arguments[name] = params[name]
        else:
            raise WorkbookError(f"notebook {stem} has no parameter {name!r}, which its section "
                                f"a2lib.studies.sections.{section.__name__} needs; add it to its parameters cell")
    return section(**arguments)


def notebook_requests(stem: str, study: Study | None, params: dict) -> list[sections.Request]:
    """Every request of notebook ``stem``'s sections (``a2lib.studies.sections.NOTEBOOK_SECTIONS``), in order."""
    if stem not in sections.NOTEBOOK_SECTIONS:
        raise WorkbookError(f"the plan does not know what notebook {stem} trains; list its section functions in "
                            "a2lib.studies.sections.NOTEBOOK_SECTIONS")
    return [item for section in sections.NOTEBOOK_SECTIONS[stem] for item in section_requests(section, study, params,
                                                                                              stem)]


@dataclass
class PlanItem:
    """One training configuration of the plan (module docstring)."""

    config: TrainConfig
    key: str
    requests: list[str] = field(default_factory=list)
    data_present: bool = False
    entry: Path | None = None
    image_passes: int = 0
    forward_flops: float = 0.0

    @property
    def cached(self) -> bool:
        return self.entry is not None and (self.entry / CONFIG_NAME).is_file()

    @property
    def status(self) -> str:
        return "cached" if self.cached else ("train" if self.data_present else "no data")

    @property
    def train_flops(self) -> float:
        return TRAIN_FLOPS_PER_FORWARD * self.forward_flops * self.image_passes


@dataclass
class Plan:
    """The items of a profile's plan, in the order the notebooks first ask for them."""

    profile: str
    items: list[PlanItem]
    cache_dir: Path
    data_root: Path

    def missing(self) -> list[PlanItem]:
        """Items that can be trained here and are not cached."""
        return [item for item in self.items if item.status == "train"]

    def count(self, status: str) -> int:
        return sum(item.status == status for item in self.items)

    @property
    def train_flops(self) -> float:
        return sum(item.train_flops for item in self.items)


def _forward_flops(config: TrainConfig, image_shape: tuple[int, ...], memo: dict) -> float:
    """FLOPs of one training-mode forward pass of ``config``'s model on one image (module docstring)."""
    from torch.utils.flop_counter import FlopCounterMode

    options = {**config.model_options, "pretrained": False, "weights_path": None}
    key = json.dumps([config.model, config.bits, config.backbone, options, list(image_shape)], sort_keys=True)
    if key not in memo:
        try:
            with torch.device("meta"):
                model = build(config.model, config.bits, backbone=config.backbone, **options)
        except CPU_BUILD_ERRORS:
            model = build(config.model, config.bits, backbone=config.backbone, **options).to("meta")
        images = torch.zeros(FLOP_BATCH, *image_shape, device="meta")
        labels = torch.zeros(FLOP_BATCH, dtype=torch.long, device="meta")
        with FlopCounterMode(display=False) as counter:
            model.train()(images, labels)
        memo[key] = counter.get_total_flops() / FLOP_BATCH
    return memo[key]


def _price(item: PlanItem, data_sets: _DataSets, memo: dict | None) -> None:
    """Fill in the item's data presence, cache entry and (with a FLOP ``memo``) cost."""
    config = item.config
    dataset, present = data_sets.train_split(config.dataset, config.dataset_options)
    item.data_present = present
    if present:
        item.entry = entry_dir(config, data_sets.fingerprint(config.dataset, config.dataset_options),
                               data_sets.cache_dir)
    database, _ = split_validation(torch.as_tensor(dataset.labels), config.val_fraction, config.seed)
    item.image_passes = config.outer_iterations * config.inner_epochs * min(config.n_samples, len(database))
    if memo is not None:
        item.forward_flops = _forward_flops(config, tuple(dataset[0][0].shape), memo)


def _notebook_parameters(path: Path, injected: dict) -> dict:
    """The notebook's parameters as its kernel sees them: its defaults overridden by the injected ones."""
    return {**notebook_defaults(path), **copy.deepcopy(injected)}


def training_plan(profile: str | Profile, only: Sequence[str] | None = None, notebooks_dir: Path | None = None,
                  cache_dir: Path | None = None, data_root: Path | None = None, cost: bool = True) -> Plan:
    """The plan of ``profile`` (a name, a YAML path or a ``Profile``) for the notebooks in ``only`` (all when None):
    every config they ask the cache for, deduplicated, with cache status and cost (module docstring; ``cost=False``
    skips counting FLOPs, about a second per architecture). The folders default to the workbook's
    (``a2lib.folders``, which the runner points at ``data/`` and ``cache/``)."""
    from . import paths

    prof = load_profile(profile) if isinstance(profile, str) else profile
    folder = Path(notebooks_dir) if notebooks_dir else paths.notebooks_dir()
    workbook = discover_notebooks(folder)
    chosen = select_notebooks(workbook, only)
    injected = plan_parameters(prof, workbook, chosen, prof.device)
    data_sets = _DataSets(Path(data_root or folders.data_root()), Path(cache_dir or folders.cache_root()))
    items: dict[str, PlanItem] = {}
    for path in chosen:
        params = _notebook_parameters(path, injected[path])
        study = _study({**params["study"], "device": params["device"]}, data_sets) if "study" in params else None
        for request in notebook_requests(path.stem, study, params):
            key = config_key(request.config)
            item = items.setdefault(key, PlanItem(request.config, key))
            item.requests.append(f"{path.stem[:2]} {request.why}")
    memo: dict | None = {} if cost else None
    for item in tqdm(items.values(), desc=f"planning {prof.name}", unit="config", leave=False):
        _price(item, data_sets, memo)
    return Plan(prof.name, list(items.values()), data_sets.cache_dir, data_sets.root)


def config_options(config: TrainConfig) -> str:
    """What sets a config apart, shortly: model options, η, data options."""
    parts = [f"{k}={v}" for k, v in sorted(config.model_options.items())]
    if config.loss_weights.eta != LossWeights().eta:
        parts.append(f"eta={config.loss_weights.eta}")
    for key, value in sorted(config.dataset_options.items()):
        parts.append(f"{key}=<{len(value)} classes>" if key == "classes" else f"{key}={value}")
    return ", ".join(parts)


def format_plan(plan: Plan, tflops: float = ASSUMED_TFLOPS, rows: bool = True) -> str:
    """The plan as text: a summary line, the cost, and (with ``rows``) one markdown row per configuration."""
    hours = plan_hours(plan, tflops)
    lines = [f"plan of profile {plan.profile!r}: {len(plan.items)} training configurations (deduplicated by cache "
             f"key): {plan.count('cached')} cached, {plan.count('train')} to train, {plan.count('no data')} whose "
             f"data set is not under {plan.data_root}",
             f"estimated training compute: {plan.train_flops / PETA:,.4g} PFLOP in "
             f"{sum(i.image_passes for i in plan.items):,} forward+backward image passes, about {hours:,.4g} GPU-hours "
             f"at {tflops:g} TFLOP/s sustained (training passes only; cache: {plan.cache_dir})"]
    if rows:
        lines += ["", "| # | status | key | dataset | model | bits | options | image passes | PFLOP | requested by |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for number, item in enumerate(plan.items, 1):
            c = item.config
            lines.append(f"| {number} | {item.status} | {item.key[:10]} | {c.dataset} | {c.model} | {c.bits} | "
                         f"{config_options(c)} | {item.image_passes:,} | {item.train_flops / PETA:.3g} | "
                         f"{'; '.join(item.requests)} |")
    return "\n".join(lines)


def plan_hours(plan: Plan, tflops: float = ASSUMED_TFLOPS) -> float:
    """The plan's estimated GPU-hours at ``tflops`` sustained."""
    return plan.train_flops / (tflops * TERA) / SECONDS_PER_HOUR


def check_tflops(tflops: float | None) -> float:
    """``tflops`` (default ``ASSUMED_TFLOPS``), refused unless a positive finite number."""
    tflops = ASSUMED_TFLOPS if tflops is None else tflops
    if not math.isfinite(tflops) or tflops <= 0:
        raise WorkbookError(f"--tflops must be a positive number of TFLOP/s, got {tflops}")
    return tflops


def plan_command(profile: str, only: Sequence[str] | None, notebooks_dir: Path | None, tflops: float | None,
                 summary: bool) -> int:
    """``a2lib plan``: print the plan of ``profile`` in the workbook's folders (``paths.activate``); returns 0."""
    from . import paths

    tflops = check_tflops(tflops)
    paths.activate()
    print(format_plan(training_plan(profile, only, notebooks_dir), tflops, rows=not summary))
    return 0


__all__ = ["ASSUMED_TFLOPS", "DataFacts", "notebook_requests", "section_requests", "PUBLISHED_DATA", "Plan", "PlanItem", "check_tflops",
           "format_plan", "plan_command", "plan_hours", "training_plan"]
