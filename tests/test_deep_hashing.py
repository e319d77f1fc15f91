"""DPSH, HashNet, CSQ, OrthoCos: losses against direct loops, centres, continuation, training through the trainer."""
import itertools
import math

import pytest
import torch

from a2lib import losses
from a2lib.data import ArrayDataset
from a2lib.evaluate import mean_average_precision
from a2lib.models import build, hadamard, hash_centers, list_models
from a2lib.train import TrainConfig, Trainer, cache, encode_dataset, train
from a2lib.train.batches import ClassBalancedBatches

DEEP = ["dpsh", "hashnet", "csq", "orthocos"]
NEEDS_CLASSES = {"csq", "orthocos"}


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _codes(n, k, seed=0):
    return torch.tanh(_rand(n, k, seed=seed))


def _shares(labels, i, j):
    if labels.dim() == 1:
        return float(labels[i] == labels[j])
    return float(any(labels[i, c] > 0 and labels[j, c] > 0 for c in range(labels.shape[1])))


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


SINGLE = torch.tensor([0, 1, 0, 2, 1, 0])
MULTI = torch.tensor([[1., 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 1], [0, 0, 0]])


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_dpsh_loss_matches_loop(labels):
    n, k, eta = 6, 5, 0.3
    u = _codes(n, k)
    pairs = []
    for i, j in itertools.permutations(range(n), 2):
        theta = 0.5 * sum(u[i, t].item() * u[j, t].item() for t in range(k))
        pairs.append(math.log(1 + math.exp(theta)) - _shares(labels, i, j) * theta)
    quant = sum(sum((u[i, t].item() - math.copysign(1, u[i, t].item())) ** 2 for t in range(k)) for i in range(n)) / n
    total, terms = losses.dpsh_loss(u, labels, eta)
    assert terms["likelihood"].item() == pytest.approx(sum(pairs) / len(pairs))
    assert terms["quantization"].item() == pytest.approx(eta * quant)
    assert total.item() == pytest.approx(sum(pairs) / len(pairs) + eta * quant)


def test_dpsh_quantization_takes_zero_as_plus_one():
    """sgn(0) is +1 (a2lib.inference.binary), so an exact 0 output is one unit from its binary code, as everywhere
    else in a2lib (torch.sign would give 0 and no penalty)."""
    codes = torch.tensor([[0.0, 0.5], [-0.5, 0.0]], dtype=torch.float64)
    _, terms = losses.dpsh_loss(codes, torch.tensor([0, 1]), eta=1.0)
    assert terms["quantization"].item() == pytest.approx(((0 - 1) ** 2 + (0.5 - 1) ** 2 + (-0.5 + 1) ** 2 + 1) / 2)
    with pytest.raises(ValueError, match="DPSH codes contains NaN"):
        losses.dpsh_loss(torch.tensor([[float("nan"), 0.5], [0.1, 0.2]]), torch.tensor([0, 1]), eta=1.0)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_dpsh_loss_against_a_memory_matches_loop(labels):
    n, k, eta = 3, 5, 0.3
    u, memory = _codes(n, k, seed=2), _codes(len(labels), k, seed=3)
    memory[4] = 0.0
    pairs = []
    for i in range(n):
        for j in range(len(labels)):
            theta = 0.5 * sum(u[i, t].item() * memory[j, t].item() for t in range(k))
            shared = _shares(torch.cat([labels[:n], labels]), i, n + j)
            pairs.append(_softplus(theta) - shared * theta)
    total, terms = losses.dpsh_loss(u, labels[:n], eta, memory, labels)
    assert terms["likelihood"].item() == pytest.approx(sum(pairs) / len(pairs))
    assert total.item() == pytest.approx(sum(pairs) / len(pairs) + terms["quantization"].item())
    with pytest.raises(ValueError, match="memory must be"):
        losses.dpsh_loss(u, labels[:n], eta, memory[:, :3], labels)


def test_pair_losses_are_stable_for_large_inner_products():
    u = torch.ones(2, 4, dtype=torch.float64) * 400  # θ = 320000: exp overflows, softplus does not
    total, _ = losses.dpsh_loss(u, torch.tensor([0, 1]), 0.0)
    assert total.item() == pytest.approx(0.5 * 400 * 400 * 4)
    total, _ = losses.hashnet_loss(u, torch.tensor([0, 0]), 1.0)
    assert total.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_hashnet_loss_matches_loop_with_balanced_weights(labels):
    n, k, alpha = 6, 5, 0.7
    h = _codes(n, k, seed=1)
    ordered = list(itertools.permutations(range(n), 2))
    positives = sum(_shares(labels, i, j) for i, j in ordered)
    negatives = len(ordered) - positives
    total = 0.0
    for i, j in ordered:
        s = _shares(labels, i, j)
        theta = alpha * sum(h[i, t].item() * h[j, t].item() for t in range(k))
        weight = len(ordered) / positives if s else len(ordered) / negatives
        total += weight * (_softplus(theta) - s * theta)
    loss, terms = losses.hashnet_loss(h, labels, alpha)
    assert loss.item() == pytest.approx(total / len(ordered))
    assert set(terms) == {"likelihood"}


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_hashnet_loss_against_a_memory_matches_loop(labels):
    """Every batch-memory pair counts (self pairs included, as DeepHash-pytorch's U), classes weighted equally."""
    n, k, alpha = 3, 4, 0.6
    h, memory = _codes(n, k, seed=5), _codes(len(labels), k, seed=6)
    memory[2] = 0.0
    pairs = [(i, j) for i in range(n) for j in range(len(labels))]
    shared = {(i, j): _shares(torch.cat([labels[:n], labels]), i, n + j) for i, j in pairs}
    positives = sum(shared.values())
    total = 0.0
    for i, j in pairs:
        theta = alpha * sum(h[i, t].item() * memory[j, t].item() for t in range(k))
        weight = len(pairs) / positives if shared[i, j] else len(pairs) / (len(pairs) - positives)
        total += weight * (_softplus(theta) - shared[i, j] * theta)
    loss, _ = losses.hashnet_loss(h, labels[:n], alpha, memory, labels)
    assert loss.item() == pytest.approx(total / len(pairs))
    with pytest.raises(ValueError, match="memory must be"):
        losses.hashnet_loss(h, labels[:n], alpha, memory, labels[:2])


def test_hashnet_loss_with_one_class_of_pairs_is_the_plain_mean():
    h, labels = _codes(4, 3, seed=2), torch.zeros(4, dtype=torch.long)
    inner = [(h[i] @ h[j]).item() for i, j in itertools.permutations(range(4), 2)]
    expected = sum(_softplus(0.5 * x) - 0.5 * x for x in inner) / len(inner)
    assert losses.hashnet_loss(h, labels, 0.5)[0].item() == pytest.approx(expected)


def test_csq_loss_matches_loop():
    n, k, lam = 4, 6, 0.2
    u = _codes(n, k, seed=3)
    c = torch.where(_rand(n, k, seed=4) >= 0, 1.0, -1.0).double()
    bce = quant = 0.0
    for i in range(n):
        for t in range(k):
            p, target = (u[i, t].item() + 1) / 2, (c[i, t].item() + 1) / 2
            bce += -(target * math.log(p) + (1 - target) * math.log(1 - p))
            quant += (abs(u[i, t].item()) - 1) ** 2
    total, terms = losses.csq_loss(u, c, lam)
    assert terms["center"].item() == pytest.approx(bce / (n * k))
    assert terms["quantization"].item() == pytest.approx(lam * quant / (n * k))
    assert total.item() == pytest.approx((bce + lam * quant) / (n * k))
    with pytest.raises(ValueError, match="one \\+-1 hash centre per item"):
        losses.csq_loss(u, c[:2], lam)


def _orthocos_direct(v, labels, codes, scale, margin):
    n, num_classes = v.shape[0], codes.shape[0]
    per_item = []
    for i in range(n):
        positives = [int(labels[i])] if labels.dim() == 1 else [c for c in range(num_classes) if labels[i, c] > 0]
        if not positives:
            continue
        norm_v = math.sqrt(sum(x * x for x in v[i].tolist()))
        logits = []
        for j in range(num_classes):
            cos = sum(a * b for a, b in zip(v[i].tolist(), codes[j].tolist())) / (
                norm_v * math.sqrt(sum(b * b for b in codes[j].tolist())))
            logits.append(scale * (cos - (margin if j in positives else 0.0)))
        log_z = math.log(sum(math.exp(x) for x in logits))
        per_item.append(sum(log_z - logits[p] for p in positives) / len(positives))
    return sum(per_item) / len(per_item)


@pytest.mark.parametrize("labels", [SINGLE, MULTI], ids=["single", "multi"])
def test_orthocos_loss_matches_loop(labels):
    v = _rand(6, 4, seed=5)
    codes = torch.tensor([[1., 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1]]).double()
    total, terms = losses.orthocos_loss(v, labels, codes, 8.0, 0.2)
    assert total.item() == pytest.approx(_orthocos_direct(v, labels, codes, 8.0, 0.2))
    assert set(terms) == {"cross_entropy"}


def test_center_and_class_losses_do_not_depend_on_batch_size():
    u, v = _codes(4, 4, seed=6), _rand(4, 4, seed=7)
    labels = torch.tensor([0, 2, 1, 1])
    codes = hadamard(4)[:3].double()
    twice = lambda x: torch.cat([x, x])  # noqa: E731
    assert losses.csq_loss(twice(u), twice(codes[labels]), 0.1)[0].item() == pytest.approx(
        losses.csq_loss(u, codes[labels], 0.1)[0].item())
    assert losses.orthocos_loss(twice(v), twice(labels), codes, 8, 0.2)[0].item() == pytest.approx(
        losses.orthocos_loss(v, labels, codes, 8, 0.2)[0].item())


def _hamming(a, b):
    return int((a != b).sum())


def test_hadamard_centres_are_exactly_half_the_bits_apart():
    k = 16
    centres = hash_centers(10, k)
    assert centres.shape == (10, k) and set(centres.unique().tolist()) == {-1.0, 1.0}
    for a, b in itertools.combinations(range(10), 2):
        assert _hamming(centres[a], centres[b]) == k // 2
    with_negations = hash_centers(2 * k, k)
    for a, b in itertools.combinations(range(2 * k), 2):
        assert _hamming(with_negations[a], with_negations[b]) == (k if abs(a - b) == k else k // 2)
    assert torch.equal(hadamard(8) @ hadamard(8).t(), 8 * torch.eye(8))
    with pytest.raises(ValueError, match="power of 2"):
        hadamard(12)


def test_bernoulli_centres_are_seeded_and_keep_the_most_separated_draw():
    centres = hash_centers(5, 12, seed=3)
    assert torch.equal(centres, hash_centers(5, 12, seed=3))
    assert not torch.equal(centres, hash_centers(5, 12, seed=4))
    assert set(centres.unique().tolist()) == {-1.0, 1.0}

    def min_distance(c):
        return min(_hamming(c[a], c[b]) for a, b in itertools.combinations(range(len(c)), 2))

    assert min_distance(hash_centers(5, 12, seed=3, draws=50)) >= min_distance(hash_centers(5, 12, seed=3, draws=1))
    assert hash_centers(40, 16).shape == (40, 16)  # C > 2k: Bernoulli even for a power of 2


def test_csq_item_centres_single_and_multi_label():
    model = build("csq", 4, backbone="small", num_classes=3)
    rows = hadamard(4)[:3]
    assert torch.equal(model.item_centers(torch.tensor([2, 0])), rows[[2, 0]])
    tie = model.tie_center
    multi = model.item_centers(torch.tensor([[1., 1, 0], [1, 1, 1], [0, 0, 0]]))
    summed = rows[0] + rows[1]  # [2, 0, 2, 0]: bits 1 and 3 tie
    assert torch.equal(multi[0], torch.where(summed == 0, tie, torch.sign(summed)))
    assert torch.equal(multi[1], torch.sign(rows.sum(0)))
    assert torch.equal(multi[2], tie)
    assert torch.equal(build("csq", 4, backbone="small", num_classes=3).tie_center, tie)


def test_hashnet_continuation_scale_and_codes():
    torch.manual_seed(0)
    model = build("hashnet", 8, backbone="small")
    assert model.alpha == pytest.approx(10 / 8) and float(model.scale) == 1.0
    images, labels = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    for _ in range(3):
        model.loss(model(images, labels), labels)
    assert int(model.steps) == 3
    model.prepare_outer_iteration(1, None, "cpu")
    assert float(model.scale) == pytest.approx((1 + 0.005 * 3) ** 0.5)
    model.steps.fill_(1000)
    model.prepare_outer_iteration(2, None, "cpu")
    assert float(model.scale) == pytest.approx(6 ** 0.5)
    out = model(images)
    assert torch.allclose(out.codes, torch.tanh(6 ** 0.5 * out.pre_codes))
    assert {"steps", "scale"} <= set(model.state_dict())


def test_orthocos_head_has_batch_norm_and_orthogonal_class_codes():
    torch.manual_seed(0)
    model = build("orthocos", 8, backbone="small", num_classes=5)
    assert isinstance(model.hash_layer[1], torch.nn.BatchNorm1d)
    codes = model.class_codes
    assert torch.equal(codes @ codes.t(), 8 * torch.eye(5))
    out = model(torch.rand(4, 3, 16, 16))
    assert torch.allclose(out.codes, torch.tanh(out.pre_codes))
    model.eval()
    out = model(torch.rand(4, 3, 16, 16))
    assert torch.allclose(out.pre_codes, model.hash_layer(out.features))


def test_registry_and_clear_errors():
    assert list_models(asymmetric=False) == DEEP + ["ce-classifier"]  # the control of tests/test_classifier.py
    assert set(DEEP) <= set(list_models()) and "baseline" in list_models(asymmetric=True)
    for name in NEEDS_CLASSES:
        with pytest.raises(ValueError, match="needs the option num_classes"):
            build(name, 8, backbone="small")
        model = build(name, 8, backbone="small", num_classes=3)
        out = model(torch.rand(2, 3, 16, 16))
        with pytest.raises(ValueError, match="num_classes=3 but saw class index 3"):
            model.loss(out, torch.tensor([0, 3]))
        with pytest.raises(ValueError, match=r"\(n, 3\) multi-hot"):
            model.loss(out, torch.ones(2, 4))
    with pytest.raises(ValueError, match="eta must be"):
        build("dpsh", 8, backbone="small", eta=-1.0)
    with pytest.raises(ValueError, match="unknown option"):
        build("hashnet", 8, backbone="small", num_classes=3)
    with pytest.raises(ValueError, match="labels must be"):
        losses.dpsh_loss(_codes(3, 4), torch.tensor([0, 1]), 0.1)


COLOURS = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])


def colour_images(n, seed, multilabel=False):
    """Each class a colour; noise on top. Multi-label: classes 0/1/2 as before plus label 3 on every third item."""
    gen = torch.Generator().manual_seed(seed)
    cls = torch.arange(n) % 3
    images = COLOURS[cls][:, :, None, None] + 0.15 * torch.randn(n, 3, 16, 16, generator=gen)
    labels = cls
    if multilabel:
        labels = torch.nn.functional.one_hot(cls, 4).float()
        labels[::3, 3] = 1.0
    return ArrayDataset(images.clamp(0, 1), labels)


def deep_config(name, **overrides):
    values = dict(dataset="colours", model=name, bits=8, backbone="small", outer_iterations=3, n_samples=48,
                  inner_epochs=2, batch_size=8, optimizer="adam", lr=3e-3, val_fraction=0.2, eval_every=3, seed=0,
                  device="cpu", model_options={"num_classes": 3} if name in NEEDS_CLASSES else {})
    values.update(overrides)
    return TrainConfig(**values)


def _build(config):
    torch.manual_seed(config.seed)
    return build(config.model, config.bits, backbone=config.backbone, **config.model_options)


@pytest.mark.parametrize("name", DEEP)
def test_every_deep_method_trains_and_retrieves(name, tmp_path):
    train_set, test_set = colour_images(72, seed=0), colour_images(30, seed=1)
    iterations = 6 if name == "dpsh" else 3  # in-batch pairs of 2 classes a batch: 0.70 test mAP after 3
    config = deep_config(name, outer_iterations=iterations, eval_every=iterations)
    result = train(_build(config), train_set, config, checkpoint_dir=tmp_path, verbose=False)
    hist = result.history
    assert [h["iteration"] for h in hist] == list(range(1, iterations + 1))
    assert all(math.isfinite(h["loss"]) for h in hist)
    expected_terms = {"dpsh": {"likelihood", "quantization"}, "hashnet": {"likelihood"},
                      "csq": {"center", "quantization"}, "orthocos": {"cross_entropy"}}[name]
    assert expected_terms <= set(hist[0]) and "hashing" not in hist[0]
    encoded = encode_dataset(result.model, train_set, indices=result.db_indices)
    assert torch.equal(result.db_codes, _signs(encoded))  # B is the encoded database
    test_map = _test_map(result.model, result.db_codes, test_set, result.db_labels)
    untrained = _build(config)
    untrained_db = _signs(encode_dataset(untrained, train_set, indices=result.db_indices))
    untrained_map = _test_map(untrained, untrained_db, test_set, result.db_labels)
    assert test_map > 0.95 and test_map > untrained_map + 0.15, (test_map, untrained_map)  # chance is about 1/3


def _signs(codes):
    return torch.where(codes >= 0, 1.0, -1.0)


def _test_map(model, db_codes, test_set, db_labels):
    queries = _signs(encode_dataset(model, test_set))
    return mean_average_precision(queries, db_codes, test_set.labels, db_labels)


def test_multi_label_training_runs_for_class_code_methods():
    data = colour_images(48, seed=2, multilabel=True)
    for name in NEEDS_CLASSES:
        config = deep_config(name, outer_iterations=1, n_samples=32, model_options={"num_classes": 4})
        result = train(_build(config), data, config, verbose=False)
        assert math.isfinite(result.history[0]["loss"]) and result.db_codes.shape == (len(result.db_indices), 8)


def _interrupt_after(iteration):
    def callback(done, history):
        if done == iteration:
            raise KeyboardInterrupt("simulated kill")
    return callback


def test_killed_hashnet_run_resumes_bit_identically(tmp_path):
    data = colour_images(60, seed=3)
    config = deep_config("hashnet", val_fraction=0.0)  # keeps the last state, whose β has grown
    reference = train(_build(config), data, config, checkpoint_dir=tmp_path / "a", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(_build(config), data, config, checkpoint_dir=tmp_path / "b", verbose=False,
              callback=_interrupt_after(2))
    torch.manual_seed(99)
    resumed = train(build("hashnet", 8, backbone="small"), data, config, checkpoint_dir=tmp_path / "b",
                    verbose=False)
    steps_per_outer = 2 * 48 // 8
    assert int(reference.model.steps) == 3 * steps_per_outer
    assert float(reference.model.scale) == pytest.approx((1 + 0.005 * 2 * steps_per_outer) ** 0.5)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert torch.equal(reference.db_codes, resumed.db_codes)
    strip = lambda hist: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in hist]  # noqa: E731
    assert strip(reference.history) == strip(resumed.history)


@pytest.mark.parametrize("name", ["dpsh", "hashnet", "baseline"])
def test_pairwise_methods_train_on_class_balanced_batches(name):
    data = colour_images(60, seed=4)
    config = deep_config(name, val_fraction=0.0)
    loader = Trainer(_build(config), data, config, None, False).loader(torch.arange(40))
    assert isinstance(loader.batch_sampler, ClassBalancedBatches) == (name != "baseline")
    if name != "baseline":
        labels = [batch[1].tolist() for batch in loader]
        assert all(max(batch.count(c) for c in set(batch)) >= 2 for batch in labels)


@pytest.mark.parametrize("name", ["dpsh", "hashnet"])
def test_pairwise_methods_pair_in_batch_by_default_and_with_a_memory_on_request(name, tmp_path):
    data = colour_images(60, seed=4)
    config = deep_config(name, val_fraction=0.0, outer_iterations=1)
    train(_build(config), data, config, checkpoint_dir=tmp_path, verbose=False)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["B"] is None
    with_memory = deep_config(name, val_fraction=0.0, model_options={"memory": True})
    assert torch.equal(Trainer(_build(with_memory), data, with_memory, None, False).scheme.state(), torch.zeros(60, 8))
    with pytest.raises(ValueError, match="memory must be True or False"):
        build(name, 8, backbone="small", memory=1)


@pytest.mark.parametrize("name, options", [("dpsh", {"memory": True}), ("hashnet", {"memory": True})])
def test_pairwise_memory_holds_the_latest_outputs_and_survives_a_kill(name, options, tmp_path):
    data = colour_images(60, seed=4)
    config = deep_config(name, val_fraction=0.0, outer_iterations=2, model_options=options)
    reference = train(_build(config), data, config, checkpoint_dir=tmp_path / "a", verbose=False)
    memory = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["B"]
    assert memory.shape == (60, 8) and (memory.abs().sum(1) > 0).sum() >= 48
    assert memory.abs().max() < 1 and not torch.equal(memory, reference.db_codes)
    with pytest.raises(KeyboardInterrupt):
        train(_build(config), data, config, checkpoint_dir=tmp_path / "b", verbose=False,
              callback=_interrupt_after(1))
    resumed = train(_build(config), data, config, checkpoint_dir=tmp_path / "b", verbose=False)
    assert torch.equal(reference.db_codes, resumed.db_codes)
    assert torch.equal(memory, torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["B"])


def test_load_or_train_caches_a_dpsh_run(tmp_path, monkeypatch):
    calls = {"train": 0}

    def counting_train(*args, **kwargs):
        calls["train"] += 1
        return train(*args, **kwargs)

    monkeypatch.setattr(cache, "load_dataset", lambda config, split="train", root=None: colour_images(48, seed=4))
    monkeypatch.setattr(cache, "train", counting_train)
    config = deep_config("dpsh", outer_iterations=2, eval_every=1)
    first = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    second = cache.load_or_train(config, cache_dir=tmp_path, verbose=False)
    assert calls["train"] == 1 and second.model.name == "dpsh"
    assert torch.equal(first.db_codes, second.db_codes) and first.history == second.history
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key])
    with pytest.raises(ValueError, match="num_classes"):
        cache.load_or_train(deep_config("csq", model_options={}), cache_dir=tmp_path, verbose=False)
