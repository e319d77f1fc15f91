"""The simplicity-bias study's helpers: block masks, block shares on a model whose answer is known."""
import numpy as np
import pytest
import torch
from torch import nn

from a2lib import simplicity
from a2lib.models.base import HashOutput


class TopHalfReader(nn.Module):
    """Every bit reads only the top half (the 'simple' block) of the red channel."""

    def __init__(self, bits=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.cam_layer = self.conv
        self.mix = torch.linspace(-1, 1, bits)

    def forward(self, images, labels=None):
        fmap = self.conv(images)
        top = fmap[:, 0, : images.shape[2] // 2].mean(dim=(1, 2))
        pre = top[:, None] * self.mix[None] + 0.05
        return HashOutput(codes=torch.tanh(pre), pre_codes=pre)


def test_block_masks_split_top_and_bottom():
    simple = simplicity.block_masks(2, 4, 3, "simple")
    complex_ = simplicity.block_masks(2, 4, 3, "complex")
    assert simple[:, :2].all() and not simple[:, 2:].any()
    np.testing.assert_array_equal(complex_, ~simple)
    with pytest.raises(ValueError, match="unknown block"):
        simplicity.block_masks(1, 4, 4, "middle")


def test_block_share_of_a_model_that_ignores_the_complex_block():
    images = torch.zeros(5, 3, 8, 4)
    images[:, 0, :4] = torch.rand(5, 4, 4) + 0.1  # the simple block is red, the complex block green
    images[:, 1, 4:] = torch.rand(5, 4, 4) + 0.1
    share = simplicity.block_share(TopHalfReader(), images, "complex")
    assert share.shape == (5,)
    np.testing.assert_allclose(share, 0.0, atol=1e-6)


def test_test_sets_and_paper_table():
    names = [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    assert names[0] == "both" and "complex-only (randomised)" in names and len(set(names)) == 5
    rows = {(r["test data"], r["bits"]): r for r in simplicity.PAPER_TABLE1}
    assert len(rows) == 12 and rows[("CIFAR-only", 48)]["a2net++"] == 29.40


def test_with_paper_puts_the_paper_beside_ours():
    import pandas as pd

    index = pd.MultiIndex.from_tuples([("both", 12), ("complex-only (randomised)", 12), ("complex-only (blanked)", 48)],
                                      names=["test data", "bits"])
    ours = pd.DataFrame({"baseline": [0.99, 0.5, 0.25], "a2net++": [0.98, 0.4, 0.3]}, index=index)
    merged = simplicity.with_paper(ours).set_index(["test data", "bits", "method"])
    assert len(merged) == 4, "the randomised row has no paper counterpart"
    row = merged.loc[("complex-only (blanked)", 48, "a2net++")]
    assert row["paper %"] == 29.40 and row["ours %"] == pytest.approx(30.0)
    assert row["difference"] == pytest.approx(0.6)
    assert merged.loc[("both", 12, "baseline"), "difference"] == pytest.approx(99.0 - 99.69)


def test_bias_numbers_pick_the_three_test_sets():
    dominoes = {"simple-only (randomised)": 0.98, "complex-only (randomised)": 0.12, "complex-only (blanked)": 0.2}
    reference = {"complex-only (blanked)": 0.8, "complex-only (randomised)": 0.7}
    numbers = simplicity.bias_numbers(dominoes, reference)
    assert numbers == pytest.approx({"a": 0.8, "b": 0.98, "c": 0.12, "c_over_a": 0.15})
