"""Loss terms of A²-Net / A²-Net++ (Eq. 7, 8, 11/13, 14), ADSH's quantisation term, ExchNet's terms, and their sum.

Normalisation (so that no term's scale depends on the batch size n or the database size N); it follows the
authors' public A²-Net code, which is what the paper's weights were tuned with:
- feature reconstruction (Eq. 7): both Frobenius norms become element means: ||X - W^T V'||^2 / (n d) and
  λ ||WX - V'||^2 / (n k) (the public code's ``MSELoss(x_hat, x)``);
- decorrelation (Eq. 8): ||V'^T V' - nI||^2 / (n k), so that with the paper's α = 1/(n k) the weighted term is
  the mean squared entry of (V'^T V'/n - I);
- hashing (Eq. 11/13): the double sum over the n x N pairs becomes the mean over pairs (ADSH and A²-Net code divide
  by n·N), weighted by β = 12/k;
- ADSH quantisation: ||F - B_Ω||^2 / n (per-item squared distance). ADSH's code divides γ_ADSH ||F - B_Ω||^2 by n·N
  and A²-Net's code multiplies the whole ADSH loss by β, so the code family's γ_ADSH = 200 is gamma = β·200/N here
  (``gamma=None``). This term is ADSH's (the paper trains "following ADSH"), not one of the paper's equations;
- image reconstruction (Eq. 14): element means ||Î - I||^2 / (n C H W), each of the two weighted by η
  (the public fragment's ``mse_loss(...) * 0.1``);
- ExchNet: diversity = mean cosine similarity between different parts' attention maps; alignment = mean squared
  distance of part features to their class anchors (element mean).

The losses of the other deep methods of the paper's tables (``dpsh_loss``, ``hashnet_loss``, ``csq_loss``,
``orthocos_loss``) take only the batch: pairs are the n(n-1) ordered in-batch pairs i != j, and every term is a
mean over pairs, items or elements, so none scales with n. Each returns ``(total, weighted terms)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .inference import binary
from .similarity import shares_label

BETA_NUMERATOR = 12.0
"""β = 12/k (Sec. 4.2)."""
ADSH_GAMMA = 200.0
"""γ of ADSH's public code (quantisation weight before its division by n·N)."""
MAP_NORM_EPS = 1e-12


@dataclass
class LossWeights:
    """Weights of Eq. (15) with the paper's values (Sec. 4.2), the ADSH quantisation weight and ExchNet's.

    lambda_: λ = 1.  alpha: None -> 1/(n k).  beta: None -> 12/k.  eta: η = 0.1 (use 0.5 for MNIST-CIFAR).
    gamma: None -> β·adsh_gamma/N (the code family's γ = 200 under this normalisation); a number is used as is;
    0 disables the quantisation term.  diversity / alignment: ExchNet's terms (weights not given in its summary).
    """

    lambda_: float = 1.0
    alpha: float | None = None
    beta: float | None = None
    eta: float = 0.1
    gamma: float | None = None
    adsh_gamma: float = ADSH_GAMMA
    diversity: float = 1.0
    alignment: float = 1.0

    def resolve(self, n: int, k: int, num_database: int) -> dict[str, float]:
        """The numeric weights for a batch of n items, k bits and a database of N items."""
        beta = BETA_NUMERATOR / k if self.beta is None else float(self.beta)
        return {
            "lambda_": float(self.lambda_),
            "alpha": 1.0 / (n * k) if self.alpha is None else float(self.alpha),
            "beta": beta,
            "eta": float(self.eta),
            "gamma": beta * self.adsh_gamma / num_database if self.gamma is None else float(self.gamma),
            "diversity": float(self.diversity),
            "alignment": float(self.alignment),
        }

    def to_dict(self) -> dict:
        return asdict(self)


def feature_reconstruction_loss(features: Tensor, features_hat: Tensor) -> Tensor:
    """||X - W^T V'||_F^2 / (n d): first term of Eq. (7)."""
    return (features - features_hat).pow(2).mean()


def code_consistency_loss(pre_codes: Tensor, codes: Tensor) -> Tensor:
    """||WX - V'||_F^2 / (n k): the relaxed constraint of Eq. (7) (weighted by λ)."""
    return (pre_codes - codes).pow(2).mean()


def decorrelation_loss(codes: Tensor) -> Tensor:
    """||V'^T V' - nI||_F^2 / (n k) of Eq. (8), V' the (n, k) batch codes (k x k Gram)."""
    n, k = codes.shape
    gram = codes.t() @ codes
    eye = torch.eye(k, dtype=codes.dtype, device=codes.device)
    return (gram - n * eye).pow(2).sum() / (n * k)


def hashing_loss(codes: Tensor, database_codes: Tensor, similarity: Tensor) -> Tensor:
    """mean_{i,j} (F_i^T B_j - k S_ij)^2 over the n x N batch-database pairs (Eq. 11/13 divided by n·N)."""
    k = codes.shape[1]
    return (codes @ database_codes.t() - k * similarity).pow(2).mean()


def quantization_loss(codes: Tensor, batch_database_codes: Tensor) -> Tensor:
    """||F - B_Ω||_F^2 / n: ADSH's quantisation term (mean over items of the squared code distance)."""
    return (codes - batch_database_codes).pow(2).sum() / codes.shape[0]


def image_reconstruction_loss(reconstruction: Tensor, images: Tensor) -> Tensor:
    """||Ψ(g) - I||_F^2 / (n C H W): one term of Eq. (14); target and output live in the same space."""
    if reconstruction.shape != images.shape:
        raise ValueError(
            f"reconstruction shape {tuple(reconstruction.shape)} differs from image shape {tuple(images.shape)}"
        )
    return (reconstruction - images).pow(2).mean()


def part_diversity_loss(attention: Tensor) -> Tensor:
    """ExchNet part diversity: mean cosine similarity of every pair of different attention maps of an image."""
    n, m = attention.shape[:2]
    if m < 2:
        return attention.new_zeros(())
    flat = F.normalize(attention.flatten(2), dim=2, eps=MAP_NORM_EPS)
    gram = flat @ flat.transpose(1, 2)
    off_diagonal = gram.sum() - gram.diagonal(dim1=1, dim2=2).sum()
    return off_diagonal / (n * m * (m - 1))


def part_alignment_loss(part_features: Tensor, part_anchors: Tensor) -> Tensor:
    """ExchNet alignment: mean squared distance between part features and their (fixed) class anchors."""
    return (part_features - part_anchors.detach()).pow(2).mean()


def _check_shapes(codes: Tensor, S: Tensor, B: Tensor, B_batch: Tensor | None) -> None:
    n, k = codes.shape
    if B.dim() != 2 or B.shape[1] != k:
        raise ValueError(f"database codes B must be (N, {k}) to match the {k}-bit codes, got {tuple(B.shape)}")
    if tuple(S.shape) != (n, B.shape[0]):
        raise ValueError(f"similarity S must be (n, N) = ({n}, {B.shape[0]}), got {tuple(S.shape)}")
    if B_batch is not None and tuple(B_batch.shape) != (n, k):
        raise ValueError(f"B_batch must be (n, k) = ({n}, {k}), got {tuple(B_batch.shape)}")


def objective(out, images: Tensor, S: Tensor, B: Tensor, B_batch: Tensor | None, weights: LossWeights | None = None,
              labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. (15) (plus ADSH quantisation and ExchNet terms) for one batch: returns (total, weighted terms).

    ``terms`` holds each weighted contribution (they sum to ``total``); terms the output does not carry are absent:
    "hashing" and "quantization" always (quantisation unless gamma = 0 or B_batch is None), "feature_reconstruction"
    when ``out.features_hat`` is set, "decorrelation" when ``out.decorrelate``, "image_reconstruction" when
    ``out.recon_g`` or ``out.recon_gp`` is set, "diversity" when ExchNet part features are set, "alignment"
    when their anchors are.
    """
    weights = weights or LossWeights()
    codes = out.codes
    _check_shapes(codes, S, B, B_batch)
    n, k = codes.shape
    w = weights.resolve(n, k, B.shape[0])
    B = B.to(codes.dtype)
    terms: dict[str, Tensor] = {"hashing": w["beta"] * hashing_loss(codes, B, S.to(codes.dtype))}
    if B_batch is not None and w["gamma"] != 0:
        terms["quantization"] = w["gamma"] * quantization_loss(codes, B_batch.to(codes.dtype))
    if out.features_hat is not None:
        terms["feature_reconstruction"] = feature_reconstruction_loss(out.features, out.features_hat)
        if out.pre_codes is not None and w["lambda_"] != 0:
            terms["feature_reconstruction"] = terms["feature_reconstruction"] + w["lambda_"] * code_consistency_loss(
                out.pre_codes, codes)
    if out.decorrelate:
        terms["decorrelation"] = w["alpha"] * decorrelation_loss(codes)
    recons = [r for r in (out.recon_g, out.recon_gp) if r is not None]
    if recons:
        terms["image_reconstruction"] = w["eta"] * sum(image_reconstruction_loss(r, images) for r in recons)
    if out.part_features is not None and out.attention is not None:
        terms["diversity"] = w["diversity"] * part_diversity_loss(out.attention)
    if out.part_anchors is not None:
        terms["alignment"] = w["alignment"] * part_alignment_loss(out.part_features, out.part_anchors)
    total = sum(terms.values())
    return total, terms


def _check_codes_labels(codes: Tensor, labels: Tensor) -> None:
    if codes.dim() != 2:
        raise ValueError(f"codes must be (n, k), got shape {tuple(codes.shape)}")
    if labels.dim() not in (1, 2) or labels.shape[0] != codes.shape[0]:
        raise ValueError(f"labels must be ({codes.shape[0]},) class indices or ({codes.shape[0]}, C) multi-hot to "
                         f"match the {codes.shape[0]} codes, got shape {tuple(labels.shape)}")


def _in_batch_pairs(codes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(inner products u_i^T u_j, s_ij in {0, 1}, mask of the pairs i != j), all (n, n)."""
    _check_codes_labels(codes, labels)
    n = codes.shape[0]
    s = shares_label(labels, labels).to(codes.dtype)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=codes.device)
    return codes @ codes.t(), s, off_diagonal


def dpsh_loss(codes: Tensor, labels: Tensor, eta: float, memory: Tensor | None = None,
              memory_labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """DPSH (Li, Wang & Kang, IJCAI 2016): mean over pairs of log(1 + e^θ) - s θ, θ = u_i^T u_j / 2, plus
    eta · mean_i ||u_i - sgn(u_i)||^2 (per-item squared distance; sgn is ``a2lib.inference.binary``, 0 -> +1).
    Terms "likelihood", "quantization".

    Pairs: the batch against ``memory`` (N, k), the latest outputs of every training item (the U matrix of the
    authors' code, zero rows for items not seen yet), with ``memory_labels``; without a memory, in-batch pairs i != j.
    """
    if memory is None:
        inner, s, pairs = _in_batch_pairs(codes, labels)
        theta = inner / 2
        nll = F.softplus(theta) - s * theta
        likelihood = nll[pairs].mean() if pairs.any() else codes.new_zeros(())
    else:
        _check_codes_labels(codes, labels)
        if memory.dim() != 2 or memory.shape[1] != codes.shape[1] or memory_labels is None \
                or len(memory_labels) != len(memory):
            raise ValueError(f"memory must be (N, {codes.shape[1]}) codes with N memory_labels, got "
                             f"{tuple(memory.shape)} and {None if memory_labels is None else len(memory_labels)}")
        theta = codes @ memory.to(codes.dtype).t() / 2
        s = shares_label(labels, memory_labels).to(codes.dtype)
        likelihood = (F.softplus(theta) - s * theta).mean()
    quantization = (codes - binary(codes.detach(), "DPSH codes").to(codes)).pow(2).sum(1).mean()
    terms = {"likelihood": likelihood, "quantization": eta * quantization}
    return sum(terms.values()), terms


def hashnet_loss(codes: Tensor, labels: Tensor, alpha: float) -> tuple[Tensor, dict[str, Tensor]]:
    """HashNet (Cao et al., ICCV 2017): weighted mean over pairs i != j of log(1 + e^θ) - s θ, θ = α h_i^T h_j,
    w = |S|/|S1| for similar and |S|/|S0| for dissimilar pairs (each class carries weight |S|). Term "likelihood"."""
    inner, s, pairs = _in_batch_pairs(codes, labels)
    theta = alpha * inner
    nll = F.softplus(theta) - s * theta
    s, nll = s[pairs], nll[pairs]
    if s.numel() == 0:
        zero = codes.sum() * 0
        return zero, {"likelihood": zero}
    positives = s.sum()
    negatives = s.numel() - positives
    weights = torch.where(s > 0, s.numel() / positives.clamp(min=1), s.numel() / negatives.clamp(min=1))
    likelihood = (weights * nll).mean()
    return likelihood, {"likelihood": likelihood}


def csq_loss(codes: Tensor, centers: Tensor, lambda_q: float) -> tuple[Tensor, dict[str, Tensor]]:
    """CSQ (Yuan et al., CVPR 2020): element mean of BCE((u+1)/2, (c+1)/2) against each item's +-1 hash centre c,
    plus lambda_q · element mean of (|u| - 1)^2. Terms "center", "quantization"."""
    if codes.shape != centers.shape:
        raise ValueError(f"centers must be one +-1 hash centre per item, shape {tuple(codes.shape)}, "
                         f"got {tuple(centers.shape)}")
    center = F.binary_cross_entropy((codes + 1) / 2, (centers.to(codes.dtype) + 1) / 2)
    quantization = (codes.abs() - 1).pow(2).mean()
    terms = {"center": center, "quantization": lambda_q * quantization}
    return sum(terms.values()), terms


def orthocos_loss(continuous: Tensor, labels: Tensor, class_codes: Tensor, scale: float,
                  margin: float) -> tuple[Tensor, dict[str, Tensor]]:
    """OrthoCos (Hoe et al., NeurIPS 2021): cross-entropy on logits scale·(cos(v, c_j) - margin·y_j), mean over items.

    Single-label: y is one-hot. Multi-label: the target is y / |y| (the authors' default "label smoothing" variant:
    the CE averaged over the item's positive labels, each with the margin); items without labels are left out.
    Term "cross_entropy".
    """
    _check_codes_labels(continuous, labels)
    num_classes = class_codes.shape[0]
    if class_codes.dim() != 2 or class_codes.shape[1] != continuous.shape[1]:
        raise ValueError(f"class_codes must be (C, {continuous.shape[1]}), got {tuple(class_codes.shape)}")
    if labels.dim() == 1:
        targets = F.one_hot(labels.long(), num_classes).to(continuous.dtype)
    elif labels.shape[1] != num_classes:
        raise ValueError(f"multi-hot labels have {labels.shape[1]} columns for {num_classes} class codes")
    else:
        targets = labels.to(continuous.dtype)
    cosine = F.normalize(continuous, dim=1) @ F.normalize(class_codes.to(continuous.dtype), dim=1).t()
    log_p = F.log_softmax(scale * (cosine - margin * targets), dim=1)
    counts = targets.sum(1)
    labelled = counts > 0
    if not labelled.any():
        zero = continuous.sum() * 0
        return zero, {"cross_entropy": zero}
    per_item = -(targets[labelled] / counts[labelled, None] * log_p[labelled]).sum(1)
    cross_entropy = per_item.mean()
    return cross_entropy, {"cross_entropy": cross_entropy}
