"""Config fields declare what they accept and whether they are runtime fields (``a2lib.fields``); one validator
checks them with one message form, a field that declares nothing is refused when its class is defined, and the
runtime fields (out of the cache key) are read from the declarations."""
import dataclasses
from dataclasses import dataclass

import pytest

from a2lib.checks import NON_NEGATIVE_INT, POSITIVE_INT
from a2lib.fields import declare, declared, runtime_fields
from a2lib.losses import LossWeights
from a2lib.train import RUNTIME_FIELDS, TrainConfig, config_key

MONITOR_TEXT = ("a dict that maps a name to a dict of data set options overriding dataset_options, e.g. "
                "{'complex-only (blanked)': {'variant': 'complex-only', 'flavour': 'blanked'}}")


@pytest.mark.parametrize("field, value, message", [
    ("bits", 0, "TrainConfig.bits must be a positive integer, got 0"),
    ("batch_size", 2.0, "TrainConfig.batch_size must be a positive integer, got 2.0"),
    ("seed", -1, "TrainConfig.seed must be an integer >= 0, got -1"),
    ("lr", 0.0, "TrainConfig.lr must be a finite number > 0, got 0.0"),
    ("lr", float("inf"), "TrainConfig.lr must be a finite number > 0, got inf"),
    ("momentum", -0.1, "TrainConfig.momentum must be a finite number >= 0, got -0.1"),
    ("val_fraction", 1.0, "TrainConfig.val_fraction must be a number in [0, 1), got 1.0"),
    ("optimizer", "rmsprop", "TrainConfig.optimizer must be one of sgd, adam, got 'rmsprop'"),
    ("db_codes", "both", "TrainConfig.db_codes must be one of learned, encoded, got 'both'"),
    ("similarity_reweight", 1, "TrainConfig.similarity_reweight must be True or False, got 1"),
    ("model", "", "TrainConfig.model must be a non-empty string, got ''"),
    ("dataset_options", [], "TrainConfig.dataset_options must be a dict, got []"),
    ("monitors", {"noisy": "blanked"}, f"TrainConfig.monitors must be {MONITOR_TEXT}, got {{'noisy': 'blanked'}}"),
    ("loss_weights", 3, "TrainConfig.loss_weights must be a LossWeights or a dict of its fields, got 3"),
    ("loss_weights", {"beta": -1.0}, "TrainConfig.loss_weights.beta must be a finite number >= 0 or None, got -1.0"),
    ("loss_weights", {"eta": float("nan")}, "TrainConfig.loss_weights.eta must be a finite number >= 0, got nan"),
    ("precision", "fp16", "TrainConfig.precision must be one of auto, bf16, fp32, got 'fp16'"),
    ("channels_last", "yes", "TrainConfig.channels_last must be True, False or 'auto', got 'yes'"),
    ("num_workers", "many", "TrainConfig.num_workers must be an integer >= 0 or 'auto', got 'many'"),
])
def test_each_constraint_kind_refuses_a_bad_value_naming_the_field(field, value, message):
    with pytest.raises(ValueError) as error:
        TrainConfig(**{field: value})
    assert str(error.value) == message


def test_the_values_each_constraint_admits_are_accepted():
    config = TrainConfig(seed=0, lr_decay_at=0, val_fraction=0.0, momentum=0.0, num_workers=0, channels_last=False,
                         loss_weights={"beta": None, "reduction": "per_image"}, monitors={"a": {"variant": "x"}})
    assert (config.seed, config.val_fraction, config.loss_weights.reduction) == (0, 0.0, "per_image")


def test_unknown_loss_weights_are_named():
    with pytest.raises(ValueError, match=r"unknown TrainConfig.loss_weights option\(s\) \['zeta'\]; valid options: "
                                         r"lambda_, alpha"):
        TrainConfig(loss_weights={"zeta": 1.0})


def test_loss_weights_check_their_reduction_on_construction_and_their_weights_in_a_config():
    with pytest.raises(ValueError, match="LossWeights.reduction must be one of element_mean, per_image, sum, "
                                         "got 'total'"):
        LossWeights(reduction="total")
    assert LossWeights(beta=-1.0).beta == -1.0  # alone it is not yet a training's weights


def test_every_field_declares_a_constraint():
    for cls in (TrainConfig, LossWeights):
        assert all("constraint" in item.metadata for item in dataclasses.fields(cls)), cls.__name__


def test_a_field_without_a_constraint_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"Loose field\(s\) depth, width declare no constraint"):
        @declared
        @dataclass
        class Loose:
            bits: int = declare(POSITIVE_INT, 12)
            depth: int = 3
            width: int = 4
    with pytest.raises(TypeError, match=r"Grown field\(s\) prefetch declare no constraint"):
        @declared
        @dataclass
        class Grown(TrainConfig):
            prefetch: int = 2


@declared
@dataclass
class Extended(TrainConfig):
    """TrainConfig with one new runtime field and one new field that defines the result."""

    prefetch: int = declare(NON_NEGATIVE_INT, 2, runtime=True)
    depth: int = declare(POSITIVE_INT, 3)


def test_a_new_runtime_field_declared_as_such_stays_out_of_the_cache_key():
    base = Extended(device="cpu")
    assert runtime_fields(Extended) == (*RUNTIME_FIELDS, "prefetch")
    assert "prefetch" not in base.key_dict() and "depth" in base.key_dict()
    assert config_key(Extended(device="cpu", prefetch=8)) == config_key(base)
    assert config_key(Extended(device="cpu", depth=4)) != config_key(base)
    with pytest.raises(ValueError, match="TrainConfig.prefetch must be an integer >= 0, got -1"):
        Extended(prefetch=-1)


def test_runtime_fields_are_read_from_the_declarations():
    assert RUNTIME_FIELDS == ("device", "num_workers", "grad_diagnostic", "precision", "channels_last",
                              "cudnn_benchmark")
    names = [item.name for item in dataclasses.fields(TrainConfig)]
    assert list(TrainConfig(monitors={"m": {}}).key_dict()) == [n for n in names if n not in RUNTIME_FIELDS]
