"""The figure helpers draw what they say (Agg backend): bars, lines, labels and display names; save_figure writes a
PNG stamped with the profile."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402

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
    assert plots.method_color("a2net") != plots.method_color("baseline")
    assert plots.method_color("new-method") == plots.UNKNOWN_COLOR


def test_bar_with_ci_draws_one_bar_per_entry_with_its_interval():
    fig = plots.bar_with_ci(["baseline", "a2net++", "a2net++"], [0.4, 0.6, 0.7], [0.05, 0.1, 0.02],
                            details=["gradcam", "gradcam", "attention"], hatched={"attention"},
                            ylabel="share inside the mask", reference=0.3, reference_label="mask area")
    ax = fig.axes[0]
    bars = ax.patches
    assert [b.get_height() for b in bars] == pytest.approx([0.4, 0.6, 0.7])
    assert [b.get_hatch() or "" for b in bars] == ["", "", "//"]
    assert bars[0].get_facecolor()[:3] == pytest.approx(plots.method_color("baseline"))
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


def test_training_curves_one_panel_per_quantity_one_line_per_run():
    records = [{"run": (m, b), "iteration": i, "quantity": q, "value": i * 0.1}
               for m in ("baseline", "a2net") for b in (12, 48) for q in ("loss", "val_map") for i in (1, 2, 3)]
    records = [r for r in records if not (r["quantity"] == "val_map" and r["run"] == ("a2net", 48))]
    fig = plots.training_curves(records, columns=4)
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_ylabel() for ax in panels] == ["loss", "val_map"]
    assert [len(ax.lines) for ax in panels] == [4, 3]
    assert all(ax.get_xlabel() == "outer iteration" for ax in panels)
    assert list(panels[0].lines[0].get_xdata()) == [1, 2, 3]
    assert {line.get_linestyle() for line in panels[0].lines} == {"-", "--"}  # 12 and 48 bits
    assert _legend(fig) == ["ADSH, 12 bits", "ADSH, 48 bits", "A²-Net, 12 bits", "A²-Net, 48 bits"]



def test_training_curves_with_a_common_y_label_title_each_panel():
    records = [{"run": ("a2net++", 12), "iteration": i, "quantity": q, "value": 0.5} for q in ("hashing", "decorrelation")
               for i in (1, 2)]
    panels = [ax for ax in plots.training_curves(records, ylabel="share").axes if ax.axison]
    assert [(ax.get_title(), ax.get_ylabel()) for ax in panels] == [("hashing", "share"), ("decorrelation", "share")]

def test_ndcg_curves_one_panel_per_bits_with_reference_lines():
    ks = [5, 10, 20]
    curves = {("a2net", 12): dict(zip(ks, [0.3, 0.35, 0.4])), ("baseline", 12): dict(zip(ks, [0.2, 0.2, 0.3])),
              ("a2net", 48): dict(zip(ks, [0.4, 0.4, 0.5]))}
    references = {"random codes": dict(zip(ks, [0.1] * 3)), "class oracle": dict(zip(ks, [0.6] * 3))}
    fig = plots.ndcg_curves(curves, references)
    assert [ax.get_title() for ax in fig.axes] == ["12 bits", "48 bits"]
    assert [len(ax.lines) for ax in fig.axes] == [4, 3]
    assert [line.get_linestyle() for line in fig.axes[1].lines[-2:]] == [":", "--"]
    assert _ticks(fig.axes[0]) == ["5", "10", "20"] and fig.axes[0].get_xlabel() == "k"
    assert fig.axes[0].get_ylabel() == "NDCG@k (attributes)"
    assert _legend(fig.axes[1]) == ["A²-Net", "random codes", "class oracle"]


def test_bit_attribute_heatmap_keeps_the_strongest_attributes_in_order():
    mi = {"a2net++": np.array([[0.1, 0.9, 0.0, 0.2], [0.0, 0.1, 0.0, 0.3]]),
          "baseline": np.array([[0.0, 0.0, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0]])}
    fig = plots.bit_attribute_heatmap(mi, ["red", "wing", "beak", "tail"], max_attributes=3)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["A²-Net++", "ADSH"]
    assert _ticks(panels[0]) == ["wing", "beak", "tail"]  # 'red' (max 0.1) dropped, the order kept
    mesh = next(c for c in panels[0].collections if isinstance(c, QuadMesh))
    assert np.asarray(mesh.get_array()).reshape(2, 3) == pytest.approx(mi["a2net++"][:, 1:])
    assert (panels[0].get_xlabel(), panels[0].get_ylabel()) == ("attribute", "bit")
    assert len(fig.axes) == 3, "one colour bar, for the last panel"
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
