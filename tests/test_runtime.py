"""GPU-efficiency switches (``a2lib.train.runtime``): "auto" is off on a CPU, none enters the cache key, and each
switch leaves the loss of one batch unchanged within the rounding it introduces."""
import copy

import pytest
import torch

from a2lib.data import ArrayDataset
from a2lib.losses import LossWeights, objective
from a2lib.models import build
from a2lib.similarity import similarity
from a2lib.train import TrainConfig, config_key, train
from a2lib.train.runtime import Runtime, bf16_supported, resolve_runtime

CPU = torch.device("cpu")
BITS = 12
BF16_UNIT_ROUNDOFF = 2.0 ** -8
"""bf16 keeps 8 significant bits: one rounding moves a value by at most 2^-8 of itself. The forward pass of the small
backbone rounds at each of its few layers, but rounding errors of opposite signs cancel in the sums that make the
loss terms (measured: 1e-4 to 1.3e-3 of each term), so one unit roundoff bounds the change of every term."""
FP32_REORDER_TOLERANCE = 1e-5
"""channels_last only changes the order in which float32 convolutions accumulate (unit roundoff 2^-24 ~ 6e-8 per
addition, a few hundred additions per output at most here): 1e-5 of the loss is a generous bound (measured: < 2e-7)."""


def _batch_loss(model, runtime: Runtime) -> dict[str, float]:
    """Eq. (15)'s terms and total for one fixed batch, with a copy of ``model`` prepared and run by ``runtime``."""
    model = runtime.prepare_model(copy.deepcopy(model)).train()
    g = torch.Generator().manual_seed(1)
    images, labels = torch.rand(4, 3, 64, 64, generator=g), torch.tensor([0, 1, 0, 1])
    database = torch.where(torch.rand(20, BITS, generator=g) > 0.5, 1.0, -1.0)
    out = runtime.forward(model, runtime.images(images), labels)
    S = similarity(labels, torch.arange(20) % 2, True)
    total, terms = objective(out, images, S, database, database[:4], LossWeights(), labels=labels)
    return {"total": float(total.detach()), **{name: float(value.detach()) for name, value in terms.items()}}


@pytest.fixture(scope="module")
def a2netpp():
    torch.manual_seed(0)
    return build("a2net++", BITS, backbone="small", image_size=(64, 64))


def test_auto_is_off_on_a_cpu_and_explicit_choices_are_kept():
    auto = resolve_runtime(TrainConfig(device="cpu"), CPU)
    assert auto == Runtime(CPU)  # no autocast, contiguous, no workers, no pinning, no cudnn autotuning
    assert auto.loader_options() == {"num_workers": 0, "pin_memory": False}
    chosen = resolve_runtime(TrainConfig(device="cpu", precision="bf16", channels_last=True, num_workers=2), CPU)
    assert (chosen.autocast_dtype, chosen.channels_last, chosen.num_workers) == (torch.bfloat16, True, 2)
    assert chosen.loader_options() == {"num_workers": 2, "pin_memory": False, "persistent_workers": True}


def test_runtime_fields_stay_out_of_the_cache_key():
    base = TrainConfig(device="cpu")
    switched = TrainConfig(device="cpu", precision="fp32", channels_last=False, num_workers=3, cudnn_benchmark=True)
    assert config_key(base) == config_key(switched)


@pytest.mark.parametrize("field, value", [("precision", "fp16"), ("channels_last", "yes"), ("num_workers", -1),
                                          ("num_workers", "many"), ("cudnn_benchmark", 1)])
def test_a_bad_runtime_value_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field} must"):
        TrainConfig(**{field: value})


def test_channels_last_leaves_the_loss_of_a_batch_unchanged(a2netpp):
    converted = Runtime(CPU, channels_last=True).prepare_model(copy.deepcopy(a2netpp))
    conv = next(m for m in converted.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # the switch is really on
    plain, switched = _batch_loss(a2netpp, Runtime(CPU)), _batch_loss(a2netpp, Runtime(CPU, channels_last=True))
    assert plain.keys() == switched.keys() and "image_reconstruction" in plain
    for name, value in plain.items():
        assert switched[name] == pytest.approx(value, rel=FP32_REORDER_TOLERANCE), name


@pytest.mark.skipif(not bf16_supported(CPU), reason="this torch build has no bf16 autocast on the CPU")
def test_bf16_autocast_changes_the_loss_of_a_batch_by_less_than_one_bf16_rounding(a2netpp):
    plain, autocast = _batch_loss(a2netpp, Runtime(CPU)), _batch_loss(a2netpp, Runtime(CPU, torch.bfloat16))
    assert plain.keys() == autocast.keys()
    for name, value in plain.items():
        assert autocast[name] == pytest.approx(value, rel=BF16_UNIT_ROUNDOFF), name
    assert autocast["total"] != plain["total"]  # autocast really ran in bf16


def test_forward_gives_float32_outputs_under_bf16_autocast(a2netpp):
    out = Runtime(CPU, torch.bfloat16).forward(copy.deepcopy(a2netpp).train(), torch.rand(2, 3, 64, 64))
    assert out.codes.dtype == out.features.dtype == out.recon_g.dtype == torch.float32
    assert out.codes.requires_grad


def _train(**runtime):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(32) % 4
    data = ArrayDataset(0.2 * labels[:, None, None, None] + 0.1 * torch.rand(32, 3, 16, 16, generator=g), labels)
    config = TrainConfig(dataset="arrays", model="baseline", bits=8, backbone="small", outer_iterations=2,
                         n_samples=24, inner_epochs=2, batch_size=8, val_fraction=0.0, device="cpu", **runtime)
    torch.manual_seed(config.seed)
    return train(build("baseline", 8, backbone="small"), data, config, verbose=False)


@pytest.mark.slow
def test_training_with_persistent_dataloader_workers_is_reproducible():
    """Worker seeds and shuffles come from the run's seeded generator, so two runs with workers agree exactly.
    (They need not agree with a run without workers: persistent workers draw the workers' base seed once per loader
    instead of once per epoch, so later epochs shuffle differently; a runtime choice, like the device.)"""
    first, second = _train(num_workers=2), _train(num_workers=2)
    assert torch.equal(first.db_codes, second.db_codes)
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name]), name


def test_training_runs_with_every_switch_on():
    result = _train(precision="bf16", channels_last=True, num_workers=1)
    assert len(result.history) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
