"""The ``full`` profile's code path end to end, shrunk in counts only: a generated CUB-200-2011 tree in the official
layout read by the real loader and the paper's transforms (224 px crops), the ``full`` plan's own configurations
(ResNet-50, SGD, the paper's loss weights, recipe ``paper``), each method trained for one outer iteration into the
cache and evaluated by mAP. No ImageNet weights can be downloaded here, so the backbones start from random
initialisation (``pretrained=False``): the weights are the only thing not as in ``full``."""
import dataclasses
import math

import pytest
from test_data_real import CUB_CLASSES, _cub

from a2lib.data import load
from a2lib.data.transforms import PAPER_SIZE
from a2lib.losses import LossWeights
from a2lib.studies.comparison import evaluate_retrieval
from a2lib.studies.setup import SHALLOW_METHODS, fit_shallow
from a2lib.train import load_or_train
from a2lib.workbook import load_profile
from a2lib.workbook.plan import training_plan

PER_CLASS_TRAIN, PER_CLASS_TEST = 6, 2
"""Six training images per class: the ``full`` val_fraction of 0.1 then holds out round(0.6) = 1 per class, so
validation runs too; two test images per class are the queries."""
IMAGE_SIDE = 48
"""Side of the generated JPEGs; the paper's transforms crop and resize them to 224 px as they would CUB's."""
SHRUNK = {"outer_iterations": 1, "inner_epochs": 1, "n_samples": 4, "batch_size": 4, "eval_batch_size": 8}
"""The counts shrunk: one outer iteration of one epoch over 4 sampled images in one batch (one SGD step)."""
DIAGNOSED = "a2net++"
"""The one method that keeps ``full``'s gradient diagnostic (one backward pass through ResNet-50 per loss term; it
has the most terms): for the others it is off, as it changes no weight and would triple this test's time."""
NOTEBOOKS = ["05_ndcg_attribute_matching"]
"""Notebook 05 asks for every fine-grained method of the ``full`` profile at every code length (Table 8)."""


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    root = tmp_path_factory.mktemp("full-path")
    classes = len(CUB_CLASSES)
    _cub(root, n_train=classes * PER_CLASS_TRAIN, n_test=classes * PER_CLASS_TEST, size=IMAGE_SIDE)
    return root


def _methods(cub) -> dict:
    """The first config the ``full`` plan gives each model on the CUB tree (Table 2's 12-bit ones), shrunk."""
    plan = training_plan("full", only=NOTEBOOKS, data_root=cub, cache_dir=cub / "cache", cost=False)
    first = {}
    for item in plan.items:
        if item.config.dataset == "cub200" and item.data_present:
            first.setdefault(item.config.model, item.config)
    return {model: dataclasses.replace(config, **SHRUNK, model_options={**config.model_options, "pretrained": False},
                                       grad_diagnostic=config.grad_diagnostic and model == DIAGNOSED)
            for model, config in first.items()}


@pytest.mark.slow
def test_every_full_method_trains_one_outer_iteration_on_a_cub_tree_and_is_evaluated(cub):
    study = load_profile("full").study("02_training")
    configs = _methods(cub)
    assert sorted(configs) == sorted(["baseline", "exchnet", "a2net", "a2net++", "dpsh", "hashnet", "csq",
                                      "orthocos"])
    for config in configs.values():  # the full profile's kind: ResNet-50, SGD, the paper's weights, 224 px
        assert (config.backbone, config.optimizer, config.bits, config.dataset) == ("resnet50", "sgd", 12, "cub200")
        assert (config.momentum, config.weight_decay, config.loss_weights) == (0.9, 1e-4, LossWeights())
    assert configs[DIAGNOSED].grad_diagnostic  # full's default, kept for one method
    test_set = load("cub200", "test", root=str(cub))
    assert test_set[0][0].shape == (3, PAPER_SIZE, PAPER_SIZE)
    results = {}
    for model, config in configs.items():
        result = load_or_train(config, cache_dir=cub / "cache", data_root=cub, verbose=False)
        assert len(result.history) == 1 and math.isfinite(result.history[0]["loss"]), model
        assert result.best_iteration == 1, model  # validation ran on the held-out item of each class
        shares = [value for key, value in result.history[0].items() if key.startswith("grad_share/")]
        assert (len(shares) > 1 and math.isclose(sum(shares), 1.0)) if model == DIAGNOSED else not shares, model
        results[model] = result
    train_set = load("cub200", "train", root=str(cub))
    for method in SHALLOW_METHODS:  # full hashes the pretrained backbone's features (random here: offline)
        results[method] = fit_shallow(method, 12, results["baseline"], train_set, study.shallow_features)
    for method, result in results.items():
        scores = evaluate_retrieval(result, test_set)
        assert 0.0 <= scores["map"] <= 1.0, method
    entries = [p for p in (cub / "cache").iterdir() if p.is_dir()]
    assert len(entries) == len(configs)  # every trained model was written to the cache
