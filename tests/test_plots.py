"""The figure helpers draw what they say (Agg backend): bars, lines, labels and display names; save_figure writes a
PNG stamped with the profile."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from a2lib.studies import paper  # noqa: E402
from a2lib.workbook import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ticks(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


def _legend(ax_or_fig):
    legend = ax_or_fig.get_legend() if hasattr(ax_or_fig, "get_legend") else ax_or_fig.legends[0]
    return [t.get_text() for t in legend.get_texts()]


def test_display_names_are_the_papers_and_colours_are_fixed():
    assert plots.display_name is paper.display_name, "one map of method names: a2lib.studies.paper"
    assert plots.display_name("a2net++") == "A²-Net++" and plots.display_name("orthocos") == "OrthoCos+BN"
    assert plots.display_name("baseline") == "ADSH" and plots.display_name("new-method") == "new-method"
    assert plots.method_color("new-method") == plots.UNKNOWN_COLOR
    hashing = [plots.method_color(m) for m in plots.METHOD_ORDER]
    assert len(set(hashing)) == len(hashing), "every method of the comparison has its own colour"
    assert {plots.method_color(m) for m in plots.STUDIED} <= set(plots.OKABE_ITO.values())


def test_bar_with_ci_draws_one_bar_per_entry_with_its_interval():
    fig = plots.bar_with_ci(["baseline", "a2net++", "a2net++"], [0.4, 0.6, 0.7], [0.05, 0.1, 0.02],
                            details=["gradcam", "gradcam", "attention"], hatched={"attention"},
                            ylabel="share inside the mask", reference=0.3, reference_label="mask area")
    ax = fig.axes[0]
    bars = ax.patches
    assert [b.get_height() for b in bars] == pytest.approx([0.4, 0.6, 0.7])
    assert [b.get_hatch() or "" for b in bars] == ["", "", "//"]
    assert bars[0].get_facecolor()[:3] == pytest.approx(to_rgb(plots.method_color("baseline")))
    assert _ticks(ax) == ["ADSH\ngradcam", "A²-Net++\ngradcam", "A²-Net++\nattention"]
    caps = [line for line in ax.lines if line.get_marker() == "_"]  # the error bars' caps: two per bar
    assert sorted(y for cap in caps for y in cap.get_ydata()) == pytest.approx(
        sorted([0.35, 0.45, 0.5, 0.7, 0.68, 0.72]))
    assert ax.get_ylabel() == "share inside the mask" and ax.get_xlabel() == "method"
    assert _legend(ax) == [plots.CI_LABEL, "mask area"]
    assert ax.get_ylim() == (0.0, 1.0)


def test_bar_with_ci_needs_one_interval_per_bar():
    with pytest.raises(ValueError, match="one entry per bar"):
        plots.bar_with_ci(["a2net"], [0.5, 0.6], [0.1, 0.1], ylabel="share")


def test_value_bars_write_each_value_on_its_bar():
    fig = plots.value_bars({0.1: 0.41, 0.4: 0.5}, xlabel="η", ylabel="mAP", method="a2net++", title="A²-Net++")
    ax = fig.axes[0]
    assert [b.get_height() for b in ax.patches] == pytest.approx([0.41, 0.5])
    assert _ticks(ax) == ["0.1", "0.4"] and [t.get_text() for t in ax.texts] == ["0.410", "0.500"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("η", "mAP")


def test_training_curves_one_panel_per_quantity_and_code_length():
    records = [{"run": (m, b), "iteration": i, "quantity": q, "value": i * 0.1 * b}
               for m in ("baseline", "a2net") for b in (12, 48) for q in ("loss", "val_map") for i in (1, 2, 3)]
    records = [r for r in records if not (r["quantity"] == "val_map" and r["run"] == ("a2net", 48))]
    fig = plots.training_curves(records, title="takeaway")
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in panels] == ["validation mAP, 12 bits", "validation mAP, 48 bits",
                                                 "total loss, 12 bits", "total loss, 48 bits"]
    assert [ax.get_ylabel() for ax in panels] == ["validation mAP", "validation mAP", "total loss", "total loss"]
    assert [len(ax.lines) for ax in panels] == [2, 1, 2, 2], "one line per method; 12 and 48 bits apart"
    assert panels[2].get_ylim()[1] < panels[3].get_ylim()[1] / 2, "each code length has its own y axis"
    assert all(ax.get_xlabel() == "outer iteration" for ax in panels)
    assert list(panels[0].lines[0].get_xdata()) == [1, 2, 3]
    assert [line.get_color() for line in panels[2].lines] == [plots.method_color("baseline"),
                                                               plots.method_color("a2net")]
    assert _legend(fig) == ["ADSH", "A²-Net"] and fig._suptitle.get_text() == "takeaway\n(each line is one training run)"
    assert all(ax.get_xlim()[0] < 0 for ax in panels), "the x axis starts at iteration 0, before training"


def test_training_curves_with_a_common_y_label_title_each_panel():
    records = [{"run": ("a2net++", 12), "iteration": i, "quantity": q, "value": 0.5}
               for q in ("hashing", "decorrelation", "new_term") for i in (1, 2)]
    panels = [ax for ax in plots.training_curves(records, ylabel="share").axes if ax.axison]
    assert [(ax.get_title(), ax.get_ylabel()) for ax in panels] == [
        ("hashing loss (Eq. 11), 12 bits", "share"), ("decorrelation (Eq. 8), 12 bits", "share"),
        ("new term, 12 bits", "share")]


def test_ndcg_curves_studied_methods_in_colour_others_grey_and_every_method_at_k():
    ks = [5, 10, 20]
    curves = {("a2net", 12): dict(zip(ks, [0.3, 0.35, 0.4])), ("baseline", 12): dict(zip(ks, [0.2, 0.2, 0.3])),
              ("a2net", 48): dict(zip(ks, [0.4, 0.4, 0.5])), ("itq", 48): dict(zip(ks, [0.1, 0.2, 0.6]))}
    references = {"random codes": dict(zip(ks, [0.1] * 3)), "class oracle": dict(zip(ks, [0.9] * 3))}
    fig = plots.ndcg_curves(curves, references, focus_k=20)
    left, middle, dots = fig.axes
    assert [left.get_title(), middle.get_title(), dots.get_title()] == ["12 bits", "48 bits", "every method at k = 20"]
    assert _legend(fig) == ["A²-Net", "ADSH", "random codes", "class oracle", "other methods (right panel)"]
    itq = [line for line in middle.lines if list(line.get_ydata()) == [0.1, 0.2, 0.6]]
    assert itq and itq[0].get_color() == plots.OTHER_COLOR
    assert [t.get_text() for t in dots.get_yticklabels()] == ["ADSH", "A²-Net", "ITQ"], "sorted by best NDCG@20"
    assert sorted(float(line.get_xdata()[0]) for line in dots.lines) == [0.1, 0.9], "references as lines"
    assert _legend(dots) == ["12 bits", "48 bits", "random codes", "class oracle"]
    assert _ticks(left) == ["5", "10", "20"] and left.get_ylabel() == "NDCG@k (attributes)"


def test_bit_attribute_heatmap_sorts_bits_and_caps_the_scale():
    mi = {"a2net++": np.array([[0.0, 0.9, 0.0, 0.2], [0.6, 0.1, 0.0, 0.3], [0.0, 0.0, 0.0, 0.4]]),
          "baseline": np.array([[0.0, 0.0, 0.35, 0.1], [0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.0]])}
    fig = plots.bit_attribute_heatmap(mi, ["red", "wing", "beak", "tail"], max_attributes=3, percentile=90)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["A²-Net++", "ADSH"]
    assert _ticks(panels[0]) == ["red", "wing", "tail"], "'beak' (max 0.35) dropped, attribute order kept"
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["1", "0", "2"], "bits grouped by best attribute"
    mesh = next(c for c in panels[0].collections if isinstance(c, QuadMesh))
    assert np.asarray(mesh.get_array()).reshape(3, 3) == pytest.approx(mi["a2net++"][[1, 0, 2]][:, [0, 1, 3]])
    shown = np.concatenate([mi["a2net++"][:, [0, 1, 3]].ravel(), mi["baseline"][:, [0, 1, 3]].ravel()])
    assert mesh.get_clim() == pytest.approx((0, np.percentile(shown, 90)))
    colorbar = fig.axes[-1]
    assert "capped at the 90th percentile" in colorbar.get_ylabel()
    assert all(t.get_fontsize() >= 9 for t in panels[0].get_xticklabels() + panels[0].get_yticklabels())
    with pytest.raises(ValueError, match=r"needs 2 columns .* got \[4\]"):
        plots.bit_attribute_heatmap(mi, ["red", "wing"])


def test_query_time_plot_lines_per_method_and_stars_for_real_items():
    rows = [{"n": n, "method": m, "seconds_per_query": n * s}
            for m, s in (("linear", 1e-6), ("hamming", 1e-8), ("faiss-binary-flat", 1e-8)) for n in (1000, 10000)]
    real = [{"n": 500, "method": "linear", "seconds_per_query": 5e-4}]
    fig = plots.query_time_plot(rows, real, real_label="real items (holistic)")
    ax = fig.axes[0]
    lines = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(lines) == 3 and list(lines[0].get_ydata()) == pytest.approx([1.0, 10.0])  # milliseconds
    assert lines[2].get_linestyle() == "--"
    stars = [line for line in ax.lines if line.get_marker() == "*" and len(line.get_xdata())]
    assert len(stars) == 1 and stars[0].get_color() == lines[0].get_color()
    assert _legend(ax) == ["Linear", "Ours", "faiss-binary-flat", "real items (holistic)"]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "database size (items)"


def test_image_and_retrieval_grids():
    images = [torch.rand(3, 8, 8) for _ in range(5)]
    fig = plots.image_grid(images, titles=list("abcde"), ncols=3, row_labels=["one", "two"])
    assert len(fig.axes) == 6 and fig.axes[0].get_ylabel() == "one" and fig.axes[4].get_title() == "e"
    correct = np.array([[True, False], [False, True]])
    fig = plots.retrieval_grid(images[:2], [images[:2], images[2:4]], correct, row_labels=["q1", "q2"])
    assert len(fig.axes) == 6
    assert [t.get_text() for t in fig.axes[2].texts] == ["✗"]
    with pytest.raises(ValueError, match="2 queries"):
        plots.retrieval_grid(images[:1], [images[:2], images[2:4]], correct)


def test_attribute_label_turns_keys_into_wrapped_words():
    assert plots.attribute_label("has_wing_color::blue") == "wing blue"
    assert plots.attribute_label("has_bill_shape::all-purpose", width=10) == "bill shape\nall-\npurpose"
    assert plots.attribute_label("crest") == "crest"


def test_to_display_rescales_normalised_images():
    shown = plots.to_display(torch.tensor([[[-1.0, 1.0]]]))
    assert shown == pytest.approx(np.array([0.0, 1.0]))


def test_save_figure_writes_a_png_stamped_with_the_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    fig = plots.value_bars({"a": 1.0}, xlabel="x", ylabel="y")
    path = plots.save_figure(fig, "01_test", "quick")
    assert path == tmp_path / "figures/quick/01_test.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "a2lib · profile quick" in [t.get_text() for t in fig.texts]


def test_cam_grid_has_an_input_column_one_colour_bar_and_the_block_boundary():
    images = torch.rand(2, 3, 8, 4)
    maps = {"baseline": np.random.rand(2, 8, 4), "a2net++": np.random.rand(2, 8, 4)}
    fig = plots.cam_grid(images, maps, boundary=0.5, title="t")
    grid, colorbar = fig.axes[:-1], fig.axes[-1]
    assert [ax.get_title() for ax in grid[:3]] == ["input", "ADSH", "A²-Net++"] and len(grid) == 6
    assert plots.CAM_NORMALISATION in colorbar.get_ylabel()
    overlay = grid[1].images[-1]
    assert overlay.get_cmap().name == "inferno" and overlay.get_clim() == (0, 1)
    assert len(grid[0].images) == 1, "the input column is the image alone"
    boundary = [line for line in grid[4].lines if line.get_linestyle() == "--"]
    assert len(boundary) == 1 and list(boundary[0].get_ydata()) == [3.5, 3.5], "between rows 3 and 4 of 8"
    by_column = plots.cam_grid(images, maps, by="column")
    assert [ax.get_ylabel() for ax in by_column.axes[:-1:2]] == ["input", "ADSH", "A²-Net++"]
    with pytest.raises(ValueError, match="choose 'row'"):
        plots.cam_grid(images, maps, by="diagonal")


def test_block_stretch_makes_each_block_span_black_to_white():
    image = torch.zeros(3, 8, 4)
    image[:, :4] = torch.linspace(0.0, 1.0, 16).reshape(4, 4)
    image[:, 4:] = torch.linspace(0.40, 0.45, 16).reshape(4, 4)
    shown = plots.block_stretch(image)
    for block in (shown[:4], shown[4:]):
        assert block.min() == pytest.approx(0.0) and block.max() == pytest.approx(1.0)
    assert plots.to_display(image)[4:].max() == pytest.approx(0.45), "to_display leaves a dim block dim"


def test_measure_bars_one_panel_per_measure():
    rows = [{"method": m, "map": "gradcam", "measure": q, "mean": v, "ci95": 0.01}
            for m, v in (("a2net", 0.4), ("baseline", 0.3), ("exchnet", float("nan"))) for q in ("share", "coverage")]
    fig = plots.measure_bars(rows, {"share": {"ylabel": "inside", "reference": 0.1, "reference_label": "area"},
                                    "coverage": {"ylabel": "covered", "title": "coverage"}}, title="t")
    share, coverage = fig.axes
    assert (share.get_ylabel(), coverage.get_ylabel(), coverage.get_title()) == ("inside", "covered", "coverage")
    assert _legend(share) == [plots.CI_LABEL, "area"] and len(coverage.patches) == 2, "no bar without a mean"


def test_ranking_states_the_order_of_values():
    assert plots.ranking({"baseline": 0.16, "a2net": 0.24, "a2net++": 0.19}) == "A²-Net 0.24 > A²-Net++ 0.19 > ADSH 0.16"
    assert plots.ranking({"a": 0.5, "b": 0.5}) == "a 0.50 = b 0.50"


def test_image_grid_overlays_come_with_a_labelled_colour_bar():
    fig = plots.image_grid([torch.rand(3, 8, 8)] * 2, overlays=np.random.rand(2, 8, 8), ncols=2,
                           colorbar_label="Grad-CAM")
    assert fig.axes[-1].get_ylabel() == "Grad-CAM" and fig.axes[0].images[-1].get_cmap().name == "inferno"


def test_save_figure_saves_galleries_as_compact_jpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("A2LIB_ROOT", str(tmp_path))
    rng = np.random.default_rng(0)
    images = [torch.as_tensor(rng.random((3, 64, 64)), dtype=torch.float32) for _ in range(40)]
    fig = plots.retrieval_grid(images[:4], [images[i:i + 9] for i in range(4)], rng.random((4, 9)) > 0.5)
    path = plots.save_figure(fig, "02_top10_retrievals", "quick", photo=True)
    assert path == tmp_path / "figures/quick/02_top10_retrievals.jpg"
    assert path.read_bytes()[:3] == b"\xff\xd8\xff" and path.stat().st_size <= plots.MAX_PHOTO_BYTES


def test_value_bars_colour_each_bar_by_its_method():
    fig = plots.value_bars({0.0: 0.4, 0.1: 0.5}, xlabel="η", ylabel="mAP", methods=["a2net", "a2net++"])
    colours = [bar.get_facecolor()[:3] for bar in fig.axes[0].patches]
    assert colours == [pytest.approx(to_rgb(plots.method_color(m))) for m in ("a2net", "a2net++")]


def test_dose_curves_draw_one_line_per_test_and_a_share_panel():
    fig = plots.dose_curves({"both": {0.0: 1.0, 50.0: 0.99, 5000.0: 0.8}, "complex-only (blanked)": {
        0.0: 0.3, 50.0: 0.35, 5000.0: 0.5}}, xlabel="η", shares={0.0: 0.0, 50.0: 0.05, 5000.0: 0.8}, onset=5000.0,
        xscale="symlog", title="dose")
    top, bottom = fig.axes
    assert len(top.get_lines()) == 3 and top.get_xscale() == "symlog"  # two curves and the onset line
    assert top.get_xlim()[0] == 0.0  # no empty negative half of the symmetric log axis
    assert list(bottom.get_lines()[0].get_ydata()) == [0.0, 0.05, 0.8]
    assert len(plots.dose_curves({"both": {0.0: 1.0, 0.5: 0.9}}, xlabel="p").axes) == 1
    plt.close("all")


def test_training_curves_share_a_y_range_when_asked():
    records = [{"run": ("baseline", 12), "iteration": i, "quantity": q, "value": v}
               for i, (q, v) in enumerate([("validation mAP, both", 0.9), ("validation mAP, complex-only", 0.2)])]
    panels = [ax for ax in plots.training_curves(records, ylim=(0, 1.02)).axes if ax.axison]
    assert [ax.get_ylim() for ax in panels] == [(0, 1.02)] * 2
    plt.close("all")


def _contrast_on_white(colour) -> float:
    """WCAG contrast ratio of ``colour`` against white (1: invisible, 21: black)."""
    def linear(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in to_rgb(colour))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_no_method_is_drawn_in_yellow_and_the_control_is_far_from_a2net():
    assert plots.method_color("hashnet") != plots.OKABE_ITO["yellow"]
    faint = {m: round(_contrast_on_white(plots.method_color(m)), 2) for m in plots.METHOD_COLORS
             if _contrast_on_white(plots.method_color(m)) < 2.0}
    assert not faint, f"colours that fade on white: {faint}"
    assert _contrast_on_white(plots.OKABE_ITO["yellow"]) < 2.0, "the check would catch yellow"
    control, a2net = np.array(to_rgb(plots.method_color("ce-classifier"))), np.array(to_rgb(plots.method_color("a2net")))
    assert np.linalg.norm(control - a2net) > 0.5, "the cross-entropy control and A²-Net are told apart at a glance"
    deep_others = ["dpsh", "hashnet", "csq", "orthocos"]  # the lines of notebook 02's validation curves
    gaps = {(a, b): np.linalg.norm(np.subtract(to_rgb(plots.method_color(a)), to_rgb(plots.method_color(b))))
            for i, a in enumerate(deep_others) for b in deep_others[i + 1:]}
    assert min(gaps.values()) > 0.4, f"close colours among the other methods: {gaps}"


def test_block_share_bars_state_the_order_and_what_the_interval_is_over():
    shares = {"baseline / 32": {"mean": 0.2, "ci95": 0.03}, "ce-classifier / 32": {"mean": 0.1, "ci95": 0.02},
              "a2net / 32": {"mean": 0.35, "ci95": 0.04}, "a2net++ / 32": {"mean": 0.3, "ci95": 0.05}}
    fig = plots.block_share_bars(shares, images=200, seed=0)
    ax = fig.axes[0]
    assert [b.get_height() for b in ax.patches] == pytest.approx([0.2, 0.1, 0.35, 0.3])
    assert " ".join(ax.get_title().split()) == ("Grad-CAM share on the complex block: A²-Net 0.35 > A²-Net++ 0.30 > "
                                                f"ADSH 0.20 > {paper.display_name('ce-classifier')} 0.10")
    assert "half" not in ax.get_title() and "0.5" not in ax.get_title()
    assert _legend(ax) == ["95% interval over 200 test images of one trained model (seed 0)",
                           "a map spread evenly (the block's area)"]
    assert _ticks(ax)[0] == "ADSH\n32 bits"


def test_gradient_share_curves_use_one_log_scale_and_the_one_percent_line():
    records = [{"run": ("a2net++", 48), "iteration": i, "quantity": q, "value": v}
               for i in (1, 2, 3) for q, v in (("hashing", 0.9), ("image_reconstruction", 0.002), ("decorrelation", 0.05))]
    fig = plots.gradient_share_curves(records)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 3 and all(ax.get_yscale() == "log" for ax in panels)
    assert len({ax.get_ylim() for ax in panels}) == 1, "one y range: 0.002 and 0.9 are compared on the same axis"
    low, high = panels[0].get_ylim()
    assert low < 0.002 and high > 0.9
    assert all(any(list(line.get_ydata()) == [0.01, 0.01] for line in ax.lines) for ax in panels)
    assert "1%: a term below it barely acts" in _legend(fig)
    assert fig._suptitle.get_text().startswith("Each loss term's share of the gradient on the shared trunk")


def test_training_curves_draw_chance_and_say_the_seed():
    records = [{"run": (m, 48), "iteration": i, "quantity": "val_map", "value": 0.1 * i}
               for m in ("dpsh", "hashnet") for i in (1, 2, 3)]
    fig = plots.training_curves(records, title="other methods", chance=1 / 60, chance_label="chance ≈ 1/60",
                                seeds=0)
    ax = next(ax for ax in fig.axes if ax.axison)
    chance = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == pytest.approx([1 / 60] * 2)
    assert _legend(fig) == ["DPSH", "HashNet", "chance ≈ 1/60"]
    assert fig._suptitle.get_text() == "other methods\n(each line is one training run; 1 seed: 0)"
    assert fig.get_figheight() >= plots.PANEL_HEIGHT


def test_bit_attribute_heatmap_labels_every_kth_of_many_bits_along_a_staircase():
    rng = np.random.default_rng(0)
    bits, attributes = 48, 6
    mi = rng.uniform(0, 0.05, (bits, attributes))
    best = rng.integers(0, attributes, bits)
    mi[np.arange(bits), best] += rng.uniform(0.2, 0.6, bits)
    fig = plots.bit_attribute_heatmap({"a2net++": mi}, [f"attribute {a}" for a in range(attributes)])
    ax = next(ax for ax in fig.axes if ax.get_title())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    shown = [text for text in labels if text]
    assert len(labels) == bits and len(shown) <= plots.MAX_BIT_LABELS
    assert shown[:2] == [labels[0], labels[3]] and "(one in 3 labelled)" in ax.get_ylabel()
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    rows = np.asarray(mesh.get_array()).reshape(bits, attributes)
    assert list(rows.argmax(1)) == sorted(best), "bits sorted by their best attribute: a staircase"


def test_training_curves_read_seeds_chance_and_share_kind_from_the_records():
    records = [{"run": ("dpsh", 48), "iteration": i, "quantity": "val_map", "value": 0.1 * i, "seed": seed,
                "chance": chance} for seed, chance in ((2, 0.1), (0, 0.3)) for i in (1, 2)]
    fig = plots.training_curves(records, title="other methods")
    ax = next(ax for ax in fig.axes if ax.axison)
    chance = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == pytest.approx([0.2, 0.2]), "the panel's mean chance"
    assert "chance (a random ranking)" in _legend(fig)
    assert fig._suptitle.get_text() == "other methods\n(each line is one training run; 2 seeds: 0, 2)"
    shares = [{"run": ("a2net", 12), "iteration": 1, "quantity": q, "value": v, "kind": "share", "seed": 0}
              for q, v in (("hashing", 0.9), ("decorrelation", 0.002))]
    fig = plots.training_curves(shares, ylabel="share of the trunk gradient")
    panels = [ax for ax in fig.axes if ax.axison]
    assert all(ax.get_yscale() == "log" for ax in panels) and len({ax.get_ylim() for ax in panels}) == 1
    assert panels[0].get_ylabel() == "share of the trunk gradient (log scale)"
    assert "1%: a term below it barely acts" in _legend(fig)
    plain = [dict(r, kind=None) for r in shares]
    assert all(ax.get_yscale() == "linear" for ax in plots.training_curves(plain).axes if ax.axison)


def test_training_curves_leave_no_empty_band_between_the_legend_and_the_panels():
    records = [{"run": ("baseline", 12), "iteration": i, "quantity": q, "value": 0.1 * i}
               for i in (1, 2) for q in "abcde"]
    fig = plots.training_curves(records, title="T")
    fig.canvas.draw()
    renderer, inches = fig.canvas.get_renderer(), fig.get_figheight()
    legend_bottom = fig.legends[0].get_window_extent(renderer).y0 / fig.dpi
    panel_top = max(ax.title.get_window_extent(renderer).y1 for ax in fig.axes if ax.axison) / fig.dpi
    assert 0 <= legend_bottom - panel_top < 0.3, f"{legend_bottom - panel_top:.2f} in between, figure {inches} in"


def test_value_bars_and_dose_curves_draw_the_range_over_seeds():
    fig = plots.value_bars({0.1: 0.5, 0.4: 0.6}, xlabel="η", ylabel="mAP",
                           ranges={0.1: (0.45, 0.52), 0.4: (0.6, 0.7)})
    (bars,) = [c for c in fig.axes[0].containers if hasattr(c, "errorbar") and c.errorbar is not None]
    (segments,) = bars.errorbar.lines[2]
    assert [tuple(s[:, 1]) for s in segments.get_segments()] == [pytest.approx((0.45, 0.52)),
                                                                 pytest.approx((0.6, 0.7))]
    with pytest.raises(ValueError, match="ranges has no entry for 0.4"):
        plots.value_bars({0.1: 0.5, 0.4: 0.6}, xlabel="η", ylabel="mAP", ranges={0.1: (0.4, 0.6)})
    fig = plots.dose_curves({"both": {0.0: 0.9, 0.5: 0.7}}, xlabel="p", ranges={"both": {0.0: (0.85, 0.95),
                                                                                        0.5: (0.6, 0.8)}})
    (band,) = fig.axes[0].collections
    ys = sorted({round(float(y), 6) for path in band.get_paths() for y in path.vertices[:, 1]})
    assert {0.6, 0.8, 0.85, 0.95} <= set(ys) and (min(ys), max(ys)) == (0.6, 0.95)  # lowest to highest seed
    plt.close("all")


def test_block_share_bars_over_seeds_say_so_and_one_seed_is_one_model():
    shares = {"baseline / 32": {"mean": 0.3, "ci95": 0.1}, "a2net / 32": {"mean": 0.25, "ci95": 0.2}}
    over_seeds = plots.block_share_bars(shares, images=100, seeds=[0, 1])
    assert _legend(over_seeds.axes[0])[0] == ("95% interval over 2 training seeds (each seed: the mean over 100 test "
                                              "images)")
    one = plots.block_share_bars(shares, images=100, seeds=[3])
    assert _legend(one.axes[0])[0] == "95% interval over 100 test images of one trained model (seed 3)"
    assert " ".join(over_seeds.axes[0].get_title().split()) == "Grad-CAM share on the complex block: ADSH 0.30 > A²-Net 0.25"
