"""ExchNet (Cui et al., ECCV 2020): attention parts + global feature, a hash layer, part diversity and alignment.

As its public code (ludics/fghash, ``models/exchnet.py``, ``adsh_exchnet.py``): from outer iteration ``align_from``
on (default: the second half of training; its CUB config starts at 25 of 60), ``prepare_outer_iteration``
recomputes each class's anchor part features (the mean part feature of its training images); a training forward
with labels then exchanges every part feature with its class anchor with probability ``exchange_prob`` before
hashing, and returns the anchors so the loss pulls the kept part features towards them (an exchanged part is its
anchor, so it adds nothing, as in the public code). The losses (``a2lib.losses``): Hellinger spatial and channel
diversity, alignment ||f - anchor||_F / n.

Remaining deviations from the public code: the parts come from the shared ``PartExtractor`` (A²-Net's attention
head and φ_local, not ExchNet's own attention/refine modules); anchors are computed over the sampled Ω of the outer
iteration, not the whole database; the training scheme is this package's ADSH trainer (its quantisation term on,
as the code's ``--quan-loss``, and its DCC update), with the profile's optimiser and schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..checks import check_positive_int
from ..inference import evaluating
from .backbones import build_backbone
from .base import HashModel, HashOutput, ModelConfig
from .parts import PartExtractor

NUM_PARTS = 4
"""Attention parts in the public ExchNet code."""
EXCHANGE_PROB = 0.5


@dataclass
class ExchNetConfig(ModelConfig):
    """num_parts: attention maps M; align_from: first outer iteration (0-based) with class anchors and exchange,
    None -> half the run's outer iterations; exchange_prob: chance that a part feature is swapped for its class
    anchor in a training forward."""

    num_parts: int = NUM_PARTS
    align_from: int | None = None
    exchange_prob: float = EXCHANGE_PROB
    local_chunk: int | None = None

    def __post_init__(self):
        super().__post_init__()
        check_positive_int("num_parts", self.num_parts)
        if self.align_from is not None and (isinstance(self.align_from, bool) or not isinstance(self.align_from, int)
                                            or self.align_from < 0):
            raise ValueError(f"align_from must be None (the second half of training) or a non-negative integer "
                             f"(an outer iteration), got {self.align_from!r}")
        if not 0.0 <= float(self.exchange_prob) <= 1.0:
            raise ValueError(f"exchange_prob must lie in [0, 1], got {self.exchange_prob!r}")


def _class_index(labels: Tensor) -> Tensor:
    """Class index per item: the label itself, or the first positive class of a multi-hot row."""
    if labels.dim() == 2:
        return labels.float().argmax(dim=1)
    return labels.long()


class ExchNet(HashModel):
    """codes = tanh(Linear([x^1..x^M; x^global])) with feature exchange against class anchors during training."""

    name = "exchnet"

    def __init__(self, config: ExchNetConfig):
        backbone = build_backbone(config.backbone, config.pretrained, config.weights_path, config.in_channels)
        super().__init__(config, backbone.min_size)
        self.parts = PartExtractor(backbone, config.num_parts, True, config.local_chunk)
        channels = backbone.out_channels
        self.hash_layer = nn.Linear((config.num_parts + 1) * channels, config.bits)
        self.register_buffer("anchors", torch.zeros(0, config.num_parts, channels), persistent=False)
        self.register_buffer("anchor_valid", torch.zeros(0, dtype=torch.bool), persistent=False)

    @property
    def aligning(self) -> bool:
        return self.anchors.shape[0] > 0

    def _forward(self, images: Tensor, labels: Tensor | None, full: bool) -> HashOutput:
        feature_map, maps, parts, global_feature, part_maps = self.parts(images, spatial=True)
        used = parts
        anchors = None
        if full and labels is not None and self.aligning:
            index = _class_index(labels.to(parts.device))
            known = (index < self.anchors.shape[0]) & (index >= 0)
            safe = torch.where(known, index, torch.zeros_like(index))
            valid = known & self.anchor_valid[safe]
            anchors = torch.where(valid[:, None, None], self.anchors[safe], parts.detach())
            if self.training:
                swap = torch.rand(parts.shape[:2], device=parts.device) < self.config.exchange_prob
                swap = swap & valid[:, None]
                used = torch.where(swap[..., None], anchors, parts)
                anchors = torch.where(swap[..., None], parts.detach(), anchors)
        pre_codes = self.hash_layer(torch.cat([used.flatten(1), global_feature], dim=1))
        codes = torch.tanh(pre_codes)
        if not full:
            return HashOutput(codes=codes)
        return HashOutput(codes=codes, pre_codes=pre_codes, features=torch.cat([parts.flatten(1), global_feature], 1),
                          attention=maps, feature_map=feature_map, part_features=parts, part_anchors=anchors,
                          part_maps=part_maps)

    def align_start(self, outer_iterations: int | None) -> int:
        """The first outer iteration with anchors: ``align_from``, or half of ``outer_iterations`` when None."""
        if self.config.align_from is not None:
            return self.config.align_from
        if outer_iterations is None:
            raise ValueError("ExchNet with align_from=None starts aligning halfway through training: pass "
                             "outer_iterations, or set align_from to an outer iteration")
        return outer_iterations // 2

    @torch.no_grad()
    def prepare_outer_iteration(self, iteration: int, loader, device, outer_iterations: int | None = None) -> None:
        """From ``align_start`` on, recompute the class anchors (mean part features per class) over ``loader``."""
        if iteration < self.align_start(outer_iterations):
            return
        sums, counts = None, None
        with evaluating(self):
            for batch in loader:
                images, labels = batch[0].to(device), batch[1].to(device)
                parts = self.parts(images)[2]
                members = labels.float() if labels.dim() == 2 else nn.functional.one_hot(labels.long()).float()
                if sums is None or members.shape[1] > sums.shape[0]:
                    sums, counts = _grow(sums, counts, members.shape[1], parts)
                members = nn.functional.pad(members, (0, sums.shape[0] - members.shape[1]))
                sums += torch.einsum("nc,nmd->cmd", members, parts)
                counts += members.sum(dim=0)
        if sums is None:
            return
        self.anchors = sums / counts.clamp(min=1)[:, None, None]
        self.anchor_valid = counts > 0


def _grow(sums, counts, num_classes: int, parts: Tensor):
    new_sums = parts.new_zeros(num_classes, parts.shape[1], parts.shape[2])
    new_counts = parts.new_zeros(num_classes)
    if sums is not None:
        new_sums[: sums.shape[0]] = sums
        new_counts[: counts.shape[0]] = counts
    return new_sums, new_counts
