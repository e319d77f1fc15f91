"""Backbones split as the A²-Net code family uses them: a shared trunk giving T (Eq. 1) and a last stage φ.

Each backbone provides ``trunk`` (conv1..stage N-1, the map T the attention looks at) and ``make_last_stage()``,
a fresh copy of the final stage used as a transform network φ (Eq. 3, 4): A²-Net keeps one copy for all
attention-weighted local maps and one for the global branch, each starting from the same (ImageNet) weights.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

SMALL_CHANNELS = (16, 32, 64, 128)
"""Channels of the small CPU backbone's four conv-BN-ReLU stages, each stride 2: the trunk's map T has output
stride 8 and the last stage (φ) halves it again, as ResNet's layer4 does. Sized for the CPU profiles: A²-Net runs
φ once per attention map, so φ's cost dominates and is kept to about 1.2M multiply-adds per map at 64x64."""
CIFAR_RESNET32_BLOCKS = 5
"""ResNet-32 (He et al. 2016, CIFAR): 3 stages of 5 basic blocks, 16-32-64 channels, 6*5+2 = 32 layers."""
CIFAR_CHANNELS = (16, 32, 64)

_warned: set[str] = set()
"""Architectures whose ImageNet download failed in this process: warned once, not retried."""


DEFAULT_IMAGE_SIZES = {"small": (64, 64), "resnet18": (224, 224), "resnet32": (64, 32), "resnet50": (224, 224)}
"""(height, width) each backbone is built for: the decoder of A²-Net(++) reconstructs images of this size unless told
another (the dominoes' 64x32 for ResNet-32, ImageNet's 224 px for the torchvision ResNets)."""


def default_image_size(name: str) -> tuple[int, int]:
    """The (height, width) backbone ``name`` is built for, without building it."""
    return DEFAULT_IMAGE_SIZES[check_backbone_name(name)]


@dataclass
class Backbone:
    """A trunk, a template for the last stage, and the facts a head needs about them."""

    name: str
    trunk: nn.Module
    last_stage: nn.Module
    trunk_channels: int
    out_channels: int
    min_size: int
    default_image_size: tuple[int, int]

    def make_last_stage(self) -> nn.Module:
        """A fresh copy of the last stage (same initial weights as the template)."""
        return copy.deepcopy(self.last_stage)


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def _small(in_channels: int, pretrained: bool, weights_path: str | None) -> Backbone:
    c1, c2, c3, c4 = SMALL_CHANNELS
    trunk = nn.Sequential(_conv_bn_relu(in_channels, c1, 2), _conv_bn_relu(c1, c2, 2), _conv_bn_relu(c2, c3, 2))
    last = _conv_bn_relu(c3, c4, 2)
    return _own_backbone(Backbone("small", trunk, last, c3, c4, min_size=8,
                                  default_image_size=DEFAULT_IMAGE_SIZES["small"]), pretrained, weights_path)


class _CifarBlock(nn.Module):
    """Basic residual block; the downsampling shortcut is a 1x1 conv + BN (option B)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def _cifar_stage(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    blocks = [_CifarBlock(in_ch, out_ch, stride)]
    blocks += [_CifarBlock(out_ch, out_ch, 1) for _ in range(CIFAR_RESNET32_BLOCKS - 1)]
    return nn.Sequential(*blocks)


def _resnet32(in_channels: int, pretrained: bool, weights_path: str | None) -> Backbone:
    c1, c2, c3 = CIFAR_CHANNELS
    stem = nn.Sequential(nn.Conv2d(in_channels, c1, 3, 1, 1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True))
    trunk = nn.Sequential(stem, _cifar_stage(c1, c1, 1), _cifar_stage(c1, c2, 2))
    last = _cifar_stage(c2, c3, 2)
    return _own_backbone(Backbone("resnet32", trunk, last, c2, c3, min_size=4,
                                  default_image_size=DEFAULT_IMAGE_SIZES["resnet32"]), pretrained, weights_path)


def _own_backbone(backbone: Backbone, pretrained: bool, weights_path: str | None) -> Backbone:
    """A backbone defined here, which has no ImageNet weights: refuses ``pretrained``, loads ``weights_path``."""
    if pretrained:
        raise ValueError(f"backbone {backbone.name!r} has no ImageNet weights; use pretrained=False, "
                         "or weights_path=... for a local file")
    if weights_path is not None:
        _load_split_state(backbone, weights_path)
    return backbone


def _torchvision_resnet(arch: str, in_channels: int, pretrained: bool, weights_path: str | None) -> Backbone:
    import torchvision

    constructor = getattr(torchvision.models, arch)
    net = constructor(weights=None)
    if weights_path is not None:
        _load_torchvision_state(net, arch, weights_path)
    elif pretrained:
        _fetch_imagenet(net, arch)
    if in_channels != net.conv1.in_channels:
        if pretrained or weights_path is not None:
            raise ValueError(
                f"ImageNet weights for {arch} expect 3 input channels, but in_channels={in_channels}; "
                "use pretrained=False or convert the images to 3 channels"
            )
        net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, 7, 2, 3, bias=False)
    trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3)
    trunk_channels = _stage_out_channels(net.layer3)
    out_channels = _stage_out_channels(net.layer4)
    return Backbone(arch, trunk, net.layer4, trunk_channels, out_channels, min_size=32,
                    default_image_size=DEFAULT_IMAGE_SIZES[arch])


def _stage_out_channels(stage: nn.Sequential) -> int:
    last_block = stage[-1]
    bn = getattr(last_block, "bn3", None) or last_block.bn2
    return bn.num_features


def _fetch_imagenet(net: nn.Module, arch: str) -> None:
    import torchvision

    weights_enum = {"resnet50": torchvision.models.ResNet50_Weights, "resnet18": torchvision.models.ResNet18_Weights}
    if arch in _warned:
        return
    try:
        state = weights_enum[arch].IMAGENET1K_V1.get_state_dict(progress=False)
        net.load_state_dict(state)
    except Exception as error:  # offline, proxy, corrupt cache: all mean "no weights"
        _warned.add(arch)
        warnings.warn(
            f"ImageNet weights for {arch} could not be fetched ({type(error).__name__}: {error}); "
            f"using random initialisation; pass weights_path=... to use a local file "
            f"(this process will not try again)",
            RuntimeWarning,
            stacklevel=2,
        )


def _read_state(weights_path: str) -> dict:
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"weights_path {str(path)!r} does not exist; give the path of a saved state dict")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights_path {str(path)!r} does not hold a state dict (got {type(state).__name__})")
    return state


def _load_torchvision_state(net: nn.Module, arch: str, weights_path: str) -> None:
    state = _read_state(weights_path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    _check_state(state, expected, f"a torchvision {arch}", weights_path)
    net.load_state_dict(state, strict=False)


def _load_split_state(backbone: Backbone, weights_path: str) -> None:
    """Load a state dict with keys ``trunk.*`` and ``last_stage.*`` into a small/CIFAR backbone."""
    state = _read_state(weights_path)
    holder = nn.ModuleDict({"trunk": backbone.trunk, "last_stage": backbone.last_stage})
    _check_state(state, holder.state_dict(), f"backbone {backbone.name!r} (keys trunk.*, last_stage.*)", weights_path)
    holder.load_state_dict(state)


def _check_state(state: dict, expected: dict, what: str, weights_path: str) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(
            f"weights_path {weights_path!r} does not match {what}: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"wrong shapes {wrong[:5]}{'...' if len(wrong) > 5 else ''}"
        )


_BUILDERS = {
    "small": (_small, False),
    "resnet18": (lambda c, p, w: _torchvision_resnet("resnet18", c, p, w), True),
    "resnet32": (_resnet32, False),
    "resnet50": (lambda c, p, w: _torchvision_resnet("resnet50", c, p, w), True),
}
BACKBONES = tuple(_BUILDERS)


def default_pretrained(name: str) -> bool:
    """Whether ``name`` uses ImageNet weights unless told otherwise."""
    return _BUILDERS[check_backbone_name(name)][1]


def check_backbone_name(name: str) -> str:
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return name


def build_backbone(name: str, pretrained: bool | None = None, weights_path: str | None = None,
                   in_channels: int = 3) -> Backbone:
    """Build backbone ``name``; ``pretrained=None`` takes its default (ImageNet for resnet18/50)."""
    builder, default = _BUILDERS[check_backbone_name(name)]
    return builder(in_channels, default if pretrained is None else bool(pretrained), weights_path)
