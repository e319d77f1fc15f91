"""Trainer: similarity, the DCC update against brute force, resume-equals-uninterrupted, errors, validation."""
import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from a2lib.dcc import dcc_objective, dcc_update, gamma_ratio
from a2lib.losses import LossWeights, objective
from a2lib.models import HashOutput
from a2lib.similarity import similarity
from a2lib.train import TrainConfig, Trainer, encode_dataset, split_validation, train

BITS = 6
SHAPE = (3, 4, 4)


class TinyHash(nn.Module):
    """Stand-in HashModel: linear hash layer on flattened pixels."""

    name = "tiny"

    def __init__(self, bits=BITS, nan=False):
        super().__init__()
        self.bits, self.nan = bits, nan
        self.layer = nn.Linear(int(np.prod(SHAPE)), bits)

    def forward(self, images, labels=None):
        codes = torch.tanh(self.layer(images.flatten(1)))
        return HashOutput(codes=codes * float("nan") if self.nan else codes)

    @torch.no_grad()
    def encode(self, images):
        return self.forward(images).codes

    def prepare_outer_iteration(self, iteration, loader, device, outer_iterations=None):
        return None

    def config_dict(self):
        return {"name": self.name, "bits": self.bits}


class TinySet(Dataset):
    """Class prototypes plus noise; ``.labels`` as the contract says."""

    def __init__(self, n=60, classes=3, seed=0, multilabel=False):
        g = torch.Generator().manual_seed(seed)
        protos = torch.randn(classes, *SHAPE, generator=g)
        cls = torch.arange(n) % classes
        self.images = protos[cls] + 0.3 * torch.randn(n, *SHAPE, generator=g)
        self.labels = torch.nn.functional.one_hot(cls, classes).float() if multilabel else cls

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def tiny_config(**overrides):
    values = dict(dataset="tiny", model="tiny", bits=BITS, backbone="none", outer_iterations=3, n_samples=24,
                  inner_epochs=2, batch_size=8, lr=0.05, lr_decay_at=2, val_fraction=0.2, eval_every=1, seed=3,
                  device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


def test_similarity_adsh_reweighting_single_and_multi_label():
    q, db = torch.tensor([0, 1]), torch.tensor([0, 0, 1, 2])
    s = similarity(q, db)
    r = 3 / 5  # 3 positive pairs, 5 negative
    assert torch.allclose(s, torch.tensor([[1, 1, -r, -r], [-r, -r, 1, -r]]))
    assert torch.equal(similarity(q, db, reweight=False), torch.tensor([[1., 1, -1, -1], [-1, -1, 1, -1]]))
    qm = torch.tensor([[1., 0, 1], [0, 1, 0]])
    dbm = torch.tensor([[1., 0, 0], [0, 1, 1], [0, 0, 0]])
    expected_pos = torch.tensor([[1., 1, 0], [0, 1, 0]])
    r = 3 / 3
    assert torch.allclose(similarity(qm, dbm), expected_pos * (1 + r) - r)


def _tiny_dcc_problem(seed, n=3, N=4, k=3):
    g = torch.Generator().manual_seed(seed)
    U = torch.tanh(torch.randn(n, k, generator=g, dtype=torch.float64))
    S = similarity(torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (N,), generator=g)).double()
    omega = torch.randperm(N, generator=g)[:n]
    B = torch.where(torch.rand(N, k, generator=g) < 0.5, -1.0, 1.0).double()
    return B, U, S, omega


@pytest.mark.parametrize("seed", range(5))
def test_dcc_column_update_is_the_brute_force_minimiser_and_never_increases(seed):
    B, U, S, omega = _tiny_dcc_problem(seed)
    gamma = 2.0
    N, k = B.shape
    current = B.clone()
    previous = dcc_objective(current, U, S, omega, gamma)
    for t in range(k):
        best = min(dcc_objective(torch.cat([current[:, :t], torch.tensor(col).double()[:, None], current[:, t + 1:]],
                                            1), U, S, omega, gamma)
                   for col in itertools.product([-1.0, 1.0], repeat=N))
        current = _update_single_column(current, U, S, omega, gamma, t)
        value = dcc_objective(current, U, S, omega, gamma)
        assert float(value) == pytest.approx(float(best), abs=1e-9)
        assert value <= previous + 1e-9
        previous = value
    sweep = dcc_update(B, U, S, omega, gamma, sweeps=1)
    assert torch.equal(sweep, current)
    assert dcc_objective(dcc_update(B, U, S, omega, gamma, sweeps=3), U, S, omega, gamma) <= previous + 1e-9


def _update_single_column(B, U, S, omega, gamma, t):
    """The closed form for column t alone, written out from the docstring's derivation (no shared code)."""
    k = U.shape[1]
    u_bar = torch.zeros_like(B)
    u_bar[omega] = U
    q = -2 * k * S.T @ U[:, t] - 2 * gamma * u_bar[:, t]
    others = [c for c in range(k) if c != t]
    lin = 2 * B[:, others] @ (U[:, others].T @ U[:, t]) + q
    out = B.clone()
    out[:, t] = torch.where(lin == 0, B[:, t], -torch.sign(lin))
    return out


def test_dcc_with_one_bit_reaches_the_global_minimum_over_all_b():
    B, U, S, omega = _tiny_dcc_problem(7, n=3, N=6, k=1)
    best = min(dcc_objective(torch.tensor(col).double()[:, None], U, S, omega, 5.0)
               for col in itertools.product([-1.0, 1.0], repeat=6))
    assert dcc_objective(dcc_update(B, U, S, omega, 5.0), U, S, omega, 5.0) == pytest.approx(float(best))


def test_dcc_objective_is_the_summed_batch_objective_of_losses():
    B, U, S, omega = _tiny_dcc_problem(11, n=4, N=9, k=5)
    weights = LossWeights()
    N, k = B.shape
    total = 0.0
    for rows in (slice(0, 2), slice(2, 4)):
        _, terms = objective(HashOutput(codes=U[rows]), None, S[rows], B, B[omega[rows]], weights)
        total += (rows.stop - rows.start) * float(terms["hashing"] + terms["quantization"])
    w = weights.resolve(2, k, N)
    expected = w["beta"] / N * dcc_objective(B, U, S, omega, gamma_ratio(w["beta"], w["gamma"], N))
    assert total == pytest.approx(float(expected), rel=1e-12)
    assert gamma_ratio(w["beta"], w["gamma"], N) == pytest.approx(weights.adsh_gamma)


def test_split_validation_is_stratified_and_disjoint():
    labels = torch.tensor([0] * 10 + [1] * 20 + [2] * 1)
    db, val = split_validation(labels, 0.2, seed=0)
    assert len(set(db.tolist()) & set(val.tolist())) == 0 and len(db) + len(val) == 31
    counts = torch.bincount(labels[val], minlength=3).tolist()
    assert counts == [2, 4, 0]
    db2, val2 = split_validation(labels, 0.2, seed=0)
    assert torch.equal(val, val2)


def test_train_end_to_end_history_and_best_on_validation(tmp_path):
    torch.manual_seed(0)
    data = TinySet()
    config = tiny_config(outer_iterations=4, eval_every=2)
    result = train(TinyHash(), data, config, checkpoint_dir=tmp_path, verbose=False)
    n_db = len(result.db_indices)
    assert result.db_codes.shape == (n_db, BITS) and set(result.db_codes.unique().tolist()) <= {-1.0, 1.0}
    assert len(result.val_indices) == 12 and n_db == 48
    hist = result.history
    assert [h["iteration"] for h in hist] == [1, 2, 3, 4]
    assert all({"loss", "hashing", "quantization", "elapsed_s", "lr"} <= set(h) for h in hist)
    assert [("val_map" in h) for h in hist] == [False, True, False, True]
    assert hist[0]["lr"] == pytest.approx(0.05) and hist[2]["lr"] == pytest.approx(0.005)
    evaluated = [h for h in hist if "val_map" in h]
    best = max(reversed(evaluated), key=lambda h: h["val_map"])  # the latest of the best
    assert result.best_iteration == best["iteration"] and result.best_val_map == best["val_map"]
    assert json.loads((tmp_path / "history.json").read_text())[-1]["iteration"] == 4
    assert result.best_val_map > 0.6  # 3 well-separated classes; random codes give about 1/3
    assert not result.model.training


def test_a_tie_on_validation_keeps_the_later_iteration(monkeypatch):
    """Saturating validation (1.0 at iterations 2 and 3) keeps iteration 3's state, not the earliest best."""
    scripted = iter([0.5, 1.0, 1.0, 0.9])
    kept = {}

    def validate(trainer):
        kept[len(trainer.history) + 1] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        return next(scripted), trainer.scheme.B.cpu()

    monkeypatch.setattr(Trainer, "validate", validate)
    result = train(TinyHash(), TinySet(), tiny_config(outer_iterations=4), verbose=False)
    assert (result.best_iteration, result.best_val_map) == (3, 1.0)
    assert all(torch.equal(v, kept[3][k]) for k, v in result.model.state_dict().items())
    assert not all(torch.equal(v, kept[2][k]) for k, v in result.model.state_dict().items())


def _interrupt_after(iteration):
    def callback(done, history):
        if done == iteration:
            raise KeyboardInterrupt("simulated kill")
    return callback


@pytest.mark.parametrize("multilabel", [False, True])
def test_killed_run_resumes_to_the_same_result(tmp_path, multilabel):
    data = TinySet(multilabel=multilabel)
    config = tiny_config(eval_every=2)
    torch.manual_seed(0)
    reference = train(TinyHash(), data, config, checkpoint_dir=tmp_path / "a", verbose=False)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(TinyHash(), data, config, checkpoint_dir=tmp_path / "b", verbose=False, callback=_interrupt_after(2))
    torch.manual_seed(123)  # a fresh process: different model init and global RNG; the checkpoint restores both
    resumed = train(TinyHash(), data, config, checkpoint_dir=tmp_path / "b", verbose=False)
    assert torch.equal(reference.db_codes, resumed.db_codes)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key])
    assert torch.equal(encode_dataset(reference.model, data), encode_dataset(resumed.model, data))
    strip = lambda hist: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in hist]  # noqa: E731
    assert strip(reference.history) == strip(resumed.history)
    assert reference.best_iteration == resumed.best_iteration


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    data = TinySet()
    with pytest.raises(KeyboardInterrupt):
        train(TinyHash(), data, tiny_config(), tmp_path, verbose=False, callback=_interrupt_after(1))
    with pytest.raises(ValueError, match="different TrainConfig"):
        train(TinyHash(), data, tiny_config(lr=0.01), tmp_path, verbose=False)


def test_nan_loss_stops_with_iteration_and_term():
    with pytest.raises(FloatingPointError, match=r"outer iteration 1: loss term 'hashing'"):
        train(TinyHash(nan=True), TinySet(), tiny_config(), verbose=False)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="bits"):
        train(TinyHash(bits=4), TinySet(), tiny_config(), verbose=False)
    data = TinySet()
    data.labels = data.labels[:-1]
    with pytest.raises(ValueError, match="one label per item"):
        train(TinyHash(), data, tiny_config(), verbose=False)
    empty = TinySet(n=0)
    with pytest.raises(ValueError, match="empty"):
        train(TinyHash(), empty, tiny_config(), verbose=False)
    with pytest.raises(ValueError, match="val_fraction"):
        tiny_config(val_fraction=1.0)
    with pytest.raises(ValueError, match="positive integer"):
        tiny_config(n_samples=0)
    with pytest.raises(ValueError, match="optimizer must be one of sgd, adam"):
        tiny_config(optimizer="rmsprop")


def test_adam_optimizer_is_used_and_learns(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(outer_iterations=4, eval_every=2, optimizer="adam", lr=0.01)
    result = train(TinyHash(), TinySet(), config, checkpoint_dir=tmp_path, verbose=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["optimizer"]["state"]
    assert state and all("exp_avg_sq" in s for s in state.values())  # Adam's moments, not SGD's momentum buffer
    assert result.best_val_map > 0.6


def test_config_round_trip_and_unknown_fields():
    config = tiny_config(loss_weights=LossWeights(eta=0.5), model_options={"attention": False})
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.loss_weights, LossWeights)
    assert "device" not in config.key_dict()
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({**config.to_dict(), "epochs": 3})


def forward_rounding_bound(layer: nn.Linear, images: torch.Tensor) -> torch.Tensor:
    """Bound on |fl(Wx + b) - (Wx + b)| for any float32 summation order of the n = d + 1 terms: gamma_n (|W||x| + |b|),
    gamma_n = n u / (1 - n u), u = eps / 2 (Higham, Accuracy and Stability of Numerical Algorithms, Eq. 3.5). tanh is
    1-Lipschitz, so the bound carries over to the codes; two evaluations (batches of 3 and of 10, say) differ by at
    most twice it."""
    terms = layer.in_features + 1
    unit = torch.finfo(torch.float32).eps / 2
    gamma = terms * unit / (1 - terms * unit)
    magnitude = images.flatten(1).double().abs() @ layer.weight.double().abs().T + layer.bias.double().abs()
    return gamma * magnitude


def test_encode_dataset_matches_model_and_keeps_mode():
    model, data = TinyHash(), TinySet(n=10)
    model.train()
    codes = encode_dataset(model, data, batch_size=3)
    assert model.training
    direct = model.encode(data.images)
    tolerance = 2 * forward_rounding_bound(model.layer, data.images)
    assert tolerance.max() < 1e-4 < direct.abs().mean()  # tight next to the codes: a wrong row would not pass
    assert ((codes - direct).abs() <= tolerance).all()
    picked = encode_dataset(model, data, indices=torch.tensor([4, 2]))
    assert ((picked - direct[[4, 2]]).abs() <= tolerance[[4, 2]]).all()


def test_database_codes_learned_or_encoded():
    data = TinySet()
    result = train(TinyHash(), data, tiny_config(outer_iterations=1), verbose=False)
    assert torch.equal(result.database_codes(), result.db_codes)
    encoded = result.database_codes(data, which="encoded")
    images = data.images[result.db_indices]
    direct = result.model.encode(images)
    decided = direct.abs() > 2 * forward_rounding_bound(result.model.layer, images)  # signs no rounding can flip
    assert decided.float().mean() > 0.9
    assert torch.equal(encoded[decided], torch.where(direct >= 0, 1.0, -1.0)[decided])
    with pytest.raises(ValueError, match="dataset"):
        result.database_codes(which="encoded")


def test_exchnet_anchor_pass_restores_train_mode_also_when_a_batch_fails():
    """The trainer's per-iteration hook (ExchNet's class anchors) runs in eval mode and hands the model back in its
    mode, also when the loader raises mid-way."""
    from a2lib.models import build

    torch.manual_seed(0)
    model = build("exchnet", BITS, backbone="small", align_from=0)
    model.train()

    def failing_loader():
        yield torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
        raise OSError("simulated unreadable image")

    with pytest.raises(OSError, match="unreadable"):
        model.prepare_outer_iteration(0, failing_loader(), "cpu")
    assert model.training
    seen = []

    class Recording:
        def __iter__(self):
            seen.append(model.training)
            yield torch.rand(2, 3, 64, 64), torch.tensor([0, 1])

    model.prepare_outer_iteration(0, Recording(), "cpu")
    assert seen == [False] and model.training and model.anchor_valid.tolist() == [True, True]


def _images(n=24, classes=3, size=16, seed=0):
    from a2lib.data import ArrayDataset

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    images = 0.2 + 0.25 * labels[:, None, None, None] + 0.1 * torch.rand(n, 3, size, size, generator=g)
    return ArrayDataset(images, labels)


def _small(name="baseline", bits=8, **options):
    from a2lib.models import build

    torch.manual_seed(0)
    return build(name, bits, backbone="small", **options)


SMALL_RUN = dict(outer_iterations=1, n_samples=16, inner_epochs=1, batch_size=8, val_fraction=0.0, device="cpu")


def test_train_refuses_a_config_that_contradicts_the_model_naming_the_field():
    """Issue 20.2: train used to record TrainConfig's defaults (a2net, resnet50) for any model it was given."""
    data = _images()
    with pytest.raises(ValueError, match="TrainConfig.model is 'a2net' but the model is 'baseline'"):
        train(_small(), data, TrainConfig(bits=8, backbone="small", **SMALL_RUN), verbose=False)
    with pytest.raises(ValueError, match="TrainConfig.backbone is 'resnet50' but the model was built with backbone "
                                         "'small'"):
        train(_small(), data, TrainConfig(model="baseline", bits=8, **SMALL_RUN), verbose=False)
    with pytest.raises(ValueError, match="leaves at its default attention=True but the model was built with "
                                         "attention=False"):
        train(_small("a2net", attention=False), data,
              TrainConfig(model="a2net", bits=8, backbone="small", **SMALL_RUN), verbose=False)
    with pytest.raises(ValueError, match="TrainConfig.model_options sets code_dim=64 but the model was built with "
                                         "code_dim=1024"):
        train(_small("a2net"), data, TrainConfig(model="a2net", bits=8, backbone="small",
                                                 model_options={"code_dim": 64}, **SMALL_RUN), verbose=False)


def test_for_model_describes_the_model_and_the_result_records_it_and_the_data(monkeypatch):
    from a2lib.data import fingerprint
    from a2lib.train import config_key, trainer

    model, data = _small("a2net", attention=False), _images()
    config = TrainConfig.for_model(model, dataset="arrays", **SMALL_RUN)
    by_hand = TrainConfig(dataset="arrays", model="a2net", bits=8, backbone="small",
                          model_options={"attention": False}, **SMALL_RUN)
    assert config == by_hand and config_key(config) == config_key(by_hand)
    result = train(model, data, config, verbose=False)
    assert result.config == by_hand and result.data_fingerprint == fingerprint(_images())
    with pytest.raises(ValueError, match="TrainConfig.bits"):
        TrainConfig.for_model(model, bits=12)
    monkeypatch.setattr(trainer.Trainer, "run", lambda self, callback: self.config)  # the config train would use
    assert train(_small(), data, verbose=False) == TrainConfig.for_model(_small())
    assert TrainConfig.for_model(_small()).model == "baseline"


@pytest.mark.parametrize("field, value", [
    ("lr", float("nan")), ("lr", float("inf")), ("lr", 0.0), ("momentum", -0.1), ("momentum", float("nan")),
    ("weight_decay", float("nan")), ("weight_decay", -1e-4), ("lr_decay_factor", float("nan")),
    ("lr_decay_factor", 0.0), ("val_fraction", float("nan")), ("val_fraction", "0.1"), ("seed", 1.5),
    ("seed", -1), ("seed", True), ("lr_decay_at", -1), ("lr_decay_at", 2.0), ("num_workers", -1),
    ("bits", 8.0), ("similarity_reweight", 1), ("grad_diagnostic", "yes"), ("model", ""), ("dataset", None),
    ("model_options", []),
])
def test_every_field_is_validated_with_a_message_naming_it(field, value):
    """Issue 18.10: NaN/inf lr, negative momentum, a float seed and NaN rates used to be accepted."""
    with pytest.raises(ValueError, match=f"TrainConfig.{field} must"):
        tiny_config(**{field: value})


def test_loss_weights_are_validated_by_name():
    with pytest.raises(ValueError, match="TrainConfig.loss_weights.eta must"):
        tiny_config(loss_weights={"eta": float("nan")})
    with pytest.raises(ValueError, match="TrainConfig.loss_weights.beta must"):
        tiny_config(loss_weights=LossWeights(beta=-1.0))


def test_a_validation_split_that_holds_out_nothing_warns_that_validation_is_off():
    """12 items in 3 classes: round(0.1 x 4) = 0 per class, so val_fraction=0.1 used to train silently without it."""
    data = TinySet(n=12)
    with pytest.warns(UserWarning, match=r"val_fraction=0.1 holds out no item .* validation is off"):
        result = train(TinyHash(), data, tiny_config(val_fraction=0.1, outer_iterations=1), verbose=False)
    assert len(result.val_indices) == 0 and result.best_iteration is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(TinyHash(), data, tiny_config(val_fraction=0.0, outer_iterations=1), verbose=False)


def _same_training(with_diagnostic, without):
    for key, value in with_diagnostic.model.state_dict().items():
        assert torch.equal(value, without.model.state_dict()[key]), key
    assert torch.equal(with_diagnostic.db_codes, without.db_codes)
    strip = lambda hist: [{k: v for k, v in h.items() if k != "elapsed_s" and not k.startswith("grad_")}  # noqa
                          for h in hist]
    assert strip(with_diagnostic.history) == strip(without.history)


@pytest.mark.parametrize("name", ["baseline", "a2net", "hashnet", "dpsh"])
def test_gradient_diagnostic_leaves_training_bit_identical(name):
    """Issue 15.1: the per-term diagnostic runs on one extra batch without changing weights, BatchNorm statistics,
    codes or any random stream (hashnet counts its steps in a buffer; dpsh keeps a memory bank)."""
    data = _images(seed=1)
    run = {**SMALL_RUN, "outer_iterations": 2, "val_fraction": 0.25, "eval_every": 1}
    results = {}
    for flag in (True, False):
        config = TrainConfig.for_model(_small(name), grad_diagnostic=flag, **run)
        results[flag] = train(_small(name), data, config, verbose=False)
    _same_training(results[True], results[False])
    grads = [{k: v for k, v in h.items() if k.startswith("grad_")} for h in results[True].history]
    assert all(grads) and not any(k.startswith("grad_") for h in results[False].history for k in h)
    for record in grads:
        shares = [v for k, v in record.items() if k.startswith("grad_share/")]
        assert sum(shares) == pytest.approx(1.0)
    terms = {"baseline": {"hashing", "quantization"}, "a2net": {"hashing", "quantization"},
             "hashnet": {"likelihood"}, "dpsh": {"likelihood", "quantization"}}[name]
    assert terms <= {k.split("/", 1)[1] for k in grads[0]}


def test_gradient_diagnostic_values_are_the_trunk_gradients_of_the_first_database_batch():
    """Recomputed by hand after a one-iteration run (the kept state is the last one): each weighted term of the
    objective on the first batch_size database items, differentiated alone with respect to the trunk."""
    data = _images(seed=2)
    config = TrainConfig.for_model(_small(), **{**SMALL_RUN, "val_fraction": 0.0})
    result = train(_small(), data, config, verbose=False)
    model = result.model.train()
    first = result.db_indices[: config.batch_size]
    images = torch.stack([data[int(i)][0] for i in first])
    labels = data.labels[first]
    out = model(images, labels)
    S = similarity(labels, result.db_labels)
    B = result.db_codes
    _, terms = objective(out, images, S, B, B[: len(first)], config.loss_weights, labels=labels)
    norms = {}
    for name, value in terms.items():
        grads = torch.autograd.grad(value, list(model.trunk.parameters()), retain_graph=True)
        norms[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    record = result.history[0]
    for name, norm in norms.items():
        assert record[f"grad_norm/{name}"] == pytest.approx(norm, rel=1e-5)
        assert record[f"grad_share/{name}"] == pytest.approx(norm / sum(norms.values()), rel=1e-5)
