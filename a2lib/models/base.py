"""The common face of every hashing model: its config, its named output and the ``HashModel`` base class."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..checks import check_positive_int
from ..jsonable import jsonable

MAX_BITS = 4096
"""The longest code any model accepts; attention models cap lower (one attention map per bit)."""


@dataclass
class ModelConfig:
    """Options shared by every model: code length, backbone and its weights, input channels.

    ``pretrained=None`` means the backbone's default (ImageNet weights for resnet18/resnet50, random init for
    the small and CIFAR-style backbones); ``weights_path`` loads a local torchvision-style state dict instead.
    """

    bits: int
    backbone: str = "resnet50"
    pretrained: bool | None = None
    weights_path: str | None = None
    in_channels: int = 3

    def __post_init__(self):
        check_positive_int("bits", self.bits, MAX_BITS)
        check_positive_int("in_channels", self.in_channels)


@dataclass
class HashOutput:
    """What a forward pass returns; optional fields are None when the model (or a config flag) lacks them.

    codes: V' = tanh(Wx) (n, k), always.  pre_codes: Wx before tanh.  features: x (n, d).
    features_hat: x_hat = W^T V' (n, d), present only when the feature reconstruction of Eq. (7) is on.
    recon_g / recon_gp: images decoded from g = W'x and g' = W'x_hat (Eq. 14), same shape and space as the input.
    attention: (n, M, h, w) non-negative maps.  feature_map: backbone map T (n, C, h, w).
    part_features / part_anchors: ExchNet's pooled part features (n, M, C) and their class anchors.
    part_maps: ExchNet's part feature maps averaged over channels (n, M, h, w), for its spatial diversity.
    decorrelate: whether the model asks for the decorrelation term of Eq. (8).
    """

    codes: Tensor
    pre_codes: Tensor | None = None
    features: Tensor | None = None
    features_hat: Tensor | None = None
    recon_g: Tensor | None = None
    recon_gp: Tensor | None = None
    attention: Tensor | None = None
    feature_map: Tensor | None = None
    part_features: Tensor | None = None
    part_anchors: Tensor | None = None
    part_maps: Tensor | None = None
    decorrelate: bool = False
    extras: dict = field(default_factory=dict)


class HashModel(nn.Module):
    """Base class: image -> codes in (-1, 1)^k; subclasses implement ``_forward(images, labels, full)``.

    ``forward`` and ``encode`` take a non-empty float (n, C, H, W) batch; uint8 images are refused (the message gives
    the conversion) and float64 ones are converted to the weights' dtype (``model_input``).
    """

    name = "hash-model"
    max_bits = MAX_BITS
    scheme = "asymmetric"
    """How ``a2lib.train`` trains the model (``a2lib.train.schemes``): ``"asymmetric"``, ADSH's objective with learned
    database codes B; ``"pairwise"`` or ``"batch"`` for models that bring their own batch loss
    ``loss(out, labels) -> (total, terms)`` and whose database codes are their encoding."""

    def __init__(self, config: ModelConfig, min_size: int = 1):
        super().__init__()
        check_positive_int("bits", config.bits, self.max_bits)
        self.config = config
        self.bits = int(config.bits)
        self.in_channels = int(config.in_channels)
        self.min_size = int(min_size)

    def check_images(self, images: Tensor) -> None:
        """Raise a ValueError naming the problem when ``images`` is not an (n, C, H, W) batch this model accepts."""
        if not isinstance(images, Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"{self.name} expects a batch of images shaped (n, C, H, W), got {shape}")
        if not images.is_floating_point():
            raise ValueError(
                f"{self.name} expects float images (values in [0, 1], or normalised), got dtype {images.dtype}; "
                "convert with images.float() / 255, or load them with a2lib.data, whose datasets yield float images"
            )
        if images.shape[0] == 0:
            raise ValueError(f"{self.name} got an empty batch (0 images of shape {tuple(images.shape[1:])}); "
                             "pass at least one image")
        if images.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.name} was built for {self.in_channels}-channel images but got {images.shape[1]} channels; "
                f"pass in_channels={images.shape[1]} to build() or convert the images"
            )
        height, width = images.shape[-2:]
        if min(height, width) < self.min_size:
            raise ValueError(
                f"image of {height}x{width} is too small for backbone {self.config.backbone!r}: "
                f"both sides must be at least {self.min_size} pixels"
            )

    def model_input(self, images: Tensor) -> Tensor:
        """``images`` checked (``check_images``) and, when their float precision differs from the weights' (float64
        arrays from numpy, say), converted to the weights' dtype: the values are the same images, so no error."""
        self.check_images(images)
        weights = next(self.parameters(), None)
        if weights is not None and weights.is_floating_point() and images.dtype != weights.dtype:
            images = images.to(weights.dtype)
        return images

    def forward(self, images: Tensor, labels: Tensor | None = None) -> HashOutput:
        return self._forward(self.model_input(images), labels, full=True)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """Codes tanh(Wx) in (-1, 1)^k (Eq. 16 before sgn); binary codes are their sign."""
        return self._forward(self.model_input(images), None, full=False).codes

    def _forward(self, images: Tensor, labels: Tensor | None, full: bool) -> HashOutput:
        raise NotImplementedError

    @property
    def cam_layer(self) -> nn.Module:
        """The layer Grad-CAM explains: the backbone trunk, whose map T feeds every branch of the model."""
        return self.parts.trunk if hasattr(self, "parts") else self.trunk

    def prepare_outer_iteration(self, iteration: int, loader, device, outer_iterations: int | None = None) -> None:
        """Hook the trainer calls before outer iteration ``iteration`` (0-based) of ``outer_iterations``; a no-op
        unless the model keeps per-epoch state."""
        return None

    def config_dict(self) -> dict:
        """The JSON-able options this model was built with (name included), for cache keys."""
        return {"name": self.name, **jsonable(dataclasses.asdict(self.config))}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, bits={self.bits}, backbone={self.config.backbone!r}"
