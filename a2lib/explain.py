"""Explaining hash codes: Grad-CAM of hash bits (pytorch-grad-cam), attention maps, per-bit galleries, activation mass.

Grad-CAM needs a scalar per image. For a hash model the natural ones are a single bit taken with the sign the image
gives it (``BitTarget``: how strongly the image pushes bit b towards its own value), and the agreement of the
pre-sign code with a reference binary code (``CodeTarget``; with the image's own code it explains the whole code).

Measured, not only shown: ``mask_shares`` gives per image the share of a map's mass inside an object mask (Grad-CAM of
the code, or the model's own attention summed over its maps), batch by batch over a test set: how *concentrated* on
the object the map is; ``mask_coverage`` the share of the object that the top of the map covers: how much of the
object it *attends* (the paper's Figure 9 claims coverage); ``object_measure_rows`` both, per model and map source.
``describe_bits`` and ``correspondence_summary`` turn ``a2lib.evaluate.bit_attribute_correspondence`` into the column titles and the
numbers of Figure 8, with a permutation control for the chance level.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .evaluate import BitAttributeCorrespondence, bit_attribute_correspondence
from .inference import binary, evaluating, model_device

CAM_BATCH = 32
"""Images per Grad-CAM pass (memory grows with it; the result does not depend on it)."""
ENCODE_BATCH = 64
MAP_SOURCES = ("gradcam", "attention")
MEASURES = ("share", "coverage")
"""``share``: the map's mass inside the mask (``activation_share``); ``coverage``: the mask's pixels the top of the map
covers (``mask_coverage``)."""
COVERAGE_LEVEL = 0.5
"""The top of a map: pixels at or above half of its range after per-image min–max scaling (the normalisation
pytorch-grad-cam applies to every Grad-CAM map)."""
NO_ATTRIBUTE = "(none: constant sign)"


class BitTarget:
    """Grad-CAM target: ``sign * u_b`` for hash bit ``b``, where u is the pre-sign code of one image."""

    def __init__(self, bit: int, sign: float = 1.0):
        self.bit, self.sign = int(bit), float(sign)

    def __call__(self, code: Tensor) -> Tensor:
        return self.sign * code[self.bit]


class CodeTarget:
    """Grad-CAM target: ``<reference, u>``, the agreement of the pre-sign code u with a ±1 reference code."""

    def __init__(self, reference: Tensor):
        self.reference = torch.as_tensor(reference, dtype=torch.float32)

    def __call__(self, code: Tensor) -> Tensor:
        return (self.reference.to(code.device) * code).sum()


class PreCodes(nn.Module):
    """Wraps a hash model so its forward returns the pre-sign code (Wx, before tanh) as a plain tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        out = self.model(images)
        return out.pre_codes if out.pre_codes is not None else torch.atanh(out.codes.clamp(-0.999999, 0.999999))


def cam_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM looks at: the model's ``cam_layer`` (the last stage of its backbone feature map)."""
    layer = getattr(model, "cam_layer", None)
    if callable(layer) and not isinstance(layer, nn.Module):
        layer = layer()
    if not isinstance(layer, nn.Module):
        raise ValueError(f"{type(model).__name__} names no cam_layer; pass layer=... (a module of the model)")
    return layer


def grad_cam(
    model: nn.Module,
    images: Tensor,
    bit: int | None = None,
    reference: Tensor | None = None,
    layer: nn.Module | None = None,
) -> np.ndarray:
    """Grad-CAM maps (n, H, W) in [0, 1] at the input resolution.

    ``bit=b``: each image's own sign of bit b (``BitTarget``). ``reference``: agreement with this ±1 code
    (``CodeTarget``). Neither: agreement with each image's own binary code, i.e. the whole code is explained.
    """
    from pytorch_grad_cam import GradCAM

    wrapped = PreCodes(model)
    with evaluating(model):
        with torch.no_grad():
            signs = binary(wrapped(images), "pre-sign codes")
        if bit is not None:
            targets = [BitTarget(bit, float(s[bit])) for s in signs]
        elif reference is not None:
            targets = [CodeTarget(reference) for _ in signs]
        else:
            targets = [CodeTarget(s) for s in signs]
        with GradCAM(model=wrapped, target_layers=[layer or cam_layer(model)]) as cam:
            return cam(input_tensor=images, targets=targets)


def activation_share(maps: np.ndarray | Tensor, masks: np.ndarray | Tensor) -> np.ndarray:
    """Per image, the share of activation mass that falls inside ``masks`` (n, H, W), in [0, 1]; NaN if no mass."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must have the same (n, H, W) shape")
    maps = np.clip(maps, 0.0, None)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def mask_coverage(maps: np.ndarray | Tensor, masks: np.ndarray | Tensor, level: float = COVERAGE_LEVEL
                  ) -> np.ndarray:
    """Per image, the share of the mask's pixels where the map, min–max scaled per image, is at least ``level``: how
    much of the object the top of the map covers, in [0, 1]; NaN for an empty mask or a flat map."""
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must have the same (n, H, W) shape")
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    flat = (high - low)[:, 0, 0] <= 0
    top = (maps - low) >= level * (high - low)
    area = masks.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        covered = (top & masks).sum(axis=(1, 2)) / area
    return np.where(flat | (area == 0), np.nan, covered)


def mean_with_ci(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval (95% by default), NaNs dropped."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    half = z * values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
    return float(values.mean()), float(half)


def against_uniform(mean: float, half: float | None, uniform: float) -> str:
    """Where a mask share ``mean`` ± ``half`` (its 95% interval) lies against the share of a uniform map
    (``uniform``, the mask's area): ``"above"`` or ``"below"`` when the whole interval is, ``"overlaps"`` when it
    contains it (a missing or NaN ``half`` counts as 0: the means alone are compared), ``"undefined"`` for a NaN
    ``mean`` (every map flat)."""
    if np.isnan(mean):
        return "undefined"
    half = 0.0 if half is None or np.isnan(half) else float(half)
    if mean - half > uniform:
        return "above"
    return "below" if mean + half < uniform else "overlaps"


def attention_maps(model: nn.Module, images: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """The model's own attention maps (n, M, H, W), upsampled to ``size`` (the input size by default)."""
    with evaluating(model), torch.no_grad():
        attention = model(images).attention
    if attention is None:
        raise ValueError(f"{type(model).__name__} has no attention maps (attention is off or not part of it)")
    size = size or tuple(images.shape[-2:])
    return nn.functional.interpolate(attention, size=size, mode="bilinear", align_corners=False)


def bit_gallery(pre_codes: Tensor | np.ndarray, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """For every bit, the indices of the ``per_side`` images with the strongest positive and negative values.

    Returns ``(positive, negative)``, each (bits, per_side), strongest first (Figure 8's galleries).
    """
    values = np.asarray(pre_codes, dtype=np.float64)
    if per_side > values.shape[0]:
        raise ValueError(f"per_side={per_side} is more than the {values.shape[0]} images given")
    order = np.argsort(-values, axis=0, kind="stable")
    return order[:per_side].T.copy(), order[::-1][:per_side].T.copy()


def _images_of(images, indices=None) -> Tensor:
    """A float image batch from a tensor (n, C, H, W) or from a dataset's ``indices`` (all items by default)."""
    if isinstance(images, Tensor):
        return images if indices is None else images[torch.as_tensor(indices)]
    indices = range(len(images)) if indices is None else [int(i) for i in indices]
    return torch.stack([images[i][0] for i in indices])


def _batches(images, indices, batch_size: int):
    count = len(images) if indices is None else len(indices)
    positions = np.arange(count) if indices is None else np.asarray(indices)
    if isinstance(images, Tensor) and indices is None:
        for start in range(0, count, batch_size):
            yield images[start:start + batch_size]
        return
    for start in range(0, count, batch_size):
        yield _images_of(images, positions[start:start + batch_size])


def _device_of(model: nn.Module, device) -> torch.device:
    return torch.device(device) if device is not None else model_device(model)


def encode_pre_codes(model: nn.Module, images, batch_size: int = ENCODE_BATCH, device=None,
                     indices: Sequence[int] | None = None) -> Tensor:
    """Pre-sign codes u = Wx (n, bits) on the CPU, in eval mode without gradients, for a tensor or a dataset.

    The galleries of Figure 8 rank images by u_b; tanh(u) is the code and sgn(u) the binary code.
    """
    device = _device_of(model, device)
    wrapped = PreCodes(model)
    with evaluating(model), torch.no_grad():
        out = [wrapped(batch.to(device)).float().cpu() for batch in _batches(images, indices, batch_size)]
    return torch.cat(out) if out else torch.zeros(0, getattr(model, "bits", 0))


def attention_mass(model: nn.Module, images: Tensor) -> np.ndarray:
    """The model's attention summed over its M maps (n, H, W) at the input size: where the attention looks at all."""
    return attention_maps(model, images).sum(dim=1).cpu().numpy()


def mask_shares(model: nn.Module, images, masks, source: str = "gradcam", batch_size: int = CAM_BATCH,
                device=None, bit: int | None = None, reference: Tensor | None = None) -> np.ndarray:
    """Per image, the share of the map's mass inside its mask (n,), batch by batch (Figure 9, measured).

    ``images``: a tensor (n, C, H, W) or a dataset; ``masks``: (n, H, W) bool, aligned with the images.
    ``source="gradcam"``: Grad-CAM of the code (``bit`` / ``reference`` as in ``grad_cam``; by default the whole code);
    ``"attention"``: the model's own attention maps summed over maps (``attention_mass``).
    """
    return mask_measures(model, images, masks, source, batch_size, device, bit, reference)["share"]


def mask_measures(model: nn.Module, images, masks, source: str = "gradcam", batch_size: int = CAM_BATCH,
                  device=None, bit: int | None = None, reference: Tensor | None = None) -> dict[str, np.ndarray]:
    """``{"share": mask_shares, "coverage": mask_coverage}`` per image from one pass of maps (arguments as
    ``mask_shares``)."""
    if source not in MAP_SOURCES:
        raise ValueError(f"unknown map source {source!r}; choose one of {', '.join(MAP_SOURCES)}")
    masks = np.asarray(masks, dtype=bool)
    count = len(images)
    if masks.shape[0] != count:
        raise ValueError(f"{masks.shape[0]} masks given for {count} images; give one mask per image")
    device = _device_of(model, device)
    measured = {measure: [] for measure in MEASURES}
    for start, batch in zip(range(0, count, batch_size), _batches(images, None, batch_size)):
        batch = batch.to(device)
        if source == "gradcam":
            maps = grad_cam(model, batch, bit=bit, reference=reference)
        else:
            maps = attention_mass(model, batch)
        window = masks[start:start + len(batch)]
        measured["share"].append(activation_share(maps, window))
        measured["coverage"].append(mask_coverage(maps, window))
    return {m: np.concatenate(v) if v else np.zeros(0) for m, v in measured.items()}


def describe_bits(correspondence: BitAttributeCorrespondence, attribute_names: Sequence[str]) -> list[dict]:
    """Per bit: the attribute it corresponds to best (by MI), its MI (bits), and the AUC oriented to >= 0.5 with the
    side of the bit the attribute is on (``"+"``: present where u_b is high; ``"-"``: where u_b is low).

    A bit with zero MI for every attribute (its sign is the same on every image) names ``NO_ATTRIBUTE``.
    """
    rows = []
    for bit, attribute in enumerate(correspondence.best_attribute):
        auc = float(correspondence.auc[bit, attribute])
        informative = correspondence.mutual_information[bit, attribute] > 0
        rows.append({
            "bit": bit,
            "attribute": attribute_names[attribute] if informative else NO_ATTRIBUTE,
            "attribute_index": int(attribute),
            "mi": float(correspondence.mutual_information[bit, attribute]),
            "auc": max(auc, 1.0 - auc) if not np.isnan(auc) else float("nan"),
            "side": "+" if np.isnan(auc) or auc >= 0.5 else "-",
        })
    return rows


def correspondence_summary(codes, attributes, permutations: int = 20, seed: int = 0) -> dict:
    """How attribute-aware a code is, with a chance level (Figure 8, quantified).

    ``mean_best_mi``: mean over bits of the MI (bits) with each bit's best attribute; ``mean_best_auc``: mean
    oriented AUC (max(AUC, 1 - AUC)) at that attribute; ``distinct_attributes``: how many different attributes are
    some bit's best; ``chance_best_mi``: ``mean_best_mi`` after shuffling which image carries which attribute vector
    (mean over ``permutations`` shuffles, seeded), the value a code unrelated to attributes reaches on this sample.
    """
    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float64)
    attributes = np.asarray(attributes, dtype=np.float64)
    found = bit_attribute_correspondence(codes, attributes)
    bits = np.arange(len(found.best_attribute))
    auc = found.auc[bits, found.best_attribute]
    rng = np.random.default_rng(seed)
    chance = [bit_attribute_correspondence(codes, attributes[rng.permutation(len(attributes))]).best_mutual_information
              .mean() for _ in range(permutations)]
    return {
        "bits": int(len(bits)),
        "mean_best_mi": float(found.best_mutual_information.mean()),
        "mean_best_auc": float(np.nanmean(np.maximum(auc, 1.0 - auc))),
        "distinct_attributes": int(len(set(found.best_attribute.tolist()))),
        "chance_best_mi": float(np.mean(chance)) if chance else float("nan"),
    }


def nearest(query_code: Tensor, codes: Tensor, count: int, exclude: int | None = None) -> np.ndarray:
    """Indices of the ``count`` codes nearest to ``query_code`` in Hamming distance (sign bits), stable on ties."""
    distance = (binary(codes, "codes") != binary(query_code, "query_code")).sum(dim=1).double()
    if exclude is not None:
        distance[exclude] = float("inf")
    return np.argsort(distance.numpy(), kind="stable")[:count]


def has_attention(model: nn.Module, images: Tensor) -> bool:
    """Whether the model returns attention maps for these images (A²-Net, A²-Net++, ExchNet with attention on)."""
    with evaluating(model), torch.no_grad():
        return model(images[:1]).attention is not None


def object_shares(model: nn.Module, images: Tensor, masks, device=None,
                  batch_size: int = CAM_BATCH) -> dict[str, np.ndarray]:
    """Per map source the model has (``gradcam`` always, ``attention`` when it returns maps): per-image mask shares."""
    device = _device_of(model, device)
    sources = ["gradcam"] + (["attention"] if has_attention(model, images.to(device)) else [])
    return {source: mask_shares(model, images, masks, source, batch_size, device) for source in sources}


def object_measure_rows(models: dict[str, nn.Module], images: Tensor, masks, device=None,
                        batch_size: int = CAM_BATCH) -> list[dict]:
    """Per model, map source it has (``gradcam``; ``attention`` when it returns maps) and measure (``MEASURES``):
    ``{method, map, measure, mean, ci95}`` over the images (``mean_with_ci``; the interval is over test images of
    one trained model, not over seeds)."""
    rows = []
    for method, model in models.items():
        device_ = _device_of(model, device)
        sources = ["gradcam"] + (["attention"] if has_attention(model, images.to(device_)) else [])
        for source in sources:
            measured = mask_measures(model, images, masks, source, batch_size, device_)
            rows += [dict(zip(("method", "map", "measure", "mean", "ci95"),
                              (method, source, measure, *mean_with_ci(measured[measure])))) for measure in MEASURES]
    return rows


def similarity_to_query(model: nn.Module, images: Tensor, query: int, count: int, device=None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``count`` images nearest to image ``query`` in Hamming distance, and Grad-CAM maps that explain them.

    Returns ``(indices, distances, maps)``: ``maps[0]`` is the query's whole-code map, ``maps[1:]`` each neighbour's
    map with the query's binary code as reference (``CodeTarget``: the regions that make it agree with the query).
    """
    device = _device_of(model, device)
    codes = encode_pre_codes(model, images, device=device)
    reference = binary(codes[query], "query code")
    indices = nearest(codes[query], codes, count, exclude=query)
    distances = (binary(codes[indices], "neighbour codes") != reference).sum(dim=1).numpy()
    maps = np.concatenate([grad_cam(model, images[query:query + 1].to(device)),
                           grad_cam(model, images[torch.as_tensor(indices)].to(device), reference=reference)])
    return indices, distances, maps
