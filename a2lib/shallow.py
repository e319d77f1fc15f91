"""Shallow hashing on fixed features: ITQ and SDH, and ``extract_features`` for the backbone features they use.

The paper's tables run ITQ and SDH on features of the same backbone as the deep methods; ``extract_features`` gives
the pooled backbone features (``HashOutput.features``) of any ``HashModel``. Both estimators follow scikit-learn's
shape: ``fit(features, labels=None) -> self`` and ``encode(features) -> (n, k) ±1 float tensor`` (``x >= 0 -> +1``:
``a2lib.inference.binary``, as everywhere); ``build(name, bits, **options)`` constructs one by name. Work is in float64.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from .checks import check_int, check_number, check_positive_int
from .inference import binary, map_dataset


def _features(features, what: str = "features", min_rows: int = 1) -> Tensor:
    try:
        x = torch.as_tensor(features)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{what} must be an (n, d) tensor or array, got {type(features).__name__}") from error
    if x.dim() != 2:
        raise ValueError(f"{what} must be a 2-D (n, d) array of feature vectors, got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{what} has {x.shape[0]} rows; fitting needs at least {min_rows}")
    x = x.double()
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return x


class _Estimator:
    """Shared checks of the fitted state and of inputs to ``encode``."""

    _fitted_attribute = ""

    def _check_fitted(self) -> None:
        if getattr(self, self._fitted_attribute, None) is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(features, ...) first")

    def _check_dim(self, x: Tensor) -> None:
        if x.shape[1] != self.feature_dim_:
            raise ValueError(f"{type(self).__name__} was fitted on {self.feature_dim_}-dimensional features, "
                             f"got {x.shape[1]}")


@dataclass(eq=False)
class ITQ(_Estimator):
    """Iterative quantisation (Gong & Lazebnik, CVPR 2011; TPAMI 2013): PCA to ``bits`` dims, then a rotation R.

    Zero-mean the features, project on the top ``bits`` principal directions (V = (X - mean) W), start from a seeded
    random orthogonal R and alternate ``n_iter`` = 50 times (the paper's count) B = sgn(V R) and R = U Ŵ^T from the SVD
    V^T B = U Σ Ŵ^T, the orthogonal Procrustes solution. ``error_history_[t]`` is ||B_t - V R_{t-1}||_F^2 of step t,
    which never increases. Codes: sgn((x - mean) W R).
    """

    bits: int
    n_iter: int = 50
    seed: int = 0
    mean_: Tensor | None = field(default=None, init=False, repr=False)
    projection_: Tensor | None = field(default=None, init=False, repr=False)
    rotation_: Tensor | None = field(default=None, init=False, repr=False)
    error_history_: list[float] = field(default_factory=list, init=False, repr=False)
    feature_dim_: int | None = field(default=None, init=False, repr=False)

    _fitted_attribute = "rotation_"

    def __post_init__(self):
        check_positive_int("bits", self.bits)
        check_positive_int("n_iter", self.n_iter)
        check_int("seed", self.seed)

    def fit(self, features, labels=None) -> "ITQ":
        """Learn the mean, PCA projection and rotation from (n, d) features; labels are ignored (unsupervised)."""
        x = _features(features, min_rows=2)
        n, d = x.shape
        if self.bits > d:
            raise ValueError(f"ITQ needs bits <= feature dimension (PCA to k dims): bits={self.bits}, d={d}; "
                             "use fewer bits or higher-dimensional features")
        self.mean_ = x.mean(0)
        centred = x - self.mean_
        _, eigenvectors = torch.linalg.eigh(centred.t() @ centred / n)
        self.projection_ = eigenvectors.flip(1)[:, : self.bits].contiguous()
        v = centred @ self.projection_
        generator = torch.Generator().manual_seed(int(self.seed))
        q, r = torch.linalg.qr(torch.randn(self.bits, self.bits, generator=generator, dtype=torch.float64))
        rotation = q * torch.sign(torch.diagonal(r))
        self.error_history_ = []
        for _ in range(self.n_iter):
            projected = v @ rotation
            b = binary(projected, "ITQ projections").to(projected.dtype)
            self.error_history_.append(float((b - projected).pow(2).sum()))
            u, _, vh = torch.linalg.svd(v.t() @ b)
            rotation = u @ vh
        self.rotation_ = rotation
        self.feature_dim_ = d
        return self

    def transform(self, features) -> Tensor:
        """Rotated PCA coordinates (x - mean) W R, (n, bits) float64; their sign is the code."""
        self._check_fitted()
        x = _features(features)
        self._check_dim(x)
        return (x - self.mean_) @ self.projection_ @ self.rotation_

    def encode(self, features) -> Tensor:
        """(n, bits) float32 ±1 codes sgn((x - mean) W R)."""
        return binary(self.transform(features), "ITQ projections")


@dataclass(eq=False)
class SDH(_Estimator):
    """Supervised discrete hashing (Shen, Shen, Liu & Shen, CVPR 2015), L2 classification loss.

    Features are mapped by an RBF kernel on ``n_anchors`` seeded training anchors (1000 in the paper and code; at most
    n), width ``sigma`` (None: the mean distance between the training items and the anchors), plus a constant 1 (the
    code's bias column): φ(x) (n, m+1). With one-hot (or multi-hot) labels Y and codes B in {-1,1}^{n x k}, it minimises

        J = ||Y - B W||^2 + lambda_ ||W||^2 + nu (||B - φ P||^2 + delta ||P||^2)

    with lambda_ = 1, nu = 1e-5 and the F-step ridge delta = 1e-2 (``gmap.lambda``, ``Fmap.nu``, ``Fmap.lambda`` of
    the authors' demo). From seeded random B: G-step W = (B^T B + lambda_ I)^-1 B^T Y, F-step
    P = (φ^T φ + delta I)^-1 φ^T B, then ``n_iter`` = 5 times (the demo's ``maxItr``) a B-step of up to ``dcc_iter``
    = 10 bitwise sweeps b_k = sgn(q_k - B' W' w_k), Q = Y W^T + nu φ P (discrete cyclic coordinate descent), a G-step
    and an F-step. Each step minimises J exactly in its block (the B-step starts from the previous B and keeps a bit
    whose score is 0; the code restarts it from 0), so ``objective_history_`` (J after the first G/F-steps and after
    each iteration) never increases. Codes: sgn(φ(x) P).
    """

    bits: int
    n_anchors: int = 1000
    sigma: float | None = None
    lambda_: float = 1.0
    nu: float = 1e-5
    delta: float = 1e-2
    n_iter: int = 5
    dcc_iter: int = 10
    seed: int = 0
    anchors_: Tensor | None = field(default=None, init=False, repr=False)
    sigma_: float | None = field(default=None, init=False, repr=False)
    projection_: Tensor | None = field(default=None, init=False, repr=False)
    classifier_: Tensor | None = field(default=None, init=False, repr=False)
    codes_: Tensor | None = field(default=None, init=False, repr=False)
    objective_history_: list[float] = field(default_factory=list, init=False, repr=False)
    feature_dim_: int | None = field(default=None, init=False, repr=False)

    _fitted_attribute = "projection_"

    def __post_init__(self):
        for name in ("bits", "n_anchors", "n_iter", "dcc_iter"):
            check_positive_int(name, getattr(self, name))
        if self.sigma is not None:
            check_number("sigma", self.sigma, positive=True)
        for name in ("lambda_", "nu", "delta"):
            check_number(name, getattr(self, name))
        check_int("seed", self.seed)

    def kernel(self, features) -> Tensor:
        """φ(x): RBF values on the anchors and a constant 1, (n, m+1) float64."""
        self._check_fitted()
        x = _features(features)
        self._check_dim(x)
        return self._kernel(x)

    def _kernel(self, x: Tensor) -> Tensor:
        rbf = torch.exp(-torch.cdist(x, self.anchors_).pow(2) / (2 * self.sigma_ ** 2))
        return torch.cat([rbf, torch.ones(len(x), 1, dtype=x.dtype)], 1)

    def objective(self, phi: Tensor, targets: Tensor, codes: Tensor, classifier: Tensor, projection: Tensor) -> float:
        """J of the class docstring."""
        return float((targets - codes @ classifier).pow(2).sum() + self.lambda_ * classifier.pow(2).sum()
                     + self.nu * ((codes - phi @ projection).pow(2).sum() + self.delta * projection.pow(2).sum()))

    def _g_step(self, codes: Tensor, targets: Tensor) -> Tensor:
        eye = torch.eye(codes.shape[1], dtype=codes.dtype)
        return torch.linalg.solve(codes.t() @ codes + self.lambda_ * eye, codes.t() @ targets)

    def _f_step(self, phi: Tensor, codes: Tensor) -> Tensor:
        eye = torch.eye(phi.shape[1], dtype=phi.dtype)
        return torch.linalg.solve(phi.t() @ phi + self.delta * eye, phi.t() @ codes)

    def _b_step(self, codes: Tensor, targets: Tensor, classifier: Tensor, fitted: Tensor) -> Tensor:
        q = targets @ classifier.t() + self.nu * fitted
        gram = classifier @ classifier.t()
        codes = codes.clone()
        for _ in range(self.dcc_iter):
            before = codes.clone()
            for k in range(self.bits):
                score = q[:, k] - (codes @ gram[:, k] - codes[:, k] * gram[k, k])
                codes[:, k] = torch.where(score == 0, codes[:, k], torch.sign(score))
            if torch.equal(codes, before):
                break
        return codes

    def fit(self, features, labels=None) -> "SDH":
        """Learn anchors, kernel width, classifier W, projection P and training codes from features and labels
        ((n,) class indices or (n, C) multi-hot)."""
        if labels is None:
            raise ValueError("SDH is supervised: pass labels, (n,) class indices or (n, C) multi-hot rows")
        x = _features(features, min_rows=2)
        targets = _targets(labels, len(x))
        n, d = x.shape
        generator = torch.Generator().manual_seed(int(self.seed))
        self.anchors_ = x[torch.randperm(n, generator=generator)[: min(self.n_anchors, n)]]
        self.sigma_ = float(torch.cdist(x, self.anchors_).mean()) if self.sigma is None else float(self.sigma)
        if self.sigma_ <= 0:
            raise ValueError("all training features are identical, so the RBF width is 0; pass sigma= or vary them")
        self.feature_dim_ = d
        phi = self._kernel(x)
        codes = binary(torch.randn(n, self.bits, generator=generator, dtype=torch.float64)).double()
        classifier = self._g_step(codes, targets)
        projection = self._f_step(phi, codes)
        self.objective_history_ = [self.objective(phi, targets, codes, classifier, projection)]
        for _ in range(self.n_iter):
            codes = self._b_step(codes, targets, classifier, phi @ projection)
            classifier = self._g_step(codes, targets)
            projection = self._f_step(phi, codes)
            self.objective_history_.append(self.objective(phi, targets, codes, classifier, projection))
        self.codes_, self.classifier_, self.projection_ = codes, classifier, projection
        return self

    def encode(self, features) -> Tensor:
        """(n, bits) float32 ±1 codes sgn(φ(x) P)."""
        return binary(self.kernel(features) @ self.projection_, "SDH projections")


def _targets(labels, n: int) -> Tensor:
    y = torch.as_tensor(labels)
    if y.shape[:1] != (n,):
        raise ValueError(f"labels must have one row per feature vector ({n}), got shape {tuple(y.shape)}")
    if y.dim() == 1:
        if (y.is_floating_point() and not torch.equal(y, y.round())) or (n and int(y.min()) < 0):
            raise ValueError("single-label targets must be class indices 0..C-1")
        return torch.nn.functional.one_hot(y.long(), int(y.max()) + 1).double()
    if y.dim() == 2:
        return y.double()
    raise ValueError(f"labels must be (n,) class indices or (n, C) multi-hot, got shape {tuple(y.shape)}")


_METHODS: dict[str, type] = {"itq": ITQ, "sdh": SDH}


def list_methods() -> list[str]:
    return list(_METHODS)


def build(name: str, bits: int, **options):
    """An unfitted estimator ``name`` ("itq" or "sdh") for ``bits``-bit codes; ``options`` are its fields."""
    if name not in _METHODS:
        raise ValueError(f"unknown shallow method {name!r}; choose one of {', '.join(_METHODS)}")
    cls = _METHODS[name]
    allowed = [f.name for f in dataclasses.fields(cls) if f.init and f.name != "bits"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {name!r}; valid options: {', '.join(allowed)}")
    return cls(bits=bits, **options)


def _pooled_features(model, images: Tensor) -> Tensor:
    features = model(images).features
    if features is None:
        raise ValueError(f"model {getattr(model, 'name', type(model).__name__)!r} returns no features; "
                         "use a HashModel whose HashOutput carries them (e.g. build('baseline', ...))")
    return features


def extract_features(model, dataset: Dataset, batch_size: int = 64, device=None) -> Tensor:
    """(n, d) float32 CPU ``HashOutput.features`` of every item of ``dataset`` (BASELINE: the pooled backbone
    features), in eval mode and without gradients; the model's mode is restored afterwards."""
    check_positive_int("batch_size", batch_size)
    chunks = map_dataset(model, dataset, _pooled_features, batch_size, device)
    if not chunks:
        raise ValueError("the dataset is empty; there are no features to extract")
    return torch.cat(chunks)


__all__ = ["ITQ", "SDH", "build", "extract_features", "list_methods"]


class ShallowHashModel(nn.Module):
    """A fitted ITQ/SDH ``estimator`` over ``feature_model``'s pooled features, with the face of a trained hashing
    network (``name``, ``bits``, ``encode(images) -> ±1 codes``), so retrieval code treats every method alike."""

    def __init__(self, name: str, feature_model: nn.Module, estimator):
        super().__init__()
        self.name, self.bits = name, int(estimator.bits)
        self.feature_model, self.estimator = feature_model, estimator

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        features = self.feature_model(images).features.float().cpu()
        return self.estimator.encode(features).to(images.device)
