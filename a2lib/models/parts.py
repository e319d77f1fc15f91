"""Attention-guided local features (Sec. 3.2, Eq. 1-4), shared by A²-Net, A²-Net++ and ExchNet."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..speed import fast
from .backbones import Backbone
from .weighted_conv import fusable, pointwise, weighted_conv2d, weighted_conv_rows

ATTENTION_REDUCTION = 4
"""The attention stack narrows the trunk's channels by this factor before its final 1x1 conv (code family: 0.25)."""
NORMALIZE_EPS = 1e-12


class AttentionHead(nn.Module):
    """T -> M non-negative attention maps: 1x1 conv, 3x3 conv, then 1x1 conv + BN + ReLU (as the public code)."""

    def __init__(self, in_channels: int, num_maps: int):
        super().__init__()
        hidden = max(in_channels // ATTENTION_REDUCTION, num_maps)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_maps, 1, bias=False), nn.BatchNorm2d(num_maps), nn.ReLU(inplace=True),
        )

    def forward(self, feature_map: Tensor) -> Tensor:
        return self.layers(feature_map)


def local_features(feature_map: Tensor, attention: Tensor, phi_local: nn.Module, chunk: int | None = None,
                   use_checkpoint: bool = False, spatial: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """x^c = GAP(φ_local(A^c ⊙ T)) for every map c at once (Eq. 2-3); returns (n, M, C_out), and with ``spatial``
    also each part's map φ_local(A^c ⊙ T) averaged over channels, (n, M, h, w) (ExchNet's spatial diversity).

    The M maps are batched through the one shared φ_local, ``chunk`` maps at a time; ``use_checkpoint``
    recomputes each chunk in the backward pass so that memory holds one chunk's activations (M=48 at 224).
    """
    n, channels, height, width = feature_map.shape
    num_maps = attention.shape[1]
    step = num_maps if chunk is None else max(1, min(int(chunk), num_maps))

    fused = fast() and isinstance(phi_local, nn.Sequential) and len(phi_local) > 0 and fusable(phi_local[0])
    rows = fused and pointwise(phi_local[1:])

    def run(fmap: Tensor, maps: Tensor) -> tuple[Tensor, Tensor]:
        if rows:  # conv, BN, ReLU on rows of channels: the same values, never reordered (a2lib.models.weighted_conv)
            out, (_, out_h, out_w, count, _) = weighted_conv_rows(fmap, maps, phi_local[0])
            out = phi_local[1:](out).view(n, out_h, out_w, count, -1)
            return out.mean(dim=(1, 2)), out.mean(dim=-1).permute(0, 3, 1, 2)
        if fused:  # the first convolution without the n·M weighted copies (a2lib.models.weighted_conv)
            out = phi_local[1:](weighted_conv2d(fmap, maps, phi_local[0]))
        else:
            weighted = maps.unsqueeze(2) * fmap.unsqueeze(1)
            out = phi_local(weighted.reshape(-1, channels, height, width))
        pooled = out.mean(dim=(2, 3)).reshape(n, maps.shape[1], -1)
        return pooled, out.mean(dim=1).reshape(n, maps.shape[1], *out.shape[2:])

    pieces = []
    for start in range(0, num_maps, step):
        maps = attention[:, start:start + step]
        if use_checkpoint and torch.is_grad_enabled():
            pieces.append(checkpoint(run, feature_map, maps, use_reentrant=False))
        else:
            pieces.append(run(feature_map, maps))
    pooled = torch.cat([piece[0] for piece in pieces], dim=1)
    return (pooled, torch.cat([piece[1] for piece in pieces], dim=1)) if spatial else pooled


class PartExtractor(nn.Module):
    """Backbone trunk, attention head and the two transform networks φ_local / φ_global (Eq. 1-4).

    Returns the feature map T, the attention maps A (None without attention), the pooled local features
    (n, M, C) and the pooled global feature (n, C); with ``spatial`` also the parts' channel-mean maps (n, M, h, w).
    """

    def __init__(self, backbone: Backbone, num_maps: int, attention: bool = True, chunk: int | None = None,
                 use_checkpoint: bool = False):
        super().__init__()
        self.trunk = backbone.trunk
        self.phi_global = backbone.make_last_stage()
        self.out_channels = backbone.out_channels
        self.num_maps = num_maps if attention else 0
        self.chunk = chunk
        self.use_checkpoint = use_checkpoint
        if attention:
            self.attention = AttentionHead(backbone.trunk_channels, num_maps)
            self.phi_local = backbone.make_last_stage()
        else:
            self.attention = None
            self.phi_local = None

    def forward(self, images: Tensor, spatial: bool = False):
        feature_map = self.trunk(images)
        global_feature = self.phi_global(feature_map).mean(dim=(2, 3))
        if self.attention is None:
            return (feature_map, None, None, global_feature) + ((None,) if spatial else ())
        maps = self.attention(feature_map)
        parts = local_features(feature_map, maps, self.phi_local, self.chunk, self.use_checkpoint, spatial)
        if spatial:
            pooled, part_maps = parts
            return feature_map, maps, pooled, global_feature, part_maps
        return feature_map, maps, parts, global_feature


def l2_normalize(x: Tensor) -> Tensor:
    return F.normalize(x, dim=-1, eps=NORMALIZE_EPS)
