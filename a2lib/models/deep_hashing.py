"""The other deep methods of the paper's tables, each on BASELINE's network (backbone + GAP + Linear + tanh).

DPSH (pairwise likelihood), HashNet (weighted pairwise likelihood with continuation), CSQ (hash centres) and
OrthoCos+BN (cosine to orthogonal class codes) differ from BASELINE only in their loss (``a2lib.losses``) and small
head details. They learn no database codes: their ``scheme`` (``"pairwise"`` for DPSH and HashNet, ``"batch"`` for
CSQ and OrthoCos; ``a2lib.train.schemes``) makes ``a2lib.train`` train them with ``model.loss`` and use their
encoding of the database as B.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..checks import check_int, check_number, check_positive_int
from ..losses import csq_loss, dpsh_loss, hashnet_loss, orthocos_loss
from .base import HashOutput
from .baseline import BaselineConfig, BaselineHash

DPSH_LAMBDA, DPSH_CIFAR_TRAIN = 10.0, 5000
"""The DPSH authors' PyTorch demo weighs the summed quantisation by λ = 10 against likelihoods summed over the
pairs of a batch with the N = 5,000 CIFAR-10 training images, both divided by n·N."""
HASHNET_ALPHA_NUMERATOR = 10.0
"""α = 10 / k: HashNet's code README ("set the sigmoid_param to 10 / code length")."""
BERNOULLI_DRAWS = 20
"""Candidate sets of random ±1 centres drawn when no Hadamard matrix fits; the most separated one is kept."""


def _check_num_classes(config, model: str) -> None:
    if config.num_classes is None:
        raise ValueError(f"model {model!r} needs the option num_classes (the number of classes of the training "
                         f"labels): build({model!r}, bits, num_classes=C) or "
                         f"TrainConfig(model={model!r}, model_options={{'num_classes': C}})")
    check_positive_int("num_classes", config.num_classes)
    check_int("seed", config.seed)
    check_positive_int("draws", config.draws)


def hadamard(n: int) -> Tensor:
    """The n x n Sylvester Hadamard matrix (±1 entries, orthogonal rows); n must be a power of 2."""
    check_positive_int("n", n)
    if n & (n - 1):
        raise ValueError(f"a Sylvester Hadamard matrix needs a power of 2, got {n}")
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def _min_pairwise_hamming(codes: Tensor) -> float:
    if codes.shape[0] < 2:
        return float(codes.shape[1])
    k = codes.shape[1]
    distance = (k - codes @ codes.t()) / 2
    distance.fill_diagonal_(k + 1)
    return float(distance.min())


def hash_centers(num_classes: int, bits: int, seed: int = 0, draws: int = BERNOULLI_DRAWS,
                 negated: bool = True) -> Tensor:
    """(C, k) ±1 float class codes, as CSQ (Yuan et al. CVPR 2020, Sec. 3.2) constructs its hash centres.

    k a power of 2 and C <= 2k (C <= k when ``negated`` is False): the first C rows of [H_k; -H_k] (any two at
    Hamming distance k/2, or k for a row and its negation). Otherwise ``draws`` seeded sets of Bernoulli(0.5) ±1
    centres, keeping the one with the largest minimum pairwise Hamming distance.
    """
    check_positive_int("num_classes", num_classes)
    check_positive_int("bits", bits)
    rows = 2 * bits if negated else bits
    if bits & (bits - 1) == 0 and num_classes <= rows:
        h = hadamard(bits)
        return torch.cat([h, -h])[:num_classes].clone()
    generator = torch.Generator().manual_seed(int(seed))
    best, best_distance = None, -1.0
    for _ in range(check_positive_int("draws", draws)):
        candidate = torch.where(torch.rand(num_classes, bits, generator=generator) < 0.5, -1.0, 1.0)
        distance = _min_pairwise_hamming(candidate)
        if distance > best_distance:
            best, best_distance = candidate, distance
    return best


def _check_class_labels(labels: Tensor, num_classes: int, model: str) -> None:
    if labels.dim() == 1:
        if len(labels) and int(labels.min()) < 0:
            raise ValueError(f"{model} got the negative class index {int(labels.min())}; use class indices 0..C-1")
        if len(labels) and int(labels.max()) >= num_classes:
            raise ValueError(f"{model} was built with num_classes={num_classes} but saw class index "
                             f"{int(labels.max())}; build it with num_classes={int(labels.max()) + 1} or more")
    elif labels.dim() != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"{model} was built with num_classes={num_classes} but got labels of shape "
                         f"{tuple(labels.shape)}; pass (n,) class indices or (n, {num_classes}) multi-hot rows")


@dataclass
class PairwiseConfig(BaselineConfig):
    """memory: pair the batch with the latest outputs of every training item (the U matrix of DPSH's and
    DeepHash-pytorch's HashNet code) instead of with itself. Off by default, measured in ``quick`` (synth-birds,
    60 species, 48 bits, class-balanced batches, one seed): with the memory 1/60 of the pairs are similar and
    DPSH stays at chance (0.020 test mAP), HashNet reaches 0.074 (0.099 with twice the outer iterations); in-batch
    pairs of class-balanced batches give DPSH 0.105 and HashNet 0.169 (BASELINE: 0.421)."""

    memory: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.memory, bool):
            raise ValueError(f"memory must be True or False, got {self.memory!r}")


class PairwiseHash(BaselineHash):
    """A pairwise-likelihood method, trained by the pairwise scheme (``a2lib.train.schemes.PairwiseScheme``):
    class-balanced batches and the pairs in-batch or, with the ``memory`` option, against the latest outputs of
    every training item."""

    scheme = "pairwise"


@dataclass
class DPSHConfig(PairwiseConfig):
    """eta: quantisation weight against the mean pair likelihood (``a2lib.losses.dpsh_loss``); the default
    λ/N = 10/5000 = 0.002 is the authors' PyTorch demo weighting under this normalisation. memory: see
    ``PairwiseConfig``."""

    eta: float = DPSH_LAMBDA / DPSH_CIFAR_TRAIN

    def __post_init__(self):
        super().__post_init__()
        check_number("eta", self.eta)


class DPSH(PairwiseHash):
    """DPSH (Li, Wang & Kang, IJCAI 2016): pairwise likelihood + quantisation (``PairwiseHash``)."""

    name = "dpsh"

    def loss(self, out: HashOutput, labels: Tensor, memory: Tensor | None = None,
             memory_labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        return dpsh_loss(out.codes, labels, self.config.eta, memory, memory_labels)


@dataclass
class HashNetConfig(PairwiseConfig):
    """alpha: sigmoid scale α of the likelihood, None -> 10/k (HashNet README). Continuation (HashNet's public code,
    ``network.py``): β = init_scale · (1 + gamma · steps)^power with init_scale 1, gamma 0.005, power 0.5.
    memory: see ``PairwiseConfig``."""

    alpha: float | None = None
    init_scale: float = 1.0
    gamma: float = 0.005
    power: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.alpha is not None:
            check_number("alpha", self.alpha, positive=True)
        check_number("init_scale", self.init_scale, positive=True)
        check_number("gamma", self.gamma)
        check_number("power", self.power)


class HashNet(PairwiseHash):
    """HashNet (Cao et al., ICCV 2017): codes tanh(β z) with β raised by continuation, weighted pairwise loss
    (``PairwiseHash``).

    HashNet raises β every 200 SGD steps from the steps taken so far; here β is raised at the start of each outer
    iteration (``prepare_outer_iteration``) from the buffer ``steps``, which ``loss`` counts (one call per SGD step).
    Both ``steps`` and ``scale`` (β) are buffers, so checkpoints and the cache restore them exactly.
    """

    name = "hashnet"

    def __init__(self, config: HashNetConfig):
        super().__init__(config)
        self.alpha = HASHNET_ALPHA_NUMERATOR / config.bits if config.alpha is None else float(config.alpha)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("scale", torch.tensor(float(config.init_scale)))

    def continuation_scale(self, steps: int) -> float:
        """β after ``steps`` SGD steps."""
        cfg = self.config
        return cfg.init_scale * (1.0 + cfg.gamma * steps) ** cfg.power

    def prepare_outer_iteration(self, iteration: int, loader, device, outer_iterations: int | None = None) -> None:
        self.scale.fill_(self.continuation_scale(int(self.steps)))

    def activate(self, pre_codes: Tensor) -> Tensor:
        return torch.tanh(self.scale * pre_codes)

    def loss(self, out: HashOutput, labels: Tensor, memory: Tensor | None = None,
             memory_labels: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        self.steps += 1
        return hashnet_loss(out.codes, labels, self.alpha, memory, memory_labels)


@dataclass
class CSQConfig(BaselineConfig):
    """num_classes: required. lambda_q: quantisation weight, 0.05 (``lambda2`` of CSQ's public code, whose centre
    weight is 1; the code's extra pairwise term is left out, as in the paper's objective). seed, draws: the random
    centres when no Hadamard matrix fits (``hash_centers``) and the tie-breaking vector of multi-label centres."""

    num_classes: int | None = None
    lambda_q: float = 0.05
    seed: int = 0
    draws: int = BERNOULLI_DRAWS

    def __post_init__(self):
        super().__post_init__()
        _check_num_classes(self, "csq")
        check_number("lambda_q", self.lambda_q)


class CSQ(BaselineHash):
    """CSQ (Yuan et al., CVPR 2020): codes pulled towards fixed per-class hash centres (buffer ``centers``).

    A multi-label item's centre is the sign of the sum of its classes' centres; a tied bit (or an item without
    labels) takes the bit of the fixed seeded random ±1 vector ``tie_center``, as in CSQ's public code.
    """

    name = "csq"
    scheme = "batch"

    def __init__(self, config: CSQConfig):
        super().__init__(config)
        self.num_classes = int(config.num_classes)
        self.register_buffer("centers", hash_centers(self.num_classes, config.bits, config.seed, config.draws))
        tie = torch.Generator().manual_seed(int(config.seed) + 1)
        self.register_buffer("tie_center", torch.where(torch.rand(config.bits, generator=tie) < 0.5, -1.0, 1.0))

    def item_centers(self, labels: Tensor) -> Tensor:
        """(n, k) ±1 target centre of each item."""
        _check_class_labels(labels, self.num_classes, "csq")
        if labels.dim() == 1:
            return self.centers[labels.long()]
        summed = labels.to(self.centers.dtype) @ self.centers
        return torch.where(summed == 0, self.tie_center.expand_as(summed), torch.sign(summed))

    def loss(self, out: HashOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return csq_loss(out.codes, self.item_centers(labels).to(out.codes.dtype), self.config.lambda_q)


@dataclass
class OrthoCosConfig(BaselineConfig):
    """num_classes: required. scale s = 8 and margin m = 0.2: ``OrthoHashLoss`` defaults of the authors' code
    (its README uses m = 0.3 for CIFAR-10). seed, draws: the random class codes when no Hadamard matrix fits."""

    num_classes: int | None = None
    scale: float = 8.0
    margin: float = 0.2
    seed: int = 0
    draws: int = BERNOULLI_DRAWS

    def __post_init__(self):
        super().__post_init__()
        _check_num_classes(self, "orthocos")
        check_number("scale", self.scale, positive=True)
        check_number("margin", self.margin)


class OrthoCos(BaselineHash):
    """OrthoCos+BN (Hoe et al., NeurIPS 2021, "One loss for all"): v = BatchNorm1d(Linear(x)), codes tanh(v).

    The loss is a margin cross-entropy on the cosine of v to fixed ±1 class codes (buffer ``class_codes``): the rows
    of a Hadamard matrix when k is a power of 2 and C <= k (exactly orthogonal), else the most separated of
    ``draws`` seeded Bernoulli sets.
    """

    name = "orthocos"
    scheme = "batch"

    def __init__(self, config: OrthoCosConfig):
        super().__init__(config)
        self.num_classes = int(config.num_classes)
        self.hash_layer = nn.Sequential(nn.Linear(self.hash_layer.in_features, config.bits),
                                        nn.BatchNorm1d(config.bits))
        codes = hash_centers(self.num_classes, config.bits, config.seed, config.draws, negated=False)
        self.register_buffer("class_codes", codes)

    def loss(self, out: HashOutput, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        _check_class_labels(labels, self.num_classes, "orthocos")
        return orthocos_loss(out.pre_codes, labels, self.class_codes, self.config.scale, self.config.margin)
