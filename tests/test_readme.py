"""README.md's "Your own images" snippet runs as written on a generated class-per-folder tree of PNG and JPEG images.

The snippet's first line sets ``images, recipe``; the test puts its own folder and the ``smoke`` recipe there (so it
runs in seconds) and executes every other line of the block unchanged.
"""
import ast
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import a2lib

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "### Your own images"
SETTINGS = ("images", "recipe")
"""The names the snippet's first line assigns: where the images are and which recipe trains them."""
MAX_LINES = 15
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230)}
PER_CLASS, SIZE, NOISE_SD = 10, 64, 20.0
SHOWN = 3
"""Queries whose neighbours the snippet prints."""


def readme_block(heading: str) -> str:
    """The first ```python block after the line ``heading`` in README.md."""
    text = README.read_text()
    assert heading in text.splitlines(), f"README.md has no line {heading!r}"
    after = text[text.index(heading + "\n"):]
    match = re.search(r"^```python\n(.*?)^```$", after, re.S | re.M)
    assert match, f"no ```python block after {heading!r} in README.md"
    return match[1]


def write_images(root: Path) -> None:
    """``root/<colour>/<i>.png|.jpg``: noisy solid colours, alternating PNG and JPEG."""
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = np.clip(np.array(colour) + rng.normal(0, NOISE_SD, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")


def test_your_own_images_snippet_runs(tmp_path, monkeypatch, capsys):
    code = readme_block(HEADING)
    lines = code.splitlines()
    assert len(lines) < MAX_LINES
    first = ast.parse(lines[0]).body
    assert len(first) == 1 and isinstance(first[0], ast.Assign), "the first line must only set images, recipe"
    assert [target.id for target in first[0].targets[0].elts] == list(SETTINGS)
    write_images(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("A2LIB_CACHE", str(tmp_path / "cache"))
    settings = f"images, recipe = {str(tmp_path / 'photos')!r}, 'smoke'"
    namespace = {}
    exec(compile("\n".join([settings, *lines[1:]]), f"{README}:{HEADING}", "exec"), namespace)

    printed = capsys.readouterr().out.strip().splitlines()
    scores = ast.literal_eval(next(line for line in printed if line.startswith("{")))
    assert set(scores) == {"map", "precision@10"} and 0 <= scores["map"] <= 1
    neighbours = printed[-SHOWN:]
    assert all(re.fullmatch(r"\d+\.(png|jpg) -> \[('\d+\.(png|jpg)'(, )?){5}\]", line) for line in neighbours)
    fitted, test = namespace["fitted"], namespace["test"]
    assert fitted.config.model == "a2net++" and fitted.config.dataset == "folder"
    assert len(test) == len(COLOURS) * round(PER_CLASS * 0.2)
    assert list((tmp_path / "cache").iterdir()), "fit did not use the cache under $A2LIB_CACHE"
    saved = [path for path in tmp_path.iterdir() if path.is_dir() and path.name not in ("photos", "cache")]
    assert len(saved) == 1
    loaded = a2lib.Fitted.load(saved[0], config=fitted.config)
    assert loaded.evaluate(test) == pytest.approx(scores)
