"""One figure style for the workbook, the figures notebooks share, and saving to ``figures/<profile>/`` with the
profile stamped on the figure.

The style: methods named as the paper names them (``a2lib.studies.paper.display_name``: ADSH for BASELINE, Ours for
Hamming ranking), one colour-blind-safe colour per method in every figure (Okabe–Ito, ``method_color``), labelled
axes with ≥ 9 pt ticks, titles that state what the caller measured (``ranking`` writes a computed one), heat maps in
perceptually uniform colour maps (inferno, mako) with a colour bar that says how the values were scaled. Every
helper returns its matplotlib figure.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

from ..studies.comparison import SHARE_KIND
from ..studies.paper import display_name
from .paths import figures_dir

DPI = 150
WRAP_COLUMNS = 3
"""Panels per row of ``training_curves`` when all runs share one code length."""
PANEL_TITLE_WIDTH = 40
"""Characters per line of a ``training_curves`` panel title (a longer one wraps instead of running into the next)."""
METHOD_ORDER = ("baseline", "exchnet", "a2net", "a2net++", "itq", "sdh", "dpsh", "hashnet", "csq", "orthocos")
"""Every method of the comparison, the four studied ones first; each keeps one colour across every figure."""
STUDIED = METHOD_ORDER[:4]
"""The methods the paper studies (BASELINE = ADSH, ExchNet, A²-Net, A²-Net++): drawn in colour where the others are
drawn grey."""
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7"}
"""Okabe & Ito's palette, distinct for the common colour-vision deficiencies."""
METHOD_COLORS = {
    "baseline": OKABE_ITO["blue"], "exchnet": OKABE_ITO["orange"], "a2net": OKABE_ITO["bluish green"],
    "a2net++": OKABE_ITO["vermillion"], "itq": OKABE_ITO["sky blue"], "sdh": OKABE_ITO["reddish purple"],
    "dpsh": OKABE_ITO["black"], "hashnet": "#EE3377", "csq": "#882255", "orthocos": "#999933",
    "linear": OKABE_ITO["black"], "balltree": OKABE_ITO["sky blue"], "kdtree": OKABE_ITO["reddish purple"],
    "pq": OKABE_ITO["orange"], "hamming": OKABE_ITO["vermillion"], "faiss-binary-flat": OKABE_ITO["blue"],
    "ce-classifier": "#AA4499",
}
"""Hashing methods (Okabe–Ito, then Tol's magenta, wine, olive and purple for HashNet, CSQ, OrthoCos and the
cross-entropy control: no yellow, which vanishes on white, HashNet apart from DPSH's black on the validation curves,
and the control far from A²-Net's green) and the search methods of notebook 06."""
METHOD_MARKERS = {"baseline": "o", "exchnet": "s", "a2net": "^", "a2net++": "D", "itq": "v", "sdh": "<",
                  "dpsh": ">", "hashnet": "P", "csq": "X", "orthocos": "h", "ce-classifier": "*"}
"""One marker per method, so lines stay apart without colour."""
UNKNOWN_COLOR = (0.5, 0.5, 0.5)
OTHER_COLOR = "0.75"
"""Methods drawn behind the studied ones (``ndcg_curves``)."""
REFERENCE_COLOR = "0.3"
DEFAULT_COLOR = OKABE_ITO["blue"]
REFERENCE_STYLES = (":", "--", "-.")
BITS_MARKERS = "os^D"
"""Markers of the code lengths in ``ndcg_curves``' last panel."""
LEGEND_INCHES = 0.45
"""Room kept above ``training_curves``' panels for its one-row legend."""
LEGEND_COLUMNS, LEGEND_ROW_HEIGHT = 4, 0.07
"""Figure legends below the panels: entries per row, and the share of the figure height a row takes."""
CI_LABEL = "95% confidence interval"
PANEL_HEIGHT = 3.2
"""Inches per row of ``training_curves`` panels."""
SHARE_REFERENCE = 0.01
"""The 1% line of trunk-gradient shares: a term below it barely acts (``studies.comparison.INERT_SHARE``)."""
SHARE_FLOOR = 1e-4
"""The lowest share a log-scale share panel shows (a share of exactly 0 sits on it)."""
LOG_MARGIN = 2.0
"""A shared log y range reaches this factor below the smallest value, so its markers are not cut by the axis."""
BIT_ROW_INCHES = 0.12
"""Height of one bit's row in ``bit_attribute_heatmap`` (its labels are sparse, so rows can be thin)."""
MAX_BIT_LABELS = 16
"""``bit_attribute_heatmap`` labels every k-th bit so that at most this many bit labels show."""
CAPSIZE = 4
FONT_SIZE, TICK_SIZE, TITLE_SIZE = 10, 9, 11
STAMP_SIZE = 7
STAMP_COLOR = "0.45"
ATTRIBUTE_WORDS = (("has_", ""), ("_color", ""), ("::", " "), ("_", " "))
"""Replacements that turn an attribute key (CUB: ``has_bill_shape::curved``) into words (``bill shape curved``)."""
QUANTITY_LABELS = {
    "val_map": "validation mAP", "loss": "total loss", "hashing": "hashing loss (Eq. 11)",
    "quantization": "quantisation (ADSH)", "feature_reconstruction": "feature reconstruction (Eq. 7)",
    "decorrelation": "decorrelation (Eq. 8)", "image_reconstruction": "image reconstruction (Eq. 14)",
    "alignment": "ExchNet alignment", "diversity": "ExchNet part diversity",
}
"""Readable names of the quantities a training history logs (``studies.comparison.history_records``)."""
CAM_CMAP = "inferno"
CAM_ALPHA = 0.6
CAM_NORMALISATION = "per-image min–max"
"""How Grad-CAM maps are scaled (pytorch-grad-cam's ``scale_cam_image``): every colour bar of a Grad-CAM says so."""
BOUNDARY_STYLE = {"color": "#56B4E9", "linestyle": "--", "linewidth": 1.2}
STRETCH_PERCENTILES = (1.0, 99.0)
"""``block_stretch`` maps these percentiles of each block to black and white (display only)."""
HEATMAP_PERCENTILE = 99.0
"""``bit_attribute_heatmap`` caps its colour scale here, so that one or two strong cells do not wash out the rest."""
TITLE_CHARS_PER_INCH, TITLE_MIN_CHARS, LABEL_MIN_CHARS = 9, 30, 12
"""Figure titles (at least 30 characters a line) and colour-bar labels (at least 12) wrap at this many characters
per inch of the figure."""
COLORBAR_SHRINK, COLORBAR_ASPECT = 0.8, 30
PHOTO_DPI = 110
PHOTO_QUALITIES = (85, 75, 65, 50)
MAX_PHOTO_BYTES = 500_000
"""Image galleries are saved as JPEG at the first quality that fits under this size (so they can be committed)."""


def style() -> None:
    """The workbook's matplotlib/seaborn style: white grid, ≥ 9 pt text, the Okabe–Ito palette."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette=list(OKABE_ITO.values())[1:])
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold",
                                "font.size": FONT_SIZE,
                                "axes.titlesize": TITLE_SIZE, "axes.labelsize": FONT_SIZE,
                                "xtick.labelsize": TICK_SIZE, "ytick.labelsize": TICK_SIZE,
                                "legend.fontsize": TICK_SIZE, "figure.titlesize": TITLE_SIZE + 1})


def method_color(method: str):
    """The colour of ``method`` (hashing or search method) in every figure; unknown names get grey."""
    return METHOD_COLORS.get(method, UNKNOWN_COLOR)


def attribute_label(name: str, width: int = 16) -> str:
    """An attribute key as words wrapped at ``width`` characters, for titles and tick labels
    (``has_wing_color::blue`` -> ``wing blue``)."""
    for old, new in ATTRIBUTE_WORDS:
        name = name.replace(old, new)
    return "\n".join(textwrap.wrap(name, width))


def quantity_label(name: str) -> str:
    """A logged quantity's readable name (``QUANTITY_LABELS``; otherwise the key with spaces)."""
    return QUANTITY_LABELS.get(name, name.replace("_", " "))


def ranking(values: Mapping[str, float], fmt: str = "{:.2f}") -> str:
    """``values`` from highest to lowest as text (``A²-Net 0.24 > A²-Net++ 0.19 > ADSH 0.16``), for a title that
    states what the figure shows; keys are display-named."""
    ordered = sorted(values.items(), key=lambda item: -item[1])
    text = ""
    for i, (name, value) in enumerate(ordered):
        sign = "" if i == 0 else (" > " if ordered[i - 1][1] > value else " = ")
        text += f"{sign}{display_name(name)} {fmt.format(value)}"
    return text


def save_figure(fig, name: str, profile: str, photo: bool = False) -> Path:
    """Save ``fig`` as ``figures/<profile>/<name>.png``, stamped with the profile that made it, and record which run
    wrote it (``results.record_figure``); ``photo`` (image galleries) saves a JPEG instead, at the best quality of
    ``PHOTO_QUALITIES`` under ``MAX_PHOTO_BYTES``."""
    from .results import record_figure

    _stamp(fig, f"a2lib · profile {profile}")
    if not photo:
        path = figures_dir(profile) / f"{name}.png"
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    else:
        path = figures_dir(profile) / f"{name}.jpg"
        for quality in PHOTO_QUALITIES:
            fig.savefig(path, dpi=PHOTO_DPI, bbox_inches="tight", pil_kwargs={"quality": quality, "optimize": True})
            if path.stat().st_size <= MAX_PHOTO_BYTES:
                break
    record_figure(path)
    return path


def _stamp(fig, text: str) -> None:
    """``text`` in small grey type just below everything drawn, at the right, so it never covers a label."""
    fig.canvas.draw()
    bottom = min(0.0, fig.get_tightbbox().y0 / fig.get_figheight())
    fig.text(0.995, bottom, text, ha="right", va="top", fontsize=STAMP_SIZE, color=STAMP_COLOR)


def _same_length(what: str, **sequences: Sequence) -> int:
    lengths = {name: len(values) for name, values in sequences.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{what} needs one entry per bar in each of {', '.join(lengths)}; got lengths {lengths}")
    return next(iter(lengths.values()))


LEGEND_BELOW_OFFSET = -0.24
"""Where a legend under the axes starts, in axes heights below them: clear of two-line tick labels and the x label."""


def _bars(ax, methods, means, ci95, details, hatched, reference, reference_label, ylabel, xlabel, ylim, title,
          ci_label=CI_LABEL, legend_below=False):
    """One panel of ``bar_with_ci``; ``legend_below`` puts the legend under the axes (a lone panel, whose long
    legend would otherwise cover bars and intervals)."""
    from matplotlib.lines import Line2D

    count = len(methods)
    labels = [display_name(m) + ("" if d is None else f"\n{d}") for m, d in zip(methods, details)]
    bars = ax.bar(range(count), means, yerr=ci95, capsize=CAPSIZE, color=[method_color(m) for m in methods],
                  edgecolor="0.2")
    for bar, detail in zip(bars, details):
        bar.set_hatch("//" if detail is not None and detail in hatched else "")
    ax.set_xticks(range(count), labels)
    handles = [Line2D([], [], color="0.2", marker="|", markersize=10, linestyle="none", label=ci_label)]
    if reference is not None:
        handles.append(ax.axhline(reference, color=REFERENCE_COLOR, ls="--", lw=1, label=reference_label or
                                  f"reference {reference:.3g}"))
    if legend_below:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, LEGEND_BELOW_OFFSET), frameon=False)
    else:
        ax.legend(handles=handles, loc="upper right")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)


def bar_with_ci(methods: Sequence[str], means: Sequence[float], ci95: Sequence[float], *, ylabel: str,
                details: Sequence | None = None, hatched: Collection = (), reference: float | None = None,
                reference_label: str | None = None, xlabel: str = "method",
                ylim: tuple[float, float] | None = (0.0, 1.0), title: str | None = None,
                interval_label: str = CI_LABEL):
    """Bars of means with 95% confidence intervals (notebooks 01 and 03: activation shares), one per
    ``(method, detail)``: coloured by method, labelled with its display name and the detail (e.g. bits), hatched
    when the detail is in ``hatched``; ``reference`` draws a dashed horizontal line (e.g. chance) in the legend;
    ``interval_label`` says in the legend what the interval is over (images of one model, or seeds)."""
    import matplotlib.pyplot as plt

    details = [None] * len(methods) if details is None else list(details)
    count = _same_length("bar_with_ci", methods=methods, means=means, ci95=ci95, details=details)
    fig, ax = plt.subplots(figsize=(1.1 * count + 2, 3.8))
    _bars(ax, list(methods), list(means), list(ci95), details, hatched, reference, reference_label, ylabel, xlabel,
          ylim, title, interval_label, legend_below=True)
    return fig


def block_share_bars(shares: Mapping[str, Mapping[str, float]], *, images: int, seed: int | None = None,
                     seeds: Sequence[int] | None = None, block: str = "complex", area_share: float | None = 0.5,
                     title: str | None = None):
    """Notebook 01's Grad-CAM share on one dominoes block: ``shares["<method> / <bits>"] = {mean, ci95}`` over
    ``images`` test images of one trained model per method (``seed``), or, with two or more ``seeds``, the mean over
    those training runs of each run's mean over the images, with the 95% interval over the seeds. The title states
    the measured order, the legend what the interval is over (images of one model, or seeds), and ``area_share`` (the
    block's share of the image, 0.5 for dominoes) is drawn as what a map spread evenly would score."""
    keys = list(shares)
    methods = [key.split(" / ")[0] for key in keys]
    details = [f"{key.split(' / ')[1]} bits" if " / " in key else None for key in keys]
    if seeds is not None and len(seeds) == 1:
        seed, seeds = seeds[0], None
    if seeds:
        interval_label = (f"95% interval over {len(seeds)} training seeds (each seed: the mean over {images} test "
                          "images)")
    else:
        model = "one trained model" + ("" if seed is None else f" (seed {seed})")
        interval_label = f"95% interval over {images} test images of {model}"
    ordered = ranking({f"{display_name(m)}" + (f" {d}" if d and len(set(details)) > 1 else ""): shares[k]["mean"]
                       for k, m, d in zip(keys, methods, details)})
    return bar_with_ci(methods, [shares[k]["mean"] for k in keys], [shares[k]["ci95"] for k in keys],
                       details=details, ylabel=f"share of Grad-CAM on the {block} block", reference=area_share,
                       reference_label=None if area_share is None else "a map spread evenly (the block's area)",
                       title=textwrap.fill(title or f"Grad-CAM share on the {block} block: {ordered}",
                                           TITLE_MIN_CHARS + TITLE_CHARS_PER_INCH * len(keys)),
                       interval_label=interval_label)


def measure_bars(rows: Sequence[Mapping], panels: Mapping[str, Mapping], *, title: str | None = None,
                 hatched: Collection = ()):
    """One ``bar_with_ci`` panel per measure, stacked (notebook 03: concentration above coverage, the same bars in
    the same places): ``rows`` are ``{method, map, measure, mean, ci95}`` (rows without a mean are left out);
    ``panels[measure]`` holds that panel's ``ylabel`` and optional ``reference``, ``reference_label`` and ``title``."""
    import math

    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["mean"] is not None and not math.isnan(r["mean"])]
    width = max(sum(r["measure"] == measure for r in rows) for measure in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(1.0 * width + 2.5, 3.4 * len(panels)), squeeze=False)
    for ax, (measure, spec) in zip(axes[:, 0], panels.items()):
        chosen = [r for r in rows if r["measure"] == measure]
        _bars(ax, [r["method"] for r in chosen], [r["mean"] for r in chosen], [r["ci95"] for r in chosen],
              [r["map"] for r in chosen], hatched, spec.get("reference"), spec.get("reference_label"),
              spec["ylabel"], "method", (0.0, 1.0), spec.get("title"))
    _title(fig, title)
    fig.tight_layout()
    return fig


def value_bars(values: Mapping, *, xlabel: str, ylabel: str, method: str | None = None, title: str | None = None,
               value_format: str = "{:.3f}", methods: Sequence[str] | None = None,
               ranges: Mapping | None = None):
    """One bar per category with its value written on top (notebook 02's mean mAP per η), in ``method``'s colour,
    or each bar in the colour of its entry of ``methods``; ``ranges[key] = (lowest, highest)`` (over seeds) is drawn
    as an error bar from lowest to highest."""
    import matplotlib.pyplot as plt

    categories = [str(key) for key in values]
    fig, ax = plt.subplots(figsize=(1.1 * len(categories) + 2, 3.4))
    colors = ([method_color(m) for m in methods] if methods is not None
              else method_color(method) if method else DEFAULT_COLOR)
    heights = list(values.values())
    yerr = None
    if ranges is not None:
        missing = [str(key) for key in values if key not in ranges]
        if missing:
            raise ValueError(f"value_bars: ranges has no entry for {', '.join(missing)}; give (lowest, highest) for "
                             "every bar")
        yerr = [[value - ranges[key][0] for key, value in values.items()],
                [ranges[key][1] - value for key, value in values.items()]]
    ax.bar(range(len(categories)), heights, color=colors, yerr=yerr, capsize=4 if yerr else 0,
           error_kw={"ecolor": OKABE_ITO["black"], "lw": 1})
    for i, value in enumerate(values.values()):
        ax.text(i, value, value_format.format(value), ha="center", va="bottom", fontsize=TICK_SIZE)
    ax.set_xticks(range(len(categories)), categories)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


def _method_and_bits(run) -> tuple[str, object]:
    """A run key of ``history_records``: ``(method, bits)`` or a bare method name."""
    return (run[0], run[1]) if isinstance(run, tuple) else (str(run), None)


def _ordered(names: Iterable[str]) -> list[str]:
    """Quantities in ``QUANTITY_LABELS`` order, the others after them in their first-seen order."""
    names = list(dict.fromkeys(names))
    known = [n for n in QUANTITY_LABELS if n in names]
    return known + [n for n in names if n not in known]


def _runs_note(seeds: int | Collection[int] | None) -> str:
    """What a line of ``training_curves`` is, with how many seeds (and which) the figure holds."""
    if seeds is None:
        return "each line is one training run"
    seeds = sorted({seeds} if isinstance(seeds, int) else set(seeds))
    which = f"1 seed: {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds: {', '.join(map(str, seeds))}"
    return f"each line is one training run; {which}"


def training_curves(records: Iterable[Mapping], *, xlabel: str = "outer iteration", ylabel: str | None = None,
                    title: str | None = None, ylim: tuple[float, float] | None = None,
                    seeds: int | Collection[int] | None = None,
                    chance: float | None = None, chance_label: str | None = None, reference: float | None = None,
                    reference_label: str | None = None, yscale: str = "linear", sharey: bool = False):
    """Training curves (notebook 02): one row of panels per logged quantity, one column per code length (each
    panel its own y axis: 12- and 48-bit losses differ in scale; with one code length the quantities fill rows of
    ``WRAP_COLUMNS`` panels), one line per method in its colour. ``records`` are
    ``{run, iteration, quantity, value}`` (``studies.comparison.history_records`` or ``gradient_share_records``),
    ``run`` a ``(method, bits)`` key. Panels are titled "<quantity>, <bits> bits"; the y label is ``ylabel`` or the
    quantity; ``ylim`` gives every panel the same y range (e.g. (0, 1) for mAPs compared across panels), ``sharey``
    one computed range. The x axis starts at iteration 0 (before training); the title says that each line is one
    training run (of ``seeds``, the seed, when given). ``chance`` (dotted) and ``reference`` (dashed) draw a
    horizontal line in every panel; ``yscale="log"`` shows values down to ``SHARE_FLOOR``. What records carry is
    used when not given: their ``seed``s for ``seeds``, their ``chance`` (mean over a panel's records) for
    ``chance``, and records all of ``kind`` ``SHARE_KIND`` are drawn as ``gradient_share_curves``."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    records = list(records)
    if records and all(r.get("kind") == SHARE_KIND for r in records) and yscale == "linear" and reference is None:
        return gradient_share_curves(records, title=title, seeds=seeds, ylabel=ylabel)
    if seeds is None and any("seed" in r for r in records):
        seeds = {r["seed"] for r in records if "seed" in r}
    series: dict[tuple, dict[str, list[tuple[float, float]]]] = {}
    chances: dict[tuple, list[float]] = {}
    for record in records:
        method, bits = _method_and_bits(record["run"])
        series.setdefault((record["quantity"], bits), {}).setdefault(method, []).append(
            (record["iteration"], record["value"]))
        if record.get("chance") is not None:
            chances.setdefault((record["quantity"], bits), []).append(record["chance"])
    if not series:
        raise ValueError("training_curves got no records; pass history_records of trained results")
    quantities = _ordered(q for q, _ in series)
    bits_list = sorted({b for _, b in series}, key=lambda b: (b is None, b if b is not None else 0))
    panels = [(quantity, bits) for quantity in quantities for bits in bits_list]
    ncols = len(bits_list) if len(bits_list) > 1 else min(len(panels), WRAP_COLUMNS)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, PANEL_HEIGHT * nrows), squeeze=False)
    last = max(i for lines in series.values() for points in lines.values() for i, _ in points)
    drawn = []
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (quantity, bits) in zip(axes.flat, panels):
        lines = series.get((quantity, bits))
        if not lines:
            ax.axis("off")
            continue
        for method in [m for m in METHOD_ORDER if m in lines] + [m for m in lines if m not in METHOD_ORDER]:
            x, y = zip(*sorted(lines[method]))
            if yscale == "log":
                y = [max(value, SHARE_FLOOR) for value in y]
            ax.plot(x, y, marker=METHOD_MARKERS.get(method, "o"), markersize=4, color=method_color(method),
                    label=display_name(method))
        level = chance if chance is not None else (float(np.mean(chances[quantity, bits]))
                                                   if (quantity, bits) in chances else None)
        if level is not None:
            ax.axhline(level, color=REFERENCE_COLOR, linestyle=":", linewidth=1.2,
                       label=chance_label or ("chance ≈ {:.3g}".format(level) if chance is not None
                                              else "chance (a random ranking)"))
        if reference is not None:
            ax.axhline(reference, color=REFERENCE_COLOR, linestyle="--", linewidth=1.2,
                       label=reference_label or f"reference {reference:.3g}")
        ax.set(xlabel=xlabel, ylabel=ylabel or quantity_label(quantity),
               title=textwrap.fill(quantity_label(quantity) + ("" if bits is None else f", {bits} bits"),
                                   PANEL_TITLE_WIDTH))
        ax.set_yscale(yscale)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlim(-0.3, last + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        drawn.append(ax)
    if sharey and ylim is None:
        low = min(ax.get_ylim()[0] for ax in drawn)
        high = max(ax.get_ylim()[1] for ax in drawn)
        for ax in drawn:
            ax.set_ylim(max(low / LOG_MARGIN, SHARE_FLOOR / 2) if yscale == "log" else low, high)
    handles = {}
    for ax in axes.flat:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    top = 1 - LEGEND_INCHES / fig.get_figheight()
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncols=min(len(handles), LEGEND_COLUMNS + 2),
               bbox_to_anchor=(0.5, top))
    fig.tight_layout(rect=(0, 0, 1, top))  # before the title above the figure, which it would make room for again
    note = _runs_note(seeds)
    fig.suptitle(f"{title}\n({note})" if title else note[0].upper() + note[1:], y=1.0, va="bottom")
    return fig


def gradient_share_curves(records: Iterable[Mapping], *, title: str | None = None,
                          seeds: int | Collection[int] | None = None, ylabel: str | None = None):
    """Each loss term's share of the trunk gradient per outer iteration (notebook 02's ``gradient_share_records``)
    on one log y scale shared by every panel, so that 0.002 does not look like 0.9, with the 1% line under which
    a term barely acts."""
    return training_curves(records, ylabel=f"{ylabel or 'trunk-gradient share'} (log scale)", yscale="log",
                           sharey=True,
                           reference=SHARE_REFERENCE, reference_label="1%: a term below it barely acts", seeds=seeds,
                           title=title or "Each loss term's share of the gradient on the shared trunk")


def ndcg_curves(curves: Mapping[tuple[str, object], Mapping[int, float]],
                references: Mapping[str, Mapping[int, float]] | None = None, *,
                ylabel: str = "NDCG@k (attributes)", highlight: Collection[str] = STUDIED, focus_k: int = 20,
                title: str | None = None):
    """NDCG@k (notebook 05): one panel per code length with NDCG against k for the ``highlight`` methods in their
    colours (the others thin grey, one legend entry), every ``references[name] = {k: NDCG}`` (random codes, a class
    oracle) in dark grey; and a last panel with every method's NDCG@``focus_k`` per code length, sorted, so each
    method can be read off by name. ``curves[(method, bits)] = {k: NDCG}``."""
    import matplotlib.pyplot as plt

    references = references or {}
    bits_list = list(dict.fromkeys(bits for _, bits in curves))
    ks = sorted({k for values in (*curves.values(), *references.values()) for k in values})
    fig, axes = plt.subplots(1, len(bits_list) + 1, figsize=(4.2 * (len(bits_list) + 1), 4.4), squeeze=False)
    for ax, bits in zip(axes[0], bits_list):
        others = False
        for (method, b), values in curves.items():
            if b != bits:
                continue
            ks_m = sorted(values)
            mine = method in highlight
            others |= not mine
            ax.plot(ks_m, [values[k] for k in ks_m], marker=METHOD_MARKERS.get(method, "o") if mine else None,
                    color=method_color(method) if mine else OTHER_COLOR, lw=2 if mine else 1, zorder=3 if mine else 2,
                    label=display_name(method) if mine else None)
        if others:
            ax.plot([], [], color=OTHER_COLOR, label="other methods (right panel)")
        for i, (name, values) in enumerate(references.items()):
            ks_r = sorted(values)
            ax.plot(ks_r, [values[k] for k in ks_r], ls=REFERENCE_STYLES[i % len(REFERENCE_STYLES)],
                    color=REFERENCE_COLOR, label=name)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set(xlabel="k", ylabel=ylabel, title=f"{bits} bits")
    _ndcg_dots(axes[0][-1], curves, references, focus_k)
    handles = {}
    for ax in axes[0][:-1]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncols=min(len(handles), LEGEND_COLUMNS))
    _title(fig, title)
    rows = -(-len(handles) // LEGEND_COLUMNS)
    fig.tight_layout(rect=(0, LEGEND_ROW_HEIGHT * rows, 1, 1))
    return fig


def _ndcg_dots(ax, curves, references, k: int) -> None:
    """Every method's NDCG@k as a dot per code length, methods sorted by their best value; references as lines.
    Without that k, the nearest k measured."""
    from matplotlib.lines import Line2D

    measured = sorted({key for values in curves.values() for key in values})
    k = min(measured, key=lambda key: abs(key - k)) if measured else k
    points = {(method, bits): values[k] for (method, bits), values in curves.items() if k in values}
    methods = sorted({m for m, _ in points}, key=lambda m: max(v for (n, _), v in points.items() if n == m))
    bits_list = list(dict.fromkeys(b for _, b in points))
    handles = []
    for j, bits in enumerate(bits_list):
        marker = BITS_MARKERS[j % len(BITS_MARKERS)]
        shown = [(i, points[(m, bits)]) for i, m in enumerate(methods) if (m, bits) in points]
        ax.scatter([v for _, v in shown], [i for i, _ in shown], marker=marker, s=45, zorder=3,
                   color=[method_color(methods[i]) for i, _ in shown], edgecolor="0.2")
        handles.append(Line2D([], [], marker=marker, color="0.5", markeredgecolor="0.2", linestyle="none",
                              label=f"{bits} bits"))
    for i, (name, values) in enumerate(references.items()):
        if k in values:
            handles.append(ax.axvline(values[k], color=REFERENCE_COLOR, ls=REFERENCE_STYLES[i % len(REFERENCE_STYLES)],
                                      label=name))
    ax.set_yticks(range(len(methods)), [display_name(m) for m in methods])
    ax.set(xlabel=f"NDCG@{k}", title=f"every method at k = {k}")
    ax.legend(handles=handles, loc="upper left")  # methods rise to the right going up: the top left stays clear


def _sorted_bits(matrix) -> "np.ndarray":
    """Row order that groups bits by their best attribute (in attribute order), strongest first within a group, and
    puts bits that carry nothing last."""

    strongest = matrix.max(1)
    return np.lexsort((-strongest, matrix.argmax(1), strongest <= 0))


def bit_attribute_heatmap(matrices: Mapping[str, object], attribute_names: Sequence[str], *,
                          max_attributes: int | None = None, value_label: str = "MI (bits)", cmap: str = "mako_r",
                          percentile: float = HEATMAP_PERCENTILE, title: str | None = None):
    """Bits × attributes heat maps (notebook 04), one panel per method on one colour scale: ``matrices[method]``
    is (bits, attributes), e.g. mutual information. Each panel's bits are sorted by their best attribute (so a code
    whose bits read attributes shows a staircase), every k-th labelled with its bit index (at most
    ``MAX_BIT_LABELS`` labels); the scale is capped at the
    ``percentile`` of every value shown (said on the colour bar). ``max_attributes`` keeps the attributes with the
    largest value in any method, in their original order."""
    import matplotlib.pyplot as plt
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
    shown = np.concatenate([x[:, keep].ravel() for x in arrays.values()])
    vmax = float(np.percentile(shown, percentile)) or float(shown.max()) or 1.0
    bits = max(x.shape[0] for x in arrays.values())
    every = math.ceil(bits / MAX_BIT_LABELS)
    fig, axes = plt.subplots(1, len(arrays), figsize=(0.24 * len(keep) * len(arrays) + 2.5,
                                                      BIT_ROW_INCHES * bits + 3),
                             squeeze=False)
    last = list(arrays)[-1]
    label = f"{value_label}\n(colours capped at the {percentile:g}th percentile, {vmax:.2f})"
    for ax, (method, x) in zip(axes[0], arrays.items()):
        rows = _sorted_bits(x[:, keep])
        sns.heatmap(x[rows][:, keep], ax=ax, vmin=0, vmax=vmax, cmap=cmap, cbar=method == last,
                    cbar_kws={"label": label}, xticklabels=[attribute_names[a] for a in keep],
                    yticklabels=[str(r) if i % every == 0 else "" for i, r in enumerate(rows)])
        ax.set(title=display_name(method), xlabel="attribute",
               ylabel="bit, sorted by its best attribute" + (f" (one in {every} labelled)" if every > 1 else ""))
        ax.tick_params(axis="x", labelsize=TICK_SIZE, rotation=90)
        ax.tick_params(axis="y", labelsize=TICK_SIZE, rotation=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def query_time_plot(rows: Iterable[Mapping], real_rows: Iterable[Mapping] = (), *, real_label: str = "real items",
                    dashed: Collection[str] = ("faiss-binary-flat",), title: str | None = None):
    """Query time against database size on log-log axes (notebook 06): one line per search method from
    ``rows`` (``{n, method, seconds_per_query}``), in its colour, and a star for each method's timing on real
    items."""
    import matplotlib.pyplot as plt

    by_method: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append((row["n"], row["seconds_per_query"] * 1e3))
    real = {row["method"]: (row["n"], row["seconds_per_query"] * 1e3) for row in real_rows}
    fig, ax = plt.subplots(figsize=(8, 5))
    for method, points in by_method.items():
        n, ms = zip(*sorted(points))
        ax.plot(n, ms, marker="o", label=display_name(method), color=method_color(method),
                linestyle="--" if method in dashed else "-")
        if method in real:
            ax.plot(*real[method], marker="*", markersize=15, linestyle="none", color=method_color(method),
                    markeredgecolor="black")
    if real:
        ax.plot([], [], marker="*", markersize=12, linestyle="none", color="0.6", markeredgecolor="black",
                label=real_label)
    ax.set(xscale="log", yscale="log", xlabel="database size (items)",
           ylabel="milliseconds per query (1 query at a time)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def to_display(image) -> "np.ndarray":
    """A CxHxW tensor (values in [0, 1], or ImageNet-normalised) as an HxWxC array in [0, 1] for imshow."""

    array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, dtype=float)
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    low, high = array.min(), array.max()
    if low < 0 or high > 1:
        array = (array - low) / max(high - low, 1e-12)
    return array.squeeze()


def block_stretch(image, blocks: int = 2, percentiles: tuple[float, float] = STRETCH_PERCENTILES) -> "np.ndarray":
    """``to_display`` with each of ``blocks`` horizontal bands contrast-stretched on its own (its ``percentiles``
    to black and white): the dim texture block of a domino becomes visible beside the bright digit. Display only."""

    array = np.array(to_display(image), dtype=float)
    for band in np.array_split(np.arange(array.shape[0]), blocks):
        low, high = np.percentile(array[band], percentiles)
        array[band] = np.clip((array[band] - low) / max(high - low, 1e-12), 0.0, 1.0)
    return array


def _grey(array):
    """A display array as luminance (H, W), the backdrop of a heat-map overlay."""
    return array if array.ndim == 2 else array[..., :3] @ [0.299, 0.587, 0.114]


def image_grid(images, titles=None, ncols: int = 8, overlays=None, cell: float = 1.3, row_labels=None,
               overlay_alpha: float = CAM_ALPHA, cmap: str = CAM_CMAP, colorbar_label: str | None = None,
               display: Callable = to_display, title: str | None = None):
    """A grid of images and titles; with ``overlays`` (maps in [0, 1], e.g. Grad-CAM), each drawn in ``cmap``
    over the image in grey, and a colour bar labelled ``colorbar_label`` when given. ``display`` turns an image into
    an array to show (``block_stretch`` for dominoes). Returns the figure."""
    import matplotlib.pyplot as plt

    count = len(images)
    nrows = int(np.ceil(count / ncols))
    height, width = display(images[0]).shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * cell * height / width), squeeze=False,
                             layout="constrained")
    shown = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if i >= count:
            ax.axis("off")
            continue
        array = display(images[i])
        if overlays is not None and not np.all(np.isnan(overlays[i])):
            ax.imshow(_grey(array), cmap="gray", vmin=0, vmax=1)
            shown = ax.imshow(overlays[i], cmap=cmap, alpha=overlay_alpha, vmin=0, vmax=1)
        else:
            ax.imshow(array, cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=TICK_SIZE, fontweight="normal")
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(row_labels[i // ncols], fontsize=TICK_SIZE)
    _title(fig, title)
    if shown is not None and colorbar_label:
        _colorbar(fig, axes, shown, colorbar_label)
    return fig


def _title(fig, title: str | None) -> None:
    """A figure title wrapped to the figure's width."""
    if title:
        fig.suptitle(textwrap.fill(title, max(TITLE_MIN_CHARS, int(fig.get_figwidth() * TITLE_CHARS_PER_INCH))))


def _colorbar(fig, axes, mappable, label: str) -> None:
    """One colour bar for a grid of overlays, opaque (the overlays are drawn translucent), its label wrapped."""
    colorbar = fig.colorbar(mappable, ax=axes, shrink=COLORBAR_SHRINK, aspect=COLORBAR_ASPECT)
    colorbar.solids.set_alpha(1.0)
    height = fig.get_figheight() * COLORBAR_SHRINK
    colorbar.set_label(textwrap.fill(label, max(LABEL_MIN_CHARS, int(height * TITLE_CHARS_PER_INCH))))


def cam_grid(images, maps: Mapping[str, object], *, by: str = "row", boundary: float | None = None,
             display: Callable = to_display, cell: float = 1.5, title: str | None = None,
             colorbar_label: str = f"Grad-CAM ({CAM_NORMALISATION})", cmap: str = CAM_CMAP):
    """Grad-CAM (or attention) maps of the same images under several models: the input first, then one map per
    ``maps`` entry (``maps[label]`` is (n, H, W) in [0, 1], drawn in ``cmap`` over the image in grey), with one
    colour bar saying how the maps are scaled. ``by="row"``: one row per image, the input in the first column;
    ``by="column"``: one column per image, the input in the first row (tall images such as dominoes).
    ``boundary`` draws a dashed line at that fraction of the height (the dominoes' block boundary)."""
    import matplotlib.pyplot as plt

    if by not in ("row", "column"):
        raise ValueError(f"cam_grid by={by!r}: choose 'row' (one row per image) or 'column'")
    labels = ["input", *(display_name(label) for label in maps)]
    layers = [None, *(np.asarray(m, dtype=float) for m in maps.values())]
    n = len(images)
    height, width = display(images[0]).shape[:2]
    shape = (n, len(labels)) if by == "row" else (len(labels), n)
    fig, axes = plt.subplots(*shape, figsize=(shape[1] * cell + 1, shape[0] * cell * height / width), squeeze=False,
                             layout="constrained")
    shown = None
    for i, j in ((i, j) for i in range(n) for j in range(len(labels))):
        ax = axes[i, j] if by == "row" else axes[j, i]
        array = display(images[i])
        if layers[j] is None:
            ax.imshow(array, cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(_grey(array), cmap="gray", vmin=0, vmax=1)
            shown = ax.imshow(layers[j][i], cmap=cmap, alpha=CAM_ALPHA, vmin=0, vmax=1)
        if boundary is not None:
            ax.axhline(boundary * height - 0.5, **BOUNDARY_STYLE)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if by == "row" and i == 0:
            ax.set_title(labels[j])
        if by == "column" and i == 0:
            ax.set_ylabel(labels[j])
    _title(fig, title)
    if shown is not None:
        _colorbar(fig, axes, shown, colorbar_label)
    return fig


RETRIEVAL_COLORS = {"correct": OKABE_ITO["blue"], "wrong": OKABE_ITO["vermillion"], "query": "0.15"}
"""Frame colours of ``retrieval_grid``: blue shares the query's label, vermillion (and ✗) does not; a pair that
colour-blind readers tell apart (the paper's Figure 6 uses green and red)."""


def retrieval_grid(queries, retrieved, correct, row_labels=None, cell: float = 0.95, frame_width: float = 3.0,
                   column_titles: bool = True):
    """Figure 6: one row per query — the query (dark frame), then its ranked retrievals, each framed blue when it
    shares the query's label and vermillion otherwise (wrong ones also carry a small ✗ for colour-blind readers).

    ``queries``: n images; ``retrieved``: n sequences of k images; ``correct``: (n, k) booleans. Returns the figure.
    """
    import matplotlib.pyplot as plt

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


DOSE_COLORS = (OKABE_ITO["black"], OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["bluish green"],
               OKABE_ITO["orange"], OKABE_ITO["reddish purple"])
"""Line colours of ``dose_curves``, one per test set in the order given."""
RANGE_ALPHA = 0.2
"""Opacity of the band ``dose_curves`` shades between the lowest and the highest seed."""


def dose_curves(curves: Mapping[str, Mapping[float, float]], *, xlabel: str, ylabel: str = "test mAP",
                shares: Mapping[float, float] | None = None, share_label: str = "image term's share of the trunk "
                "gradient", onset: float | None = None, onset_label: str = "intact mAP starts to fall",
                xscale: str = "linear", title: str | None = None,
                ranges: Mapping[str, Mapping[float, tuple[float, float]]] | None = None):
    """Scores against a dose (notebook 01: mAP against η, or against the fraction p of randomised digits): one line
    per test set (``curves[test][dose]``, the mean over seeds) with ``ranges[test][dose] = (lowest, highest)`` over
    seeds shaded around it, optionally a lower panel with ``shares[dose]`` (a share in [0, 1]) and a dotted vertical
    line at ``onset``. ``xscale="symlog"`` spreads doses over decades while keeping 0."""
    import matplotlib.pyplot as plt

    rows = 2 if shares else 1
    fig, axes = plt.subplots(rows, 1, figsize=(6.4, 3.4 * rows), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1][:rows]})
    ax = axes[0, 0]
    for color, (test, values) in zip(DOSE_COLORS * len(curves), curves.items()):
        x = sorted(values)
        ax.plot(x, [values[d] for d in x], marker="o", markersize=4, color=color, label=test)
        if ranges and test in ranges:
            ax.fill_between(x, [ranges[test][d][0] for d in x], [ranges[test][d][1] for d in x], color=color,
                            alpha=RANGE_ALPHA, linewidth=0)
    ax.set(ylabel=ylabel, ylim=(0.0, 1.02), title=title)
    if shares:
        x = sorted(shares)
        axes[1, 0].plot(x, [shares[d] for d in x], marker="s", markersize=4, color=OKABE_ITO["black"])
        axes[1, 0].set(ylabel=share_label, ylim=(0.0, 1.0))
        axes[1, 0].yaxis.label.set_size(TICK_SIZE)
    for panel in axes[:, 0]:
        if onset is not None:
            panel.axvline(onset, color=OKABE_ITO["black"], linestyle=":", linewidth=1.2,
                          label=onset_label if panel is ax else None)
        if xscale == "symlog":
            panel.set_xscale("symlog", linthresh=1.0)
        else:
            panel.set_xscale(xscale)
    doses = sorted({d for values in curves.values() for d in values})
    if xscale == "symlog" and doses[0] >= 0:  # no empty negative half
        ax.set_xlim(doses[0], doses[-1] * 1.5 if doses[-1] > 0 else 1.0)
    axes[-1, 0].set(xlabel=xlabel)
    ax.legend(loc="best", fontsize=TICK_SIZE)
    fig.tight_layout()
    return fig


__all__ = ["CAM_NORMALISATION", "DOSE_COLORS", "METHOD_COLORS", "METHOD_ORDER", "OKABE_ITO", "RANGE_ALPHA",
           "STUDIED", "attribute_label", "bar_with_ci", "bit_attribute_heatmap", "block_share_bars", "block_stretch",
           "cam_grid", "display_name", "dose_curves", "gradient_share_curves", "image_grid",
           "measure_bars", "method_color", "ndcg_curves", "quantity_label", "query_time_plot", "ranking",
           "retrieval_grid", "save_figure", "style", "to_display", "training_curves", "value_bars"]
