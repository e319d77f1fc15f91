"""Embedded dominoes pair: real handwritten digits (scikit-learn's bundled 8x8 set) on top of a procedural 10-class
colour block, generated deterministically from a seed and cached under ``<root>/synth-dominoes/``.

Digits are upscaled with nearest neighbour (crisp strokes) and jittered in position; train and test digits come from
disjoint halves of the 1,797 scikit-learn digits. The complex block has two styles (``complex_style``):

- ``"layouts"`` (default): the class is the *layout* of three coloured parts (a line, a triangle or a corner of
  parts on a 3x3 grid, ``LAYOUTS``) under pose (shift, rotation, scale), with random part shapes and colours,
  distractor parts that look like the object's own, random lighting and noise. The class lives at low spatial
  frequency, where a pixel reconstruction sees it: its class explains about 8% of the block's pixel variance
  (the digits' class: 24%), and it is still learned more slowly and less well than the digits.
- ``"gratings"``: the block of the first workbook versions, a dim (gain 0.2-0.4) high-frequency grating whose
  orientation and frequency are the class. Its class explains about 0% of its pixel variance (``data/README.md``),
  so it confounds "complex" with "faint"; kept to show that confound.

Every option is range-checked: a value outside its range is a ValueError naming the option and the range, never
capped. Measured simplicity bias, explained variance and the commands: ``data/README.md``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..checks import check_choice, check_int, check_interval, check_positive_int, check_real, options_of
from .arrays import ArrayDataset
from .dominoes import check_composition, check_simple_randomised, dominoes
from .embedded import IMAGE_COUNT, load_or_generate, resolve_root
from .registry import DataFacts, register_dataset

NUM_CLASSES = 10
BLOCK = 32
CHANNELS = 3
DEFAULT_N_TRAIN = 3000
DIGIT_SIDE = 8
"""scikit-learn's digits are 8x8."""
DIGIT_MAX = 16.0
DIGIT_CLASS_NAMES = [str(d) for d in range(NUM_CLASSES)]
SPLITS = ("train", "test")
COMPLEX_STYLES = ("layouts", "gratings")
CACHE_VERSION = 2
SPLIT_SEED_OFFSET = {"train": 0, "test": 1_000_003}
BLOCK_KEYS = ("simple", "simple_labels", "complex", "complex_labels")
DIGIT_SPLIT_SEED = 0
"""Seed of the fixed train/test halves of the scikit-learn digits (independent of the data set's seed)."""
MAX_CLUTTER = 16
"""Most distractors/blobs per block: each is drawn over the whole block, and beyond this the block is clutter only."""
MAX_FREQUENCY = 0.5
"""Nyquist: a grating above 0.5 cycles per pixel aliases."""
MAX_POSE_SCALE = 2.0
"""Largest scale of a layout: at 2x the default layout no longer fits the 32-pixel block."""
HALF_TURN_DEG = 180.0
CLOSEST_LAYOUTS_DEG = 45.0
"""The smallest turn between two layouts' shapes (a line and a diagonal); a rotation jitter of half of it or more
would turn one class into another."""
COLOUR_SATURATION = (0.3, 1.0)
"""Saturation range of every random colour (the gratings block's and the layouts' parts and backgrounds)."""
GRATING_COLOUR_VALUE = (0.35, 1.0)
"""HSV value range of the gratings block's random colours."""
RADIUS_RANGE = (0.0, BLOCK / 2, True)
"""Valid (low, high, low open) of a radius pair option: (0, 16] px."""
UNIT_RANGE = (0.0, 1.0, False)
"""Valid (low, high, low open) of a value, contrast or gain pair option: [0, 1]."""


@dataclass(frozen=True)
class DigitParams:
    """Simple block: 8x8 digits upscaled ``scale`` times (nearest), shifted by up to ``jitter`` px, grey on black.

    Ranges: scale 1..4 (a 32px digit at most); jitter 0..(32 - 8*scale)//2 (the digit stays inside the block: 0..4
    at scale 3); min_intensity in [0, 1]; test_fraction in (0, 1), the share of each digit class kept for the test
    split.
    """
    scale: int = 3
    jitter: int = 1
    min_intensity: float = 0.8
    test_fraction: float = 0.5

    def __post_init__(self):
        scale = check_int("digits.scale", self.scale, 1, BLOCK // DIGIT_SIDE)
        check_int("digits.jitter", self.jitter, 0, max_jitter(scale))
        check_real("digits.min_intensity", self.min_intensity, 0.0, 1.0)
        check_real("digits.test_fraction", self.test_fraction, 0.0, 1.0, low_open=True, high_open=True)


def max_jitter(scale: int, size: int = BLOCK) -> int:
    """The largest shift that keeps a digit upscaled ``scale`` times inside a ``size`` block."""
    return (size - DIGIT_SIDE * scale) // 2


def _check_ranges(params, prefix: str, intervals: dict, reals: dict, counts: dict) -> None:
    """Check each (low, high) option in ``intervals`` (name -> (low, high, low_open)), each number in ``reals``
    (name -> (low, high)) and each count in ``counts`` (name -> high); option names prefixed ``prefix.``."""
    for name, (low, high, low_open) in intervals.items():
        object.__setattr__(params, name, check_interval(f"{prefix}.{name}", getattr(params, name), low, high, low_open))
    for name, (low, high) in reals.items():
        check_real(f"{prefix}.{name}", getattr(params, name), low, high)
    for name, high in counts.items():
        check_int(f"{prefix}.{name}", getattr(params, name), 0, high)


@dataclass(frozen=True)
class TextureParams:
    """The ``gratings`` complex block: class c = (orientation c % 5, spatial frequency c // 5) of a grating in an
    elliptical patch; colours, phase, patch pose, clutter (distractor gratings, blobs) and lighting are nuisance.

    The block is dim (``gain``) and its class is in high-frequency phase-random structure: nearly none of its
    pixel variance is explained by the class. Ranges: ``num_orientations`` x len(``frequencies``) >= 10 classes;
    frequencies in (0, 0.5] cycles/px; radii in (0, 16] px; contrasts, gain in [0, 1]; counts 0..16.
    """
    num_orientations: int = 5
    frequencies: tuple = (0.16, 0.28)
    orientation_jitter_deg: float = 6.0
    frequency_jitter: float = 0.12
    patch_radius: tuple = (12.0, 16.0)
    patch_contrast: tuple = (0.5, 0.8)
    distractors: int = 0
    distractor_radius: tuple = (5.0, 9.0)
    distractor_contrast: tuple = (0.25, 0.5)
    blobs: int = 0
    blob_radius: tuple = (2.0, 6.0)
    gain: tuple = (0.2, 0.4)
    gradient: float = 0.25
    noise: float = 0.03

    def __post_init__(self):
        orientations = check_int("texture.num_orientations", self.num_orientations, 1, NUM_CLASSES)
        frequencies = self.frequencies
        if not isinstance(frequencies, (tuple, list)) or not frequencies:
            raise ValueError(f"texture.frequencies must be a non-empty list of spatial frequencies in "
                             f"(0, {MAX_FREQUENCY}] cycles/px, got {frequencies!r}")
        for i, value in enumerate(frequencies):
            check_real(f"texture.frequencies[{i}]", value, 0.0, MAX_FREQUENCY, low_open=True)
        object.__setattr__(self, "frequencies", tuple(float(v) for v in frequencies))
        if orientations * len(frequencies) < NUM_CLASSES:
            raise ValueError(f"texture.num_orientations x len(texture.frequencies) must be at least {NUM_CLASSES} "
                             f"(one grating per class), got {orientations} x {len(frequencies)}")
        _check_ranges(self, "texture",
                      {"patch_radius": RADIUS_RANGE, "patch_contrast": UNIT_RANGE, "distractor_radius": RADIUS_RANGE,
                       "distractor_contrast": UNIT_RANGE, "blob_radius": RADIUS_RANGE, "gain": UNIT_RANGE},
                      {"orientation_jitter_deg": (0.0, HALF_TURN_DEG / 2), "gradient": (0.0, 1.0),
                       "noise": (0.0, 1.0)},
                      {"distractors": MAX_CLUTTER, "blobs": MAX_CLUTTER})
        check_real("texture.frequency_jitter", self.frequency_jitter, 0.0, 1.0, high_open=True)


LAYOUTS = {
    "vertical-line": ((-1, 0), (0, 0), (1, 0)),
    "horizontal-line": ((0, -1), (0, 0), (0, 1)),
    "diagonal": ((-1, -1), (0, 0), (1, 1)),
    "anti-diagonal": ((-1, 1), (0, 0), (1, -1)),
    "triangle-up": ((-1, 0), (1, -1), (1, 1)),
    "triangle-down": ((1, 0), (-1, -1), (-1, 1)),
    "triangle-left": ((0, -1), (-1, 1), (1, 1)),
    "triangle-right": ((0, 1), (-1, -1), (1, -1)),
    "corner-bottom-left": ((-1, -1), (1, -1), (1, 1)),
    "corner-top-right": ((-1, -1), (-1, 1), (1, 1)),
}
"""Class c of the ``layouts`` block: three parts at these (row, column) grid offsets from the block's centre, in
units of ``LayoutParams.spacing``. The layouts differ by a turn of 45 degrees or more (``CLOSEST_LAYOUTS_DEG``),
so the rotation jitter (15 degrees by default, below 22.5 always) never turns one class into another."""
PART_SHAPES = {"disc": 1.0, "square": 0.85, "diamond": 1.2}
"""Part shapes and the factor on the radius that gives each about the same area (pi r^2, 2.9 r^2, 2.9 r^2), so a
part's shape and size say nothing about the class."""


@dataclass(frozen=True)
class LayoutParams:
    """The ``layouts`` complex block: class c = the arrangement ``LAYOUTS[c]`` of three parts.

    Per image: the layout is shifted by up to ``shift`` px, turned by up to ``rotation_deg`` and scaled within
    ``scale``; each part gets a random shape (``PART_SHAPES``), radius and colour (HSV value in ``part_value``);
    ``distractors`` parts of the same look lie at random places behind the object; the background is a vertical
    gradient between two darker colours (``background_value``), lit by a random gain and slope, plus pixel noise.
    Ranges: spacing in (0, 16] px; radii in (0, 16] px; scale within (0, 2]; rotation_deg in [0, 22.5) (half the
    turn between the closest layouts); shift in [0, 16] px; values, saturation, gain in [0, 1]; gradient, noise in
    [0, 1]; distractors 0..16.
    """
    spacing: float = 8.0
    part_radius: tuple = (3.5, 5.0)
    scale: tuple = (0.85, 1.15)
    rotation_deg: float = 15.0
    shift: float = 3.0
    part_value: tuple = (0.6, 1.0)
    background_value: tuple = (0.1, 0.45)
    saturation: tuple = COLOUR_SATURATION
    distractors: int = 3
    distractor_radius: tuple = (2.5, 4.5)
    gain: tuple = (0.7, 1.0)
    gradient: float = 0.25
    noise: float = 0.03

    def __post_init__(self):
        _check_ranges(self, "layout",
                      {"part_radius": RADIUS_RANGE, "scale": (0.0, MAX_POSE_SCALE, True), "part_value": UNIT_RANGE,
                       "background_value": UNIT_RANGE, "saturation": UNIT_RANGE, "distractor_radius": RADIUS_RANGE,
                       "gain": UNIT_RANGE},
                      {"shift": (0.0, BLOCK / 2), "gradient": (0.0, 1.0), "noise": (0.0, 1.0)},
                      {"distractors": MAX_CLUTTER})
        check_real("layout.spacing", self.spacing, 0.0, BLOCK / 2, low_open=True)
        check_real("layout.rotation_deg", self.rotation_deg, 0.0, CLOSEST_LAYOUTS_DEG / 2, high_open=True)


@dataclass(frozen=True)
class SynthDominoesConfig:
    n_train: int = DEFAULT_N_TRAIN
    n_test: int = 1000
    seed: int = 0
    digits: DigitParams = field(default_factory=DigitParams)
    texture: TextureParams = field(default_factory=TextureParams)
    complex_style: str = "layouts"
    layout: LayoutParams = field(default_factory=LayoutParams)


GRATING_CLASS_NAMES = [
    f"texture-o{c % TextureParams.num_orientations}-f{c // TextureParams.num_orientations}" for c in range(NUM_CLASSES)
]
LAYOUT_CLASS_NAMES = list(LAYOUTS)
COMPLEX_CLASS_NAMES = {"layouts": LAYOUT_CLASS_NAMES, "gratings": GRATING_CLASS_NAMES}
"""Class names of each complex style."""


def _hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Vectorised saturated colour for hue in [0,1): (n,) -> (n,3)."""
    k = (hue[:, None] * 6.0 + np.array([5.0, 3.0, 1.0])) % 6.0
    return 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _random_colours(rng: np.random.Generator, n: int, value=GRATING_COLOUR_VALUE,
                    saturation=COLOUR_SATURATION) -> np.ndarray:
    """(n, 3) RGB colours of random hue, saturation in ``saturation`` and HSV value in ``value``."""
    base = _hue_to_rgb(rng.random(n))
    saturation = rng.uniform(*saturation, size=(n, 1))
    value = rng.uniform(*value, size=(n, 1))
    return value * (saturation * base + (1.0 - saturation))


def _rotated(grid_y, grid_x, cy, cx, angle):
    """Per-image coordinates (u, v), each (n,H,W), of the pixel grid relative to centres (cy, cx) turned by angle."""
    dy, dx = grid_y[None] - cy[:, None, None], grid_x[None] - cx[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    return c * dx + s * dy, -s * dx + c * dy


def _ellipse(grid_y, grid_x, cy, cx, ry, rx, angle) -> np.ndarray:
    """(n,H,W) boolean masks of rotated ellipses with per-image parameters (n,)."""
    u, v = _rotated(grid_y, grid_x, cy, cx, angle)
    return (u / rx[:, None, None]) ** 2 + (v / ry[:, None, None]) ** 2 <= 1.0


def _part(grid_y, grid_x, cy, cx, radius, shape, angle) -> np.ndarray:
    """(n,H,W) boolean masks of parts: per image a ``PART_SHAPES`` index ``shape``, a radius and a turn."""
    u, v = _rotated(grid_y, grid_x, cy, cx, angle)
    extent = np.asarray(list(PART_SHAPES.values()))[shape][:, None, None] * radius[:, None, None]
    disc, square, diamond = (np.hypot(u, v), np.maximum(abs(u), abs(v)), abs(u) + abs(v))
    distance = np.choose(shape[:, None, None], [disc, square, diamond])
    return distance <= extent


def _grating(grid_y, grid_x, theta, frequency, phase) -> np.ndarray:
    """(n,H,W) sinusoid in [-1,1] with per-image orientation (rad), frequency (cycles/px) and phase."""
    proj = np.cos(theta)[:, None, None] * grid_x[None] + np.sin(theta)[:, None, None] * grid_y[None]
    return np.sin(2 * np.pi * frequency[:, None, None] * proj + phase[:, None, None])


def _light(image: np.ndarray, gain, gradient: float, noise: float, rng: np.random.Generator, grid_y, grid_x,
           size: int) -> np.ndarray:
    """Random lighting (a gain in ``gain``, a linear ramp of slope up to ``gradient`` in a random direction), pixel
    noise of std ``noise``, clipped and quantised to uint8."""
    n = len(image)
    gain = rng.uniform(*gain, size=n)[:, None, None, None]
    slope = rng.uniform(-gradient, gradient, size=n)[:, None, None, None]
    light_angle = rng.uniform(0, 2 * np.pi, size=n)
    ramp = (np.cos(light_angle)[:, None, None] * (grid_x[None] / size - 0.5)
            + np.sin(light_angle)[:, None, None] * (grid_y[None] / size - 0.5))[:, None]
    image = image * gain * (1 + slope * ramp) + rng.normal(0, noise, size=image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _vertical_gradient(top: np.ndarray, bottom: np.ndarray, grid_y, size: int) -> np.ndarray:
    """(n,3,H,W) background fading from colour ``top`` to colour ``bottom`` (each (n,3))."""
    t = (grid_y / (size - 1))[None, None]
    return top[:, :, None, None] * (1 - t) + bottom[:, :, None, None] * t


def render_textures(labels: np.ndarray, params: TextureParams, rng: np.random.Generator,
                    size: int = BLOCK) -> np.ndarray:
    """Render the ``gratings`` complex block for each class label: uint8 (n, 3, size, size)."""
    n = len(labels)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = lambda bounds, shape=n: rng.uniform(bounds[0], bounds[1], size=shape)
    top, bottom = _random_colours(rng, n), _random_colours(rng, n)
    image = _vertical_gradient(top, bottom, grid_y, size)
    for _ in range(params.blobs):
        mask = _ellipse(grid_y, grid_x, u((0, size)), u((0, size)), u(params.blob_radius), u(params.blob_radius),
                        u((0, np.pi)))
        colour = _random_colours(rng, n)
        image = np.where(mask[:, None], colour[:, :, None, None], image)
    distractor_frequencies = np.asarray(params.frequencies)

    def paste_grating(theta, frequency, radius, contrast):
        mask = _ellipse(grid_y, grid_x, u((0.3 * size, 0.7 * size)), u((0.3 * size, 0.7 * size)),
                        u(radius), u(radius), u((0, np.pi)))
        wave = _grating(grid_y, grid_x, theta, frequency, u((0, 2 * np.pi)))
        light, dark = _random_colours(rng, n), _random_colours(rng, n)
        mix = (0.5 + 0.5 * u(contrast)[:, None, None] * wave)[:, None]
        texture = light[:, :, None, None] * mix + dark[:, :, None, None] * (1 - mix)
        return np.where(mask[:, None], texture, image)

    for _ in range(params.distractors):
        theta = u((0, np.pi))
        frequency = distractor_frequencies[rng.integers(len(distractor_frequencies), size=n)]
        image = paste_grating(theta, frequency, params.distractor_radius, params.distractor_contrast)
    orientation = (labels % params.num_orientations) * np.pi / params.num_orientations
    theta = orientation + np.deg2rad(rng.normal(0, params.orientation_jitter_deg, size=n))
    frequency = np.asarray(params.frequencies)[labels // params.num_orientations]
    frequency = frequency * (1 + u((-params.frequency_jitter, params.frequency_jitter)))
    image = paste_grating(theta, frequency, params.patch_radius, params.patch_contrast)
    return _light(image, params.gain, params.gradient, params.noise, rng, grid_y, grid_x, size)


def render_layouts(labels: np.ndarray, params: LayoutParams, rng: np.random.Generator,
                   size: int = BLOCK) -> np.ndarray:
    """Render the ``layouts`` complex block for each class label: uint8 (n, 3, size, size)."""
    n = len(labels)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    colours = lambda value: _random_colours(rng, n, value, params.saturation)
    colour = lambda value: colours(value)[:, :, None, None]
    shapes = lambda: rng.integers(len(PART_SHAPES), size=n)
    top = colours(params.background_value)
    image = _vertical_gradient(top, colours(params.background_value), grid_y, size)
    for _ in range(params.distractors):
        cy, cx = rng.uniform(0, size, size=n), rng.uniform(0, size, size=n)
        mask = _part(grid_y, grid_x, cy, cx, rng.uniform(*params.distractor_radius, size=n), shapes(),
                     rng.uniform(0, np.pi, size=n))
        image = np.where(mask[:, None], colour(params.part_value), image)
    offsets = np.asarray(list(LAYOUTS.values()), dtype=np.float64)[labels]  # (n, parts, 2): row, column
    scale = rng.uniform(*params.scale, size=n)
    turn = np.deg2rad(rng.uniform(-params.rotation_deg, params.rotation_deg, size=n))
    centre = (size - 1) / 2 + rng.uniform(-params.shift, params.shift, size=(n, 2))
    cos, sin = np.cos(turn), np.sin(turn)
    for part in range(offsets.shape[1]):
        dy, dx = offsets[:, part, 0] * params.spacing * scale, offsets[:, part, 1] * params.spacing * scale
        cy, cx = centre[:, 0] + cos * dy - sin * dx, centre[:, 1] + sin * dy + cos * dx
        radius = rng.uniform(*params.part_radius, size=n) * scale
        mask = _part(grid_y, grid_x, cy, cx, radius, shapes(), rng.uniform(0, np.pi, size=n))
        image = np.where(mask[:, None], colour(params.part_value), image)
    return _light(image, params.gain, params.gradient, params.noise, rng, grid_y, grid_x, size)


def _digit_pool(split: str, params: DigitParams):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images, labels = digits.images.astype(np.float32) / DIGIT_MAX, digits.target.astype(np.int64)
    rng = np.random.default_rng(DIGIT_SPLIT_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(len(idx) * params.test_fraction))
        if not 0 < n_test < len(idx):
            raise ValueError(f"digits.test_fraction={params.test_fraction} leaves digit {c} ({len(idx)} images) "
                             f"without a {'test' if n_test == 0 else 'training'} image; use a fraction between "
                             f"{1 / len(idx):.3f} and {1 - 1 / len(idx):.3f}")
        is_test[idx[:n_test]] = True
    keep = is_test if split == "test" else ~is_test
    return images[keep], labels[keep]


def render_digits(labels: np.ndarray, split: str, params: DigitParams, rng: np.random.Generator,
                  size: int = BLOCK) -> np.ndarray:
    """Crisp jittered digits of the given classes from the split's half of the digit set: uint8 (n, 3, size, size)."""
    pool_images, pool_labels = _digit_pool(split, params)
    n = len(labels)
    chosen = np.empty(n, dtype=np.int64)
    for c in range(NUM_CLASSES):
        where = np.flatnonzero(labels == c)
        chosen[where] = rng.choice(np.flatnonzero(pool_labels == c), size=len(where))
    big = pool_images[chosen].repeat(params.scale, axis=1).repeat(params.scale, axis=2)
    side = big.shape[1]
    if side > size or params.jitter > max_jitter(params.scale, size):
        raise ValueError(f"digits.scale={params.scale} and digits.jitter={params.jitter} do not fit a {size}px block: "
                         f"the {side}px digit can shift by at most {max(max_jitter(params.scale, size), 0)}px")
    centre = (size - side) // 2
    dy = centre + rng.integers(-params.jitter, params.jitter + 1, size=n)
    dx = centre + rng.integers(-params.jitter, params.jitter + 1, size=n)
    out = np.zeros((n, size, size), dtype=np.float32)
    rows = dy[:, None] + np.arange(side)[None]
    cols = dx[:, None] + np.arange(side)[None]
    out[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = big
    out *= rng.uniform(params.min_intensity, 1.0, size=(n, 1, 1))
    grey = (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
    return np.repeat(grey[:, None], 3, axis=1)


def _config_key(config: SynthDominoesConfig, split: str) -> str:
    payload = json.dumps({"version": CACHE_VERSION, "split": split, **asdict(config)}, sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def render_complex(labels: np.ndarray, config: SynthDominoesConfig, rng: np.random.Generator) -> np.ndarray:
    """The complex block of ``config.complex_style`` for each class label: uint8 (n, 3, 32, 32)."""
    if config.complex_style == "gratings":
        return render_textures(labels, config.texture, rng)
    return render_layouts(labels, config.layout, rng)


def generate_blocks(config: SynthDominoesConfig, split: str) -> dict[str, torch.Tensor]:
    """The split's simple and complex source blocks (balanced classes), deterministic from ``config.seed``."""
    n = config.n_train if split == "train" else config.n_test
    rng = np.random.default_rng(config.seed + SPLIT_SEED_OFFSET[split])
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    simple = render_digits(labels, split, config.digits, rng)
    complex_labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    complex_ = render_complex(complex_labels, config, rng)
    return {"simple": torch.from_numpy(simple), "simple_labels": torch.from_numpy(labels),
            "complex": torch.from_numpy(complex_), "complex_labels": torch.from_numpy(complex_labels)}


def load_blocks(config: SynthDominoesConfig, split: str, root=None) -> dict[str, torch.Tensor]:
    """``generate_blocks`` through the cache ``<root>/synth-dominoes/<hash>.pt`` (``root``: ``data_root()`` if None)."""
    path = resolve_root(root) / "synth-dominoes" / f"{_config_key(config, split)}.pt"
    return load_or_generate(path, lambda: generate_blocks(config, split), BLOCK_KEYS)


def make_config(n_train: int = DEFAULT_N_TRAIN, n_test: int = 1000, seed: int = 0,
                digits: DigitParams | dict | None = None, texture: TextureParams | dict | None = None,
                complex_style: str = "layouts", layout: LayoutParams | dict | None = None) -> SynthDominoesConfig:
    """The checked generation config of ``synth_dominoes``'s options (each out-of-range option a ValueError; options
    of the complex style not chosen, which would be silently ignored, too)."""
    check_choice("synth-dominoes complex_style", complex_style, COMPLEX_STYLES)
    for name, given, style in (("texture", texture, "gratings"), ("layout", layout, "layouts")):
        if given is not None and complex_style != style:
            raise ValueError(f"synth-dominoes {name}= options shape the {style!r} complex block, but complex_style is "
                             f"{complex_style!r}; pass complex_style={style!r} with them, or use "
                             f"{'layout' if name == 'texture' else 'texture'}= for the {complex_style!r} block")
    return SynthDominoesConfig(
        n_train=check_positive_int("synth-dominoes n_train", n_train, meaning=IMAGE_COUNT),
        n_test=check_positive_int("synth-dominoes n_test", n_test, meaning=IMAGE_COUNT),
        seed=check_int("synth-dominoes seed", seed, 0),
        digits=options_of(DigitParams, digits, "digits"), texture=options_of(TextureParams, texture, "texture"),
        complex_style=complex_style, layout=options_of(LayoutParams, layout, "layout"))


@register_dataset("synth-dominoes", source="embedded",
                  facts=DataFacts(NUM_CLASSES, DEFAULT_N_TRAIN, (CHANNELS, 2 * BLOCK, BLOCK)))
def synth_dominoes(split: str = "train", root=None, variant: str = "both", flavour: str = "randomised",
                   n_train: int = DEFAULT_N_TRAIN, n_test: int = 1000, seed: int = 0, transform=None,
                   digits: DigitParams | dict | None = None, texture: TextureParams | dict | None = None,
                   complex_style: str = "layouts", layout: LayoutParams | dict | None = None,
                   simple_randomised: float = 0.0):
    """The embedded dominoes split (3x64x32 in [0,1]); ``variant``/``flavour``/``simple_randomised`` (the fraction
    of items whose digit shows another class, in [0, 1]) as in ``dominoes``; ``root``
    defaults to ``a2lib.folders.data_root()``. ``complex_style`` picks the complex block ("layouts" with
    ``layout=`` options, or the older "gratings" with ``texture=`` options); ``digits=`` sets the simple block."""
    check_choice("synth-dominoes split", split, SPLITS)
    check_composition(variant, flavour, 0)
    check_simple_randomised(simple_randomised)
    config = make_config(n_train, n_test, seed, digits, texture, complex_style, layout)
    blocks = load_blocks(config, split, root)
    simple = ArrayDataset(blocks["simple"], blocks["simple_labels"], class_names=DIGIT_CLASS_NAMES)
    complex_ = ArrayDataset(blocks["complex"], blocks["complex_labels"],
                            class_names=COMPLEX_CLASS_NAMES[config.complex_style])
    n = len(simple)
    return dominoes(simple, complex_, variant=variant, flavour=flavour, n=n, num_classes=NUM_CLASSES,
                    seed=config.seed + SPLIT_SEED_OFFSET[split] + 1, transform=transform,
                    simple_randomised=simple_randomised)
