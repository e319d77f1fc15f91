"""Closed-form bit-by-bit update of the database codes B (discrete cyclic coordinate descent, ADSH Sec. 3.3).

With the network outputs U (n_s, k) of the sampled items Ω fixed, the asymmetric objective over B in {-1,+1}^{N x k}
(Eq. 13's hashing term plus ADSH's quantisation term, both as in ``a2lib.losses``) is, up to a positive factor,

    J(B) = ||U B^T - k S||^2 + gamma ||U - B_Ω||^2 = ||B U^T||^2 + tr(B^T Q) + const,
    Q = -2 k S^T U - 2 gamma Ū       (Ū: N x k, rows of Ω hold U, the rest 0).

Keeping every column but b = B[:, t] fixed, ||B U^T||^2 = 2 b^T (B̂ Û^T u_t) + const (Û, B̂ without column t,
b^T b = N), so the exact minimiser is b = -sign(2 B̂ Û^T u_t + q_t); an exact zero keeps the old bit. Each column
update therefore never increases J. With ``a2lib.losses`` normalisation (β·mean over n·N pairs, γ·||F-B_Ω||^2/n),
the summed batch objective over Ω is (β/N)·J with gamma = γ·N/β; ``gamma_ratio`` converts.
"""
from __future__ import annotations

import torch
from torch import Tensor


def gamma_ratio(beta: float, gamma: float, num_database: int) -> float:
    """The quantisation weight of J given ``a2lib.losses`` weights β, γ (resolved) and database size N."""
    if beta <= 0:
        raise ValueError(f"the hashing weight beta must be positive for the asymmetric trainer, got {beta}")
    return gamma * num_database / beta


def _check(B: Tensor, U: Tensor, S: Tensor, omega: Tensor) -> None:
    if B.dim() != 2 or U.dim() != 2 or B.shape[1] != U.shape[1]:
        raise ValueError(f"B (N, k) and U (n, k) must have the same number of bits, got {tuple(B.shape)}, "
                         f"{tuple(U.shape)}")
    if tuple(S.shape) != (U.shape[0], B.shape[0]):
        raise ValueError(f"S must be (n, N) = ({U.shape[0]}, {B.shape[0]}), got {tuple(S.shape)}")
    if omega.shape != (U.shape[0],):
        raise ValueError(f"omega must hold the {U.shape[0]} database indices of U's rows, got {tuple(omega.shape)}")


def dcc_objective(B: Tensor, U: Tensor, S: Tensor, omega: Tensor, gamma: float) -> Tensor:
    """J(B) = ||U B^T - k S||^2 + gamma ||U - B_Ω||^2 (module docstring)."""
    _check(B, U, S, omega)
    k = U.shape[1]
    return (U @ B.T - k * S).pow(2).sum() + gamma * (U - B[omega]).pow(2).sum()


def dcc_update(B: Tensor, U: Tensor, S: Tensor, omega: Tensor, gamma: float, sweeps: int = 1) -> Tensor:
    """Return B after ``sweeps`` cyclic passes over its k columns, each set to its exact minimiser of J."""
    _check(B, U, S, omega)
    N, k = B.shape
    B = B.to(U.dtype).clone()
    u_bar = torch.zeros_like(B)
    u_bar[omega] = U
    Q = -2 * k * (S.T.to(U.dtype) @ U) - 2 * gamma * u_bar
    gram = U.T @ U
    for _ in range(sweeps):
        for t in range(k):
            others = B @ gram[:, t] - B[:, t] * gram[t, t]
            score = 2 * others + Q[:, t]
            B[:, t] = torch.where(score == 0, B[:, t], -torch.sign(score))
    return B
