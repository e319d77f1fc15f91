"""One figure style for the workbook, and saving to ``figures/<profile>/`` with the profile stamped on the figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

from .paths import figures_dir

DPI = 150
METHOD_ORDER = ("baseline", "exchnet", "a2net", "a2net++", "itq", "sdh", "dpsh", "hashnet", "csq", "orthocos")
"""Every method of the comparison, the four studied ones first; each keeps one colour across every figure."""
STAMP_SIZE = 7
STAMP_COLOR = "0.45"


def use_style() -> None:
    """The workbook's matplotlib/seaborn style: white grid, readable fonts, colour-blind palette."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def method_color(method: str):
    """The colour of ``method`` in every figure (colour-blind palette; unknown methods get grey)."""
    import seaborn as sns

    palette = sns.color_palette("colorblind", len(METHOD_ORDER))
    return palette[METHOD_ORDER.index(method)] if method in METHOD_ORDER else (0.5, 0.5, 0.5)


def save_figure(fig, name: str, profile: str) -> Path:
    """Save ``fig`` as ``figures/<profile>/<name>.png``, stamped with the profile that made it."""
    fig.text(0.995, 0.005, f"a2lib · profile {profile}", ha="right", va="bottom", fontsize=STAMP_SIZE,
             color=STAMP_COLOR)
    path = figures_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


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
