"""``a2lib.train.assembly``: the one assembly of a TrainConfig, layered recipe -> train options -> model options ->
the data's options -> η, which ``fit_config`` and ``Study.config`` both call, so the same choices give the same
config (and cache key) through either."""
import dataclasses

import pytest
import torch

from a2lib import recipes
from a2lib.data import ArrayDataset
from a2lib.fitting import fit_config
from a2lib.studies import Study
from a2lib.train import TrainConfig, config_key
from a2lib.train.assembly import assemble, train_option_names

CLASSES, PER_CLASS, SIDE = 4, 3, 32


def _images() -> ArrayDataset:
    generator = torch.Generator().manual_seed(0)
    return ArrayDataset(torch.rand(CLASSES * PER_CLASS, 3, SIDE, SIDE, generator=generator),
                        torch.arange(CLASSES).repeat(PER_CLASS))


class ArrayStudy(Study):
    """A study whose training split is the in-memory images (no data set on disk)."""

    def load(self, split: str, **options):
        return _images()


@pytest.mark.parametrize("recipe", ["smoke", "quick"])
@pytest.mark.parametrize("method, options", [("a2net++", {"num_maps": 4}), ("csq", {}), ("baseline", {})])
def test_fit_config_and_study_config_agree(recipe, method, options):
    train = {"lr": 0.05, "outer_iterations": 3, "loss_weights": {"beta": 0.5}}
    by_fit = fit_config(_images(), method, 12, recipe, eta=0.3, seed=2, **options, **train)
    study = ArrayStudy(dataset="ArrayDataset", recipe=recipe, seed=2)
    by_study = study.config(method, 12, eta=0.3, options=options, **train)
    assert by_fit.key_dict() == by_study.key_dict() and config_key(by_fit) == config_key(by_study)
    chosen = recipes.get(recipe)
    assert (by_fit.lr, by_fit.outer_iterations, by_fit.seed) == (0.05, 3, 2)
    assert by_fit.n_samples == chosen.train_options["n_samples"] and by_fit.backbone == chosen.backbone
    assert (by_fit.loss_weights.beta, by_fit.loss_weights.eta) == (0.5, 0.3)
    if method == "csq":
        assert by_fit.model_options == {"num_classes": CLASSES}


def test_study_level_values_give_what_fit_gets_as_overrides():
    study = ArrayStudy(dataset="ArrayDataset", recipe="quick", train_options={"eval_every": 2},
                       model_options={"a2net": {"num_maps": 3}}, eta=0.2, seed=1)
    by_fit = fit_config(_images(), "a2net", 24, "quick", eval_every=2, num_maps=3, eta=0.2, seed=1)
    assert study.config("a2net", 24).key_dict() == by_fit.key_dict()
    assert by_fit.model_options == {**recipes.get("quick").model_options["a2net"], "num_maps": 3,
                                    "image_size": [SIDE, SIDE]}


def test_each_layer_overrides_the_one_before():
    smoke = recipes.get("smoke")
    config = assemble("a2net++", 12, _images(), dataset="arrays", recipe="smoke",
                      train_options={"lr": 0.5, "backbone": "small", "loss_weights": {"beta": 0.5, "eta": 0.9},
                                     "model_options": {"code_dim": 48, "num_maps": 2}},
                      model_options={"num_maps": 4}, eta=0.3)
    assert config.model_options == {"decoder_channels": 32, "code_dim": 48, "balance_parts": True,
                                     "decoder_downsample": 2, "num_maps": 4, "image_size": [SIDE, SIDE]}
    assert (config.lr, config.n_samples) == (0.5, smoke.train_options["n_samples"])
    assert (config.loss_weights.beta, config.loss_weights.eta) == (0.5, 0.3)
    assert smoke.model_options["a2net++"]["code_dim"] == 64, "the recipe is not changed"
    given = {"image_size": (16, 16)}
    assert assemble("a2net", 12, _images(), dataset="arrays", model_options=given,
                    train_options={"backbone": "small"}).model_options == {"image_size": (16, 16)}
    assert config == assemble("a2net++", 12, _images(), dataset="arrays", recipe="smoke", model_options={"num_maps": 4},
                              train_options={"lr": 0.5, "loss_weights": {"beta": 0.5},
                                             "model_options": {"code_dim": 48}}, eta=0.3)


def test_one_list_says_what_a_caller_may_set():
    fields = {item.name for item in dataclasses.fields(TrainConfig)}
    assert fields - set(train_option_names()) == {"dataset", "dataset_options", "model", "bits"}
    assert fields - set(train_option_names(exclude=Study.fields())) == {
        "dataset", "dataset_options", "model", "bits", "backbone", "model_options", "seed", "device"}
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['backbone'\]"):
        ArrayStudy(dataset="ArrayDataset", recipe="smoke").config("baseline", 12, backbone="resnet50")
    assert fit_config(_images(), "baseline", 12, "smoke", backbone="resnet18").backbone == "resnet18"


def test_a_recipes_per_method_training_options_sit_between_its_shared_ones_and_the_studys(monkeypatch):
    r = recipes.Recipe("t", "test", backbone="small", train_options={"lr": 0.002, "batch_size": 16},
                       method_train_options={"exchnet": {"lr": 0.001}})
    monkeypatch.setitem(recipes.RECIPES, "t", r)
    st = Study(dataset="synth-birds", recipe="t", train_options={"outer_iterations": 2})
    assert st.config("exchnet", 12).lr == 0.001 and st.config("baseline", 12).lr == 0.002
    assert st.config("exchnet", 12, lr=0.004).lr == 0.004
    assert st.replace(seed=1).config("exchnet", 12).lr == 0.001
    own = Study(dataset="synth-birds", recipe="t", train_options={"lr": 0.003})
    assert own.config("exchnet", 12).lr == 0.003, "the study's own train options win over the recipe's per method"
    with pytest.raises(ValueError, match="method_train_options"):
        Study(dataset="synth-birds", recipe="t", method_train_options={"exchnet": 3})


def test_train_option_reads_the_method_then_the_study_then_the_default(monkeypatch):
    r = recipes.Recipe("t2", "test", backbone="small", train_options={"lr": 0.002},
                       method_train_options={"exchnet": {"lr": 0.001}})
    monkeypatch.setitem(recipes.RECIPES, "t2", r)
    study = Study(dataset="synth-birds", recipe="t2")
    assert study.train_option("exchnet", "lr") == 0.001 == study.config("exchnet", 12).lr
    assert study.train_option("baseline", "lr") == 0.002
    assert study.train_option("baseline", "batch_size") == study.config("baseline", 12).batch_size == 16
    with pytest.raises(ValueError, match="not a TrainConfig field"):
        study.train_option("baseline", "bogus")
