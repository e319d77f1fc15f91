"""In-memory image datasets: ``ArrayDataset`` for bring-your-own arrays and the base of the embedded sets.

Images are stored once (uint8 NCHW, or float NCHW in [0,1]) and each item is the float CxHxW model input
after the optional transform, so indexing is cheap and the whole split's ``labels`` need no image loading.
"""
from __future__ import annotations

import numbers
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .identity import DataDigest, own_fingerprint

UINT8_MAX = 255.0
CHANNEL_COUNTS = (1, 3)


def _as_tensor(array) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array
    return torch.from_numpy(np.ascontiguousarray(array))


def to_nchw(images) -> torch.Tensor:
    """Return images as an NCHW tensor: uint8 input may be NHWC, NCHW or NHW; float input must be NCHW (or NHW)."""
    images = _as_tensor(images)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4:
        raise ValueError(
            f"images must have 3 or 4 dimensions (N,H,W[,C] or N,C,H,W), got shape {tuple(images.shape)}"
        )
    if images.dtype == torch.uint8:
        if images.shape[1] not in CHANNEL_COUNTS and images.shape[-1] in CHANNEL_COUNTS:
            images = images.permute(0, 3, 1, 2)
        return images.contiguous()
    if not torch.is_floating_point(images):
        raise ValueError(f"images must be uint8 (0-255) or float (0-1), got dtype {images.dtype}")
    if images.shape[1] not in CHANNEL_COUNTS:
        raise ValueError(
            f"float images must be NCHW with 1 or 3 channels, got shape {tuple(images.shape)}; "
            "convert NHWC floats with images.permute(0, 3, 1, 2)"
        )
    return images.float().contiguous()


def _refuse_names(labels) -> None:
    """Labels given as class names (strings or other objects) are a clear error naming the fix."""
    if isinstance(labels, torch.Tensor):
        return
    array = labels if isinstance(labels, np.ndarray) else np.asarray(labels, dtype=object)
    if array.dtype.kind not in "USO":
        return
    names = [value for value in array.flat if not isinstance(value, numbers.Number)]
    if names:
        raise ValueError(f"labels must be integer class indices (N,) or multi-hot rows (N, C), got "
                         f"{str(names[0])!r} among them; map class names to indices first: names = "
                         "sorted(set(labels)); ArrayDataset(images, [names.index(label) for label in labels], "
                         "class_names=names)")


def to_label_tensor(labels, n: int) -> torch.Tensor:
    """Class indices -> LongTensor (N,); a 2-D multi-hot array -> FloatTensor (N, C); class names are an error."""
    _refuse_names(labels)
    labels = _as_tensor(labels)
    if labels.shape[0] != n:
        raise ValueError(f"got {labels.shape[0]} labels for {n} images; give one label (or multi-hot row) per image")
    if labels.ndim == 1:
        if torch.is_floating_point(labels) and not torch.equal(labels, labels.round()):
            raise ValueError("single-label targets must be integer class indices")
        labels = labels.long()
        if n and labels.min() < 0:
            raise ValueError(f"class indices must be >= 0, got {int(labels.min())}")
        return labels
    if labels.ndim == 2:
        labels = labels.float()
        if not bool(((labels == 0) | (labels == 1)).all()):
            raise ValueError("multi-label targets must be multi-hot rows of 0/1")
        return labels
    raise ValueError(f"labels must be (N,) class indices or (N, C) multi-hot, got shape {tuple(labels.shape)}")


class ArrayDataset(Dataset):
    """Images and labels held in memory; items are ``(float CxHxW image, label)``.

    ``images``: uint8 NHWC/NCHW (0-255) or float NCHW (0-1). ``labels``: (N,) class indices or (N, C) multi-hot.
    ``attributes``: optional (N, A) {0,1}. ``transform`` is applied to the float image tensor.
    """

    def __init__(
        self,
        images,
        labels,
        attributes=None,
        transform: Callable | None = None,
        class_names: Sequence[str] | None = None,
        attribute_names: Sequence[str] | None = None,
    ):
        images = to_nchw(images)
        self._images = images
        self.labels = to_label_tensor(labels, images.shape[0])
        self.transform = transform
        if self.labels.ndim == 2:
            self.num_classes = int(self.labels.shape[1])
        else:
            self.num_classes = int(self.labels.max()) + 1 if len(self.labels) else 0
        if class_names is not None:
            if len(class_names) < self.num_classes:
                raise ValueError(f"{len(class_names)} class names for {self.num_classes} classes")
            self.num_classes = len(class_names)
            self.class_names = list(class_names)
        else:
            self.class_names = [str(c) for c in range(self.num_classes)]
        self.attributes = None
        self.attribute_names = None
        if attributes is not None:
            attributes = _as_tensor(attributes).float()
            if attributes.ndim != 2 or attributes.shape[0] != images.shape[0]:
                raise ValueError(
                    f"attributes must be (N, A) with N={images.shape[0]}, got shape {tuple(attributes.shape)}"
                )
            self.attributes = attributes
            self.attribute_names = (
                list(attribute_names) if attribute_names is not None
                else [f"attribute_{a}" for a in range(attributes.shape[1])]
            )

    @property
    def images_uint8(self) -> torch.Tensor:
        """All images as uint8 (N, C, H, W)."""
        if self._images.dtype == torch.uint8:
            return self._images
        return (self._images.clamp(0, 1) * UINT8_MAX).round().to(torch.uint8)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self._images.shape[1:])

    def raw_image(self, index: int) -> torch.Tensor:
        """The stored image as float in [0,1], before the transform."""
        image = self._images[index]
        if image.dtype == torch.uint8:
            return image.float() / UINT8_MAX
        return image

    def __len__(self) -> int:
        return self._images.shape[0]

    def __getitem__(self, index: int):
        image = self.raw_image(index)
        if self.transform is not None:
            image = self.transform(image)
        label = self.labels[index]
        return image, (int(label) if label.ndim == 0 else label)

    def fingerprint(self) -> str | None:
        """Hash of the stored images, labels and attributes (``a2lib.data.identity``); None with a transform, whose
        output only the items show (then every item is hashed)."""
        if self.transform is not None:
            return None
        return DataDigest("arrays").tensor(self._images).tensor(self.labels).tensor(self.attributes).hexdigest()


class LabelledSubset(Dataset):
    """A subset that keeps ``labels``, ``num_classes``, ``class_names`` and (when present) ``attributes``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        self.labels = dataset.labels[self.indices]
        self.num_classes = dataset.num_classes
        self.class_names = list(dataset.class_names)
        attributes = getattr(dataset, "attributes", None)
        self.attributes = attributes[self.indices] if attributes is not None else None
        self.attribute_names = getattr(dataset, "attribute_names", None)

    @property
    def images_uint8(self) -> torch.Tensor:
        return self.dataset.images_uint8[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def fingerprint(self) -> str | None:
        """The parent's fingerprint and the kept indices; None when the parent has no cheap fingerprint."""
        parent = own_fingerprint(self.dataset)
        return None if parent is None else DataDigest("subset").text(parent).tensor(self.indices).hexdigest()
