"""ITQ and SDH on fixed features: rotation, monotone objectives, retrieval on clusters, errors; extract_features."""
import numpy as np
import pytest
import torch

from a2lib import shallow
from a2lib.data import ArrayDataset
from a2lib.evaluate import mean_average_precision
from a2lib.models import HashOutput, build
from a2lib.shallow import ITQ, SDH, extract_features


def _gaussian(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _clusters(n, d, classes, spread, seed):
    gen = torch.Generator().manual_seed(seed)
    centres = 6.0 * torch.randn(classes, d, generator=torch.Generator().manual_seed(100))
    labels = torch.arange(n) % classes
    return centres[labels] + spread * torch.randn(n, d, generator=gen), labels


def _non_increasing(values, slack=1e-9):
    return all(b <= a * (1 + slack) + slack for a, b in zip(values, values[1:]))


def test_itq_rotation_is_orthogonal_and_quantisation_error_never_increases():
    x = _clusters(300, 20, 6, 2.0, seed=0)[0].double()
    itq = ITQ(8, n_iter=30, seed=2).fit(x)
    rotation = itq.rotation_
    assert rotation.shape == (8, 8)
    assert torch.allclose(rotation.t() @ rotation, torch.eye(8, dtype=torch.float64), atol=1e-10)
    history = itq.error_history_
    assert len(history) == 30 and _non_increasing(history)
    assert history[-1] < 0.985 * history[0]  # the rotation does learn
    v = (x - x.mean(0)) @ itq.projection_
    final_error = float((torch.where(v @ rotation >= 0, 1.0, -1.0) - v @ rotation).pow(2).sum())
    assert final_error <= history[-1] + 1e-9


def test_itq_projects_on_the_top_principal_directions_and_codes_are_sign_of_vr():
    x = _gaussian(200, 10) * torch.linspace(3, 0.3, 10, dtype=torch.float64)
    itq = ITQ(4).fit(x)
    centred = (x - x.mean(0)).numpy()
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    top = torch.from_numpy(vt[:4].T)
    assert torch.allclose(itq.projection_ @ itq.projection_.t(), top @ top.t(), atol=1e-8)  # same subspace
    expected = np.where(centred @ itq.projection_.numpy() @ itq.rotation_.numpy() >= 0, 1.0, -1.0)
    codes = itq.encode(x)
    assert codes.dtype == torch.float32 and np.array_equal(codes.numpy(), expected)
    assert torch.equal(ITQ(4).fit(x).encode(x), codes)  # seeded
    assert not torch.equal(ITQ(4, seed=5).fit(x).rotation_, itq.rotation_)


def test_itq_separates_clusters_and_rejects_bad_inputs():
    x, labels = _clusters(120, 16, 3, 1.0, seed=0)
    q, q_labels = _clusters(30, 16, 3, 1.0, seed=1)
    itq = ITQ(8).fit(x)
    assert mean_average_precision(itq.encode(q), itq.encode(x), q_labels, labels) > 0.9
    with pytest.raises(ValueError, match="bits <= feature dimension"):
        ITQ(32).fit(x)
    with pytest.raises(ValueError, match="not fitted"):
        ITQ(4).encode(x)
    with pytest.raises(ValueError, match="fitted on 16-dimensional"):
        itq.encode(x[:, :5])
    with pytest.raises(ValueError, match="2-D"):
        ITQ(4).fit(x[0])
    with pytest.raises(ValueError, match="NaN"):
        ITQ(4).fit(torch.full((5, 8), float("nan")))
    with pytest.raises(ValueError, match="positive integer"):
        ITQ(0)


def _sdh_objective(model, x, targets):
    """J written out from SDH's formulation, with an RBF kernel computed here by loops over anchors."""
    anchors, sigma = model.anchors_, model.sigma_
    phi = torch.ones(len(x), len(anchors) + 1, dtype=torch.float64)
    for a in range(len(anchors)):
        phi[:, a] = torch.exp(-((x - anchors[a]) ** 2).sum(1) / (2 * sigma ** 2))
    b, w, p = model.codes_, model.classifier_, model.projection_
    return (((targets - b @ w) ** 2).sum() + model.lambda_ * (w ** 2).sum()
            + model.nu * (((b - phi @ p) ** 2).sum() + model.delta * (p ** 2).sum())).item()


def test_sdh_objective_never_increases_and_is_the_stated_objective():
    x, labels = _clusters(150, 12, 3, 3.0, seed=2)
    model = SDH(8, n_anchors=40, nu=1e-2, n_iter=6, seed=1).fit(x, labels)
    history = model.objective_history_
    assert len(history) == 7 and _non_increasing(history)
    assert history[-1] < history[0]
    targets = torch.nn.functional.one_hot(labels, 3).double()
    assert _sdh_objective(model, x, targets) == pytest.approx(history[-1], rel=1e-9)
    assert model.sigma_ == pytest.approx(torch.cdist(x.double(), model.anchors_).mean().item())
    assert set(model.codes_.unique().tolist()) == {-1.0, 1.0}


def test_sdh_codes_separate_two_labelled_clusters():
    x, labels = _clusters(160, 10, 2, 1.0, seed=3)
    q, q_labels = _clusters(40, 10, 2, 1.0, seed=4)
    model = shallow.build("sdh", 12, n_anchors=60).fit(x, labels)
    codes = model.encode(q)
    assert codes.shape == (40, 12) and codes.dtype == torch.float32
    assert mean_average_precision(codes, model.encode(x), q_labels, labels) > 0.99
    multi = torch.nn.functional.one_hot(labels, 2).float()
    again = SDH(12, n_anchors=60).fit(x, multi)  # multi-hot labels give the same targets
    assert torch.equal(again.encode(q), codes)


def test_sdh_rejects_bad_inputs():
    x, labels = _clusters(20, 4, 2, 1.0, seed=5)
    with pytest.raises(ValueError, match="supervised: pass labels"):
        SDH(4).fit(x)
    with pytest.raises(ValueError, match="one row per feature vector"):
        SDH(4).fit(x, labels[:-1])
    with pytest.raises(ValueError, match="not fitted"):
        SDH(4).encode(x)
    with pytest.raises(ValueError, match="sigma"):
        SDH(4, sigma=0.0)
    with pytest.raises(ValueError, match="identical"):
        SDH(4).fit(torch.ones(6, 3), torch.tensor([0, 1, 0, 1, 0, 1]))


def test_registry():
    assert shallow.list_methods() == ["itq", "sdh"]
    assert isinstance(shallow.build("itq", 8, n_iter=3), ITQ)
    with pytest.raises(ValueError, match="unknown shallow method 'lsh'"):
        shallow.build("lsh", 8)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['anchors'\]"):
        shallow.build("sdh", 8, anchors=10)


def test_extract_features_gives_the_pooled_backbone_features_in_eval_mode():
    torch.manual_seed(0)
    model = build("baseline", 8, backbone="small")
    images = torch.rand(10, 3, 16, 16)
    data = ArrayDataset(images, torch.arange(10) % 2)
    model.train()
    features = extract_features(model, data, batch_size=4)
    assert model.training and features.shape == (10, 128)
    model.eval()
    with torch.no_grad():
        expected = model.last_stage(model.trunk(images)).mean(dim=(2, 3))
    assert torch.allclose(features, expected, atol=1e-6)
    itq = ITQ(8).fit(features)  # features of the same backbone feed the shallow methods
    assert itq.encode(features).shape == (10, 8)


def test_extract_features_needs_a_model_with_features():
    class CodesOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 2)

        def forward(self, images):
            return HashOutput(codes=torch.tanh(self.layer(images.mean(dim=(2, 3)))))

    data = ArrayDataset(torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="returns no features"):
        extract_features(CodesOnly(), data)


def test_codes_of_exact_zero_projections_are_plus_one():
    """A feature vector equal to the training mean projects to exactly 0: its ITQ code is all +1 (0 -> +1, as
    a2lib.inference.binary decides every bit)."""
    features = torch.randn(40, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    itq = ITQ(bits=4, seed=1).fit(features)
    at_mean = itq.mean_[None]
    assert torch.equal(itq.transform(at_mean), torch.zeros(1, 4, dtype=torch.float64))
    assert torch.equal(itq.encode(at_mean), torch.ones(1, 4))
    assert itq.encode(features).dtype == torch.float32
