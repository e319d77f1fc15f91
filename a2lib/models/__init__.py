"""Hashing models: ``build(name, bits, backbone=..., **options)`` over a name registry.

Names: "baseline", "a2net", "a2net++", "exchnet"; backbones: "small", "resnet18", "resnet32", "resnet50".
"""
from __future__ import annotations

import dataclasses

from .a2net import A2Net, A2NetConfig, A2NetPP, A2NetPPConfig
from .backbones import BACKBONES, Backbone, build_backbone, check_backbone_name
from .base import HashModel, HashOutput, ModelConfig, check_positive_int
from .baseline import BaselineConfig, BaselineHash
from .exchnet import ExchNet, ExchNetConfig

_REGISTRY: dict[str, tuple[type[HashModel], type[ModelConfig]]] = {}


def register_model(name: str, model_cls: type[HashModel], config_cls: type[ModelConfig]) -> None:
    """Make ``build(name, ...)`` construct ``model_cls`` from ``config_cls``."""
    _REGISTRY[name] = (model_cls, config_cls)


register_model("baseline", BaselineHash, BaselineConfig)
register_model("a2net", A2Net, A2NetConfig)
register_model("a2net++", A2NetPP, A2NetPPConfig)
register_model("exchnet", ExchNet, ExchNetConfig)


def list_models() -> list[str]:
    return list(_REGISTRY)


def list_backbones() -> list[str]:
    return list(BACKBONES)


def build(name: str, bits: int, backbone: str = "resnet50", **options) -> HashModel:
    """Build model ``name`` producing ``bits``-bit codes on ``backbone``; ``options`` are its config fields."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    model_cls, config_cls = _REGISTRY[name]
    check_positive_int(bits, "bits", model_cls.max_bits)
    check_backbone_name(backbone)
    allowed = [f.name for f in dataclasses.fields(config_cls) if f.name not in ("bits", "backbone")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid options: {', '.join(allowed)}")
    return model_cls(config_cls(bits=bits, backbone=backbone, **options))


__all__ = [
    "A2Net", "A2NetConfig", "A2NetPP", "A2NetPPConfig", "BACKBONES", "Backbone", "BaselineConfig", "BaselineHash",
    "ExchNet", "ExchNetConfig", "HashModel", "HashOutput", "ModelConfig", "build", "build_backbone",
    "list_backbones", "list_models", "register_model",
]
