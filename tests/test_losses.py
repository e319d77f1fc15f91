"""Loss terms against direct loop computations, the weight defaults, the normalisation and ``objective``."""
import math

import pytest
import torch

from a2lib import losses
from a2lib.losses import LossWeights, objective
from a2lib.models import HashOutput

torch.manual_seed(0)


def _rand(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def _codes(n, k):
    return torch.tanh(_rand(n, k))


def _signs(n, k):
    return torch.where(_rand(n, k) >= 0, 1.0, -1.0).double()


def test_feature_reconstruction_matches_loop():
    x, x_hat = _rand(5, 7), _rand(5, 7)
    total = sum((x[i, j] - x_hat[i, j]).item() ** 2 for i in range(5) for j in range(7))
    assert losses.feature_reconstruction_loss(x, x_hat).item() == pytest.approx(total / (5 * 7))
    assert losses.feature_reconstruction_loss(x, x_hat, "per_image").item() == pytest.approx(total / 5)


def test_code_consistency_matches_loop():
    pre = _rand(4, 6)
    codes = torch.tanh(pre)
    total = sum((pre[i, j].item() - math.tanh(pre[i, j].item())) ** 2 for i in range(4) for j in range(6))
    assert losses.code_consistency_loss(pre, codes).item() == pytest.approx(total / 24)
    assert losses.code_consistency_loss(pre, codes, "per_image").item() == pytest.approx(total / 4)


def test_decorrelation_matches_loop():
    n, k = 6, 5
    v = _codes(n, k)
    total = 0.0
    for a in range(k):
        for b in range(k):
            gram = sum(v[i, a].item() * v[i, b].item() for i in range(n))
            total += (gram - (n if a == b else 0.0)) ** 2
    assert losses.decorrelation_loss(v).item() == pytest.approx(total / (n * k))
    assert losses.decorrelation_loss(v, "per_image").item() == pytest.approx(total / n)


def test_decorrelation_is_zero_for_orthogonal_codes():
    v = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert losses.decorrelation_loss(v).item() == 0.0


def test_hashing_matches_loop():
    n, m, k = 4, 9, 6
    f, b = _codes(n, k), _signs(m, k)
    s = torch.where(_rand(n, m) > 0, 1.0, -0.5).double()
    total = 0.0
    for i in range(n):
        for j in range(m):
            dot = sum(f[i, t].item() * b[j, t].item() for t in range(k))
            total += (dot - k * s[i, j].item()) ** 2
    assert losses.hashing_loss(f, b, s).item() == pytest.approx(total / (n * m))


def test_quantization_matches_loop():
    f, b = _codes(5, 4), _signs(5, 4)
    total = sum((f[i, t].item() - b[i, t].item()) ** 2 for i in range(5) for t in range(4))
    assert losses.quantization_loss(f, b).item() == pytest.approx(total / 5)


def test_image_reconstruction_matches_loop_and_rejects_shape_mismatch():
    rec, img = _rand(2, 3, 4, 5), _rand(2, 3, 4, 5)
    total = sum((rec[i, c, y, x] - img[i, c, y, x]).item() ** 2
                for i in range(2) for c in range(3) for y in range(4) for x in range(5))
    assert losses.image_reconstruction_loss(rec, img).item() == pytest.approx(total / 120)
    assert losses.image_reconstruction_loss(rec, img, "per_image").item() == pytest.approx(total / 2)
    with pytest.raises(ValueError, match="differs from image shape"):
        losses.image_reconstruction_loss(rec, img[:, :, :3])


def _hellinger(p, q):
    return math.sqrt(sum((math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(p, q))) / math.sqrt(2)


def _softmax(values):
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def _mean_pair_distance(rows):
    pairs = [(a, b) for a in range(len(rows)) for b in range(a + 1, len(rows))]
    return sum(_hellinger(rows[a], rows[b]) for a, b in pairs) / len(pairs)


def test_spatial_and_channel_diversity_match_loops():
    maps, parts = _rand(3, 4, 2, 3), _rand(3, 4, 5)
    spatial = [_mean_pair_distance([_softmax(maps[i, m].flatten().tolist()) for m in range(4)]) for i in range(3)]
    channel = [_mean_pair_distance([_softmax(parts[i, m].tolist()) for m in range(4)]) for i in range(3)]
    assert losses.spatial_diversity_loss(maps).item() == pytest.approx(sum(1 - d for d in spatial) / 3)
    for margin in (0.0, 0.4, 2.0):
        expected = sum(max(0.0, margin - d) for d in channel) / 3
        assert losses.channel_diversity_loss(parts, margin).item() == pytest.approx(expected)


def test_hellinger_distance_is_zero_for_equal_and_one_for_disjoint_distributions():
    same = torch.full((1, 3, 4), 0.25)
    disjoint = torch.eye(3).reshape(1, 3, 3)
    assert losses.mean_hellinger_distance(same).item() == 0.0
    assert losses.mean_hellinger_distance(disjoint).item() == pytest.approx(1.0)
    assert losses.mean_hellinger_distance(torch.ones(2, 1, 4) / 4).tolist() == [0.0, 0.0]
    assert losses.spatial_diversity_loss(torch.zeros(2, 3, 2, 2)).item() == pytest.approx(1.0)
    assert losses.channel_diversity_loss(torch.zeros(2, 3, 5), 0.4).item() == pytest.approx(0.4)


def test_part_alignment_is_frobenius_norm_per_item_and_detaches_anchor():
    parts = _rand(2, 3, 4).requires_grad_()
    anchors = _rand(2, 3, 4).requires_grad_()
    total = sum((parts[i, m, c] - anchors[i, m, c]).item() ** 2 for i in range(2) for m in range(3) for c in range(4))
    loss = losses.part_alignment_loss(parts, anchors)
    assert loss.item() == pytest.approx(math.sqrt(total) / 2)
    loss.backward()
    assert anchors.grad is None and parts.grad is not None


def test_reduction_is_checked():
    with pytest.raises(ValueError, match="reduction must be one of element_mean, per_image, sum, got 'total'"):
        LossWeights(reduction="total")
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.hashing_loss(_codes(2, 3), _signs(4, 3), torch.ones(2, 4, dtype=torch.float64), "total")
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.squared_error(_rand(2, 2), _rand(2, 2), "mean")


def test_weight_defaults_are_the_papers():
    w = LossWeights().resolve(n=16, k=48, num_database=5994)
    assert w["lambda_"] == 1.0
    assert w["alpha"] == pytest.approx(1 / (16 * 48))
    assert w["beta"] == pytest.approx(12 / 48)
    assert w["eta"] == 0.1
    assert w["gamma"] == pytest.approx(12 / 48 * 200 / 5994)
    assert LossWeights(gamma=0.0).resolve(16, 48, 5994)["gamma"] == 0.0
    assert LossWeights().reduction == "element_mean"
    assert (w["spatial_diversity"], w["channel_diversity"], w["alignment"]) == (0.1, 0.1, 1.0)
    assert LossWeights().channel_margin == 0.4


def test_default_gamma_reproduces_code_family_adsh_loss():
    """A²-Net code: 12/k * (sum (kS - F B^T)^2 + 200 * sum (F - B_Ω)^2) / (n N)."""
    n, m, k = 4, 11, 8
    f, b = _codes(n, k), _signs(m, k)
    s = torch.where(_rand(n, m) > 0, 1.0, -1.0).double()
    omega = [2, 5, 7, 0]
    pair_sum = sum((k * s[i, j].item() - sum(f[i, t].item() * b[j, t].item() for t in range(k))) ** 2
                   for i in range(n) for j in range(m))
    quant_sum = sum((f[i, t].item() - b[omega[i], t].item()) ** 2 for i in range(n) for t in range(k))
    expected = 12 / k * (pair_sum + 200 * quant_sum) / (n * m)
    _, terms = objective(HashOutput(codes=f), None, s, b, b[omega], LossWeights())
    assert (terms["hashing"] + terms["quantization"]).item() == pytest.approx(expected)


def test_terms_do_not_scale_with_batch_or_database_size():
    n, m, k, d = 4, 7, 6, 10
    f, b = _codes(n, k), _signs(m, k)
    s = torch.where(_rand(n, m) > 0, 1.0, -1.0).double()
    x, pre = _rand(n, d), _rand(n, k)
    out = HashOutput(codes=f, pre_codes=pre, features=x, features_hat=_rand(n, d), decorrelate=True,
                     recon_g=_rand(n, 3, 4, 4), recon_gp=_rand(n, 3, 4, 4))
    images = _rand(n, 3, 4, 4)
    weights = LossWeights(gamma=0.5)
    _, base = objective(out, images, s, b, b[:n], weights)
    twice = HashOutput(**{key: (torch.cat([v, v]) if torch.is_tensor(v) else v) for key, v in vars(out).items()})
    _, batch2 = objective(twice, torch.cat([images, images]), torch.cat([s, s]), b, torch.cat([b[:n], b[:n]]), weights)
    _, db2 = objective(out, images, torch.cat([s, s], 1), torch.cat([b, b]), b[:n], weights)
    for name, value in base.items():
        assert batch2[name].item() == pytest.approx(value.item()), name
        assert db2[name].item() == pytest.approx(value.item()), name


def test_objective_sums_the_weighted_terms_present():
    n, m, k, d = 3, 5, 4, 8
    f, b = _codes(n, k), _signs(m, k)
    s = torch.where(_rand(n, m) > 0, 1.0, -1.0).double()
    x, pre = _rand(n, d), _rand(n, k)
    x_hat = f @ _rand(k, d)
    images = _rand(n, 3, 4, 4)
    rg, rgp = _rand(n, 3, 4, 4), _rand(n, 3, 4, 4)
    weights = LossWeights(lambda_=0.7, alpha=0.3, beta=0.2, eta=0.4, gamma=0.6)
    out = HashOutput(codes=f, pre_codes=pre, features=x, features_hat=x_hat, recon_g=rg, recon_gp=rgp,
                     decorrelate=True)
    total, terms = objective(out, images, s, b, b[:n], weights)
    expected = {
        "hashing": 0.2 * losses.hashing_loss(f, b, s),
        "quantization": 0.6 * losses.quantization_loss(f, b[:n]),
        "feature_reconstruction": losses.feature_reconstruction_loss(x, x_hat)
        + 0.7 * losses.code_consistency_loss(pre, f),
        "decorrelation": 0.3 * losses.decorrelation_loss(f),
        "image_reconstruction": 0.4 * (((rg - images) ** 2).mean() + ((rgp - images) ** 2).mean()),
    }
    assert set(terms) == set(expected)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value.item()), name
    assert total.item() == pytest.approx(sum(v.item() for v in expected.values()))


def test_objective_omits_terms_the_output_lacks():
    f, b = _codes(2, 4), _signs(6, 4)
    s = torch.ones(2, 6, dtype=torch.float64)
    _, terms = objective(HashOutput(codes=f), None, s, b, None)
    assert set(terms) == {"hashing"}
    _, terms = objective(HashOutput(codes=f), None, s, b, b[:2], LossWeights(gamma=0))
    assert set(terms) == {"hashing"}
    _, terms = objective(HashOutput(codes=f, recon_gp=_rand(2, 1, 2, 2)), _rand(2, 1, 2, 2), s, b, b[:2])
    assert set(terms) == {"hashing", "quantization", "image_reconstruction"}


def test_objective_rejects_mismatched_shapes():
    f, b = _codes(2, 4), _signs(6, 4)
    with pytest.raises(ValueError, match="similarity S must be"):
        objective(HashOutput(codes=f), None, torch.ones(3, 6), b, None)
    with pytest.raises(ValueError, match="database codes B must be"):
        objective(HashOutput(codes=f), None, torch.ones(2, 6), b[:, :3], None)
    with pytest.raises(ValueError, match="B_batch must be"):
        objective(HashOutput(codes=f), None, torch.ones(2, 6), b, b)


def _hand_batch():
    """n = 2 items, k = 2 bits, N = 3 database codes, d = 2 features, 1x1x2 images: every value small enough to
    work each term out by hand (the sums are in ``test_literal_sum_reading_matches_hand_computed_terms``)."""
    f = torch.tensor([[0.5, -0.5], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]], dtype=torch.float64)
    s = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]], dtype=torch.float64)
    out = HashOutput(codes=f, pre_codes=torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=torch.float64),
                     features=torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64),
                     features_hat=torch.tensor([[0.0, 2.0], [1.0, 1.0]], dtype=torch.float64), decorrelate=True,
                     recon_g=torch.ones(2, 1, 1, 2, dtype=torch.float64),
                     recon_gp=torch.zeros(2, 1, 1, 2, dtype=torch.float64))
    images = torch.tensor([[[[0.0, 1.0]]], [[[1.0, 0.0]]]], dtype=torch.float64)
    return out, images, s, b, b[[0, 2]]


@pytest.mark.parametrize("reduction, expected", [
    # FB^T = [[0, 1, 0], [1, 1, -1]], kS = [[2, -2, -2], [-2, 2, -2]]: squared errors 4 + 9 + 4 + 9 + 1 + 1 = 28,
    # times β = 12/2. F - B_Ω = [[-0.5, -1.5], [2, 1]]: 0.25 + 2.25 + 4 + 1 = 7.5, γ = β·200/3 = 400.
    # X - X̂: 1 + 0 + 4 + 9 = 14; WX - V': 0.25 + 0.25 + 0 + 1 = 1.5 (λ = 1).
    # V'^T V' - 2I = [[-0.75, -0.25], [-0.25, -1.75]]: 3.75, α = 1/(n k) = 1/4. Images: 2 + 2, η = 0.1.
    ("sum", {"hashing": 6 * 28, "quantization": 6 * 200 * 7.5, "feature_reconstruction": 14 + 1.5,
             "decorrelation": 3.75 / 4, "image_reconstruction": 0.1 * 4}),
    ("per_image", {"hashing": 6 * 28 / 6, "quantization": 400 * 7.5 / 2, "feature_reconstruction": (14 + 1.5) / 2,
                   "decorrelation": 3.75 / 4 / 2, "image_reconstruction": 0.1 * 4 / 2}),
    ("element_mean", {"hashing": 6 * 28 / 6, "quantization": 400 * 7.5 / 2, "feature_reconstruction": (14 + 1.5) / 4,
                      "decorrelation": 3.75 / 4 / 4, "image_reconstruction": 0.1 * (2 / 4 + 2 / 4)}),
])
def test_literal_sum_reading_matches_hand_computed_terms(reduction, expected):
    out, images, s, b, b_batch = _hand_batch()
    total, terms = objective(out, images, s, b, b_batch, LossWeights(reduction=reduction))
    assert set(terms) == set(expected)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value), name
    assert total.item() == pytest.approx(sum(expected.values()))


def test_sum_reading_grows_with_the_database_and_keeps_adshs_quantisation_ratio():
    out, images, s, b, b_batch = _hand_batch()
    weights = LossWeights(reduction="sum")
    _, base = objective(out, images, s, b, b_batch, weights)
    _, doubled = objective(out, images, torch.cat([s, s], 1), torch.cat([b, b]), b_batch, weights)
    assert doubled["hashing"].item() == pytest.approx(2 * base["hashing"].item())
    assert doubled["quantization"].item() == pytest.approx(base["quantization"].item())
    assert doubled["feature_reconstruction"].item() == pytest.approx(base["feature_reconstruction"].item())
