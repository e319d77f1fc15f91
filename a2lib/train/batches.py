"""Class-balanced batches (P classes x K images) for the pairwise methods (DPSH, HashNet; ``a2lib.train.schemes``).

With many classes a shuffled batch holds almost no similar pair (16 images of 60 species: about 2 of 120 pairs);
grouping K images of a class gives every image K - 1 in-batch positives. One epoch visits every item once.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Sampler


class ClassBalancedBatches(Sampler[list[int]]):
    """Batches of ``batch_size`` positions made of runs of ``per_class`` positions of one class.

    Each epoch shuffles the items of every class, cuts them into runs of ``per_class`` (a class's last run may be
    shorter), shuffles the runs and packs them in order into batches of at most ``batch_size``; a final batch of one
    item joins the batch before it (BatchNorm needs two). ``labels`` are (N,) class indices.
    """

    def __init__(self, labels: Tensor, batch_size: int, per_class: int, generator: torch.Generator):
        labels = torch.as_tensor(labels)
        if labels.dim() != 1:
            raise ValueError("class-balanced batches need (N,) class indices; multi-label data uses shuffled batches")
        if not 1 <= per_class <= batch_size:
            raise ValueError(f"per_class must lie in [1, batch_size={batch_size}], got {per_class}")
        self.labels, self.batch_size, self.per_class, self.generator = labels, batch_size, per_class, generator

    def runs(self) -> list[list[int]]:
        """This epoch's runs of same-class positions, in random order."""
        runs = []
        for cls in torch.unique(self.labels):
            members = torch.nonzero(self.labels == cls).flatten()
            members = members[torch.randperm(len(members), generator=self.generator)].tolist()
            runs.extend(members[i:i + self.per_class] for i in range(0, len(members), self.per_class))
        order = torch.randperm(len(runs), generator=self.generator).tolist()
        return [runs[i] for i in order]

    def __iter__(self):
        batches, current = [], []
        for run in self.runs():
            while run:
                room = self.batch_size - len(current)
                current.extend(run[:room])
                run = run[room:]
                if len(current) == self.batch_size:
                    batches.append(current)
                    current = []
        if current:
            if len(current) == 1 and batches:
                batches[-1].extend(current)
            else:
                batches.append(current)
        return iter(batches)

    def __len__(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


def similar_pairs(batch_size: int, per_class: int) -> tuple[int, int]:
    """``(similar, all)`` pairs of images inside one batch of ``ClassBalancedBatches`` made of whole runs:
    ``batch_size // per_class`` classes of ``per_class`` images and one class with the rest, if any. Batch 16 of
    4 x 4: 4 x 6 = 24 similar pairs of 120 (a shuffled batch of 60 classes: about 2)."""
    if not 1 <= per_class <= batch_size:
        raise ValueError(f"per_class must lie in [1, batch_size={batch_size}], got {per_class}")
    classes, rest = divmod(batch_size, per_class)
    similar = classes * per_class * (per_class - 1) // 2 + rest * (rest - 1) // 2
    return similar, batch_size * (batch_size - 1) // 2


__all__ = ["ClassBalancedBatches", "similar_pairs"]
