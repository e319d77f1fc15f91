"""BASELINE (Sec. 3.4.1, Table 7 "Backbone"): backbone + global average pooling + Linear(k) + tanh."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .backbones import build_backbone
from .base import HashModel, HashOutput, ModelConfig


@dataclass
class BaselineConfig(ModelConfig):
    """BASELINE has no options beyond the shared ones; it is trained with the hashing loss alone (Eq. 11)."""


class BaselineHash(HashModel):
    """F = tanh(Linear(GAP(φ(trunk(I))))) — the vanilla learning-to-hash network of ADSH / the paper's BASELINE."""

    name = "baseline"

    def __init__(self, config: BaselineConfig):
        backbone = build_backbone(config.backbone, config.pretrained, config.weights_path, config.in_channels)
        super().__init__(config, backbone.min_size)
        self.trunk = backbone.trunk
        self.last_stage = backbone.make_last_stage()
        self.hash_layer = nn.Linear(backbone.out_channels, config.bits)

    def _forward(self, images: Tensor, labels: Tensor | None, full: bool) -> HashOutput:
        feature_map = self.trunk(images)
        features = self.last_stage(feature_map).mean(dim=(2, 3))
        pre_codes = self.hash_layer(features)
        codes = self.activate(pre_codes)
        if not full:
            return HashOutput(codes=codes)
        return HashOutput(codes=codes, pre_codes=pre_codes, features=features, feature_map=feature_map)

    def activate(self, pre_codes: Tensor) -> Tensor:
        """Codes in (-1, 1) from the hash layer's output: tanh (subclasses may scale it, e.g. HashNet's β)."""
        return torch.tanh(pre_codes)
