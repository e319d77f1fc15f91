"""a2lib.studies.setup: ``Study`` builds the very configs the notebooks built before it (same cache keys) from a
profile's ``study`` entry and its recipe, validates its block, and trains every method (ITQ/SDH through
``fit_shallow``)."""
import pytest
import torch
import yaml

from a2lib import recipes, shallow
from a2lib.evaluate import mean_average_precision
from a2lib.inference import binary, encode_dataset
from a2lib.studies import Study
from a2lib.studies import comparison as cmp
from a2lib.studies.setup import fit_shallow
from a2lib.workbook import PROFILE_DIR, WorkbookError, load_profile
from a2lib.train import RUNTIME_FIELDS, TrainConfig, config_key

WEIGHTS = {"lambda_": 1.0, "alpha": None, "beta": None, "eta": 0.1, "gamma": None, "adsh_gamma": 200.0,
           "reduction": "element_mean", "spatial_diversity": 0.1, "channel_diversity": 0.1, "channel_margin": 0.4,
           "alignment": 1.0}
BIRDS = {"dataset": "synth-birds", "dataset_options": {}, "backbone": "small", "outer_iterations": 12,
         "n_samples": 1000, "inner_epochs": 2, "batch_size": 16, "lr": 0.002, "momentum": 0.9, "weight_decay": 0.0001,
         "lr_decay_at": 10, "optimizer": "adam", "lr_decay_factor": 0.1, "similarity_reweight": True, "dcc_sweeps": 1,
         "val_fraction": 0.1, "eval_every": 4, "eval_batch_size": 64, "db_codes": "learned", "monitors": {}, "seed": 0,
         "device": "cpu", "num_workers": 0, "loss_weights": WEIGHTS}
QUICK_BIRDS = {**BIRDS, "outer_iterations": 8, "lr_decay_at": 6}  # quick's x-study trains 8 of the recipe's 12
DOMINOES = {**BIRDS, "dataset": "synth-dominoes", "outer_iterations": 8, "inner_epochs": 3, "batch_size": 32,
            "lr_decay_at": 6, "eval_every": 1, "loss_weights": {**WEIGHTS, "eta": 0.5}}
EXPECTED = {  # TrainConfig.to_dict() of comparison.method_config / notebook 01's config_for before a2lib.studies and
    # the recipes (the quick profile restated every option then; it names the quick / quick-dominoes recipe now),
    # with the options the recipe search chose since (benchmarks/recipe_search.md): L2-normalised parts, and learning
    # rate 0.001 for A²-Net++
    ("02_training", "baseline", 12, None): {**QUICK_BIRDS, "model": "baseline", "model_options": {}, "bits": 12},
    ("02_training", "a2net++", 48, None): {**QUICK_BIRDS, "model": "a2net++", "bits": 48, "lr": 0.001, "model_options": {
        "num_maps": 12, "balance_parts": True, "normalize_parts": True, "decoder_channels": 64, "code_dim": 256,
        "decoder_downsample": 2}},
    ("02_training", "csq", 48, None): {**QUICK_BIRDS, "model": "csq", "model_options": {"num_classes": 60},
                                       "bits": 48},
    ("02_training", "a2net", 48, None): {**QUICK_BIRDS, "model": "a2net", "bits": 48,
                                         "model_options": {"num_maps": 12, "balance_parts": True,
                                                           "normalize_parts": True}},
    ("01_simplicity_bias", "a2net++", 12, None): {**DOMINOES, "model": "a2net++", "bits": 12, "model_options": {
        "decoder_channels": 64, "code_dim": 256, "num_maps": 12, "decoder_downsample": 2, "image_size": [64, 32]}},
    ("01_simplicity_bias", "baseline", 32, "complex-only"): {
        **DOMINOES, "model": "baseline", "model_options": {}, "bits": 32,
        "dataset_options": {"variant": "complex-only", "flavour": "blanked"}},
}
TINY_DATA = {"n_train": 120, "n_test": 60, "size": 32}
TINY = dict(dataset="synth-birds", dataset_options=TINY_DATA, backbone="small",
            model_options={"a2net": {"num_maps": 4}, "a2net++": {"num_maps": 4, "code_dim": 32}},
            train_options={"outer_iterations": 1, "n_samples": 48, "inner_epochs": 1, "batch_size": 16, "lr": 0.01,
                           "eval_every": 1, "val_fraction": 0.1}, seed=0, device="cpu")


@pytest.mark.parametrize("notebook, method, bits, variant", list(EXPECTED))
def test_quick_profile_configs_are_the_ones_the_notebooks_built(notebook, method, bits, variant):
    study = load_profile("quick").study(notebook, device="cpu")
    defining = lambda values: {k: v for k, v in values.items() if k not in RUNTIME_FIELDS}  # what the cache key holds
    assert defining(study.config(method, bits, variant=variant).to_dict()) == defining(
        EXPECTED[(notebook, method, bits, variant)])


def test_notebook_06s_hand_built_config_is_the_studys():
    study = load_profile("quick").study("06_retrieval_efficiency", dataset="synth-birds")
    by_hand = TrainConfig(dataset="synth-birds", dataset_options=study.dataset_options, model="a2net",
                          model_options=study.model_options["a2net"], bits=48, backbone="small", seed=0,
                          device="cpu", **study.train_options)
    assert config_key(study.config("a2net", 48)) == config_key(by_hand)


def test_block_validation_names_the_valid_keys():
    with pytest.raises(ValueError, match="unknown study key.*'bits_list'.*valid keys: dataset, backbone"):
        Study.from_dict({**TINY, "bits_list": [12]})
    with pytest.raises(ValueError, match=r"unknown method.*'a2net\+'.*valid: baseline"):
        Study(**{**TINY, "model_options": {"a2net+": {}}})
    with pytest.raises(ValueError, match="must map a method name"):
        Study(**{**TINY, "model_options": {"num_maps": 4}})
    with pytest.raises(ValueError, match=r"train_options has unknown key.*'epochs'.*outer_iterations"):
        Study(**{**TINY, "train_options": {"epochs": 3}})
    with pytest.raises(ValueError, match="unknown key.*'backbone'"):
        Study(**TINY).config("baseline", 12, backbone="resnet50")
    with pytest.raises(ValueError, match="shallow_features must be one of"):
        Study(**TINY, shallow_features="imagenet")
    with pytest.raises(ValueError, match="needs a backbone or a recipe"):
        Study(dataset="synth-birds")
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        Study(dataset="synth-birds", recipe="fast")
    with pytest.raises(ValueError, match="cannot change the recipe"):
        Study(**TINY).replace(recipe="quick")
    with pytest.raises(WorkbookError, match="no block for notebook"):
        load_profile("quick").study("07_missing")
    with pytest.raises(WorkbookError, match="unknown profile 'nightly'"):
        load_profile("nightly")


def test_a_profile_gives_each_notebook_its_study(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"device": "cpu", "notebooks": {
        "02_training": {"study": {"dataset": "synth-birds", "recipe": "smoke", "seed": 3}, "bits_list": [12]},
        "03_activation_maps": {"study": {"recipe": "smoke"}}}}))
    study = load_profile(str(path)).study("02_training")
    assert (study.dataset, study.seed, study.device, study.backbone) == ("synth-birds", 3, "cpu", "small")
    assert load_profile(str(path)).study("02_training", device="cuda").device == "cuda"
    with pytest.raises(WorkbookError, match="'study' entry lacks 'dataset'"):
        load_profile(str(path)).study("03_activation_maps")


def test_a_recipe_gives_backbone_and_options_and_the_study_overrides_them():
    quick = recipes.get("quick")
    study = Study(dataset="synth-birds", recipe="quick")
    assert study.backbone == quick.backbone and study.train_options == quick.train_options
    assert study.model_options == quick.model_options
    mine = Study(dataset="synth-birds", recipe="quick", backbone="resnet18", train_options={"lr": 0.01},
                 model_options={"a2net": {"num_maps": 4}, "csq": {"num_classes": 7}})
    assert mine.backbone == "resnet18" and mine.train_options == {**quick.train_options, "lr": 0.01}
    assert mine.model_options["a2net"] == {**quick.model_options["a2net"], "num_maps": 4}
    assert mine.model_options["a2net++"] == quick.model_options["a2net++"] and mine.model_options["csq"] == {
        "num_classes": 7}
    assert quick.train_options["lr"] == 0.002 and quick.model_options["a2net"]["num_maps"] == 12, "recipe untouched"
    assert mine.replace(seed=1).model_options == mine.model_options, "merging again changes nothing"


@pytest.mark.parametrize("profile, recipe", [("smoke", "smoke"), ("quick", "quick"), ("full", "paper")])
def test_profiles_name_recipes_and_notebooks_02_to_06_share_one_study(profile, recipe):
    blocks = yaml.safe_load((PROFILE_DIR / f"{profile}.yaml").read_text())["notebooks"]
    shared = [blocks[name]["study"] for name in ("02_training", "03_activation_maps", "04_attribute_galleries",
                                                 "05_ndcg_attribute_matching")]
    assert all(block == shared[0] for block in shared) and shared[0]["recipe"] == recipe
    assert blocks["06_retrieval_efficiency"]["study"]["recipe"] == recipe
    assert blocks["01_simplicity_bias"]["study"]["recipe"] == {"quick": "quick-dominoes"}.get(profile, recipe)
    if profile != "smoke":  # smoke's 06 trains on more, smaller images for its timing tables
        assert blocks["06_retrieval_efficiency"]["study"] == shared[0]


def test_overrides_change_only_what_they_name():
    study = Study(**TINY)
    base = study.config("a2net++", 12)
    assert config_key(study.config("a2net++", 12)) == config_key(base)
    assert config_key(study.config("a2net++", 12, eta=0.1)) == config_key(base), "None and 0.1 are the paper's η"
    assert study.config("a2net++", 12, eta=0.4).loss_weights.eta == 0.4
    assert Study(**TINY, eta=0.5).config("a2net++", 12).loss_weights.eta == 0.5
    assert Study(**TINY, eta=0.5).config("a2net++", 12, eta=0.2).loss_weights.eta == 0.2
    per_image = Study(**{**TINY, "train_options": {**TINY["train_options"],
                                                 "loss_weights": {"reduction": "per_image", "eta": 0.3}}})
    assert (per_image.config("a2net", 12).loss_weights.reduction, per_image.config("a2net", 12).loss_weights.eta) == (
        "per_image", 0.3)
    assert per_image.config("a2net", 12, eta=0.2).loss_weights.eta == 0.2
    assert per_image.config("a2net", 12, loss_weights={}).loss_weights.reduction == "element_mean"
    with pytest.raises(ValueError, match="loss_weights must be a dict of LossWeights fields"):
        study.config("a2net", 12, loss_weights={"etaa": 1})
    switched = study.config("a2net++", 12, options={"decorrelation": False, "code_dim": 16})
    assert switched.model_options == {"num_maps": 4, "code_dim": 16, "decorrelation": False, "image_size": [32, 32]}
    assert study.model_options["a2net++"] == {"num_maps": 4, "code_dim": 32}, "the study is not mutated"
    assert study.config("a2net++", 12, seed=3).seed == 3 and study.config("baseline", 12, lr=0.5).lr == 0.5
    assert study.config("baseline", 12, variant="both").dataset_options == TINY["dataset_options"]
    other = study.replace(dataset_options={"n_train": 60, "n_test": 30, "size": 32})
    assert other.config("baseline", 12).dataset_options["n_train"] == 60 and study.dataset_options["n_train"] == 120


def test_image_size_only_where_the_data_differs_from_the_backbone_default():
    """Dominoes are 64x32, the small backbone's default 64x64 (notebook 01 passed the data's size); 32x32 birds
    differ too; 64x64 birds are the default and get no option (notebooks 02-05's configs)."""
    dominoes = Study(dataset="synth-dominoes", backbone="small", dataset_options={"n_train": 200, "n_test": 100})
    assert dominoes.config("a2net", 12).model_options == {"image_size": [64, 32]}
    assert "image_size" not in dominoes.config("baseline", 12).model_options
    assert dominoes.config("a2net", 12, options={"image_size": (32, 32)}).model_options == {"image_size": (32, 32)}
    assert Study(**TINY).config("a2net", 12).model_options == {"num_maps": 4, "image_size": [32, 32]}
    assert load_profile("quick").study("03_activation_maps").config("a2net++", 12).model_options.get("image_size") is None


def test_variant_trains_the_dominoes_reference_on_one_block():
    study = Study(dataset="synth-dominoes", backbone="small", dataset_options={"n_train": 200, "n_test": 100})
    config = study.config("baseline", 12, variant="complex-only")
    assert config.dataset_options == {"n_train": 200, "n_test": 100, "variant": "complex-only",
                                      "flavour": "blanked"}
    assert study.load("train", variant="complex-only", flavour="blanked").variant == "complex-only"


def test_class_aware_methods_get_num_classes_from_the_data():
    study = Study(**TINY)
    assert study.config("csq", 12).model_options == {"num_classes": 60}
    assert study.config("orthocos", 12, options={"num_classes": 7}).model_options == {"num_classes": 7}
    assert "num_classes" not in study.config("dpsh", 12).model_options


def test_train_fits_shallow_methods_on_the_cached_baselines_features(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    study = Study(**TINY)
    train_set, test_set = study.load("train"), study.load("test")
    reference = study.train("baseline", 8)
    assert config_key(reference.config) == config_key(study.config("baseline", 8))
    db = torch.utils.data.Subset(train_set, reference.db_indices.tolist())
    features = shallow.extract_features(reference.model, db)
    for method in ("itq", "sdh"):
        result = study.train(method, 8)
        expected = shallow.build(method, 8, seed=0).fit(features, reference.db_labels)
        assert torch.equal(result.db_codes, expected.encode(features))
        assert torch.equal(result.db_indices, reference.db_indices) and result.config.model == method
        queries = binary(encode_dataset(result.model, test_set))
        assert torch.equal(queries, expected.encode(shallow.extract_features(reference.model, test_set)))
        scores = cmp.evaluate_retrieval(result, test_set)
        assert scores["map"] == pytest.approx(mean_average_precision(queries, result.db_codes, test_set.labels,
                                                                     reference.db_labels))
    pretrained = study.replace(shallow_features="pretrained").train("itq", 8)
    assert pretrained.model.feature_model is not reference.model
    assert not torch.equal(pretrained.db_codes, study.train("itq", 8).db_codes)
    with pytest.raises(ValueError, match="features must be one of"):
        fit_shallow("itq", 8, reference, train_set, features="imagenet")
    with pytest.raises(ValueError, match="unknown shallow method"):
        fit_shallow("dpsh", 8, reference, train_set)


def test_full_profile_trains_the_papers_schedule_with_raw_parts_and_the_public_codes_norms():
    study = load_profile("full").study("02_training").replace(dataset="synth-birds", dataset_options=TINY_DATA)
    config = study.config("a2net++", 48)  # CUB-200-2011 is not here; the recipe does not depend on the data
    assert (config.inner_epochs, config.outer_iterations, config.n_samples, config.batch_size) == (20, 60, 2000, 16)
    assert config.model_options.get("normalize_parts", False) is False
    assert config.loss_weights.reduction == "element_mean" and config.loss_weights.eta == 0.1
    assert study.config("exchnet", 48).model_options.get("align_from") is None
