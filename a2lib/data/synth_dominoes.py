"""Embedded dominoes pair: real handwritten digits (scikit-learn's bundled 8x8 set) on top of a procedural 10-class
colour-texture block, generated deterministically from a seed and cached under ``<root>/synth-dominoes/``.

Digits are upscaled with nearest neighbour (crisp strokes) and jittered in position; the complex classes are
oriented, frequency-coded textures in a random colour, shown in a random elliptical patch over randomly lit, noisy
backgrounds (distractor gratings and blobs are options, off by default since they made the block unlearnable in the
quick profile's training budget), so a class depends on texture statistics under pose, not on colour or silhouette.
Train and test digits come from disjoint halves of the 1,797 scikit-learn digits.

Simplicity bias, measured with the workbook's BASELINE at 32 bits in the ``quick`` profile (notebook 01, section
"How much does the shortcut cost?"; ``a2lib run --profile quick --only 01``, results/quick/01_simplicity_bias.json,
key ``baseline_bias``; tie-aware mAP, 3,000 train / 1,000 test, seed 0, the defaults below):
(a) trained and tested on the complex block alone (digits blanked): mAP 0.838 (target >= 0.60: it is learnable);
(b) trained on dominoes, tested on simple-only (randomised): mAP 0.983 (target >= 0.90: the digits are learned);
(c) trained on dominoes, tested on complex-only (randomised): mAP 0.111 = 0.13 x (a) (target <= a/2: ignored).
At 12 bits: 0.850 / 0.980 / 0.107. ``benchmarks/dominoes_bias_proxy.py`` is the independent small-CNN check used
while tuning the generator.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .arrays import ArrayDataset
from .dominoes import FLAVOURS, VARIANTS, _check_choice, dominoes
from .embedded import check_count, load_or_generate, resolve_root

NUM_CLASSES = 10
BLOCK = 32
DIGIT_MAX = 16.0
DIGIT_CLASS_NAMES = [str(d) for d in range(NUM_CLASSES)]
SPLITS = ("train", "test")
CACHE_VERSION = 1
SPLIT_SEED_OFFSET = {"train": 0, "test": 1_000_003}
BLOCK_KEYS = ("simple", "simple_labels", "complex", "complex_labels")


@dataclass(frozen=True)
class DigitParams:
    """Simple block: 8x8 digits upscaled ``scale`` times (nearest), shifted by up to ``jitter`` px, grey on black."""
    scale: int = 3
    jitter: int = 1
    min_intensity: float = 0.8
    test_fraction: float = 0.5


@dataclass(frozen=True)
class TextureParams:
    """Complex block: class c = (orientation c % 5, spatial frequency c // 5) of a grating in an elliptical patch.

    Colours, phase, patch pose, background clutter (distractor gratings and blobs) and lighting are random nuisance.
    The block is dim (``gain``): learnable alone, but a weak signal next to the bright digits, which the
    simplicity-bias measurement relies on (tuned with ``benchmarks/dominoes_bias_proxy.py``).
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


@dataclass(frozen=True)
class SynthDominoesConfig:
    n_train: int = 3000
    n_test: int = 1000
    seed: int = 0
    digits: DigitParams = field(default_factory=DigitParams)
    texture: TextureParams = field(default_factory=TextureParams)


COMPLEX_CLASS_NAMES = [
    f"texture-o{c % TextureParams.num_orientations}-f{c // TextureParams.num_orientations}" for c in range(NUM_CLASSES)
]


def _hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Vectorised saturated colour for hue in [0,1): (n,) -> (n,3)."""
    k = (hue[:, None] * 6.0 + np.array([5.0, 3.0, 1.0])) % 6.0
    return 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    base = _hue_to_rgb(rng.random(n))
    saturation = rng.uniform(0.3, 1.0, size=(n, 1))
    value = rng.uniform(0.35, 1.0, size=(n, 1))
    return value * (saturation * base + (1.0 - saturation))


def _ellipse(grid_y, grid_x, cy, cx, ry, rx, angle) -> np.ndarray:
    """(n,H,W) boolean masks of rotated ellipses with per-image parameters (n,)."""
    dy, dx = grid_y[None] - cy[:, None, None], grid_x[None] - cx[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (u / rx[:, None, None]) ** 2 + (v / ry[:, None, None]) ** 2 <= 1.0


def _grating(grid_y, grid_x, theta, frequency, phase) -> np.ndarray:
    """(n,H,W) sinusoid in [-1,1] with per-image orientation (rad), frequency (cycles/px) and phase."""
    proj = np.cos(theta)[:, None, None] * grid_x[None] + np.sin(theta)[:, None, None] * grid_y[None]
    return np.sin(2 * np.pi * frequency[:, None, None] * proj + phase[:, None, None])


def render_textures(labels: np.ndarray, params: TextureParams, rng: np.random.Generator,
                    size: int = BLOCK) -> np.ndarray:
    """Render the complex block for each class label: uint8 (n, 3, size, size)."""
    n = len(labels)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = lambda bounds, shape=n: rng.uniform(bounds[0], bounds[1], size=shape)
    top, bottom = _random_colours(rng, n), _random_colours(rng, n)
    t = (grid_y / (size - 1))[None, None]
    image = top[:, :, None, None] * (1 - t) + bottom[:, :, None, None] * t
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
    gain = u(params.gain)[:, None, None, None]
    slope = u((-params.gradient, params.gradient))[:, None, None, None]
    light_angle = u((0, 2 * np.pi))
    ramp = (np.cos(light_angle)[:, None, None] * (grid_x[None] / size - 0.5)
            + np.sin(light_angle)[:, None, None] * (grid_y[None] / size - 0.5))[:, None]
    image = image * gain * (1 + slope * ramp) + rng.normal(0, params.noise, size=image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _digit_pool(split: str, params: DigitParams):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images, labels = digits.images.astype(np.float32) / DIGIT_MAX, digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    is_test = np.zeros(len(labels), dtype=bool)
    for c in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        is_test[idx[: int(round(len(idx) * params.test_fraction))]] = True
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
    if side > size:
        raise ValueError(f"digit scale {params.scale} gives {side}px digits, larger than the {size}px block")
    centre = (size - side) // 2
    max_shift = min(params.jitter, centre)
    dy = centre + rng.integers(-max_shift, max_shift + 1, size=n)
    dx = centre + rng.integers(-max_shift, max_shift + 1, size=n)
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


def generate_blocks(config: SynthDominoesConfig, split: str) -> dict[str, torch.Tensor]:
    """The split's simple and complex source blocks (balanced classes), deterministic from ``config.seed``."""
    n = config.n_train if split == "train" else config.n_test
    rng = np.random.default_rng(config.seed + SPLIT_SEED_OFFSET[split])
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    simple = render_digits(labels, split, config.digits, rng)
    complex_labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    complex_ = render_textures(complex_labels, config.texture, rng)
    return {"simple": torch.from_numpy(simple), "simple_labels": torch.from_numpy(labels),
            "complex": torch.from_numpy(complex_), "complex_labels": torch.from_numpy(complex_labels)}


def load_blocks(config: SynthDominoesConfig, split: str, root=None) -> dict[str, torch.Tensor]:
    """``generate_blocks`` through the cache ``<root>/synth-dominoes/<hash>.pt`` (``root``: ``data_root()`` if None)."""
    path = resolve_root(root) / "synth-dominoes" / f"{_config_key(config, split)}.pt"
    return load_or_generate(path, lambda: generate_blocks(config, split), BLOCK_KEYS)


def synth_dominoes(split: str = "train", root=None, variant: str = "both", flavour: str = "randomised",
                   n_train: int = 3000, n_test: int = 1000, seed: int = 0, transform=None,
                   digits: DigitParams | dict | None = None, texture: TextureParams | dict | None = None):
    """The embedded dominoes split (3x64x32 in [0,1]); ``variant``/``flavour`` as in ``dominoes``; ``root``
    defaults to ``a2lib.folders.data_root()``."""
    _check_choice("split", split, SPLITS)
    n_train, n_test = check_count(n_train, "synth-dominoes n_train"), check_count(n_test, "synth-dominoes n_test")
    _check_choice("dominoes variant", variant, VARIANTS)
    _check_choice("dominoes flavour", flavour, FLAVOURS)
    digits = DigitParams(**digits) if isinstance(digits, dict) else (digits or DigitParams())
    texture = TextureParams(**texture) if isinstance(texture, dict) else (texture or TextureParams())
    config = SynthDominoesConfig(n_train, n_test, seed, digits, texture)
    blocks = load_blocks(config, split, root)
    simple = ArrayDataset(blocks["simple"], blocks["simple_labels"], class_names=DIGIT_CLASS_NAMES)
    complex_ = ArrayDataset(blocks["complex"], blocks["complex_labels"], class_names=COMPLEX_CLASS_NAMES)
    n = len(simple)
    return dominoes(simple, complex_, variant=variant, flavour=flavour, n=n, num_classes=NUM_CLASSES,
                    seed=config.seed + SPLIT_SEED_OFFSET[split] + 1, transform=transform)
