"""One figure style for the workbook, the figures notebooks share, and saving to ``figures/<profile>/`` with the
profile stamped on the figure. Every helper returns its matplotlib figure, names methods as the paper does
(``a2lib.studies.paper.display_name``: ADSH for BASELINE, Ours for Hamming ranking) and colours each method the same
in every figure (``method_color``)."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import textwrap

import matplotlib

from ..studies.paper import display_name
from .paths import figures_dir

DPI = 150
METHOD_ORDER = ("baseline", "exchnet", "a2net", "a2net++", "itq", "sdh", "dpsh", "hashnet", "csq", "orthocos")
"""Every method of the comparison, the four studied ones first; each keeps one colour across every figure."""
UNKNOWN_COLOR = (0.5, 0.5, 0.5)
REFERENCE_COLOR = "0.4"
DEFAULT_COLOR = "C0"
REFERENCE_STYLES = (":", "--", "-.")
BITS_STYLES = ("-", "--", ":", "-.")
"""Line styles told apart by code length in ``training_curves``."""
CI_LABEL = "95% confidence interval"
CAPSIZE = 4
STAMP_SIZE = 7
STAMP_COLOR = "0.45"
ATTRIBUTE_WORDS = (("has_", ""), ("_color", ""), ("::", " "), ("_", " "))
"""Replacements that turn an attribute key (CUB: ``has_bill_shape::curved``) into words (``bill shape curved``)."""


def style() -> None:
    """The workbook's matplotlib/seaborn style: white grid, readable fonts, colour-blind palette."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def method_color(method: str):
    """The colour of ``method`` in every figure (colour-blind palette; unknown methods get grey)."""
    import seaborn as sns

    palette = sns.color_palette("colorblind", len(METHOD_ORDER))
    return palette[METHOD_ORDER.index(method)] if method in METHOD_ORDER else UNKNOWN_COLOR


def attribute_label(name: str, width: int = 16) -> str:
    """An attribute key as words wrapped at ``width`` characters, for titles and tick labels
    (``has_wing_color::blue`` -> ``wing blue``)."""
    for old, new in ATTRIBUTE_WORDS:
        name = name.replace(old, new)
    return "\n".join(textwrap.wrap(name, width))


def save_figure(fig, name: str, profile: str) -> Path:
    """Save ``fig`` as ``figures/<profile>/<name>.png``, stamped with the profile that made it."""
    fig.text(0.995, 0.005, f"a2lib · profile {profile}", ha="right", va="bottom", fontsize=STAMP_SIZE,
             color=STAMP_COLOR)
    path = figures_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _same_length(what: str, **sequences: Sequence) -> int:
    lengths = {name: len(values) for name, values in sequences.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{what} needs one entry per bar in each of {', '.join(lengths)}; got lengths {lengths}")
    return next(iter(lengths.values()))


def bar_with_ci(methods: Sequence[str], means: Sequence[float], ci95: Sequence[float], *, ylabel: str,
                details: Sequence | None = None, hatched: Collection = (), reference: float | None = None,
                reference_label: str | None = None, xlabel: str = "method",
                ylim: tuple[float, float] | None = (0.0, 1.0), title: str | None = None):
    """Bars of means with 95% confidence intervals (notebooks 01 and 03: activation shares), one per
    ``(method, detail)``: coloured by method, labelled with its display name and the detail (e.g. bits), hatched
    when the detail is in ``hatched``; ``reference`` draws a dashed horizontal line (e.g. chance)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    details = [None] * len(methods) if details is None else list(details)
    count = _same_length("bar_with_ci", methods=methods, means=means, ci95=ci95, details=details)
    labels = [display_name(m) + ("" if d is None else f"\n{d}") for m, d in zip(methods, details)]
    fig, ax = plt.subplots(figsize=(1.1 * count + 2, 3.6))
    bars = ax.bar(range(count), means, yerr=ci95, capsize=CAPSIZE, color=[method_color(m) for m in methods],
                  edgecolor="0.2")
    for bar, detail in zip(bars, details):
        bar.set_hatch("//" if detail is not None and detail in hatched else "")
    ax.set_xticks(range(count), labels)
    handles = [Line2D([], [], color="0.2", marker="|", markersize=10, linestyle="none", label=CI_LABEL)]
    if reference is not None:
        handles.append(ax.axhline(reference, color=REFERENCE_COLOR, ls="--", lw=1, label=reference_label or
                                  f"reference {reference:.3g}"))
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return fig


def value_bars(values: Mapping, *, xlabel: str, ylabel: str, method: str | None = None, title: str | None = None,
               value_format: str = "{:.3f}"):
    """One bar per category with its value written on top (notebook 02's mAP per η), in ``method``'s colour."""
    import matplotlib.pyplot as plt

    categories = [str(key) for key in values]
    fig, ax = plt.subplots(figsize=(1.1 * len(categories) + 2, 3.2))
    ax.bar(range(len(categories)), list(values.values()),
           color=method_color(method) if method else DEFAULT_COLOR)
    for i, value in enumerate(values.values()):
        ax.text(i, value, value_format.format(value), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(categories)), categories)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def _method_and_bits(run) -> tuple[str, object]:
    """A run key of ``history_records``: ``(method, bits)`` or a bare method name."""
    return (run[0], run[1]) if isinstance(run, tuple) else (str(run), None)


def training_curves(records: Iterable[Mapping], *, columns: int = 4, xlabel: str = "outer iteration",
                    ylabel: str | None = None):
    """Training curves (notebook 02), one panel per logged quantity (loss terms, val_map), one line per run:
    ``records`` are ``{run, iteration, quantity, value}`` (``studies.comparison.history_records`` or
    ``gradient_share_records``), ``run`` a ``(method, bits)`` key; colour by method, line style by bits. With
    ``ylabel`` every panel has that y label and the quantity as its title; otherwise the quantity is the y label."""
    import matplotlib.pyplot as plt
    import numpy as np

    series: dict[str, dict[object, list[tuple[float, float]]]] = {}
    for record in records:
        series.setdefault(record["quantity"], {}).setdefault(record["run"], []).append(
            (record["iteration"], record["value"]))
    if not series:
        raise ValueError("training_curves got no records; pass history_records of trained results")
    bits_seen = sorted({_method_and_bits(run)[1] for lines in series.values() for run in lines}, key=str)
    nrows = int(np.ceil(len(series) / columns))
    ncols = min(columns, len(series))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (quantity, lines) in zip(axes.flat, series.items()):
        for run, points in lines.items():
            method, bits = _method_and_bits(run)
            x, y = zip(*sorted(points))
            label = display_name(method) + ("" if bits is None else f", {bits} bits")
            ax.plot(x, y, marker="o", markersize=3, color=method_color(method), label=label,
                    linestyle=BITS_STYLES[bits_seen.index(bits) % len(BITS_STYLES)])
        ax.set(xlabel=xlabel, ylabel=ylabel or quantity, title=quantity if ylabel else None)
    for ax in axes.flat[len(series):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def ndcg_curves(curves: Mapping[tuple[str, object], Mapping[int, float]],
                references: Mapping[str, Mapping[int, float]] | None = None, *,
                ylabel: str = "NDCG@k (attributes)"):
    """NDCG@k against k (notebook 05): one panel per code length, one line per method (``curves[(method, bits)]
    = {k: NDCG}``), and every ``references[name] = {k: NDCG}`` (random codes, a class oracle) as a grey line on
    each panel."""
    import matplotlib.pyplot as plt

    references = references or {}
    bits_list = list(dict.fromkeys(bits for _, bits in curves))
    ks = sorted({k for values in (*curves.values(), *references.values()) for k in values})
    fig, axes = plt.subplots(1, len(bits_list), figsize=(4.2 * len(bits_list), 3.6), sharey=True, squeeze=False)
    for ax, bits in zip(axes[0], bits_list):
        for (method, b), values in curves.items():
            if b == bits:
                ks_m = sorted(values)
                ax.plot(ks_m, [values[k] for k in ks_m], marker="o", label=display_name(method),
                        color=method_color(method))
        for i, (name, values) in enumerate(references.items()):
            ks_r = sorted(values)
            ax.plot(ks_r, [values[k] for k in ks_r], ls=REFERENCE_STYLES[i % len(REFERENCE_STYLES)],
                    color=REFERENCE_COLOR, label=name)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set(xlabel="k", title=f"{bits} bits")
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    return fig


def bit_attribute_heatmap(matrices: Mapping[str, object], attribute_names: Sequence[str], *,
                          max_attributes: int | None = None, value_label: str = "MI (bits)", cmap: str = "mako_r"):
    """Bits × attributes heat maps (notebook 04), one panel per method on one colour scale: ``matrices[method]``
    is (bits, attributes), e.g. mutual information. ``max_attributes`` keeps the attributes with the largest value
    in any method, in their original order."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    arrays = {m: np.asarray(x, dtype=float) for m, x in matrices.items()}
    widths = {x.shape[1] for x in arrays.values()}
    if widths != {len(attribute_names)}:
        raise ValueError(f"bit_attribute_heatmap: every matrix needs {len(attribute_names)} columns (one per "
                         f"attribute name); got {sorted(widths)}")
    keep = np.arange(len(attribute_names))
    if max_attributes is not None:
        strongest = np.max([x.max(0) for x in arrays.values()], axis=0)
        keep = np.sort(np.argsort(-strongest, kind="stable")[:max_attributes])
    vmax = max(x[:, keep].max() for x in arrays.values())
    bits = max(x.shape[0] for x in arrays.values())
    fig, axes = plt.subplots(1, len(arrays), figsize=(0.2 * len(keep) * len(arrays) + 2, 0.16 * bits + 2.5),
                             sharey=True, squeeze=False)
    last = list(arrays)[-1]
    for ax, (method, x) in zip(axes[0], arrays.items()):
        sns.heatmap(x[:, keep], ax=ax, vmin=0, vmax=vmax, cmap=cmap, cbar=method == last,
                    cbar_kws={"label": value_label}, xticklabels=[attribute_names[a] for a in keep])
        ax.set(title=display_name(method), xlabel="attribute")
        ax.tick_params(axis="x", labelsize=7, rotation=90)
        ax.tick_params(axis="y", labelsize=7)
    axes[0][0].set_ylabel("bit")
    return fig


def query_time_plot(rows: Iterable[Mapping], real_rows: Iterable[Mapping] = (), *, real_label: str = "real items",
                    dashed: Collection[str] = ("faiss-binary-flat",), title: str | None = None):
    """Query time against database size on log-log axes (notebook 06): one line per search method from
    ``rows`` (``{n, method, seconds_per_query}``), and a star for each method's timing on real items."""
    import matplotlib.pyplot as plt

    by_method: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append((row["n"], row["seconds_per_query"] * 1e3))
    real = {row["method"]: (row["n"], row["seconds_per_query"] * 1e3) for row in real_rows}
    fig, ax = plt.subplots(figsize=(8, 5))
    for method, points in by_method.items():
        n, ms = zip(*sorted(points))
        (line,) = ax.plot(n, ms, marker="o", label=display_name(method),
                          linestyle="--" if method in dashed else "-")
        if method in real:
            ax.plot(*real[method], marker="*", markersize=15, linestyle="none", color=line.get_color(),
                    markeredgecolor="black")
    if real:
        ax.plot([], [], marker="*", markersize=12, linestyle="none", color="0.6", markeredgecolor="black",
                label=real_label)
    ax.set(xscale="log", yscale="log", xlabel="database size (items)",
           ylabel="milliseconds per query (1 query at a time)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    return fig


def to_display(image) -> "np.ndarray":
    """A CxHxW tensor (values in [0, 1], or ImageNet-normalised) as an HxWxC array in [0, 1] for imshow."""
    import numpy as np

    array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, dtype=float)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    low, high = array.min(), array.max()
    if low < 0 or high > 1:
        array = (array - low) / max(high - low, 1e-12)
    return array.squeeze()


def image_grid(images, titles=None, ncols: int = 8, overlays=None, cell: float = 1.3, row_labels=None,
               overlay_alpha: float = 0.5, cmap: str = "jet"):
    """A grid of images (optionally with heat-map overlays, e.g. Grad-CAM) and titles; returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    count = len(images)
    nrows = int(np.ceil(count / ncols))
    height, width = to_display(images[0]).shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * cell * height / width), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= count:
            ax.axis("off")
            continue
        ax.imshow(to_display(images[i]), cmap="gray")
        if overlays is not None:
            ax.imshow(overlays[i], cmap=cmap, alpha=overlay_alpha, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(row_labels[i // ncols], fontsize=9)
    fig.tight_layout()
    return fig


RETRIEVAL_COLORS = {"correct": "#1a9641", "wrong": "#d7191c", "query": "0.15"}
"""Frame colours of ``retrieval_grid``: green shares the query's label, red does not (the paper's Figure 6)."""


def retrieval_grid(queries, retrieved, correct, row_labels=None, cell: float = 0.95, frame_width: float = 3.0,
                   column_titles: bool = True):
    """Figure 6: one row per query — the query (dark frame), then its ranked retrievals, each framed green when it
    shares the query's label and red otherwise (wrong ones also carry a small ✗ for colour-blind readers).

    ``queries``: n images; ``retrieved``: n sequences of k images; ``correct``: (n, k) booleans. Returns the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    correct = np.asarray(correct, dtype=bool)
    nrows, k = correct.shape
    if len(queries) != nrows or len(retrieved) != nrows or any(len(row) != k for row in retrieved):
        raise ValueError(f"retrieval_grid needs {nrows} queries and {nrows} rows of {k} retrieved images "
                         "(one per entry of correct)")
    gap = 0.08
    width = (k + 1) * cell
    height = width * (nrows + (nrows - 1) * gap) / (k + 1 + k * gap)
    stamp_margin = 0.2  # inches below the grid for save_figure's profile stamp
    fig, axes = plt.subplots(nrows, k + 1, figsize=(width, height + stamp_margin), squeeze=False)
    for r in range(nrows):
        row = [(queries[r], RETRIEVAL_COLORS["query"], None)]
        row += [(retrieved[r][j], RETRIEVAL_COLORS["correct" if correct[r, j] else "wrong"], correct[r, j])
                for j in range(k)]
        for c, (image, colour, hit) in enumerate(row):
            ax = axes[r, c]
            ax.imshow(to_display(image))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_edgecolor(colour)
                spine.set_linewidth(frame_width)
            if hit is not None and not hit:
                ax.text(0.97, 0.97, "✗", transform=ax.transAxes, ha="right", va="top", fontsize=8,
                        color="white", fontweight="bold",
                        bbox={"boxstyle": "square,pad=0.1", "facecolor": colour, "edgecolor": "none"})
            if column_titles and r == 0:
                ax.set_title("query" if c == 0 else str(c), fontsize=8)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=8, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0, right=1, bottom=stamp_margin / (height + stamp_margin), top=1, wspace=gap,
                        hspace=gap)
    return fig


__all__ = ["METHOD_ORDER", "attribute_label", "bar_with_ci", "bit_attribute_heatmap", "display_name", "image_grid",
           "method_color", "ndcg_curves", "query_time_plot", "retrieval_grid", "save_figure", "style", "to_display",
           "training_curves", "value_bars"]
