"""A cross-entropy classifier on BASELINE's network: the control that shows simplicity bias is not specific to hashing.

The network is BASELINE's up to the codes (backbone + GAP + Linear(k) + tanh); a linear classifier reads the
k-bit tanh codes and the model is trained with softmax cross-entropy alone. The codes used for retrieval are the
tanh hash layer (their sign), the very layer the classifier reads, so a class that the classifier ignores is absent
from the codes too, and mAP, Grad-CAM and probes compare with BASELINE's at the same code length. Only the loss
differs from BASELINE: no learned database codes (``scheme = "batch"``, ``a2lib.train.schemes``), so ``a2lib.train``
trains it with ``loss(out, labels)`` and uses its encoding of the database as B.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_positive_int
from .base import HashOutput
from .baseline import BaselineConfig, BaselineHash

LOGITS = "logits"
"""Key of the classifier's logits in ``HashOutput.extras``."""


@dataclass
class ClassifierConfig(BaselineConfig):
    """num_classes: required, the number of classes of the training labels (``Study``/``fit`` set it from the data)."""

    num_classes: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.num_classes is None:
            raise ValueError("model 'ce-classifier' needs the option num_classes (the number of classes of the "
                             "training labels): build('ce-classifier', bits, num_classes=C)")
        check_positive_int("num_classes", self.num_classes)


class CrossEntropyClassifier(BaselineHash):
    """logits = Linear(k -> C)(tanh(Linear(GAP(trunk(I))))): BASELINE's codes read by a linear softmax classifier."""

    name = "ce-classifier"
    scheme = "batch"

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        self.num_classes = int(config.num_classes)
        self.classifier = nn.Linear(config.bits, self.num_classes)

    def _forward(self, images: Tensor, labels: Tensor | None, full: bool) -> HashOutput:
        out = super()._forward(images, labels, full)
        if full:
            out.extras[LOGITS] = self.classifier(out.codes)
        return out

    def loss(self, out: HashOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Mean softmax cross-entropy of the logits against class indices; term "cross_entropy"."""
        if labels.dim() != 1:
            raise ValueError(f"ce-classifier needs one class index per image, got labels of shape "
                             f"{tuple(labels.shape)}; multi-label data need a hashing method (e.g. 'csq')")
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"ce-classifier was built with num_classes={self.num_classes} but saw class indices "
                             f"{int(labels.min())}..{int(labels.max())}; use indices 0..{self.num_classes - 1}")
        logits = out.extras.get(LOGITS)
        if logits is None:
            logits = self.classifier(out.codes)
        cross_entropy = F.cross_entropy(logits, labels.long())
        return cross_entropy, {"cross_entropy": cross_entropy}

    def predict(self, images: Tensor) -> Tensor:
        """Predicted class indices (n,) of a batch of images (eval mode is the caller's choice)."""
        return self.classifier(self.encode(images)).argmax(1)
