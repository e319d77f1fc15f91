"""A²-Net (Sec. 3.2-3.3) and A²-Net++ (Sec. 3.4.2): attention-guided features, tied encoder-decoder W, image decoder.

x = [x^1; ...; x^M; x^global] (the pooled parts concatenated as they are, as the public A²-Net code does, so
d = (M+1)·C with no projection; ``normalize_parts`` L2-normalises each piece first and ``balance_parts`` scales the
local parts by 1/√M so the local block weighs as much as the global part), V' = tanh(Wx) (Eq. 5/6),
x_hat = W^T V' (Eq. 7, tied decoder). A²-Net++ adds g = W'x and g' = W'x_hat, both decoded by one shared Ψ to the
input image (Eq. 14). Every ablation component of Table 7 is a config flag.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..checks import check_positive_int
from .backbones import build_backbone
from .base import HashModel, HashOutput, ModelConfig
from .decoder import BASE_CHANNELS as DECODER_CHANNELS
from .decoder import ImageDecoder
from .parts import PartExtractor, l2_normalize

MAX_ATTENTION_MAPS = 256
"""One attention map per bit (Sec. 4.2): more than this many maps is refused, as is bits > this for A²-Net."""
CODE_DIM = 1024
"""d' of A²-Net++ (Sec. 4.2)."""
IMAGE_RECONSTRUCTION = ("none", "g", "gp", "both")


@dataclass
class A2NetConfig(ModelConfig):
    """A²-Net options; defaults are the paper's (M = bits maps, d' = 1024) with the image path off.

    attention: local branch on (Sec. 3.2); off leaves x = x^global.  feature_reconstruction: the Eq. (7) term.
    decorrelation: the Eq. (8) term.  image_reconstruction: "none" | "g" | "gp" | "both" (Eq. 14, Table 7).
    num_maps: attention maps M (None -> bits).  code_dim: d' of g = W'x.  image_size: (H, W) the decoder produces
    (None -> the backbone's usual input size).  normalize_parts: L2-normalise every pooled part (off = the public
    code's raw concatenation; the paper does not say).
    local_chunk / checkpoint_local: evaluate φ_local over this many maps at a time / with gradient checkpointing.
    decoder_channels: channels of Ψ's first transposed convolution (halved at each upsampling; the CPU profiles
    use fewer than the default to keep A²-Net++ affordable).  decoder_downsample: Ψ decodes at 1/this of the image
    size, upsampled bilinearly (1 = the paper's full resolution; the CPU profiles use 2, a third of the cost).
    balance_parts: scale the M local parts by 1/√M so that the local block and the global part weigh equally in x
    (off = the public code, every piece weighs the same). From random initialisation the M unguided local parts
    otherwise drown the global part: in ``quick`` (synth-birds, 48 bits, L2-normalised parts, element-mean norms)
    A²-Net reached 0.365 test mAP unbalanced and 0.433 balanced; the paper's ImageNet-initialised backbone does not
    need it.
    """

    attention: bool = True
    feature_reconstruction: bool = True
    decorrelation: bool = True
    image_reconstruction: str = "none"
    num_maps: int | None = None
    code_dim: int = CODE_DIM
    image_size: tuple[int, int] | None = None
    normalize_parts: bool = False
    local_chunk: int | None = None
    checkpoint_local: bool = False
    decoder_channels: int = DECODER_CHANNELS
    decoder_downsample: int = 1
    balance_parts: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.image_reconstruction not in IMAGE_RECONSTRUCTION:
            raise ValueError(
                f"image_reconstruction={self.image_reconstruction!r} is not one of {', '.join(IMAGE_RECONSTRUCTION)}"
            )
        if self.num_maps is not None:
            check_positive_int("num_maps", self.num_maps, MAX_ATTENTION_MAPS)
        check_positive_int("code_dim", self.code_dim)
        check_positive_int("decoder_channels", self.decoder_channels)
        check_positive_int("decoder_downsample", self.decoder_downsample)
        if self.local_chunk is not None:
            check_positive_int("local_chunk", self.local_chunk)
        if self.image_size is not None:
            size = tuple(self.image_size)
            if len(size) != 2:
                raise ValueError(f"image_size must be (height, width), got {self.image_size!r}")
            self.image_size = (check_positive_int("image height", size[0]), check_positive_int("image width", size[1]))


@dataclass
class A2NetPPConfig(A2NetConfig):
    """A²-Net++: A²-Net with both image reconstructions of Eq. (14) on by default."""

    image_reconstruction: str = "both"


class A2Net(HashModel):
    """A²-Net; with ``image_reconstruction`` other than "none" it is A²-Net++ (see ``A2NetPP``)."""

    name = "a2net"
    max_bits = MAX_ATTENTION_MAPS

    def __init__(self, config: A2NetConfig):
        backbone = build_backbone(config.backbone, config.pretrained, config.weights_path, config.in_channels)
        super().__init__(config, backbone.min_size)
        self.num_maps = config.num_maps or config.bits
        self.parts = PartExtractor(backbone, self.num_maps, config.attention, config.local_chunk,
                                   config.checkpoint_local)
        num_pieces = (self.num_maps if config.attention else 0) + 1
        self.feature_dim = num_pieces * backbone.out_channels
        self.W = nn.Parameter(torch.empty(config.bits, self.feature_dim))
        self._init_w(num_pieces)
        self.image_size = tuple(config.image_size or backbone.default_image_size)
        if config.image_reconstruction != "none":
            self.W_prime = nn.Linear(self.feature_dim, config.code_dim, bias=False)
            self.decoder = ImageDecoder(config.code_dim, config.in_channels, self.image_size,
                                        config.decoder_channels, config.decoder_downsample)
        else:
            self.W_prime = None
            self.decoder = None

    def _init_w(self, num_pieces: int) -> None:
        """Uniform init scaled so Wx has unit variance at the start: ||x||^2 = number of pieces when normalised.

        Balanced parts keep this init (their ||x||^2 is 2, so Wx starts smaller): scaling it to unit variance
        learned slower in ``quick`` (A²-Net 48 bits: 0.32 against 0.43 test mAP).
        """
        norm_sq = num_pieces if self.config.normalize_parts else self.feature_dim
        bound = math.sqrt(3.0 / norm_sq)
        nn.init.uniform_(self.W, -bound, bound)

    def holistic_features(self, images: Tensor):
        """x = [x^c; x^global] (Sec. 3.2) plus the feature map and the attention maps."""
        feature_map, maps, parts, global_feature = self.parts(images)
        if self.config.normalize_parts:
            global_feature = l2_normalize(global_feature)
            parts = None if parts is None else l2_normalize(parts)
        if parts is not None and self.config.balance_parts:
            parts = parts / math.sqrt(parts.shape[1])
        pieces = [global_feature] if parts is None else [parts.flatten(1), global_feature]
        return torch.cat(pieces, dim=1), feature_map, maps

    def _forward(self, images: Tensor, labels: Tensor | None, full: bool) -> HashOutput:
        features, feature_map, maps = self.holistic_features(images)
        pre_codes = features @ self.W.t()
        codes = torch.tanh(pre_codes)
        if not full:
            return HashOutput(codes=codes)
        mode = self.config.image_reconstruction
        needs_hat = self.config.feature_reconstruction or mode in ("gp", "both")
        features_hat = codes @ self.W if needs_hat else None
        size = tuple(images.shape[-2:])
        recon_g = self.decoder(self.W_prime(features), size) if mode in ("g", "both") else None
        recon_gp = self.decoder(self.W_prime(features_hat), size) if mode in ("gp", "both") else None
        return HashOutput(
            codes=codes,
            pre_codes=pre_codes,
            features=features,
            features_hat=features_hat if self.config.feature_reconstruction else None,
            recon_g=recon_g,
            recon_gp=recon_gp,
            attention=maps,
            feature_map=feature_map,
            decorrelate=self.config.decorrelation,
        )


class A2NetPP(A2Net):
    """A²-Net++ (Fig. 5, Eq. 15): A²-Net plus the self-consistent dual image reconstruction."""

    name = "a2net++"
