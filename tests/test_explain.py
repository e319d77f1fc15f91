"""Explanation code on a tiny model whose answer is known: which pixels each bit reads."""
import numpy as np
import pytest
import torch
from torch import nn

from a2lib import explain
from a2lib.models.base import HashOutput


class ColourBits(nn.Module):
    """Bit 0 reads the red channel, bit 1 the green one (through an identity 1x1 conv, the Grad-CAM layer)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.cam_layer = self.conv

    def forward(self, images, labels=None):
        pooled = self.conv(images).mean(dim=(2, 3))
        pre = torch.stack([pooled[:, 0] - 0.1, 0.1 - pooled[:, 1]], dim=1)
        return HashOutput(codes=torch.tanh(pre), pre_codes=pre)


def _red_top_green_bottom(n=3, h=8, w=4):
    images = torch.zeros(n, 3, h, w)
    images[:, 0, : h // 2] = 1.0
    images[:, 1, h // 2 :] = 1.0
    top = np.zeros((n, h, w), bool)
    top[:, : h // 2] = True
    return images, top


def test_bit_cam_falls_where_the_bit_reads():
    model = ColourBits()
    images, top = _red_top_green_bottom()
    red = explain.grad_cam(model, images, bit=0)
    green = explain.grad_cam(model, images, bit=1)  # bit 1 is negative here: its sign-aware target still lights green
    assert red.shape == (3, 8, 4)
    np.testing.assert_allclose(explain.activation_share(red, top), 1.0)
    np.testing.assert_allclose(explain.activation_share(green, top), 0.0)


def test_code_target_is_the_agreement_with_the_reference():
    code = torch.tensor([0.5, -2.0, 1.0])
    assert explain.CodeTarget(torch.tensor([1.0, -1.0, -1.0]))(code).item() == pytest.approx(0.5 + 2.0 - 1.0)
    assert explain.BitTarget(1, -1.0)(code).item() == pytest.approx(2.0)


def test_activation_share_by_hand():
    maps = np.array([[[1.0, 3.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])
    masks = np.array([[[True, False], [False, True]], [[True, True], [True, True]]])
    share = explain.activation_share(maps, masks)
    assert share[0] == pytest.approx(5.0 / 8.0) and np.isnan(share[1])
    with pytest.raises(ValueError, match="same"):
        explain.activation_share(maps, masks[:, :1])


def test_mean_with_ci():
    mean, half = explain.mean_with_ci([1.0, 2.0, 3.0, np.nan])
    assert mean == pytest.approx(2.0) and half == pytest.approx(1.96 * 1.0 / np.sqrt(3))


def test_bit_gallery_picks_extremes():
    values = np.array([[0.1, -0.9], [0.8, 0.3], [-0.5, 0.7], [0.2, -0.1]])
    positive, negative = explain.bit_gallery(values, 2)
    assert positive.tolist() == [[1, 3], [2, 1]]
    assert negative.tolist() == [[2, 0], [0, 3]]
    with pytest.raises(ValueError, match="more than"):
        explain.bit_gallery(values, 5)


def test_model_without_cam_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="cam_layer"):
        explain.cam_layer(nn.Linear(2, 2))


class RedAttention(ColourBits):
    """Attention = the red channel split into two maps (left and right halves), so its mass is known by hand."""

    def forward(self, images, labels=None):
        red = self.conv(images)[:, :1]
        left, right = red.clone(), red.clone()
        half = images.shape[-1] // 2
        left[..., half:] = 0
        right[..., :half] = 0
        out = super().forward(images)
        out.attention = torch.cat([left, right], 1)
        return out


def test_encode_pre_codes_by_hand_for_tensors_and_datasets():
    from a2lib.data import ArrayDataset

    model = ColourBits()
    images = torch.rand(5, 3, 6, 4)
    expected = torch.stack([images[:, 0].mean(dim=(1, 2)) - 0.1, 0.1 - images[:, 1].mean(dim=(1, 2))], 1)
    torch.testing.assert_close(explain.encode_pre_codes(model, images, batch_size=2), expected)
    dataset = ArrayDataset(images, torch.zeros(5, dtype=torch.long))
    torch.testing.assert_close(explain.encode_pre_codes(model, dataset, batch_size=3, indices=[4, 1]),
                               expected[[4, 1]])
    assert model.training  # the mode is restored


def test_mask_shares_gradcam_in_batches():
    model = ColourBits()
    images, top = _red_top_green_bottom(n=5)
    np.testing.assert_allclose(explain.mask_shares(model, images, top, bit=0, batch_size=2), 1.0)
    np.testing.assert_allclose(explain.mask_shares(model, images, ~top, bit=1, batch_size=3), 1.0)
    with pytest.raises(ValueError, match="one mask per image"):
        explain.mask_shares(model, images, top[:2])
    with pytest.raises(ValueError, match="map source"):
        explain.mask_shares(model, images, top, source="saliency")


def test_mask_shares_attention_by_hand():
    images = torch.zeros(2, 3, 4, 4)
    images[0, 0] = torch.arange(16.0).view(4, 4)      # red mass 0..15
    images[1, 0, 0, 0] = 2.0
    images[1, 0, 3, 3] = 6.0
    masks = np.zeros((2, 4, 4), bool)
    masks[:, :2] = True                               # top two rows
    share = explain.mask_shares(RedAttention(), images, masks, source="attention", batch_size=1)
    assert share[0] == pytest.approx(sum(range(8)) / sum(range(16)))
    assert share[1] == pytest.approx(2.0 / 8.0)
    np.testing.assert_allclose(explain.attention_mass(RedAttention(), images), images[:, 0].numpy(), atol=1e-6)


def _attribute_codes(n=64, seed=0):
    rng = np.random.default_rng(seed)
    attributes = np.zeros((n, 3))
    attributes[: n // 2, 0] = 1                       # balanced: entropy 1 bit
    attributes[::2, 1] = 1
    attributes[:, 2] = rng.random(n) < 0.3
    codes = np.stack([2 * attributes[:, 1] - 1 + 0.1 * rng.random(n),           # bit 0 = attribute 1
                      -(2 * attributes[:, 0] - 1) * (1 + rng.random(n))], 1)     # bit 1 = not attribute 0
    return codes, attributes


def test_describe_bits_names_attribute_side_and_strength():
    from a2lib.evaluate import bit_attribute_correspondence

    codes, attributes = _attribute_codes()
    rows = explain.describe_bits(bit_attribute_correspondence(codes, attributes), ["a", "b", "c"])
    assert [(r["bit"], r["attribute"], r["side"]) for r in rows] == [(0, "b", "+"), (1, "a", "-")]
    for r in rows:
        assert r["mi"] == pytest.approx(1.0) and r["auc"] == pytest.approx(1.0)


def test_correspondence_summary_against_chance():
    codes, attributes = _attribute_codes(n=200)
    summary = explain.correspondence_summary(codes, attributes, permutations=5)
    assert summary["bits"] == 2 and summary["distinct_attributes"] == 2
    assert summary["mean_best_mi"] == pytest.approx(1.0) and summary["mean_best_auc"] == pytest.approx(1.0)
    assert 0 <= summary["chance_best_mi"] < 0.1


def test_nearest_by_brute_force():
    codes = torch.tensor([[1.0, 1, 1], [-1, 1, 1], [-1, -1, 1], [1, 1, -1], [-1, -1, -1]])
    query = torch.tensor([0.3, 0.2, 0.9])             # signs + + +: distances 0, 1, 2, 1, 3
    assert explain.nearest(query, codes, 3).tolist() == [0, 1, 3]
    assert explain.nearest(query, codes, 2, exclude=0).tolist() == [1, 3]


def test_object_shares_lists_the_sources_a_model_has():
    images, top = _red_top_green_bottom(n=2)
    assert set(explain.object_shares(ColourBits(), images, top)) == {"gradcam"}
    found = explain.object_shares(RedAttention(), images, top)
    assert set(found) == {"gradcam", "attention"}
    np.testing.assert_allclose(found["attention"], 1.0)  # all red is in the top half


def test_similarity_to_query_ranks_and_explains():
    model = ColourBits()
    images = torch.zeros(4, 3, 8, 4)
    images[0, 0, :4] = 1.0                            # query: red top -> bit 0 +, bit 1 +
    images[1, 0, :4] = 0.8                            # same code, red top
    images[2, 1] = 1.0                                # bit 0 -, bit 1 -: distance 2
    images[3, 0, 4:] = 1.0                            # red bottom: same code as the query
    indices, distances, maps = explain.similarity_to_query(model, images, 0, 2)
    assert indices.tolist() == [1, 3] and distances.tolist() == [0, 0]
    assert maps.shape == (3, 8, 4)
    top = np.zeros((3, 8, 4), bool)
    top[:, :4] = True
    np.testing.assert_allclose(explain.activation_share(maps, top)[[0, 1]], 1.0)
    assert explain.activation_share(maps, ~top)[2] == pytest.approx(1.0)


def test_describe_bits_marks_a_constant_bit():
    from a2lib.evaluate import bit_attribute_correspondence

    codes, attributes = _attribute_codes()
    codes[:, 1] = np.abs(codes[:, 1]) + 0.1           # bit 1 always positive: no information in its sign
    rows = explain.describe_bits(bit_attribute_correspondence(codes, attributes), ["a", "b", "c"])
    assert rows[0]["attribute"] == "b" and rows[1]["attribute"] == explain.NO_ATTRIBUTE and rows[1]["mi"] == 0


class FailsOnce(RedAttention):
    """Raises in its next forward pass (as a shape error or an out-of-memory would), then works again."""

    fail = True

    def forward(self, images, labels=None):
        if self.fail:
            self.fail = False
            raise RuntimeError("simulated failure in the forward pass")
        return super().forward(images)


@pytest.mark.parametrize("explainer", [
    lambda model, images: explain.grad_cam(model, images),
    lambda model, images: explain.grad_cam(model, images, bit=1),
    lambda model, images: explain.attention_maps(model, images),
    lambda model, images: explain.has_attention(model, images),
    lambda model, images: explain.encode_pre_codes(model, images),
    lambda model, images: explain.attention_mass(model, images),
], ids=["grad_cam", "grad_cam_bit", "attention_maps", "has_attention", "encode_pre_codes", "attention_mass"])
def test_explainers_leave_the_model_in_its_mode_also_after_an_error(explainer):
    model, (images, _) = FailsOnce(), _red_top_green_bottom()
    model.train()
    with pytest.raises(RuntimeError, match="simulated failure"):
        explainer(model, images)
    assert model.training
    explainer(model, images)
    assert model.training
    model.eval()
    explainer(model, images)
    assert not model.training


def test_zero_pre_codes_count_as_plus_one_in_nearest_and_similarity():
    """An exact 0 is bit +1 (a2lib.inference.binary) in Hamming distances between explained codes."""
    codes = torch.tensor([[0.0, 0.5, -0.2], [1.0, 1.0, -1.0], [-1.0, 1.0, -1.0], [0.3, -0.0, 0.4]])
    assert explain.nearest(codes[0], codes, 3, exclude=0).tolist() == [1, 2, 3]  # distances 0, 1, 1 (stable)
    with pytest.raises(ValueError, match="NaN"):
        explain.nearest(torch.tensor([float("nan"), 0.1, 0.2]), codes, 1)


def test_mask_coverage_by_hand():
    maps = np.zeros((4, 2, 4))
    maps[0, 0, :2] = 1.0        # top of the map: 2 of the 4 mask pixels
    maps[1] = 1.0               # flat map: no top
    maps[2, 1, :] = [0.2, 0.6, 0.4, 1.0]   # min 0, so pixels at >= 0.5 are the 0.6 and the 1.0
    maps[3, 0, 0] = 1.0         # its mask is empty
    masks = np.zeros((4, 2, 4), bool)
    masks[:3, 0] = True
    masks[2] = False
    masks[2, 1, 1:] = True      # the 0.6, 0.4 and 1.0 pixels
    coverage = explain.mask_coverage(maps, masks)
    assert coverage[0] == pytest.approx(0.5) and coverage[2] == pytest.approx(2 / 3)
    assert np.isnan(coverage[1]) and np.isnan(coverage[3])
    assert explain.mask_coverage(maps[2:3], masks[2:3], level=0.3)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same"):
        explain.mask_coverage(maps, masks[:, :1])


def test_concentration_and_coverage_tell_different_stories():
    """A map on one corner of the object is concentrated on it (share 1) but covers a quarter of it."""
    maps = np.zeros((1, 4, 4))
    maps[0, 0, 0] = 1.0
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True
    assert explain.activation_share(maps, mask)[0] == pytest.approx(1.0)
    assert explain.mask_coverage(maps, mask)[0] == pytest.approx(0.25)


def test_mask_measures_match_the_single_measures_and_rows_hold_both():
    images, top = _red_top_green_bottom(n=3)
    measured = explain.mask_measures(RedAttention(), images, top, source="attention", batch_size=2)
    np.testing.assert_allclose(measured["share"], explain.mask_shares(RedAttention(), images, top, "attention"))
    np.testing.assert_allclose(measured["coverage"], 1.0)   # the red top half is the whole top of the map
    rows = explain.object_measure_rows({"a2net": RedAttention(), "baseline": ColourBits()}, images, top)
    assert [(r["method"], r["map"], r["measure"]) for r in rows] == [
        ("a2net", "gradcam", "share"), ("a2net", "gradcam", "coverage"), ("a2net", "attention", "share"),
        ("a2net", "attention", "coverage"), ("baseline", "gradcam", "share"), ("baseline", "gradcam", "coverage")]
    attention = [r for r in rows if r["map"] == "attention"]
    assert [r["mean"] for r in attention] == pytest.approx([1.0, 1.0]) and attention[0]["ci95"] == 0.0


@pytest.mark.parametrize("mean, half, expected", [(0.112, 0.012, "above"), (0.069, 0.012, "below"),
                                                  (0.1, 0.012, "overlaps"), (0.09, None, "below"),
                                                  (0.12, float("nan"), "above"),
                                                  (float("nan"), float("nan"), "undefined")])
def test_against_uniform_compares_the_whole_interval_with_the_uniform_share(mean, half, expected):
    assert explain.against_uniform(mean, half, uniform=0.095) == expected
