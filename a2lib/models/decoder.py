"""The deconvolutional image decoder Ψ of A²-Net++ (Eq. 14): a compact feature g -> an image of the input's size.

A linear layer lifts g to a small seed grid; stride-2 transposed convolutions (BN + ReLU) double it until it covers
the image; a 3x3 conv gives the image channels with a *linear* output, so the reconstruction lives in the same
space as the input tensor (normalised or not), and the surplus border is cropped. With ``downsample`` > 1 the network
decodes at that fraction of the image size and the result is upsampled bilinearly (a cheaper decoder for CPU runs:
its full-resolution layers dominate A²-Net++'s cost at 64x64).
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..speed import fast

MAX_UPSAMPLINGS = 5
MIN_SEED = 2
"""The seed grid's shorter side is at least this many cells (224 -> 7x7 seed, 64 -> 2x2, 64x32 -> 4x2)."""
BASE_CHANNELS = 256
MIN_CHANNELS = 16


def _num_upsamplings(height: int, width: int) -> int:
    shorter = min(height, width)
    steps = 0
    while steps < MAX_UPSAMPLINGS and shorter / 2 ** (steps + 1) >= MIN_SEED:
        steps += 1
    return steps


class ImageDecoder(nn.Module):
    """Ψ_Deconv(g; Π): (n, in_dim) -> (n, out_channels, H, W) for the ``image_size`` it was built for."""

    def __init__(self, in_dim: int, out_channels: int, image_size: tuple[int, int],
                 base_channels: int = BASE_CHANNELS, downsample: int = 1):
        super().__init__()
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.decoded_size = tuple(math.ceil(side / downsample) for side in self.image_size)
        height, width = self.decoded_size
        steps = _num_upsamplings(height, width)
        self.seed = (math.ceil(height / 2 ** steps), math.ceil(width / 2 ** steps))
        self.seed_channels = base_channels
        self.lift = nn.Sequential(
            nn.Linear(in_dim, base_channels * self.seed[0] * self.seed[1]), nn.ReLU(inplace=True)
        )
        layers, channels = [], base_channels
        for _ in range(steps):
            nxt = max(channels // 2, MIN_CHANNELS)
            layers += [nn.ConvTranspose2d(channels, nxt, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(nxt), nn.ReLU(inplace=True)]
            channels = nxt
        layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
        self.deconv = nn.Sequential(*layers)
        self._warned = False

    def forward(self, g: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        grid = self.lift(g).view(g.shape[0], self.seed_channels, *self.seed)
        if grid.device.type == "cpu" and fast():
            grid = grid.contiguous(memory_format=torch.channels_last)  # same convolutions, faster there (a2lib.speed)
        image = self.deconv(grid)[..., : self.decoded_size[0], : self.decoded_size[1]]
        size = self.image_size if size is None else tuple(size)
        if size != self.image_size and not self._warned:
            warnings.warn(
                f"the image decoder was built for image_size={self.image_size} but the input is {size}; "
                f"reconstructions are resized bilinearly; pass image_size={size} to build()",
                RuntimeWarning,
                stacklevel=3,
            )
            self._warned = True
        if tuple(image.shape[-2:]) != size:
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        return image
