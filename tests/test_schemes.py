"""Training schemes: picked once from the model's declaration, each with its batch loss, its step after an outer
iteration, its database codes and its state; the gradient diagnostic's probe leaves the scheme unchanged."""
import pytest
import torch

from a2lib.dcc import dcc_update
from a2lib.losses import LossWeights, objective
from a2lib.models import HashOutput, build, list_models
from a2lib.similarity import similarity
from a2lib.train.batches import ClassBalancedBatches
from a2lib.train.schemes import SCHEMES, AsymmetricScheme, BatchLossScheme, PairwiseScheme, build_scheme

from test_train import BITS, TinyHash, tiny_config

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
CPU = torch.device("cpu")


def _model(name, **options):
    num_classes = {"num_classes": 3} if name in ("csq", "orthocos", "ce-classifier") else {}
    return build(name, BITS, backbone="small", **num_classes, **options)


@pytest.mark.parametrize("name, scheme", [("baseline", AsymmetricScheme), ("a2net", AsymmetricScheme),
                                          ("exchnet", AsymmetricScheme), ("dpsh", PairwiseScheme),
                                          ("hashnet", PairwiseScheme), ("csq", BatchLossScheme),
                                          ("orthocos", BatchLossScheme), ("ce-classifier", BatchLossScheme)])
def test_each_model_gets_the_scheme_it_declares(name, scheme):
    assert type(build_scheme(_model(name), tiny_config(), LABELS, CPU)) is scheme
    assert (name in list_models(asymmetric=True)) == (scheme is AsymmetricScheme)


def test_a_model_without_a_declaration_is_trained_as_the_paper_and_a_bad_one_is_a_clear_error():
    assert type(build_scheme(TinyHash(), tiny_config(), LABELS, CPU)) is AsymmetricScheme
    model = TinyHash()
    model.scheme = "contrastive"
    with pytest.raises(ValueError, match="declares scheme = 'contrastive'; choose one of asymmetric, pairwise, batch"):
        build_scheme(model, tiny_config(), LABELS, CPU)
    model.scheme = "batch"
    with pytest.raises(ValueError, match="trains with the 'batch' scheme but has no loss"):
        build_scheme(model, tiny_config(), LABELS, CPU)
    assert set(SCHEMES) == {"asymmetric", "pairwise", "batch"}


def test_the_code_update_weight_comes_from_the_loss_weights():
    # default gamma = beta * 200 / N, so gamma * N / beta = 200 whatever k and N
    assert LossWeights().dcc_gamma(12, 5000) == pytest.approx(200.0)
    assert LossWeights(beta=0.5, gamma=0.01).dcc_gamma(12, 100) == pytest.approx(0.01 * 100 / 0.5)
    with pytest.raises(ValueError, match="beta must be positive"):
        LossWeights(beta=0.0).dcc_gamma(12, 100)


def test_the_asymmetric_scheme_is_the_objective_against_B_then_the_closed_form_update():
    """Two batches of Ω = items 1, 4, 6, 9: each batch's loss is the objective against S and B, and after the
    outer iteration B is the DCC update with U (the batches' outputs) and the quantisation weight 200."""
    config = tiny_config()
    scheme = build_scheme(TinyHash(), config, LABELS, CPU)
    B0 = scheme.B.clone()
    assert set(B0.unique().tolist()) == {-1.0, 1.0} and B0.shape == (10, BITS)
    omega = torch.tensor([1, 4, 6, 9])
    scheme.begin_outer_iteration(omega)
    S = similarity(LABELS[omega], LABELS)
    codes = torch.tanh(torch.randn(4, BITS, generator=torch.Generator().manual_seed(0)))
    for positions in (torch.tensor([2, 0]), torch.tensor([3, 1])):
        out = HashOutput(codes=codes[positions])
        total, terms = scheme.batch_loss(None, out, None, LABELS[omega[positions]], positions)
        expected, _ = objective(out, None, S[positions], B0, B0[omega[positions]], config.loss_weights)
        assert torch.equal(total, expected) and set(terms) == {"hashing", "quantization"}
    scheme.end_outer_iteration()
    assert torch.equal(scheme.B, dcc_update(B0, codes, S, omega, 200.0))
    assert torch.equal(scheme.database_codes(lambda: pytest.fail("B needs no encoding")), scheme.B)
    assert torch.equal(scheme.state(), scheme.B)


def test_the_pairwise_memory_holds_the_latest_outputs_and_the_probe_leaves_it_unchanged():
    scheme = build_scheme(_model("dpsh", memory=True), tiny_config(), LABELS, CPU)
    assert torch.equal(scheme.state(), torch.zeros(10, BITS))
    scheme.begin_outer_iteration(torch.tensor([2, 5, 7]))
    seen = []

    class Recording:
        def loss(self, out, labels, memory=None, memory_labels=None):
            seen.append((memory.clone(), memory_labels))
            return out.codes.sum(), {}

    codes = torch.full((2, BITS), 0.5)
    scheme.batch_loss(Recording(), HashOutput(codes=codes), None, LABELS[[7, 2]], torch.tensor([2, 0]))
    memory, memory_labels = seen[-1]
    assert torch.equal(memory[[2, 7]], codes) and memory[[0, 1, 3, 4, 5, 6, 8, 9]].abs().sum() == 0
    assert torch.equal(memory_labels, LABELS)
    before = scheme.state().clone()
    probe = scheme.probe(3)
    probe.batch_loss(Recording(), HashOutput(codes=-codes[:1].repeat(3, 1)), None, LABELS[:3], torch.arange(3))
    assert torch.equal(seen[-1][0][:3], -codes[:1].repeat(3, 1))  # the probe pairs the first items with its copy
    assert torch.equal(scheme.state(), before)


def test_the_pairwise_scheme_batches_by_class_on_single_labels_only():
    scheme = build_scheme(_model("hashnet"), tiny_config(batch_size=8), LABELS, CPU)
    assert scheme.state() is None
    batches = scheme.batch_sampler(LABELS, torch.Generator().manual_seed(0))
    assert isinstance(batches, ClassBalancedBatches) and batches.per_class == 4
    assert scheme.batch_sampler(torch.eye(3)[LABELS], torch.Generator()) is None
    assert build_scheme(_model("csq"), tiny_config(), LABELS, CPU).batch_sampler(LABELS, torch.Generator()) is None
