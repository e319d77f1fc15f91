"""a2lib.probes: a linear probe reads a class from frozen features when, and only when, the features carry it."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from a2lib.data import ArrayDataset, dominoes
from a2lib.models.base import HashOutput
from a2lib.probes import ProbeOptions, linear_probe, probe_accuracy, representation_of
from a2lib.studies import simplicity

K = 5
PER_CLASS = 40
BLOCK = 8


class Reader(nn.Module):
    """Features: the mean colour of the top or bottom half of the image (3 numbers); codes: their tanh."""

    def __init__(self, half: str):
        super().__init__()
        self.half, self.bits = half, 3
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, images, labels=None):
        rows = images.shape[2] // 2
        part = images[:, :, :rows] if self.half == "top" else images[:, :, rows:]
        features = part.mean(dim=(2, 3)) + self.anchor
        return HashOutput(codes=torch.tanh(features - 0.5), features=features)

    def encode(self, images):
        return self(images).codes


class Noise(Reader):
    """Features that ignore the image: seeded Gaussian noise."""

    def __init__(self):
        super().__init__("top")
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, images, labels=None):
        features = torch.randn(len(images), 16, generator=self.generator)
        return HashOutput(codes=torch.tanh(features), features=features)


def _block_source(offset: int, seed: int) -> ArrayDataset:
    """Class c: a block whose red level is 40 c + offset (plus a little noise), the other channels noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(K).repeat_interleave(PER_CLASS)
    images = torch.rand(len(labels), 3, BLOCK, BLOCK, generator=generator) * 0.2
    images[:, 0] += (40 * labels + offset).float()[:, None, None] / 255
    return ArrayDataset(images.clamp(0, 1), labels)


def _complex_only(seed: int):
    simple, complex_ = _block_source(10, seed), _block_source(20, seed + 1)
    return dominoes(simple, complex_, variant="complex-only", flavour="randomised", n=K * PER_CLASS,
                    block_size=(BLOCK, BLOCK), seed=seed)


def test_linear_probe_reads_linear_class_features_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.arange(1000) % 10
    carrying = np.eye(10)[labels] + rng.normal(0, 0.1, size=(1000, 10))
    assert linear_probe(carrying[:600], labels[:600], carrying[600:], labels[600:]) == pytest.approx(1.0)
    noise = rng.normal(size=(1000, 10))
    chance = linear_probe(noise[:600], labels[:600], noise[600:], labels[600:])
    assert abs(chance - 0.1) < 0.06  # 400 test items: the standard error of an accuracy of 0.1 is 0.015


def test_probe_of_the_complex_block_on_dominoes():
    """On complex-only (randomised) dominoes the bottom block shows the class and the top block another one: a model
    reading the bottom half is probed near 1, one reading the top half or noise near or below chance."""
    train, test = _complex_only(0), _complex_only(10)
    near_one = pytest.approx(1.0, abs=0.1)  # five classes along one line: the regularised probe may miss a few
    assert probe_accuracy(Reader("bottom"), train, test) == near_one
    assert probe_accuracy(SimpleNamespace(model=Reader("bottom")), train, test, representation="codes") == near_one
    assert probe_accuracy(Reader("top"), train, test) < 2 / K
    assert probe_accuracy(Noise(), train, test) < 2 / K
    # the top block's own class, recorded by the composition, is what the top reader holds
    assert probe_accuracy(Reader("top"), train, test, target="simple_labels") == near_one
    assert simplicity.complex_probe(Reader("bottom"), {"train": train, "test": test}) == near_one


def test_blanked_blocks_are_left_out_of_the_probe():
    simple, complex_ = _block_source(10, 0), _block_source(20, 1)
    blanked = dominoes(simple, complex_, variant="complex-only", flavour="blanked", n=K * PER_CLASS,
                       block_size=(BLOCK, BLOCK), seed=0)
    with pytest.raises(ValueError, match="single class"):
        probe_accuracy(Reader("top"), blanked, blanked, target="simple_labels")  # every simple block is blanked


def test_representations_and_errors():
    data = _complex_only(0)
    features = representation_of(Reader("bottom"), data)
    assert features.shape == (len(data), 3) and features.dtype == torch.float32
    codes = representation_of(Reader("bottom"), data, "codes")
    assert torch.allclose(codes, torch.tanh(features - 0.5))
    with pytest.raises(ValueError, match="unknown representation"):
        representation_of(Reader("bottom"), data, "logits")
    with pytest.raises(ValueError, match="no 'colour_labels' attribute"):
        probe_accuracy(Reader("bottom"), data, data, target="colour_labels")
    with pytest.raises(ValueError, match="trained model or a TrainResult"):
        probe_accuracy("model.pt", data, data)
    with pytest.raises(ValueError, match="train.*test"):
        simplicity.complex_probe(Reader("bottom"), {"train": data})
    assert ProbeOptions().C == 1.0
