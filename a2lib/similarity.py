"""Pairwise supervision S between sampled items and the database (Eq. 11/13), with ADSH's negative reweighting."""
from __future__ import annotations

from torch import Tensor


def shares_label(query_labels: Tensor, db_labels: Tensor) -> Tensor:
    """``(n, N)`` bool: class indices are equal, or multi-hot vectors overlap ("shares a label")."""
    if query_labels.dim() != db_labels.dim():
        raise ValueError(
            f"labels of different kinds: {tuple(query_labels.shape)} vs {tuple(db_labels.shape)}; "
            "use class indices (n,) for both or multi-hot (n, C) for both"
        )
    if query_labels.dim() == 1:
        return query_labels[:, None] == db_labels[None, :]
    if query_labels.shape[1] != db_labels.shape[1]:
        raise ValueError(f"multi-hot labels of widths {query_labels.shape[1]} and {db_labels.shape[1]} differ")
    return (query_labels.float() @ db_labels.float().T) > 0


def similarity(query_labels: Tensor, db_labels: Tensor, reweight: bool = True) -> Tensor:
    """S (n, N) float32: +1 for pairs sharing a label, otherwise -1, or -r with ``reweight`` (ADSH's soft constraint).

    ADSH (Jiang & Li, AAAI 2018, public code ``calc_sim``) sets r = #positive / #negative pairs of the whole matrix,
    so positives and negatives carry equal total weight in the hashing term. Without negatives S is all ones.
    """
    positive = shares_label(query_labels, db_labels).float()
    if not reweight:
        return positive * 2 - 1
    negatives = positive.numel() - positive.sum()
    ratio = positive.sum() / negatives if negatives > 0 else positive.new_zeros(())
    return positive * (1 + ratio) - ratio
