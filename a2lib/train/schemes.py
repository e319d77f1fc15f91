"""Training schemes: what each batch's loss is, what follows an outer iteration, and what the database codes are.

The trainer (``a2lib.train.trainer``) samples Ω, batches it and steps the optimiser; the model's scheme says the rest.
A model names its scheme once, in the class attribute ``scheme`` (``a2lib.models.base.HashModel``):

- ``"asymmetric"`` (BASELINE, A²-Net, A²-Net++, ExchNet): ADSH's learned database codes B (Jiang & Li, AAAI 2018;
  the paper trains "following ADSH", Sec. 3.3.3), ``AsymmetricScheme``;
- ``"pairwise"`` (DPSH, HashNet): the model's pairwise loss on class-balanced batches, the pairs in-batch or, with
  the model's ``memory`` option, against the latest outputs of every database item, ``PairwiseScheme``;
- ``"batch"`` (CSQ, OrthoCos, the cross-entropy control): the model's own loss ``model.loss(out, labels)`` on
  shuffled batches, ``BatchLossScheme``.

Only the asymmetric scheme learns database codes; the others' database codes are the encoded database (the sign of
the network's encoding of the database items). The trainer calls, per outer iteration, ``begin_outer_iteration(Ω)``,
``batch_loss`` for every batch and ``end_outer_iteration()``; ``state``/``load_state`` are what a checkpoint holds;
the gradient diagnostic calls ``batch_loss`` of a ``probe``, so it differentiates the very loss training uses.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import Tensor
from torch.utils.data import Sampler

from ..dcc import dcc_update
from ..inference import binary
from ..losses import objective
from ..similarity import similarity
from .batches import ClassBalancedBatches
from .config import TrainConfig

DEFAULT_SCHEME = "asymmetric"
"""The scheme of a model that names none (any module with ``forward`` and ``encode``): the paper's."""
IMAGES_PER_CLASS = 4
"""K of the pairwise scheme's class-balanced batches (P = batch size / K classes, ``a2lib.train.batches``)."""

LossTerms = tuple[Tensor, dict[str, Tensor]]


class Scheme:
    """Defaults of every scheme: shuffled batches, no step after an outer iteration, the encoded database, no state.

    ``db_labels`` are the labels of the database items (the training set minus the validation items), in order.
    """

    name = ""

    def __init__(self, model, config: TrainConfig, db_labels: Tensor, device: torch.device):
        self.config, self.db_labels, self.device = config, db_labels, device
        self.omega = None

    def batch_sampler(self, labels: Tensor, generator: torch.Generator) -> Sampler | None:
        """How the sampled items (with ``labels``) are batched; None: shuffled batches of ``config.batch_size``."""
        return None

    def begin_outer_iteration(self, omega: Tensor) -> None:
        """Before the batches of the outer iteration that trains on the database items ``omega`` (sorted)."""
        self.omega = omega.to(self.device)

    def batch_loss(self, model, out, images: Tensor, labels: Tensor, positions: Tensor) -> LossTerms:
        """(total, weighted terms) of one batch: model output ``out`` of ``images`` with ``labels``, the items at
        ``positions`` of Ω."""
        raise NotImplementedError

    def end_outer_iteration(self) -> None:
        """After the last batch of the outer iteration."""

    def database_codes(self, encoded: Callable[[], Tensor]) -> Tensor:
        """+-1 codes of the database items; ``encoded()`` gives the network's (the encoded database)."""
        return encoded()

    def state(self) -> Tensor | None:
        """What a checkpoint must hold to resume this scheme exactly (CPU), or None."""
        return None

    def load_state(self, state: Tensor | None) -> None:
        """Take back a copy of ``state()``."""

    def probe(self, n: int) -> "Scheme":
        """A copy of this scheme over Ω = the first ``n`` database items, with its own copy of the state: the
        gradient diagnostic's loss is then the training loss of that batch, and this scheme is left unchanged."""
        probe = copy.copy(self)
        probe.load_state(self.state())
        probe.begin_outer_iteration(torch.arange(n))
        return probe


class AsymmetricScheme(Scheme):
    """ADSH's asymmetric scheme with learned database codes B in {-1,+1}^{N x k} (Eq. 13/15).

    Each outer iteration builds S between Ω and the whole database (ADSH reweighting, ``a2lib.similarity``), trains
    every batch with ``a2lib.losses.objective`` against S and B, storing each item's tanh output U as ADSH's code
    does (the value seen in the item's last batch), then updates B bit by bit in closed form (``a2lib.dcc``) with the
    quantisation weight the loss weights give (``LossWeights.dcc_gamma``). B starts as random signs drawn from its
    own generator seeded by ``config.seed``, and is the database codes and the checkpointed state.
    """

    name = "asymmetric"

    def __init__(self, model, config: TrainConfig, db_labels: Tensor, device: torch.device):
        super().__init__(model, config, db_labels, device)
        init = torch.Generator().manual_seed(config.seed)
        self.B = binary(torch.rand(len(db_labels), config.bits, generator=init) - 0.5).to(device)
        self.S = self.U = None

    def begin_outer_iteration(self, omega: Tensor) -> None:
        super().begin_outer_iteration(omega)
        self.S = similarity(self.db_labels[omega], self.db_labels, self.config.similarity_reweight).to(self.device)
        self.U = torch.zeros(len(omega), self.config.bits, device=self.device)

    def batch_loss(self, model, out, images: Tensor, labels: Tensor, positions: Tensor) -> LossTerms:
        self.U[positions] = out.codes.detach().float()
        return objective(out, images, self.S[positions], self.B, self.B[self.omega[positions]],
                         self.config.loss_weights, labels=labels)

    def end_outer_iteration(self) -> None:
        gamma = self.config.loss_weights.dcc_gamma(self.config.bits, len(self.B))
        self.B = dcc_update(self.B, self.U, self.S, self.omega, gamma, self.config.dcc_sweeps)
        self.S = self.U = None

    def database_codes(self, encoded: Callable[[], Tensor]) -> Tensor:
        return self.B.cpu().clone()

    def state(self) -> Tensor:
        return self.B.cpu()

    def load_state(self, state: Tensor) -> None:
        self.B = state.to(self.device, copy=True)


class BatchLossScheme(Scheme):
    """The model's own batch loss, ``model.loss(out, labels) -> (total, terms)``, on shuffled batches."""

    name = "batch"

    def __init__(self, model, config: TrainConfig, db_labels: Tensor, device: torch.device):
        super().__init__(model, config, db_labels, device)
        if not callable(getattr(model, "loss", None)):
            raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} trains with the {self.name!r} "
                             "scheme but has no loss(out, labels) method; give it one or declare "
                             f"scheme = {DEFAULT_SCHEME!r}")

    def batch_loss(self, model, out, images: Tensor, labels: Tensor, positions: Tensor) -> LossTerms:
        return model.loss(out, labels)


class PairwiseScheme(BatchLossScheme):
    """A pairwise loss (DPSH, HashNet) on class-balanced batches of ``IMAGES_PER_CLASS`` images per class (single-label
    data; multi-label data keeps shuffled batches), so that a batch holds similar pairs.

    With the model's ``memory`` option the pairs are the batch against a memory of the latest outputs of every
    database item (zero until first seen; DPSH's U matrix), updated batch by batch before the loss:
    ``model.loss(out, labels, memory, memory_labels)``; the memory is the checkpointed state. Without it, in-batch
    pairs: ``model.loss(out, labels)``.
    """

    name = "pairwise"

    def __init__(self, model, config: TrainConfig, db_labels: Tensor, device: torch.device):
        super().__init__(model, config, db_labels, device)
        self.memory = None
        if getattr(getattr(model, "config", None), "memory", False):
            self.memory = torch.zeros(len(db_labels), config.bits, device=device)
            self.memory_labels = db_labels.to(device)

    def batch_sampler(self, labels: Tensor, generator: torch.Generator) -> Sampler | None:
        if labels.dim() != 1:
            return None
        batch_size = self.config.batch_size
        return ClassBalancedBatches(labels, batch_size, min(IMAGES_PER_CLASS, batch_size), generator)

    def batch_loss(self, model, out, images: Tensor, labels: Tensor, positions: Tensor) -> LossTerms:
        if self.memory is None:
            return model.loss(out, labels)
        self.memory[self.omega[positions]] = out.codes.detach().float()
        return model.loss(out, labels, self.memory, self.memory_labels)

    def state(self) -> Tensor | None:
        return None if self.memory is None else self.memory.cpu()

    def load_state(self, state: Tensor | None) -> None:
        self.memory = None if state is None else state.to(self.device, copy=True)


SCHEMES = {scheme.name: scheme for scheme in (AsymmetricScheme, PairwiseScheme, BatchLossScheme)}
"""The schemes by the name a model class declares."""


def build_scheme(model, config: TrainConfig, db_labels: Tensor, device: torch.device) -> Scheme:
    """The scheme ``model.scheme`` names (``DEFAULT_SCHEME`` when it names none), set up for the database labels."""
    name = getattr(model, "scheme", DEFAULT_SCHEME)
    if name not in SCHEMES:
        raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} declares scheme = {name!r}; "
                         f"choose one of {', '.join(SCHEMES)}")
    return SCHEMES[name](model, config, db_labels, device)


__all__ = ["AsymmetricScheme", "BatchLossScheme", "DEFAULT_SCHEME", "IMAGES_PER_CLASS", "PairwiseScheme", "SCHEMES",
           "Scheme", "build_scheme"]
