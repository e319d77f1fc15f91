"""Hashing models: ``build(name, bits, backbone=..., **options)`` over a name registry.

Names: "baseline", "a2net", "a2net++", "exchnet" (trained by the asymmetric ADSH objective with learned database
codes) and the other deep methods of the paper's tables, "dpsh", "hashnet", "csq", "orthocos" (their own batch loss,
``model.loss``; "csq" and "orthocos" need ``num_classes``), each naming its training scheme (``HashModel.scheme``,
``a2lib.train.schemes``); backbones: "small", "resnet18", "resnet32", "resnet50".
The shallow methods (ITQ, SDH) on backbone features are in ``a2lib.shallow``.
"""
from __future__ import annotations

import dataclasses

from ..checks import check_positive_int
from .a2net import A2Net, A2NetConfig, A2NetPP, A2NetPPConfig
from .backbones import BACKBONES, Backbone, build_backbone, check_backbone_name, default_image_size
from .base import HashModel, HashOutput, ModelConfig
from .baseline import BaselineConfig, BaselineHash
from .classifier import ClassifierConfig, CrossEntropyClassifier
from .deep_hashing import (CSQ, DPSH, CSQConfig, DPSHConfig, HashNet, HashNetConfig, OrthoCos, OrthoCosConfig,
                           hadamard, hash_centers)
from .exchnet import ExchNet, ExchNetConfig

_REGISTRY: dict[str, tuple[type[HashModel], type[ModelConfig]]] = {}


def register_model(name: str, model_cls: type[HashModel], config_cls: type[ModelConfig]) -> None:
    """Make ``build(name, ...)`` construct ``model_cls`` from ``config_cls``."""
    _REGISTRY[name] = (model_cls, config_cls)


register_model("baseline", BaselineHash, BaselineConfig)
register_model("a2net", A2Net, A2NetConfig)
register_model("a2net++", A2NetPP, A2NetPPConfig)
register_model("exchnet", ExchNet, ExchNetConfig)
register_model("dpsh", DPSH, DPSHConfig)
register_model("hashnet", HashNet, HashNetConfig)
register_model("csq", CSQ, CSQConfig)
register_model("orthocos", OrthoCos, OrthoCosConfig)
register_model("ce-classifier", CrossEntropyClassifier, ClassifierConfig)


def list_models(asymmetric: bool | None = None) -> list[str]:
    """Registered names; ``asymmetric=True`` / ``False`` keeps the models trained with / without learned codes B
    (``HashModel.scheme`` ``"asymmetric"`` or another)."""
    return [name for name, (cls, _) in _REGISTRY.items()
            if asymmetric is None or (cls.scheme == "asymmetric") == asymmetric]


def list_backbones() -> list[str]:
    return list(BACKBONES)


def option_names(name: str) -> list[str]:
    """The options ``build(name, ...)`` accepts: the fields of the model's config other than bits and backbone."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_REGISTRY)}")
    return [f.name for f in dataclasses.fields(_REGISTRY[name][1]) if f.name not in ("bits", "backbone")]


def option_defaults(name: str) -> dict:
    """Each option of ``option_names(name)`` with the value the model takes when it is not given."""
    fields = {f.name: f for f in dataclasses.fields(_REGISTRY[name][1]) if f.name in option_names(name)}
    return {key: field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
            for key, field in fields.items()}


def build(name: str, bits: int, backbone: str = "resnet50", **options) -> HashModel:
    """Build model ``name`` producing ``bits``-bit codes on ``backbone``; ``options`` are its config fields."""
    allowed = option_names(name)
    model_cls, config_cls = _REGISTRY[name]
    check_positive_int("bits", bits, model_cls.max_bits)
    check_backbone_name(backbone)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid options: {', '.join(allowed)}")
    return model_cls(config_cls(bits=bits, backbone=backbone, **options))


__all__ = [
    "A2Net", "A2NetConfig", "A2NetPP", "A2NetPPConfig", "BACKBONES", "Backbone", "BaselineConfig", "BaselineHash",
    "CSQ", "CSQConfig", "DPSH", "DPSHConfig", "ExchNet", "ExchNetConfig", "HashModel", "HashNet", "HashNetConfig",
    "HashOutput", "ModelConfig", "OrthoCos", "OrthoCosConfig", "build", "build_backbone", "default_image_size",
    "hadamard", "hash_centers", "list_backbones", "list_models", "option_defaults", "option_names", "register_model",
]
