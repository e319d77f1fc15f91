"""The CPU fast paths' switch: off inside ``reference_paths``, and each fast path computes what the plain one does."""
import pytest
import torch

from a2lib import speed
from a2lib.data.arrays import ArrayDataset
from a2lib.models import build
from a2lib.models.decoder import ImageDecoder
from a2lib.train.config import TrainConfig
from a2lib.train.trainer import Trainer


def test_reference_paths_turn_the_fast_paths_off_and_back_on():
    assert speed.fast() and speed.fused_optimizer_options("adam", torch.device("cpu")) == {"fused": True}
    with speed.reference_paths():
        assert not speed.fast() and speed.fused_optimizer_options("adam", torch.device("cpu")) == {}
    assert speed.fast()


def test_the_channels_last_decoder_gives_the_plain_decoders_image_and_gradients():
    torch.manual_seed(0)
    decoder = ImageDecoder(20, 3, (16, 8), base_channels=16, downsample=2).double()
    g = torch.randn(4, 20, dtype=torch.float64)
    outs = []
    for reference in (True, False):
        decoder.zero_grad(set_to_none=True)
        with speed.reference_paths() if reference else _none():
            image = decoder(g)
        (image * torch.linspace(-1, 1, image.numel(), dtype=torch.float64).view_as(image)).sum().backward()
        outs.append((image.detach(), [p.grad.clone() for p in decoder.parameters()]))
    (ref, ref_grads), (fast, fast_grads) = outs
    assert fast.shape == (4, 3, 16, 8)
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    for f, r in zip(fast_grads, ref_grads):
        torch.testing.assert_close(f, r, rtol=1e-9, atol=1e-10)


class _none:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_trainer_fuses_its_optimiser_on_the_fast_path_only(optimizer):
    torch.manual_seed(0)
    model = build("baseline", 8, backbone="small")
    data = ArrayDataset(torch.rand(12, 3, 16, 16), torch.arange(12) % 2)
    config = TrainConfig.for_model(model, optimizer=optimizer, device="cpu", grad_diagnostic=False, val_fraction=0)
    assert Trainer(model, data, config, None, verbose=False).optimizer.defaults["fused"] is True
    with speed.reference_paths():
        assert not Trainer(model, data, config, None, verbose=False).optimizer.defaults["fused"]


def test_fused_adam_steps_like_the_plain_one():
    torch.manual_seed(0)
    start = torch.nn.Linear(6, 4)
    x, target = torch.randn(10, 6), torch.randn(10, 4)
    params = []
    for options in ({}, speed.fused_optimizer_options("adam", torch.device("cpu"))):
        model = torch.nn.Linear(6, 4)
        model.load_state_dict(start.state_dict())
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4, **options)
        for _ in range(5):
            optimizer.zero_grad()
            ((model(x) - target) ** 2).mean().backward()
            optimizer.step()
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(params[0], torch.cat([p.detach().flatten() for p in start.parameters()]))
    torch.testing.assert_close(params[1], params[0], rtol=1e-5, atol=1e-6)
