"""a2lib.studies.simplicity: block masks, block shares on a model whose answer is known, the Table 1 rows."""
import numpy as np
import pytest
import torch
from torch import nn

from a2lib.evaluate import mean_average_precision
from a2lib.inference import binary, encode_dataset
from a2lib.models import build
from a2lib.models.base import HashOutput
from a2lib.studies import Study, simplicity, with_paper


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


def test_test_set_names():
    names = [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    assert names[0] == "both" and "complex-only (randomised)" in names and len(set(names)) == 5


def test_variant_maps_score_every_test_set_against_the_learned_codes():
    from types import SimpleNamespace

    study = Study(dataset="synth-dominoes", backbone="small", dataset_options={"n_train": 200, "n_test": 100})
    train = study.load("train")
    torch.manual_seed(0)
    model = build("baseline", 8, backbone="small").eval()
    result = SimpleNamespace(model=model, db_labels=train.labels)
    result.database_codes = lambda: binary(encode_dataset(model, train))
    scores = simplicity.variant_maps(result, study)
    assert list(scores) == [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    test = study.load("test", variant="complex-only", flavour="blanked")
    expected = mean_average_precision(binary(encode_dataset(model, test)), result.database_codes(), test.labels,
                                      train.labels)
    assert scores["complex-only (blanked)"] == pytest.approx(expected)



def test_variant_maps_take_your_own_datasets_as_well_as_a_study():
    """Test sets built from two in-memory datasets give the same scores as the study's own variants of the same data."""
    from types import SimpleNamespace

    from a2lib.data import ArrayDataset

    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(40) % 4
    simple = ArrayDataset(torch.rand(40, 3, 16, 16, generator=generator), labels)
    complex_ = ArrayDataset(torch.rand(40, 3, 16, 16, generator=generator), labels)
    sets = simplicity.variant_test_sets(simple, complex_, seed=3)
    assert list(sets) == [simplicity.test_set_name(v, f) for v, f in simplicity.TEST_SETS]
    assert sets["complex-only (blanked)"].variant == "complex-only" and sets["both"].flavour == "randomised"
    torch.manual_seed(0)
    model = build("baseline", 8, backbone="small").eval()
    database = sets["both"]
    result = SimpleNamespace(model=model, db_labels=database.labels)
    result.database_codes = lambda: binary(encode_dataset(model, database))
    scores = simplicity.variant_maps(result, sets)
    test = sets["simple-only (blanked)"]
    expected = mean_average_precision(binary(encode_dataset(model, test)), result.database_codes(), test.labels,
                                      database.labels)
    assert scores["simple-only (blanked)"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="variant_test_sets"):
        simplicity.variant_maps(result, {"both": database})

def test_table1_rows_go_straight_into_with_paper():
    scores = {("a2net++", 48): {"complex-only (blanked)": 0.3, "complex-only (randomised)": 0.2},
              ("baseline", 12): {"both": 0.99}}
    rows = simplicity.table1_rows(scores, "mnist-cifar")
    assert rows[0] == {"dataset": "mnist-cifar", "test data": "complex-only (blanked)", "bits": 48,
                       "method": "a2net++", "map": 0.3}
    merged = with_paper(rows, "table1")
    assert [r["paper %"] for r in merged] == [29.40, None, 99.69]
    assert merged[0]["difference"] == pytest.approx(0.6)
    assert all(r["paper %"] is None for r in with_paper(simplicity.table1_rows(scores, "synth-dominoes"), "table1"))


def test_bias_numbers_pick_the_three_test_sets():
    dominoes = {"simple-only (randomised)": 0.98, "complex-only (randomised)": 0.12, "complex-only (blanked)": 0.2}
    reference = {"complex-only (blanked)": 0.8, "complex-only (randomised)": 0.7}
    numbers = simplicity.bias_numbers(dominoes, reference)
    assert numbers == pytest.approx({"a": 0.8, "b": 0.98, "c": 0.12, "c_over_a": 0.15})
