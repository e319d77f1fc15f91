"""The fused φ_local convolution equals the convolution of the n·M weighted copies, forward and backward."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from a2lib import speed
from a2lib.models import build
from a2lib.models.parts import local_features
from a2lib.models.weighted_conv import fusable, weighted_conv2d


def _reference(feature_map, maps, conv):
    n, c, h, w = feature_map.shape
    return conv((maps.unsqueeze(2) * feature_map.unsqueeze(1)).reshape(-1, c, h, w))


def _grads(fn, feature_map, maps, conv, upstream):
    feature_map = feature_map.detach().requires_grad_()
    maps = maps.detach().requires_grad_()
    conv.zero_grad(set_to_none=True)
    out = fn(feature_map, maps, conv)
    (out * upstream).sum().backward()
    grads = [feature_map.grad, maps.grad, conv.weight.grad] + ([conv.bias.grad] if conv.bias is not None else [])
    return out.detach(), grads


@pytest.mark.parametrize("stride, padding, kernel, bias, size", [
    (2, 1, 3, False, (8, 8)), (2, 1, 3, True, (8, 4)), (1, 1, 3, False, (5, 7)), (1, 0, 1, True, (4, 4)),
    ((2, 1), (1, 0), 3, False, (7, 6))])
def test_forward_and_backward_equal_the_convolution_of_the_weighted_copies(stride, padding, kernel, bias, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, kernel, stride=stride, padding=padding, bias=bias).double()
    feature_map = torch.relu(torch.randn(3, 6, *size, dtype=torch.float64))
    maps = torch.rand(3, 4, *size, dtype=torch.float64)
    upstream = torch.randn(_reference(feature_map, maps, conv).shape, dtype=torch.float64)
    expected, expected_grads = _grads(_reference, feature_map, maps, conv, upstream)
    got, got_grads = _grads(weighted_conv2d, feature_map, maps, conv, upstream)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_a_map_of_ones_gives_the_plain_convolution_and_a_map_of_zeros_gives_the_bias():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    feature_map = torch.randn(2, 3, 6, 6)
    maps = torch.stack([torch.ones(2, 6, 6), torch.zeros(2, 6, 6)], dim=1)
    out = weighted_conv2d(feature_map, maps, conv).view(2, 2, 5, 3, 3)
    torch.testing.assert_close(out[:, 0], F.conv2d(feature_map, conv.weight, conv.bias, stride=2, padding=1),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, 1], conv.bias.view(1, 5, 1, 1).expand(2, 5, 3, 3))


def test_only_plain_convolutions_are_fused():
    assert fusable(nn.Conv2d(4, 4, 3, padding=1))
    assert not fusable(nn.Conv2d(4, 4, 3, padding=1, groups=2))
    assert not fusable(nn.Conv2d(4, 4, 3, padding=2, dilation=2))
    assert not fusable(nn.Conv2d(4, 4, 3, padding="same"))
    assert not fusable(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"))
    assert not fusable(nn.Linear(4, 4))


@pytest.mark.parametrize("chunk, spatial", [(None, False), (5, True)])
def test_local_features_of_an_a2net_are_the_same_on_both_paths(chunk, spatial):
    torch.manual_seed(2)
    model = build("a2net", 12, backbone="small", num_maps=12).double().train()
    images = torch.randn(4, 3, 64, 32, dtype=torch.float64)
    results, stats = [], []
    start = {k: v.clone() for k, v in model.state_dict().items()}
    for reference in (True, False):
        model.load_state_dict(start)
        model.zero_grad(set_to_none=True)
        feature_map = model.parts.trunk(images)
        maps = model.parts.attention(feature_map)
        if reference:
            with speed.reference_paths():
                out = local_features(feature_map, maps, model.parts.phi_local, chunk, spatial=spatial)
        else:
            out = local_features(feature_map, maps, model.parts.phi_local, chunk, spatial=spatial)
        pooled = out[0] if spatial else out
        (pooled.square().sum() + (out[1].sum() if spatial else 0)).backward(retain_graph=True)
        results.append((out, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
        stats.append({k: v.clone() for k, v in model.parts.phi_local.state_dict().items() if "running" in k
                      or "num_batches" in k})
    (ref_out, ref_grads), (fast_out, fast_grads) = results
    for r, f in zip(ref_out if spatial else [ref_out], fast_out if spatial else [fast_out]):
        torch.testing.assert_close(f, r, rtol=1e-10, atol=1e-10)
    assert len(ref_grads) == len(fast_grads) > 0
    assert set(stats[0]) == set(stats[1]) and stats[0], "phi_local's batch norm keeps running statistics"
    for key in stats[0]:
        torch.testing.assert_close(stats[1][key], stats[0][key], rtol=1e-10, atol=1e-12)
    for r, f in zip(ref_grads, fast_grads):
        torch.testing.assert_close(f, r, rtol=1e-9, atol=1e-10)
