"""The one way a ``TrainConfig`` is put together from a recipe, the data and the caller's choices.

``assemble`` layers, each over the one before: the recipe (``a2lib.recipes``: backbone, the method's model options,
training numbers), the caller's train options (any ``train_option_names()`` field, ``model_options`` among them),
the caller's model options, the model options the data decides where still unset (``data_options``), and η.
``a2lib.fit`` (``fit_config``) and ``a2lib.studies.Study.config`` both call it, so the same choices give the same
config and the same cache entry; ``with_recipe`` is the recipe layer alone, which a ``Study`` merges in once.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Collection

from torch import Tensor
from torch.utils.data import Dataset

from .. import recipes
from ..checks import options_of
from ..data.identity import ITEM_SEED, isolated_rng
from ..losses import LossWeights
from ..models import default_image_size, option_names
from .config import TrainConfig
from .trainer import dataset_labels

SET_BY_ASSEMBLY = ("dataset", "dataset_options", "model", "bits")
"""TrainConfig fields ``assemble`` takes as arguments of their own; every other field is a train option."""
RGB_CHANNELS = 3
"""ModelConfig's default ``in_channels``; the data sets it only for images with another channel count."""


def train_option_names(exclude: Collection[str] = ()) -> list[str]:
    """The TrainConfig fields a caller may pass as train options, in field order, less ``exclude`` (what that caller
    sets through fields of its own)."""
    return [f.name for f in dataclasses.fields(TrainConfig) if f.name not in (*SET_BY_ASSEMBLY, *exclude)]


def with_recipe(recipe: str | recipes.Recipe | None, backbone: str | None, model_options: dict,
                train_options: dict) -> tuple[str | None, dict, dict, dict]:
    """(backbone, model options per method, train options, train options per method): the recipe's, each overridden
    by the given ones (a method's model options and the train options key by key; a method's own recipe training
    options only where the given train options leave the key unset); no recipe gives copies of the given ones."""
    model_options, train_options = copy.deepcopy(model_options), copy.deepcopy(train_options)
    if recipe is None:
        return backbone, model_options, train_options, {}
    chosen = recipes.get(recipe)
    methods = dict.fromkeys([*chosen.model_options, *model_options])
    merged = {method: {**chosen.options_for(method), **model_options.get(method, {})} for method in methods}
    by_method = {method: {k: v for k, v in copy.deepcopy(own).items() if k not in train_options}
                 for method, own in chosen.method_train_options.items()}
    return (backbone or chosen.backbone, merged, {**copy.deepcopy(chosen.train_options), **train_options},
            {method: own for method, own in by_method.items() if own})


def assemble(method: str, bits: int, train_set: Dataset, *, dataset: str, recipe: str | recipes.Recipe | None = None,
             dataset_options: dict | None = None, model_options: dict | None = None,
             train_options: dict | None = None, eta: float | None = None) -> TrainConfig:
    """The TrainConfig of ``method`` at ``bits`` on ``train_set`` (named ``dataset``, loaded with
    ``dataset_options``), layered as the module docstring says; ``eta`` (None: keep the layers') sets η of
    Eq. (15) in ``loss_weights``. Arguments are copied, never changed."""
    given = dict(train_options or {})
    backbone, by_method, options, train_by_method = with_recipe(recipe, given.pop("backbone", None),
                                                                {method: given.pop("model_options", {})}, given)
    options.update(train_by_method.get(method, {}))
    merged = {**by_method[method], **copy.deepcopy(model_options or {})}
    merged = {**data_options(method, backbone, train_set, merged), **merged}
    if eta is not None:
        weights = options_of(LossWeights, options.pop("loss_weights", None), "TrainConfig.loss_weights")
        options["loss_weights"] = dataclasses.replace(weights, eta=eta)
    return TrainConfig(dataset=dataset, dataset_options=copy.deepcopy(dataset_options or {}), model=method,
                       model_options=merged, bits=bits, backbone=backbone, **options)


def _image_shape(dataset: Dataset) -> tuple[int, int, int]:
    """(C, H, W) of the first item's image; a clear error for an empty set or items that are not (image, label)."""
    if len(dataset) == 0:
        raise ValueError("the training set is empty; pass a dataset with labelled images")
    with isolated_rng(ITEM_SEED):  # a random training transform must not move the caller's random stream
        item = dataset[0]
    image = item[0] if isinstance(item, (tuple, list)) else None
    if not isinstance(image, Tensor) or image.dim() != 3:
        got = tuple(image.shape) if isinstance(image, Tensor) else type(item).__name__
        raise ValueError(f"fit() needs items (float CxHxW image, label); the first item gives {got}. Load images with "
                         "a2lib.data.load(...) or a2lib.data.ArrayDataset, or add a transform that makes tensors")
    return tuple(int(side) for side in image.shape)


def data_options(method: str, backbone: str, dataset: Dataset, given: dict) -> dict:
    """The model options the data decides, for those ``given`` does not set: ``in_channels`` (when not 3),
    ``image_size`` for the decoder of A²-Net(++) (when not the backbone's default), ``num_classes`` (CSQ, OrthoCos)."""
    names = option_names(method)
    channels, height, width = _image_shape(dataset)
    options = {}
    if channels != RGB_CHANNELS and "in_channels" not in given:
        options["in_channels"] = channels
    if "image_size" in names and "image_size" not in given:
        if (height, width) != default_image_size(backbone):
            options["image_size"] = [height, width]  # as JSON stores it, so a loaded config compares equal
    if "num_classes" in names and "num_classes" not in given:
        options["num_classes"] = _num_classes(dataset)
    return options


def _num_classes(dataset: Dataset) -> int:
    """``dataset.num_classes``, else the width of multi-hot labels or the largest class index + 1."""
    if getattr(dataset, "num_classes", None):
        return int(dataset.num_classes)
    labels = dataset_labels(dataset)
    return int(labels.shape[1]) if labels.dim() == 2 else int(labels.max()) + 1


__all__ = ["SET_BY_ASSEMBLY", "assemble", "data_options", "train_option_names", "with_recipe"]
