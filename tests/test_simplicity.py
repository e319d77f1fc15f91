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


def test_explained_variance_share_of_hand_made_images():
    """Three pixels, classes [0, 0, 1, 1]. Pixel A = [0, 2, 4, 6]: total SS 20, within 4. Pixel B constant: 0, 0.
    Pixel C = [1, -1, 1, -1]: total 4, within 4. So eta^2 = (24 - 8) / 24 = 2/3 and, with K = 2, n = 4,
    epsilon^2 = (16 - (K - 1) x 8 / (n - K)) / 24 = 12 / 24 = 1/2."""
    images = np.array([[0, 5, 1], [2, 5, -1], [4, 5, 1], [6, 5, -1]], dtype=float)
    labels = np.array([0, 0, 1, 1])
    assert simplicity.explained_variance_share(images, labels) == pytest.approx(2 / 3)
    assert simplicity.explained_variance_share(images, labels, adjusted=True) == pytest.approx(1 / 2)
    assert simplicity.explained_variance_share(torch.tensor(images * 10).reshape(4, 1, 3, 1), torch.tensor(labels)) \
        == pytest.approx(2 / 3)  # scale-free, any image shape
    only_class = np.array([[1.0], [1.0], [3.0], [3.0]])
    assert simplicity.explained_variance_share(only_class, labels) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        simplicity.explained_variance_share(images, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="do not vary"):
        simplicity.explained_variance_share(np.ones((4, 3)), labels)
    with pytest.raises(ValueError, match="one class index per image"):
        simplicity.explained_variance_share(images, labels[:3])


def test_block_signal_of_dominoes_whose_answer_is_known():
    """Complex source images are constant per class (share 1); every simple class holds the same five grey levels
    (equal class means: share 0); each source image is used equally often (n = 2 x the source size)."""
    from a2lib.data import ArrayDataset, dominoes

    labels = np.repeat(np.arange(4), 5)
    complex_ = ArrayDataset(np.repeat((40 * labels + 20).astype(np.uint8), 3 * 8 * 8).reshape(20, 3, 8, 8), labels)
    simple = ArrayDataset(np.repeat((np.tile(np.arange(5), 4) * 50).astype(np.uint8), 3 * 8 * 8).reshape(20, 3, 8, 8),
                          labels)
    both = dominoes(simple, complex_, n=40, block_size=(8, 8), seed=0)
    complex_signal, simple_signal = simplicity.block_signal(both, "complex"), simplicity.block_signal(both, "simple")
    assert complex_signal["explained_share"] == pytest.approx(1.0) and complex_signal["n"] == 40
    assert complex_signal["pixel_variance"] == pytest.approx(np.var(40 * np.arange(4) + 20) / 255 ** 2)
    assert simple_signal["explained_share"] == pytest.approx(0.0, abs=1e-12)
    assert simple_signal["adjusted_share"] < 0  # the chance share is subtracted
    blanked = dominoes(simple, complex_, variant="complex-only", flavour="blanked", n=40, block_size=(8, 8))
    with pytest.raises(ValueError, match="at least 2 classes"):
        simplicity.block_signal(blanked, "simple")  # no simple block is shown
    with pytest.raises(ValueError, match="dominoes dataset"):
        simplicity.block_signal(complex_, "complex")


def test_embedded_complex_block_is_visible_to_a_pixel_reconstruction(tmp_path):
    """Issue 19: the default (layouts) complex block's class explains at least 5% of its pixel variance; the older
    gratings block's class explains none beyond chance (the salience confound the layouts remove)."""
    layouts = load_small(tmp_path, "layouts")
    gratings = load_small(tmp_path, "gratings")
    assert simplicity.block_signal(layouts, "complex")["adjusted_share"] >= 0.05
    assert abs(simplicity.block_signal(gratings, "complex")["adjusted_share"]) < 0.01
    assert simplicity.block_signal(layouts, "simple")["adjusted_share"] > 0.2  # the crisp digits


def load_small(root, style):
    from a2lib.data import load
    return load("synth-dominoes", "train", root=root, n_train=1000, complex_style=style)


def test_bias_by_flavour_compares_like_with_like():
    dominoes = {"simple-only (randomised)": 0.98, "complex-only (randomised)": 0.12, "simple-only (blanked)": 0.95,
                "complex-only (blanked)": 0.3}
    reference = {"complex-only (blanked)": 0.9, "complex-only (randomised)": 0.6}
    table = simplicity.bias_by_flavour(dominoes, reference)
    assert table["blanked"] == pytest.approx({"a": 0.9, "b": 0.95, "c": 0.3, "c_over_a": 1 / 3})
    assert table["randomised"] == pytest.approx({"a": 0.6, "b": 0.98, "c": 0.12, "c_over_a": 0.2})


def test_signal_benchmark_prints_every_style_and_block(tmp_path):
    """benchmarks/dominoes_signal.py (the command data/README.md quotes) measures both complex styles and blocks."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dominoes_signal.py"
    spec = importlib.util.spec_from_file_location("dominoes_signal", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.measure(300, 0, str(tmp_path), {})
    assert set(results) == {"layouts", "gratings"} and set(results["layouts"]) == set(simplicity.BLOCKS)
    assert results["layouts"]["complex"]["n"] == 300
    assert results["layouts"]["complex"]["adjusted_share"] > results["gratings"]["complex"]["adjusted_share"] + 0.03
    assert bench.measure(300, 0, str(tmp_path), {"complex_style": "gratings"}).keys() == {"gratings"}


def test_seed_tables_average_over_training_runs_and_pair_the_gap_by_seed():
    maps = {"baseline": [0.30, 0.34, 0.32], "a2net++": [0.35, 0.38, 0.38]}
    scores = {(method, 32, seed): {"complex-only (blanked)": value}
              for method, values in maps.items() for seed, value in enumerate(values)}
    values = simplicity.over_seeds(scores)
    assert values[("baseline", 32, "complex-only (blanked)")] == [0.30, 0.34, 0.32]
    rows = {r["method"]: r for r in simplicity.seed_rows(values, "synth-dominoes")}
    # mean 0.32, sd 0.02, t(0.975, 2) = 4.3027: half-width 4.3027 * 0.02 / sqrt(3)
    assert rows["baseline"]["map"] == pytest.approx(0.32) and rows["baseline"]["seeds"] == 3
    assert rows["baseline"]["ci95"] == pytest.approx(4.302653 * 0.02 / 3 ** 0.5, rel=1e-5)
    gap, = simplicity.paired_gap(values, "a2net++", "baseline", 32, ["complex-only (blanked)"])
    # paired differences 0.05, 0.04, 0.06: mean 0.05, sd 0.01
    assert gap["difference"] == pytest.approx(0.05)
    assert (gap["low"], gap["high"]) == pytest.approx((0.05 - 4.302653 * 0.01 / 3 ** 0.5,
                                                       0.05 + 4.302653 * 0.01 / 3 ** 0.5), rel=1e-5)
    one, = simplicity.seed_rows({("baseline", 12, "both"): [0.9]}, "d")
    assert one["ci95"] is None and one["map"] == 0.9


def test_fall_onset_is_the_first_dose_more_than_the_tolerance_below_the_smallest():
    # 0.87 is the first score below 0.90 - 0.02 = 0.88; the order of the doses given does not matter
    assert simplicity.fall_onset([0, 10, 100, 1000], [0.90, 0.89, 0.87, 0.50]) == 100
    assert simplicity.fall_onset([1000, 0, 100, 10], [0.50, 0.90, 0.87, 0.89]) == 100
    assert simplicity.fall_onset([0, 10, 100], [0.90, 0.885, 0.95]) is None
    assert simplicity.fall_onset([0, 10], [0.90, 0.85], tolerance=0.1) is None
    with pytest.raises(ValueError, match="two or more doses"):
        simplicity.fall_onset([0], [0.9])
    with pytest.raises(ValueError, match="distinct finite doses"):
        simplicity.fall_onset([0, 0], [0.9, 0.8])


def test_dose_response_averages_seeds_and_names_its_ends():
    blanked = "complex-only (blanked)"
    scores = {(0, 0): {"both": 1.00, blanked: 0.30}, (0, 1): {"both": 0.98, blanked: 0.40},
              (500, 0): {"both": 0.95, blanked: 0.50}, (500, 1): {"both": 0.93, blanked: 0.60},
              (50.0, 0): {"both": 0.99, blanked: 0.35}, (50.0, 1): {"both": 0.99, blanked: 0.45}}
    dose = simplicity.dose_response(scores)
    assert list(dose["map"]) == ["0", "50", "500"]
    assert dose["map"]["500"]["both"] == [0.95, 0.93]
    assert dose["ends"] == {"smallest η": dose["map"]["0"], "largest η": dose["map"]["500"]}
    assert dose["fall_onset"] == 500.0  # mean 0.94 < 0.99 - 0.02; 50's mean 0.99 is not
    curves = simplicity.mean_curves(dose["map"], ["complex-only (blanked)"])
    assert curves == {"complex-only (blanked)": pytest.approx({0.0: 0.35, 50.0: 0.40, 500.0: 0.55})}
    assert simplicity.range_curves(dose["map"], ["both"]) == {"both": {0.0: (0.98, 1.00), 50.0: (0.99, 0.99),
                                                                       500.0: (0.93, 0.95)}}
    one_seed = simplicity.dose_response({(0, 0): {"both": 1.0}, (0.25, 0): {"both": 0.9}}, dose="p")
    assert one_seed["ends"] == {"smallest p": {"both": 1.0}, "largest p": {"both": 0.9}}
    assert one_seed["fall_onset"] == 0.25
    with pytest.raises(ValueError, match="two or more doses"):
        simplicity.dose_response({(0, 0): {"both": 1.0}, (0, 1): {"both": 0.9}})


def test_escape_options_leave_p_zero_as_the_data_is_and_refuse_other_fractions():
    assert simplicity.escape_options(0) == {}
    assert simplicity.escape_options(0.5) == {"simple_randomised": 0.5}
    with pytest.raises(ValueError, match=r"simple_randomised .* must be a number in \[0.0, 1.0\], got 1.5"):
        simplicity.escape_options(1.5)


def test_learning_curves_read_validation_and_monitors_from_the_history():
    from types import SimpleNamespace
    history = [{"iteration": 1, "val_map": 0.5, "monitor/complex-only (blanked)": 0.2, "loss": 3.0},
               {"iteration": 2, "loss": 2.0},
               {"iteration": 3, "val_map": 0.9, "monitor/complex-only (blanked)": 0.3}]
    rows = simplicity.learning_curves({("baseline", 32): SimpleNamespace(history=history),
                                       ("a2net", 32): SimpleNamespace(history=[{"iteration": 1, "val_map": 0.4}])})
    as_tuples = [(r["run"][0], r["iteration"], r["quantity"], r["value"]) for r in rows]
    assert as_tuples == [("baseline", 1, "validation mAP, both", 0.5),
                         ("baseline", 1, "validation mAP, complex-only (blanked)", 0.2),
                         ("baseline", 3, "validation mAP, both", 0.9),
                         ("baseline", 3, "validation mAP, complex-only (blanked)", 0.3),
                         ("a2net", 1, "validation mAP, both", 0.4)]
    assert set(simplicity.MONITORS) == {"simple-only (blanked)", "simple-only (randomised)",
                                        "complex-only (blanked)", "complex-only (randomised)"}


TINY_DOMINOES = {"dataset": "synth-dominoes", "recipe": "smoke", "dataset_options": {"n_train": 120, "n_test": 60}}


def test_untrained_is_the_initial_network_with_its_own_database_codes():
    from a2lib.train import build_model, load_dataset

    study = Study(**TINY_DOMINOES, device="cpu")
    trained = study.train("baseline", 8, seed=1, variant="both", monitors=simplicity.MONITORS)
    floor = simplicity.untrained(trained)
    initial = build_model(trained.config).state_dict()
    assert all(torch.equal(value, initial[name]) for name, value in floor.model.state_dict().items())
    assert not floor.model.training and (floor.history, floor.best_iteration) == ([], None)
    train_set = load_dataset(trained.config, "train")
    assert torch.equal(floor.db_codes, binary(encode_dataset(floor.model, train_set, indices=trained.db_indices)))
    assert torch.equal(floor.db_indices, trained.db_indices) and torch.equal(floor.db_labels, trained.db_labels)
    assert not torch.equal(floor.db_codes, trained.db_codes)
    assert all(0 <= value <= 1 for value in simplicity.variant_maps(floor, study).values())


def test_a2netpp_at_eta_zero_trains_exactly_as_a2net():
    """η = 0 weights the image term 0: the decoder is built after the shared layers and gets no gradient, so the
    rest of A²-Net++ trains as A²-Net of the same seed (the dose response's η = 0 is A²-Net plus an idle decoder)."""
    study = Study(**TINY_DOMINOES, eta=0.5, device="cpu")
    a2net = study.train("a2net", 8, seed=0, variant="both")
    idle = study.train("a2net++", 8, seed=0, eta=0.0, variant="both")
    assert idle.model.decoder is not None and a2net.model.decoder is None
    assert torch.equal(idle.db_codes, a2net.db_codes)
    shared = a2net.model.state_dict()
    assert all(torch.equal(value, shared[name]) for name, value in idle.model.state_dict().items() if name in shared)
    assert set(idle.model.state_dict()) - set(shared) == {n for n in idle.model.state_dict()
                                                         if n.startswith(("decoder.", "W_prime."))}
