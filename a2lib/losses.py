"""Loss terms of A²-Net / A²-Net++ (Eq. 7, 8, 11/13, 14), ADSH's quantisation term, ExchNet's terms, and their sum.

Normalisation is a documented choice (``LossWeights.reduction``); under the default and the per-image reading no
term's scale depends on the database size N.
- hashing (Eq. 11/13): the double sum over the n x N pairs becomes the mean over pairs (ADSH's and the A²-Net code
  divide by n·N), weighted by β = 12/k, so it is β times the mean squared error of an inner product in [-k, k];
- ``"element_mean"`` (default; the public A²-Net code's ``MSELoss``, which produced the paper's numbers): the other
  Frobenius norms of Eq. (15) become element means: ||X - W^T V'||^2 / (n d), λ ||WX - V'||^2 / (n k) (Eq. 7),
  α ||V'^T V' - nI||^2 / (n k) (Eq. 8; with the paper's α = 1/(n k) the mean squared entry of V'^T V'/n - I), and
  η ||Ψ(g) - I||^2 / (n C H W) for each of g, g' (Eq. 14). η then weighs one pixel's squared error against β times
  one pair's squared code error, so at the paper's η the image term has almost no say on the trunk
  (``a2lib.diagnostics``; in ``quick`` under 1% of the trunk gradient);
- ``"per_image"`` (the paper's norms read per image): each of those norms is summed over one item's elements and
  averaged over the batch (/ n): d, k, k and C·H·W times the element means. η then weighs one image's summed
  squared pixel error against β times one pair's squared code error. Measured, reconstruction swamps hashing at
  the paper's weights: in ``quick`` (12 bits) the feature reconstruction takes 96% of the trunk gradient at the
  start and A²-Net stays at chance (0.029 test mAP against 0.261), the image term 86-92% and A²-Net++ stays at
  chance (0.034 against 0.292); for the ``full`` models at initialisation (ResNet-50 at 224 px without ImageNet
  weights, A²-Net++ 48 bits, one batch) the feature reconstruction takes 99% and hashing 0.03%; the ``smoke``
  settings diverge to NaN. It is there to study that regime (a dose response in η), not to train with;
- ``"sum"`` (Eq. 13/15 as printed): every Frobenius norm summed over the batch with no division, the hashing term
  the double sum over all n x N pairs and ADSH's quantisation term n·N times its mean form, so its ratio to hashing
  stays ADSH's (γ_ADSH = 200) and the closed-form B update is unchanged. The terms then grow with the batch and the
  database (hashing with n·N, the norms with n), and the step size with them; ``benchmarks/term_shares.md``
  measures each term's trunk-gradient share under the three readings;
- ADSH quantisation: ||F - B_Ω||^2 / n (per-item squared distance). ADSH's code divides γ_ADSH ||F - B_Ω||^2 by n·N
  and A²-Net's code multiplies the whole ADSH loss by β, so the code family's γ_ADSH = 200 is gamma = β·200/N here
  (``gamma=None``). This term is ADSH's (the paper trains "following ADSH"), not one of the paper's equations;
- ExchNet (Cui et al. ECCV 2020, as its public code ``exchnet_loss.py``): spatial diversity = mean over images of
  1 - mean Hellinger distance between the parts' spatial distributions; channel diversity = mean over images of
  max(0, t - mean Hellinger distance between the parts' channel distributions), t = 0.4; alignment =
  ||part features - class anchors||_F / n (the Frobenius norm itself, not squared). Weights 0.1, 0.1, 1.

The losses of the other deep methods of the paper's tables (``dpsh_loss``, ``hashnet_loss``, ``csq_loss``,
``orthocos_loss``) take the batch (and, for DPSH and HashNet, a memory of database outputs): every term is a mean
over pairs, items or elements, so none scales with n. Each returns ``(total, weighted terms)``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import NON_NEGATIVE_NUMBER, one_of
from .dcc import gamma_ratio
from .fields import declare, declared
from .inference import binary
from .similarity import shares_label

BETA_NUMERATOR = 12.0
"""β = 12/k (Sec. 4.2)."""
ADSH_GAMMA = 200.0
"""γ of ADSH's public code (quantisation weight before its division by n·N)."""
MAP_NORM_EPS = 1e-12
REDUCTIONS = ("element_mean", "per_image", "sum")
"""How the reconstruction, consistency and decorrelation norms are scaled (module docstring)."""
EXCHNET_DIVERSITY_WEIGHT = 0.1
"""λ_sp = λ_ch = 0.1: the defaults of ExchNet's public ``run.py`` (its ``adsh_exchnet.py`` passes 1.0)."""
EXCHNET_CHANNEL_MARGIN = 0.4
"""t of ExchNet's channel diversity hinge max(0, t - mean Hellinger distance) (public ``CH_Loss``)."""
DERIVED_WEIGHT = NON_NEGATIVE_NUMBER.or_none()
"""A weight that None derives from the batch and code length (``LossWeights.resolve``)."""
REDUCTION = one_of(REDUCTIONS)
"""What ``LossWeights.reduction`` accepts."""


@declared
@dataclass
class LossWeights:
    """Weights of Eq. (15) with the paper's values (Sec. 4.2), the ADSH quantisation weight and ExchNet's.

    lambda_: λ = 1.  alpha: None -> 1/(n k).  beta: None -> 12/k.  eta: η = 0.1 (use 0.5 for MNIST-CIFAR).
    gamma: None -> β·adsh_gamma/N (the code family's γ = 200 under this normalisation); a number is used as is;
    0 disables the quantisation term.  reduction: "element_mean" (the public A²-Net code's, default) or
    "per_image" (the paper's norms per image) or "sum" (Eq. 15 as printed: every term summed, hashing over all
    n x N pairs); what each weight then means, and what each does, is in the module docstring.
    spatial_diversity / channel_diversity / channel_margin / alignment: ExchNet's terms (its public code's values).
    The reduction is checked on construction (the losses branch on it), the weights where a ``TrainConfig`` holds
    them (``TrainConfig.loss_weights.<name>``).
    """

    lambda_: float = declare(NON_NEGATIVE_NUMBER, 1.0)
    alpha: float | None = declare(DERIVED_WEIGHT, None)
    beta: float | None = declare(DERIVED_WEIGHT, None)
    eta: float = declare(NON_NEGATIVE_NUMBER, 0.1)
    gamma: float | None = declare(DERIVED_WEIGHT, None)
    adsh_gamma: float = declare(NON_NEGATIVE_NUMBER, ADSH_GAMMA)
    reduction: str = declare(REDUCTION, "element_mean")
    spatial_diversity: float = declare(NON_NEGATIVE_NUMBER, EXCHNET_DIVERSITY_WEIGHT)
    channel_diversity: float = declare(NON_NEGATIVE_NUMBER, EXCHNET_DIVERSITY_WEIGHT)
    channel_margin: float = declare(NON_NEGATIVE_NUMBER, EXCHNET_CHANNEL_MARGIN)
    alignment: float = declare(NON_NEGATIVE_NUMBER, 1.0)

    def __post_init__(self):
        REDUCTION.check("LossWeights.reduction", self.reduction)

    def hashing_weights(self, k: int, num_database: int) -> tuple[float, float]:
        """(β, γ), the weights of the hashing and quantisation terms, for k bits and a database of N items."""
        beta = BETA_NUMERATOR / k if self.beta is None else float(self.beta)
        return beta, beta * self.adsh_gamma / num_database if self.gamma is None else float(self.gamma)

    def dcc_gamma(self, k: int, num_database: int) -> float:
        """The quantisation weight of the closed-form B update's objective J (``a2lib.dcc``) for which (β/N)·J is
        the hashing and quantisation terms of ``objective`` summed over the sampled items: γ·N/β."""
        return gamma_ratio(*self.hashing_weights(k, num_database), num_database)

    def resolve(self, n: int, k: int, num_database: int) -> dict[str, float]:
        """The numeric weights for a batch of n items, k bits and a database of N items."""
        beta, gamma = self.hashing_weights(k, num_database)
        return {
            "lambda_": float(self.lambda_),
            "alpha": 1.0 / (n * k) if self.alpha is None else float(self.alpha),
            "beta": beta,
            "eta": float(self.eta),
            "gamma": gamma,
            "spatial_diversity": float(self.spatial_diversity),
            "channel_diversity": float(self.channel_diversity),
            "alignment": float(self.alignment),
        }

    def to_dict(self) -> dict:
        return asdict(self)


def squared_error(prediction: Tensor, target: Tensor, reduction: str = "element_mean",
                  names: tuple[str, str] = ("prediction", "target")) -> Tensor:
    """The element mean of the squared error (``"element_mean"``), ||prediction - target||_F^2 / n
    (``"per_image"``: summed over each item's elements, mean over the batch) or ||prediction - target||_F^2
    (``"sum"``); item i is row i. ``names`` are what a shape mismatch calls the two."""
    if prediction.shape != target.shape:
        raise ValueError(f"{names[0]} shape {tuple(prediction.shape)} differs from {names[1]} shape "
                         f"{tuple(target.shape)}")
    squared = (prediction - target).pow(2)
    if reduction == "per_image":
        return squared.sum() / max(squared.shape[0], 1)
    if reduction == "sum":
        return squared.sum()
    if reduction == "element_mean":
        return squared.mean()
    raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def feature_reconstruction_loss(features: Tensor, features_hat: Tensor, reduction: str = "element_mean") -> Tensor:
    """||X - W^T V'||_F^2 / (n d), / n (per image) or as is (sum): first term of Eq. (7)."""
    return squared_error(features_hat, features, reduction)


def code_consistency_loss(pre_codes: Tensor, codes: Tensor, reduction: str = "element_mean") -> Tensor:
    """||WX - V'||_F^2 / (n k), / n (per image) or as is (sum): the relaxed constraint of Eq. (7) (weighted by λ)."""
    return squared_error(pre_codes, codes, reduction)


def decorrelation_loss(codes: Tensor, reduction: str = "element_mean") -> Tensor:
    """||V'^T V' - nI||_F^2 / (n k), / n (per image) or as is (sum) of Eq. (8), V' the (n, k) batch codes (k x k
    Gram)."""
    REDUCTION.check("reduction", reduction)
    n, k = codes.shape
    gram = codes.t() @ codes
    eye = torch.eye(k, dtype=codes.dtype, device=codes.device)
    scale = {"element_mean": n * k, "per_image": n, "sum": 1}[reduction]
    return (gram - n * eye).pow(2).sum() / scale


def hashing_loss(codes: Tensor, database_codes: Tensor, similarity: Tensor, reduction: str = "element_mean") -> Tensor:
    """mean_{i,j} (F_i^T B_j - k S_ij)^2 over the n x N batch-database pairs (Eq. 11/13 divided by n·N); with
    ``"sum"`` the double sum of Eq. (13) itself (``"per_image"`` keeps the mean over pairs)."""
    REDUCTION.check("reduction", reduction)
    k = codes.shape[1]
    squared = (codes @ database_codes.t() - k * similarity).pow(2)
    return squared.sum() if reduction == "sum" else squared.mean()


def quantization_loss(codes: Tensor, batch_database_codes: Tensor, reduction: str = "element_mean",
                      num_database: int = 1) -> Tensor:
    """||F - B_Ω||_F^2 / n: ADSH's quantisation term (mean over items of the squared code distance); with ``"sum"``
    N·||F - B_Ω||_F^2, n·N times that, as the hashing term's sum is n·N times its mean (ADSH's ratio kept)."""
    REDUCTION.check("reduction", reduction)
    squared = (codes - batch_database_codes).pow(2).sum()
    return squared * num_database if reduction == "sum" else squared / codes.shape[0]


def image_reconstruction_loss(reconstruction: Tensor, images: Tensor, reduction: str = "element_mean") -> Tensor:
    """||Ψ(g) - I||_F^2 / (n C H W), / n (per image: summed over C·H·W) or summed over the batch (sum): one term
    of Eq. (14)."""
    return squared_error(reconstruction, images, reduction, names=("reconstruction", "image"))


def mean_hellinger_distance(distributions: Tensor) -> Tensor:
    """(n,) mean over the pairs i < j of the Hellinger distance ||√p_i - √p_j|| / √2 (in [0, 1]) between the M
    distributions (rows summing to 1) of each item of ``distributions`` (n, M, D); zero when M < 2."""
    n, m = distributions.shape[:2]
    if m < 2:
        return distributions.new_zeros(n)
    roots = distributions.clamp(min=0).sqrt()
    rows, cols = torch.triu_indices(m, m, offset=1, device=distributions.device)
    distance = (roots[:, rows] - roots[:, cols]).norm(dim=2) / math.sqrt(2)
    return distance.mean(dim=1)


def spatial_diversity_loss(part_maps: Tensor) -> Tensor:
    """ExchNet spatial diversity: mean over images of 1 - mean Hellinger distance between the parts' spatial
    distributions (softmax over positions of each part's map, (n, M, h*w) or (n, M, h, w))."""
    distributions = torch.softmax(part_maps.flatten(2), dim=2)
    return (1 - mean_hellinger_distance(distributions)).mean()


def channel_diversity_loss(part_features: Tensor, margin: float = EXCHNET_CHANNEL_MARGIN) -> Tensor:
    """ExchNet channel diversity: mean over images of max(0, margin - mean Hellinger distance) between the parts'
    channel distributions (softmax over channels of each pooled part feature, (n, M, C))."""
    distributions = torch.softmax(part_features, dim=2)
    return F.relu(margin - mean_hellinger_distance(distributions)).mean()


def part_alignment_loss(part_features: Tensor, part_anchors: Tensor) -> Tensor:
    """ExchNet alignment: ||part features - class anchors||_F / n (anchors fixed), as its public code."""
    return (part_features - part_anchors.detach()).norm() / part_features.shape[0]


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
    ``out.recon_g`` or ``out.recon_gp`` is set, "spatial_diversity" when ExchNet part maps are set,
    "channel_diversity" when its part features are, "alignment" when their anchors are.
    """
    weights = weights or LossWeights()
    codes = out.codes
    _check_shapes(codes, S, B, B_batch)
    n, k = codes.shape
    w = weights.resolve(n, k, B.shape[0])
    B = B.to(codes.dtype)
    reduction = weights.reduction
    terms: dict[str, Tensor] = {"hashing": w["beta"] * hashing_loss(codes, B, S.to(codes.dtype), reduction)}
    if B_batch is not None and w["gamma"] != 0:
        terms["quantization"] = w["gamma"] * quantization_loss(codes, B_batch.to(codes.dtype), reduction,
                                                               B.shape[0])
    if out.features_hat is not None:
        terms["feature_reconstruction"] = feature_reconstruction_loss(out.features, out.features_hat, reduction)
        if out.pre_codes is not None and w["lambda_"] != 0:
            terms["feature_reconstruction"] = terms["feature_reconstruction"] + w["lambda_"] * code_consistency_loss(
                out.pre_codes, codes, reduction)
    if out.decorrelate:
        terms["decorrelation"] = w["alpha"] * decorrelation_loss(codes, reduction)
    recons = [r for r in (out.recon_g, out.recon_gp) if r is not None]
    if recons:
        terms["image_reconstruction"] = w["eta"] * sum(image_reconstruction_loss(r, images, reduction)
                                                       for r in recons)
    if out.part_maps is not None and w["spatial_diversity"] != 0:
        terms["spatial_diversity"] = w["spatial_diversity"] * spatial_diversity_loss(out.part_maps)
    if out.part_features is not None and w["channel_diversity"] != 0:
        terms["channel_diversity"] = w["channel_diversity"] * channel_diversity_loss(out.part_features,
                                                                                     weights.channel_margin)
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


def _pairs(codes: Tensor, labels: Tensor, memory: Tensor | None,
           memory_labels: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """(inner products, s in {0, 1}, mask of the pairs used): the n x N pairs of the batch with ``memory`` (all
    used), or without a memory the n x n in-batch pairs i != j."""
    _check_codes_labels(codes, labels)
    if memory is None:
        n = codes.shape[0]
        s = shares_label(labels, labels).to(codes.dtype)
        return codes @ codes.t(), s, ~torch.eye(n, dtype=torch.bool, device=codes.device)
    if memory.dim() != 2 or memory.shape[1] != codes.shape[1] or memory_labels is None \
            or len(memory_labels) != len(memory):
        raise ValueError(f"memory must be (N, {codes.shape[1]}) codes with N memory_labels, got "
                         f"{tuple(memory.shape)} and {None if memory_labels is None else len(memory_labels)}")
    s = shares_label(labels, memory_labels).to(codes.dtype)
    return codes @ memory.to(codes.dtype).t(), s, torch.ones_like(s, dtype=torch.bool)


def dpsh_loss(codes: Tensor, labels: Tensor, eta: float, memory: Tensor | None = None,
              memory_labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """DPSH (Li, Wang & Kang, IJCAI 2016): mean over pairs of log(1 + e^θ) - s θ, θ = u_i^T u_j / 2, plus
    eta · mean_i ||u_i - sgn(u_i)||^2 (per-item squared distance; sgn is ``a2lib.inference.binary``, 0 -> +1).
    Terms "likelihood", "quantization".

    Pairs: the batch against ``memory`` (N, k), the latest outputs of every training item (the U matrix of the
    authors' code, zero rows for items not seen yet), with ``memory_labels``; without a memory, in-batch pairs i != j.
    """
    inner, s, pairs = _pairs(codes, labels, memory, memory_labels)
    theta = inner / 2
    nll = F.softplus(theta) - s * theta
    likelihood = nll[pairs].mean() if pairs.any() else codes.new_zeros(())
    quantization = (codes - binary(codes.detach(), "DPSH codes").to(codes)).pow(2).sum(1).mean()
    terms = {"likelihood": likelihood, "quantization": eta * quantization}
    return sum(terms.values()), terms


def hashnet_loss(codes: Tensor, labels: Tensor, alpha: float, memory: Tensor | None = None,
                 memory_labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """HashNet (Cao et al., ICCV 2017): weighted mean over pairs of log(1 + e^θ) - s θ, θ = α h_i^T h_j,
    w = |S|/|S1| for similar and |S|/|S0| for dissimilar pairs (each class carries weight |S|). Term "likelihood".

    Pairs: the batch against ``memory`` (N, k), the latest outputs of every training item (as the U matrix of
    DeepHash-pytorch's HashNet), with ``memory_labels``; without a memory, in-batch pairs i != j.
    """
    inner, s, pairs = _pairs(codes, labels, memory, memory_labels)
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
