"""One figure style for the workbook, and saving to ``figures/<profile>/`` with the profile stamped on the figure."""
from __future__ import annotations

from pathlib import Path

import matplotlib

from .paths import figures_dir

DPI = 150
STAMP_SIZE = 7
STAMP_COLOR = "0.45"


def use_style() -> None:
    """The workbook's matplotlib/seaborn style: white grid, readable fonts, colour-blind palette."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def save_figure(fig, name: str, profile: str) -> Path:
    """Save ``fig`` as ``figures/<profile>/<name>.png``, stamped with the profile that made it."""
    fig.text(0.995, 0.005, f"a2lib · profile {profile}", ha="right", va="bottom", fontsize=STAMP_SIZE,
             color=STAMP_COLOR)
    path = figures_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path
