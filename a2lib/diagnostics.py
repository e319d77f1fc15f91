"""How much say each loss term has: its gradient on the shared trunk, not only its value.

A term whose gradient on the trunk is a thousandth of another's does not shape the features, however right its
formula. ``term_gradients`` differentiates each weighted term of one batch separately with respect to the trunk's
parameters and reports its gradient norm, its share of the summed norms (shares add up to 1) and the cosine between
its gradient and the gradient of the total (negative: the term pulls against the rest).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def trunk_of(model: nn.Module) -> nn.Module:
    """The shared convolutional trunk of a hashing model (BASELINE's ``trunk``, the part extractor's otherwise)."""
    for owner in (model, getattr(model, "parts", None), getattr(model, "feature_model", None)):
        trunk = getattr(owner, "trunk", None) if owner is not None else None
        if isinstance(trunk, nn.Module):
            return trunk
    raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} has no shared trunk "
                     "(.trunk or .parts.trunk); pass parameters= explicitly")


def term_gradients(terms: dict[str, Tensor], parameters) -> dict[str, dict[str, float]]:
    """Per term: ``norm`` (L2 norm of its gradient over ``parameters``), ``share`` (norm / sum of all norms) and
    ``cosine`` (with the gradient of the sum of the terms). The graph is kept, so the caller can still backward."""
    parameters = [p for p in parameters if p.requires_grad]
    if not parameters:
        raise ValueError("no parameter requires a gradient; pass the trainable trunk parameters")
    if not terms:
        raise ValueError("no loss terms given")
    grads = {}
    for name, value in terms.items():
        parts = torch.autograd.grad(value, parameters, retain_graph=True, allow_unused=True)
        grads[name] = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                 for g, p in zip(parts, parameters)]).double()
    total = sum(grads.values())
    total_norm = float(total.norm())
    norms = {name: float(g.norm()) for name, g in grads.items()}
    norm_sum = sum(norms.values())
    return {name: {"norm": norms[name],
                   "share": norms[name] / norm_sum if norm_sum > 0 else math.nan,
                   "cosine": float(g @ total) / (norms[name] * total_norm) if norms[name] > 0 and total_norm > 0
                   else math.nan}
            for name, g in grads.items()}


def flatten(report: dict[str, dict[str, float]], prefix: str = "grad") -> dict[str, float]:
    """``{"grad_share/<term>": share, "grad_norm/<term>": norm}``, the form the training history records."""
    flat = {}
    for name, values in report.items():
        flat[f"{prefix}_share/{name}"] = values["share"]
        flat[f"{prefix}_norm/{name}"] = values["norm"]
    return flat


__all__ = ["flatten", "term_gradients", "trunk_of"]
