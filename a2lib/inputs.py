"""What images a model was trained on, so that it is not silently fed others: their shape and their value scale.

A model encodes any tensor it is given, and models with global pooling accept any image size, so a test set loaded at
another ``size=`` or without the training set's normalisation still gives codes, of inputs the model never saw, and a
lower mAP that looks like a result. ``InputSpec.of(dataset)`` records (channels, height, width) and the scale of the
first ``SAMPLE_ITEMS`` items' values: ``unit`` (all in [0, 1]: ``ArrayDataset``, ``to_tensor``), ``normalised``
(negative values: a mean/std normalisation, as ``a2lib.data.for_profile``) or ``byte`` (values above 1 and none
negative: pixel values 0-255 not divided by 255). ``check`` refuses another shape and warns about another scale.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from .data.identity import ITEM_SEED, isolated_rng

SAMPLE_ITEMS = 8
"""Items read to tell a set's value scale (one image may lack the negative values a normalisation gives)."""
SCALE_TOLERANCE = 1e-4
"""How far beyond [0, 1] a ``unit`` image's values may round."""
SCALES = {"unit": "in [0, 1]", "normalised": "normalised (negative values: a mean/std normalisation)",
          "byte": "pixel values up to 255 (not divided by 255)"}


def _scale(low: float, high: float) -> str:
    if low < -SCALE_TOLERANCE:
        return "normalised"
    return "unit" if high <= 1 + SCALE_TOLERANCE else "byte"


@dataclass(frozen=True)
class InputSpec:
    """(channels, height, width) of a set's images and the scale of their values (module docstring)."""

    shape: tuple[int, int, int]
    scale: str

    @classmethod
    def of(cls, dataset: Dataset) -> "InputSpec":
        """The spec of ``dataset``'s first ``SAMPLE_ITEMS`` items (read with the random generators isolated, so a
        random transform moves no caller's stream); an item that is not a CxHxW tensor is a clear error."""
        if len(dataset) == 0:
            raise ValueError("the dataset is empty; pass a dataset with images")
        with isolated_rng(ITEM_SEED):
            images = [dataset[i][0] for i in range(min(SAMPLE_ITEMS, len(dataset)))]
        if not all(isinstance(image, torch.Tensor) and image.dim() == 3 for image in images):
            raise ValueError("the dataset's items must be (float CxHxW image tensor, label); load images with "
                             "a2lib.data.load(...) or a2lib.data.ArrayDataset, or add a transform that makes tensors")
        shapes = {tuple(int(side) for side in image.shape) for image in images}
        if len(shapes) > 1:
            raise ValueError(f"the dataset's images differ in shape ({', '.join(map(str, sorted(shapes)))}); give "
                             "every image the same size (e.g. data.load(..., size=...))")
        low = min(float(image.min()) for image in images)
        high = max(float(image.max()) for image in images)
        return cls(shapes.pop(), _scale(low, high))

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "scale": self.scale}

    @classmethod
    def from_dict(cls, values: dict) -> "InputSpec":
        return cls(tuple(values["shape"]), values["scale"])

    def check(self, dataset: Dataset, what: str = "the dataset") -> None:
        """Refuse ``dataset`` when its images have another shape than the training images, warn when their values
        have another scale; both messages say how to load it as the training set was loaded."""
        other = InputSpec.of(dataset)
        if other.shape != self.shape:
            size = "x".join(map(str, self.shape))
            raise ValueError(f"{what} has {'x'.join(map(str, other.shape))} images but the model was trained on "
                             f"{size} (channels x height x width); load it at the training size (e.g. "
                             f"a2lib.data.load(..., size={self.shape[1]}) or the same transform as the training set)")
        if other.scale != self.scale:
            warnings.warn(f"{what}'s pixel values are {SCALES[other.scale]}, but the training images' were "
                          f"{SCALES[self.scale]}: the model will encode inputs unlike any it was trained on. Load it "
                          "with the training set's transform (same a2lib.data.load profile=, or the same "
                          "transform=)", stacklevel=3)


__all__ = ["InputSpec", "SCALES"]
