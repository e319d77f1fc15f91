"""Per-term gradient diagnostic: norms, shares and cosines against hand-derived values."""
import math

import pytest
import torch
from torch import nn

from a2lib import models
from a2lib.diagnostics import flatten, term_gradients, trunk_of


def test_two_term_loss_with_known_gradient_ratio():
    # a = w . x, b = 3 * (w . x): d a / d w = x, d b / d w = 3x, so norms 5 and 15 (x = (3, 4)), shares 1/4 and 3/4
    w = nn.Parameter(torch.tensor([0.5, -1.0]))
    x = torch.tensor([3.0, 4.0])
    terms = {"a": w @ x, "b": 3 * (w @ x)}
    report = term_gradients(terms, [w])
    assert report["a"]["norm"] == pytest.approx(5.0)
    assert report["b"]["norm"] == pytest.approx(15.0)
    assert report["a"]["share"] == pytest.approx(0.25)
    assert report["b"]["share"] == pytest.approx(0.75)
    assert report["a"]["cosine"] == pytest.approx(1.0)


def test_opposing_term_has_negative_cosine_and_unused_parameter_counts_zero():
    w = nn.Parameter(torch.tensor([1.0, 2.0]))
    unused = nn.Parameter(torch.tensor([7.0]))
    terms = {"pull": (w ** 2).sum(), "push": -0.5 * (w ** 2).sum()}  # gradients 2w and -w: total w
    report = term_gradients(terms, [w, unused])
    assert report["pull"]["norm"] == pytest.approx(2 * math.sqrt(5))
    assert report["push"]["norm"] == pytest.approx(math.sqrt(5))
    assert report["push"]["cosine"] == pytest.approx(-1.0)
    assert report["pull"]["share"] == pytest.approx(2 / 3)


def test_graph_survives_for_the_callers_backward():
    w = nn.Parameter(torch.tensor([1.0]))
    terms = {"a": (2 * w).sum(), "b": (w * w).sum()}
    term_gradients(terms, [w])
    sum(terms.values()).backward()
    assert w.grad.item() == pytest.approx(4.0)


def test_trunk_is_found_for_every_family_and_flatten_names_terms():
    for name in ("baseline", "a2net", "exchnet"):
        model = models.build(name, 12, backbone="small")
        assert trunk_of(model) is (model.trunk if name == "baseline" else model.parts.trunk)
    with pytest.raises(ValueError, match="trunk"):
        trunk_of(nn.Linear(2, 2))
    flat = flatten({"hashing": {"norm": 2.0, "share": 1.0, "cosine": 1.0}})
    assert flat == {"grad_share/hashing": 1.0, "grad_norm/hashing": 2.0}


def test_errors_name_the_problem():
    frozen = nn.Parameter(torch.ones(1), requires_grad=False)
    with pytest.raises(ValueError, match="requires a gradient"):
        term_gradients({"a": frozen.sum()}, [frozen])
    with pytest.raises(ValueError, match="no loss terms"):
        term_gradients({}, [nn.Parameter(torch.ones(1))])
