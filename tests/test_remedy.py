"""Last-layer re-training: only the hash layer and the codes change, and re-fitting on shortcut-randomised items
recovers retrieval on shortcut-randomised queries."""
import pytest
import torch
from torch import nn

from a2lib.data import ArrayDataset
from a2lib.evaluate import mean_average_precision
from a2lib.inference import binary
from a2lib.models import build
from a2lib.studies import remedy
from a2lib.studies.remedy import RefitConfig, refit_last_layer, retrain_last_layer
from a2lib.train import TrainConfig, TrainResult

CLASSES, BITS = 4, 8
SHORTCUT_SCALE, SHORTCUT_NOISE, CORE_NOISE = 3.0, 0.1, 0.5


def _tiny_result(n_db=24, n_held=12, seed=0):
    """A small BASELINE (untrained: the re-fit does not care) with random learned codes and a held-out set."""
    torch.manual_seed(seed)
    model = build("baseline", BITS, backbone="small").eval()
    labels = torch.arange(n_db + n_held) % CLASSES
    dataset = ArrayDataset(torch.rand(n_db + n_held, 3, 32, 32), labels)
    db_indices, held = torch.arange(n_db), torch.arange(n_db, n_db + n_held)
    codes = binary(torch.randn(n_db, BITS))
    result = TrainResult(model, codes, db_indices, held, labels[db_indices], [], 3, 0.5, TrainConfig.for_model(model))
    return result, dataset, held


def test_only_the_hash_layer_and_the_database_codes_change():
    result, dataset, held = _tiny_result()
    before = {name: value.clone() for name, value in result.model.state_dict().items()}
    codes_before = result.db_codes.clone()
    refit = retrain_last_layer(result, dataset, held, RefitConfig(outer_iterations=2, epochs=3))
    after = refit.model.state_dict()
    assert set(after) == set(before)
    for name, value in after.items():
        if name.startswith("hash_layer."):
            assert not torch.equal(value, before[name]), name
        else:
            assert torch.equal(value, before[name]), name
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, before[name]), f"the original model changed: {name}"
    assert torch.equal(result.db_codes, codes_before)
    assert refit.db_codes.shape == codes_before.shape and set(refit.db_codes.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(refit.db_indices, result.db_indices) and torch.equal(refit.db_labels, result.db_labels)
    assert (refit.history, refit.best_iteration, refit.best_val_map) == ([], None, None)


def _items(labels, shortcut, generator):
    """Features whose first CLASSES dimensions carry the label (weak, noisy) and the next ones the shortcut class
    (strong, clean)."""
    n = len(labels)
    core = nn.functional.one_hot(labels, CLASSES).float() + CORE_NOISE * torch.randn(n, CLASSES, generator=generator)
    cue = SHORTCUT_SCALE * nn.functional.one_hot(shortcut, CLASSES).float() + SHORTCUT_NOISE * torch.randn(
        n, CLASSES, generator=generator)
    return torch.cat([core, cue], 1)


def _other_class(labels, generator):
    return (labels + torch.randint(1, CLASSES, labels.shape, generator=generator)) % CLASSES


def test_refitting_on_shortcut_randomised_items_recovers_shortcut_free_retrieval():
    generator = torch.Generator().manual_seed(0)
    class_codes = torch.tensor([[1, 1, 1, 1, -1, -1, -1, -1], [1, -1, 1, -1, 1, -1, 1, -1],
                                [1, 1, -1, -1, 1, 1, -1, -1], [-1, 1, 1, -1, -1, 1, 1, -1]], dtype=torch.float32)
    db_labels = torch.arange(80) % CLASSES
    db_codes = class_codes[db_labels]
    shortcut_layer = nn.Linear(2 * CLASSES, BITS)  # reads the shortcut dimensions only: each gives its class's code
    with torch.no_grad():
        shortcut_layer.weight.zero_()
        shortcut_layer.bias.zero_()
        shortcut_layer.weight[:, CLASSES:] = class_codes.t()
    held_labels = torch.arange(120) % CLASSES
    held = _items(held_labels, _other_class(held_labels, generator), generator)
    query_labels = torch.arange(200) % CLASSES
    queries = _items(query_labels, _other_class(query_labels, generator), generator)
    aligned = _items(query_labels, query_labels, generator)

    def retrieval(layer, codes, features):
        with torch.no_grad():
            return mean_average_precision(binary(torch.tanh(layer(features))), codes, query_labels, db_labels)

    assert retrieval(shortcut_layer, db_codes, aligned) == pytest.approx(1.0)  # the shortcut works when it holds
    before = retrieval(shortcut_layer, db_codes, queries)
    weight = shortcut_layer.weight.clone()
    layer, codes = refit_last_layer(shortcut_layer, held, held_labels, db_codes, db_labels)
    after = retrieval(layer, codes, queries)
    core_layer = nn.Linear(2 * CLASSES, BITS)  # the reference: a layer that reads the label dimensions only
    with torch.no_grad():
        core_layer.weight.zero_()
        core_layer.bias.zero_()
        core_layer.weight[:, :CLASSES] = class_codes.t()
    reference = retrieval(core_layer, db_codes, queries)
    assert before < 0.3 and after > 0.9 * reference > 2 * before, (before, after, reference)
    assert torch.equal(shortcut_layer.weight, weight)
    assert layer.weight[:, :CLASSES].abs().mean() > layer.weight[:, CLASSES:].abs().mean()


def test_bad_inputs_get_clear_errors():
    result, dataset, held = _tiny_result()
    with pytest.raises(ValueError, match="no held-out items"):
        retrain_last_layer(result, dataset, torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="RefitConfig.lr must be a finite number > 0"):
        RefitConfig(lr=0)
    with pytest.raises(ValueError, match="RefitConfig.from_scratch must be True or False"):
        RefitConfig(from_scratch="yes")
    with pytest.raises(ValueError, match="has no linear hash_layer"):
        remedy.hash_layer_of(nn.Sequential(nn.Linear(2, 2)))
    layer = nn.Linear(6, BITS)
    codes, labels = binary(torch.randn(10, BITS)), torch.arange(10) % 2
    with pytest.raises(ValueError, match="3 held-out labels for 5 held-out items"):
        refit_last_layer(layer, torch.randn(5, 6), torch.arange(3), codes, labels)
    with pytest.raises(ValueError, match="non-empty"):
        refit_last_layer(layer, torch.randn(0, 6), torch.arange(0), codes, labels)
    with pytest.raises(ValueError, match=r"database codes must be \(N, 8\)"):
        refit_last_layer(layer, torch.randn(5, 6), torch.arange(5) % 2, codes[:, :4], labels)


def test_a_hash_layer_that_is_not_last_is_refused():
    result, dataset, held = _tiny_result()
    result.model.activate = lambda pre_codes: torch.tanh(2 * pre_codes)  # still last: accepted
    remedy.frozen_features(result.model, dataset, held[:2])
    model = result.model
    forward = model._forward

    def shifted(images, labels, full):
        out = forward(images, labels, full)
        if full:
            out.pre_codes = out.pre_codes + 1.0
        return out

    model._forward = shifted
    with pytest.raises(ValueError, match="hash_layer\\(features\\) is not its pre_codes"):
        remedy.frozen_features(model, dataset, held[:2])


def test_over_seeds_gives_one_value_per_seed_in_table1s_structure():
    from a2lib.studies import Study, simplicity

    study = Study(dataset="synth-dominoes", recipe="smoke", dataset_options={"n_train": 120, "n_test": 60},
                  device="cpu")
    values = remedy.remedy_over_seeds(study, BITS, [0, 1], config=RefitConfig(outer_iterations=1, epochs=2))
    tests = [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    assert list(values) == [(remedy.REMEDY_METHOD, BITS, test) for test in tests]
    assert all(len(runs) == 2 and all(0 <= value <= 1 for value in runs) for runs in values.values())
    baseline = study.train("baseline", BITS, seed=1, variant="both", monitors=simplicity.MONITORS)
    dataset, indices = remedy.refit_items(study, baseline)
    assert torch.equal(indices, baseline.val_indices) and len(indices) > 0
    assert dataset.variant == "complex-only" and dataset.flavour == "randomised"
    refit = retrain_last_layer(baseline, dataset, indices, RefitConfig(outer_iterations=1, epochs=2, seed=1))
    by_test = simplicity.variant_maps(refit, study)
    assert [values[(remedy.REMEDY_METHOD, BITS, test)][1] for test in tests] == pytest.approx(
        [by_test[test] for test in tests])


def test_remedy_of_refits_the_given_results_without_training_or_loading(monkeypatch):
    from a2lib.studies import Study, paper, simplicity

    study = Study(dataset="synth-dominoes", recipe="smoke", dataset_options={"n_train": 120, "n_test": 60},
                  device="cpu")
    baselines = {seed: study.train("baseline", BITS, seed=seed, variant="both", monitors=simplicity.MONITORS)
                 for seed in (1, 0)}
    config = RefitConfig(outer_iterations=1, epochs=2)
    expected = remedy.remedy_over_seeds(study, BITS, [1, 0], config=config)

    def no_training(*args, **kwargs):
        raise AssertionError("remedy_of must use the results it is given")

    monkeypatch.setattr(Study, "train", no_training)
    values = remedy.remedy_of(study, baselines, BITS, config=config)
    assert values == expected  # same seeds, same order, same numbers as from the cache
    with pytest.raises(ValueError, match="takes the 'baseline' models of 12 bits, got 'baseline' at 8 bits"):
        remedy.remedy_of(study, baselines, 12, config=config)
    assert paper.display_name(remedy.REMEDY_METHOD) != remedy.REMEDY_METHOD
