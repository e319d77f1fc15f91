"""One convolution over all M attention-weighted copies of a feature map, without forming the copies (Eq. 2-3).

φ_local's first layer is a convolution of A^c ⊙ T for every map c. At each output position the weighted input is
A^c(q)·T(q) at the kernel's positions q, and the scalar A^c(q) leaves the sum over T's channels:
conv(A^c ⊙ T)(p) = Σ_k A^c(p + k) · (W_k T)(p + k). So W_k T is computed once per image (not once per map) at the
positions the kernel reads, and the M maps only weight the kernel's taps: about M times fewer multiply-adds than the
convolution of the n·M weighted copies, the same result up to rounding (``tests/test_weighted_conv.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fusable(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain ``nn.Conv2d`` that ``weighted_conv2d`` computes (one group, no dilation, numeric
    zero padding)."""
    return (type(conv) is nn.Conv2d and conv.groups == 1 and tuple(conv.dilation) == (1, 1)
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


POINTWISE = (nn.BatchNorm2d, nn.ReLU)
"""Layers that act on each output element by its channel alone (batch norm's statistics are over all the others), so
they may run on the convolution's output as rows of channels (``weighted_conv_rows``)."""


def pointwise(layers: nn.Module) -> bool:
    """Whether every layer of ``layers`` is one of ``POINTWISE``."""
    return all(type(layer) in POINTWISE for layer in layers)


def weighted_conv2d(feature_map: Tensor, maps: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(maps[:, c:c+1] * feature_map)`` for every map c, as (n·M, out_channels, h', w') in the order of
    ``(maps.unsqueeze(2) * feature_map.unsqueeze(1)).flatten(0, 1)``: feature_map (n, C, h, w), maps (n, M, h, w)."""
    out, (n, out_h, out_w, num_maps, out_channels) = weighted_conv_rows(feature_map, maps, conv)
    return (out.view(n, out_h, out_w, num_maps, out_channels).permute(0, 3, 4, 1, 2)
            .reshape(n * num_maps, out_channels, out_h, out_w))


def weighted_conv_rows(feature_map: Tensor, maps: Tensor, conv: nn.Conv2d) -> tuple[Tensor, tuple[int, ...]]:
    """``weighted_conv2d``'s values as rows (n·h'·w'·M, out_channels, 1, 1), in (n, h', w', M) order, and that shape
    (n, h', w', M, out_channels): the layout the computation produces, without reordering it."""
    n, channels, height, width = feature_map.shape
    num_maps = maps.shape[1]
    out_channels, _, kh, kw = conv.weight.shape
    taps = kh * kw
    (sh, sw), (ph, pw) = conv.stride, conv.padding
    out_h = (height + 2 * ph - kh) // sh + 1
    out_w = (width + 2 * pw - kw) // sw + 1
    positions = out_h * out_w
    unfold = dict(kernel_size=(kh, kw), padding=(ph, pw), stride=(sh, sw))
    columns = F.unfold(feature_map, **unfold).view(n, channels, taps, positions)
    per_tap = torch.bmm(columns.permute(2, 0, 3, 1).reshape(taps, n * positions, channels),
                        conv.weight.permute(2, 3, 1, 0).reshape(taps, channels, out_channels))  # W_k T at p + k
    weights = F.unfold(maps, **unfold).view(n, num_maps, taps, positions)
    out = torch.bmm(weights.permute(0, 3, 1, 2).reshape(n * positions, num_maps, taps), per_tap.transpose(0, 1))
    if conv.bias is not None:
        out = out + conv.bias
    return out.reshape(-1, out_channels, 1, 1), (n, out_h, out_w, num_maps, out_channels)


__all__ = ["POINTWISE", "fusable", "pointwise", "weighted_conv2d", "weighted_conv_rows"]
