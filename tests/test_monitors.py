"""Monitors (TrainConfig.monitors): extra validation forms recorded per outer iteration, training unchanged."""
import pytest
import torch

from a2lib.evaluate import mean_average_precision
from a2lib.train import MONITOR_PREFIX, TrainConfig, binary, encode_dataset, load_or_train, train
from test_train import TinyHash, TinySet, tiny_config

MONITORS = {"noisy": {"noise": 1.0}, "flipped": {"flip": True}}


class Reformed(TinySet):
    """TinySet's items in another form: extra noise (its own generator) or the image negated; the same labels."""

    def __init__(self, noise=0.0, flip=False, **options):
        super().__init__(**options)
        g = torch.Generator().manual_seed(99)
        self.images = self.images + noise * torch.randn(self.images.shape, generator=g)
        if flip:
            self.images = -self.images


class DropoutHash(TinyHash):
    """TinyHash with dropout on its input: training draws from torch's global generator, so a monitor that drew
    from it too would change the weights."""

    def forward(self, images, labels=None):
        return super().forward(torch.nn.functional.dropout(images, 0.3, self.training), labels)


def monitor_sets(**options):
    return {name: Reformed(**form, **options) for name, form in MONITORS.items()}


def run(monitors=None, **overrides):
    torch.manual_seed(0)
    config = tiny_config(monitors=MONITORS if monitors else {}, **overrides)
    return train(DropoutHash(), TinySet(), config, verbose=False, monitors=monitors)


def test_monitors_do_not_change_training_and_are_recorded_at_every_validation():
    plain, watched = run(), run(monitors=monitor_sets())
    assert torch.equal(plain.db_codes, watched.db_codes)
    for name, value in plain.model.state_dict().items():
        assert torch.equal(value, watched.model.state_dict()[name])
    assert [r["val_map"] for r in plain.history] == [r["val_map"] for r in watched.history]
    for record in watched.history:
        assert {MONITOR_PREFIX + name for name in MONITORS} <= set(record)
        assert all(0 <= record[MONITOR_PREFIX + name] <= 1 for name in MONITORS)
    assert not any(key.startswith(MONITOR_PREFIX) for record in plain.history for key in record)


def test_monitor_map_at_the_last_iteration_is_the_kept_states_map():
    # eval_every beyond the run: only the last iteration is validated, so the kept state is the last one
    result = run(monitors=monitor_sets(), outer_iterations=3, eval_every=10)
    assert result.best_iteration == 3
    for name, data in monitor_sets().items():
        queries = binary(encode_dataset(result.model, data, indices=result.val_indices))
        expected = mean_average_precision(queries, result.db_codes, data.labels[result.val_indices],
                                          result.db_labels)
        assert result.history[-1][MONITOR_PREFIX + name] == pytest.approx(expected, abs=1e-12)


def test_monitor_names_and_data_must_match_the_config():
    with pytest.raises(ValueError, match="monitor data sets were given for"):
        train(TinyHash(), TinySet(), tiny_config(monitors=MONITORS), verbose=False, monitors={})
    with pytest.raises(ValueError, match="same length and labels"):
        train(TinyHash(), TinySet(), tiny_config(monitors={"noisy": {}}), verbose=False,
              monitors={"noisy": TinySet(n=30)})
    with pytest.raises(ValueError, match="TrainConfig.monitors must be a dict that maps a name"):
        tiny_config(monitors={"noisy": "variant=complex-only"})
    with pytest.raises(ValueError, match="pass monitors="):
        load_or_train(tiny_config(monitors=MONITORS), dataset=TinySet(), verbose=False)


def test_configs_without_monitors_keep_their_cache_keys():
    plain = tiny_config()
    assert "monitors" not in plain.key_dict()
    assert tiny_config(monitors=MONITORS).key_dict()["monitors"] == MONITORS
    assert TrainConfig.from_dict(plain.to_dict()).key_dict() == plain.key_dict()


def test_load_or_train_builds_the_monitor_sets_from_the_config(tmp_path):
    config = TrainConfig(dataset="synth-dominoes", dataset_options={"n_train": 60, "n_test": 20},
                         model="baseline", bits=8, backbone="small", outer_iterations=1, n_samples=20,
                         inner_epochs=1, batch_size=10, val_fraction=0.2, eval_every=1, device="cpu",
                         grad_diagnostic=False,
                         monitors={"complex-only (blanked)": {"variant": "complex-only", "flavour": "blanked"}})
    result = load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    again = load_or_train(config, cache_dir=tmp_path / "cache", data_root=tmp_path / "data", verbose=False)
    key = MONITOR_PREFIX + "complex-only (blanked)"
    assert key in result.history[-1] and again.history[-1][key] == result.history[-1][key]
