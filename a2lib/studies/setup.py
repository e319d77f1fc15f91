"""``Study``: the typed setup shared by a study's notebooks (a profile block's ``study`` entry), and the one way
configs are built from it.

A study names a recipe (``a2lib.recipes``: backbone, model options, training numbers) and overrides what it must;
every TrainConfig of a study comes from ``Study.config`` (assembled by ``a2lib.train.assembly``, as ``a2lib.fit``'s),
so notebooks that reuse a model (02-05 reuse Table 2's) build the same config and hit the same cache entry; a
switched-off component (``options``), another η, seed or training variant is the only difference between two
configs. ITQ/SDH are not trained but fitted on the pooled features of a network (``fit_shallow``); ``Study.train``
hides the difference.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch.utils.data import Dataset, Subset

from .. import recipes, shallow
from ..data import load
from ..losses import LossWeights
from ..models import build, list_models
from ..train import TrainConfig, TrainResult, load_dataset, load_or_train
from ..train.assembly import assemble, train_option_names, with_recipe

SHALLOW_METHODS = ("itq", "sdh")
"""Fitted on the pooled backbone features of a network (``a2lib.shallow``), not trained by ``a2lib.train``."""
SHALLOW_FEATURES = ("trained", "pretrained")
"""Whose features ITQ/SDH hash: the trained BASELINE network of the same bits (the CPU profiles: no ImageNet weights
offline), or the untrained backbone with its default (ImageNet) weights, as the paper's CNN features."""
SHALLOW_REFERENCE = "baseline"
"""The deep method whose network (and database split) ITQ/SDH use."""
VARIANT_FLAVOUR = "blanked"
"""Flavour of a dominoes training ``variant`` other than "both": the other block blanked (notebook 01's reference
model, trained on the complex block alone)."""


def _check_train_options(options: dict, where: str) -> None:
    """Refuse a key that is no train option of a study (those of ``train_option_names`` less the TrainConfig fields
    a study sets from its own: backbone, seed, device, ...), and ``loss_weights`` that is not a dict of its fields."""
    valid = sorted(train_option_names(exclude=Study.fields()))
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {unknown}; valid TrainConfig options: {', '.join(valid)}")
    weights = options.get("loss_weights", {})
    names = [f.name for f in dataclasses.fields(LossWeights)]
    if not isinstance(weights, dict) or set(weights) - set(names):
        raise ValueError(f"{where}: loss_weights must be a dict of LossWeights fields ({', '.join(names)}), "
                         f"got {weights!r}")


@dataclass(frozen=True)
class Study:
    """The shared values of a study: data, recipe, backbone, per-method model options, training schedule, seed,
    device.

    ``recipe`` names an ``a2lib.recipes`` recipe; it gives the backbone, model options and training options, and the
    study's own fields override it (``model_options`` per method and key, ``train_options`` per key); the merged
    values are the study's fields from then on. Without a recipe, ``backbone`` is required. ``model_options`` maps
    a method name to that model's options (``{'a2net++': {'code_dim': 256}}``); ``eta`` is η of Eq. (15) (None: the
    paper's 0.1); ``shallow_features`` says whose features ITQ/SDH hash (``SHALLOW_FEATURES``);
    ``method_train_options`` maps a method to training options it sets otherwise (the recipe's per-method ones, such
    as a learning rate the recipe search chose, unless ``train_options`` sets the key), over ``train_options``.
    """

    dataset: str
    backbone: str | None = None
    recipe: str | None = None
    dataset_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    train_options: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    eta: float | None = None
    shallow_features: str = "trained"
    method_train_options: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("dataset_options", "model_options", "train_options", "method_train_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"Study.{name} must be a dict, got {getattr(self, name)!r}")
        if not all(isinstance(v, dict) for v in self.model_options.values()):
            raise ValueError("Study.model_options must map a method name to a dict of that model's options, "
                             "e.g. {'a2net++': {'code_dim': 256}}")
        for method, options in self.method_train_options.items():
            if method not in list_models() or not isinstance(options, dict):
                raise ValueError(f"Study.method_train_options must map a method ({', '.join(list_models())}) to a "
                                 f"dict of training options, got {method!r}: {options!r}")
            _check_train_options(options, f"Study.method_train_options[{method!r}]")
        self._apply_recipe()
        unknown = sorted(set(self.model_options) - set(list_models()))
        if unknown:
            raise ValueError(f"Study.model_options has unknown method(s) {unknown}; valid: {', '.join(list_models())}")
        _check_train_options(self.train_options, "Study.train_options")
        if self.shallow_features not in SHALLOW_FEATURES:
            raise ValueError(f"Study.shallow_features must be one of {', '.join(SHALLOW_FEATURES)}, "
                             f"got {self.shallow_features!r}")

    def _apply_recipe(self) -> None:
        """Merge the recipe under the study's own values (frozen dataclass: set once, here)."""
        *merged, by_method = with_recipe(self.recipe, self.backbone, self.model_options, self.train_options)
        for name, value in zip(("backbone", "model_options", "train_options"), merged):
            object.__setattr__(self, name, value)
        given = self.method_train_options
        object.__setattr__(self, "method_train_options", {
            method: {**by_method.get(method, {}), **copy.deepcopy(given.get(method, {}))}
            for method in dict.fromkeys([*by_method, *given])})
        if self.backbone is None:
            raise ValueError(f"Study needs a backbone or a recipe (one of {', '.join(recipes.RECIPES)})")

    @classmethod
    def fields(cls) -> list[str]:
        """The names a study block may hold."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict) -> "Study":
        """A study from a dict of ``Study.fields()``; any other key is an error naming the valid ones."""
        unknown = sorted(set(values) - set(cls.fields()))
        if unknown:
            raise ValueError(f"unknown study key(s) {unknown}; valid keys: {', '.join(cls.fields())}")
        return cls(**copy.deepcopy(values))

    def replace(self, **changes) -> "Study":
        """This study with some fields changed (e.g. another data set and its options), validated again. The recipe
        is already merged in, so another recipe needs a new ``Study``."""
        if changes.get("recipe", self.recipe) != self.recipe:
            raise ValueError("Study.replace cannot change the recipe (its values are merged in); build a new Study")
        return self.from_dict({**dataclasses.asdict(self), **changes})

    def load(self, split: str, **options) -> Dataset:
        """The study's data set ``split`` ("train" or "test"); ``options`` add to or override its options."""
        return load(self.dataset, split, **{**self.dataset_options, **options})

    @cached_property
    def _train_split(self) -> Dataset:
        return self.load("train")

    def config(self, method: str, bits: int, *, eta: float | None = None, seed: int | None = None,
               options: dict | None = None, variant: str | None = None, dataset_options: dict | None = None,
               **train_overrides) -> TrainConfig:
        """The TrainConfig of ``method`` at ``bits``.

        ``eta`` / ``seed`` override the study's; ``options`` override the method's model options (ablation
        switches); ``variant`` trains on one dominoes block ("complex-only": the other ``VARIANT_FLAVOUR``;
        None or "both": the data as is); ``dataset_options`` add to or override the study's data set options
        (e.g. ``{"simple_randomised": 0.5}`` on dominoes); ``train_overrides`` override ``train_options``. CSQ and
        OrthoCos get ``num_classes`` from the training split, A²-Net(++) the data's ``image_size`` where it is not
        the backbone's default, unless ``options`` set them. The same arguments always give the same config.
        """
        _check_train_options(train_overrides, f"Study.config({method!r}, {bits}) keyword arguments")
        if dataset_options is not None and not isinstance(dataset_options, dict):
            raise ValueError(f"Study.config dataset_options must be a dict of data set options, got "
                             f"{dataset_options!r}")
        dataset_options = {**self.dataset_options, **(dataset_options or {})}
        if variant not in (None, "both"):
            dataset_options.update(variant=variant, flavour=VARIANT_FLAVOUR)
        own = {"backbone": self.backbone, "seed": self.seed if seed is None else seed, "device": self.device}
        return assemble(method, bits, self._train_split, dataset=self.dataset, dataset_options=dataset_options,
                        model_options={**self.model_options.get(method, {}), **(options or {})},
                        train_options={**own, **self.train_options, **self.method_train_options.get(method, {}),
                                       **train_overrides},
                        eta=self.eta if eta is None else eta)

    def train_option(self, method: str, name: str):
        """The training option ``name`` that ``method``'s configs get: its own, else the study's, else the
        ``TrainConfig`` default."""
        options = {**self.train_options, **self.method_train_options.get(method, {})}
        if name in options:
            return options[name]
        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        if name not in defaults:
            raise ValueError(f"{name!r} is not a TrainConfig field")
        return defaults[name]

    def train(self, method: str, bits: int, **overrides) -> TrainResult:
        """Any method at ``bits``: deep ones trained or loaded from the cache (``load_or_train``); ITQ/SDH fitted on
        the features of the cached BASELINE of the same bits (``fit_shallow`` with ``shallow_features``).
        ``overrides``: ``config``'s keyword arguments."""
        if method in SHALLOW_METHODS:
            reference = load_or_train(self.config(SHALLOW_REFERENCE, bits, **overrides))
            return fit_shallow(method, bits, reference, load_dataset(reference.config, "train"),
                               self.shallow_features)
        return load_or_train(self.config(method, bits, **overrides))


def fit_shallow(method: str, bits: int, reference: TrainResult, train_set: Dataset, features: str = "trained",
                device=None) -> TrainResult:
    """ITQ or SDH at ``bits`` on pooled backbone features, as a ``TrainResult`` over ``reference``'s database split.

    ``features``: "trained" hashes the features of ``reference.model`` (the BASELINE of the same bits), "pretrained"
    those of a fresh BASELINE network with the backbone's default weights (ImageNet for ResNet-50; seeded). Fitted
    on the database items (SDH with their labels); the database codes are their codes.
    """
    if method not in SHALLOW_METHODS:
        raise ValueError(f"unknown shallow method {method!r}; choose one of {', '.join(SHALLOW_METHODS)}")
    if features not in SHALLOW_FEATURES:
        raise ValueError(f"features must be one of {', '.join(SHALLOW_FEATURES)}, got {features!r}")
    config = reference.config
    if features == "trained":
        network = reference.model
    else:
        torch.manual_seed(config.seed)
        network = build(config.model, bits, backbone=config.backbone, **config.model_options)
    network.to(device or next(reference.model.parameters()).device).eval()
    database = Subset(train_set, reference.db_indices.tolist())
    db_features = shallow.extract_features(network, database, config.eval_batch_size, device)
    estimator = shallow.build(method, bits, seed=config.seed).fit(db_features, reference.db_labels)
    model = shallow.ShallowHashModel(method, network, estimator)
    shallow_config = dataclasses.replace(config, model=method, model_options={"features": features})
    return TrainResult(model, estimator.encode(db_features), reference.db_indices, reference.val_indices,
                       reference.db_labels, [], None, None, shallow_config)


__all__ = [
    "SHALLOW_FEATURES", "SHALLOW_METHODS", "Study",
    "VARIANT_FLAVOUR", "fit_shallow",
]
