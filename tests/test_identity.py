"""Dataset fingerprints (a2lib.data.identity): what each kind of dataset is identified by, cheap and deterministic."""
import random
import time

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset

from a2lib.data import ArrayDataset, LabelledSubset, dominoes, fingerprint, load
from a2lib.data.identity import item_fingerprint, own_fingerprint
from test_data_real import _aircraft, _cub


def _arrays(n=12, seed=0, attributes=False, transform=None):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 5, 5), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 3
    extra = (torch.arange(n * 4).reshape(n, 4) % 2) if attributes else None
    return ArrayDataset(images, labels, attributes=extra, transform=transform)


def test_array_fingerprint_follows_every_pixel_label_and_attribute():
    base = fingerprint(_arrays(attributes=True))
    assert fingerprint(_arrays(attributes=True)) == base and len(base) == 64
    pixel = _arrays(attributes=True)
    pixel.images_uint8[7, 2, 4, 4] ^= 1
    label = _arrays(attributes=True)
    label.labels[3] = 1  # was 0
    attribute = _arrays(attributes=True)
    attribute.attributes[0, 0] = 1 - attribute.attributes[0, 0]
    found = {base, fingerprint(pixel), fingerprint(label), fingerprint(attribute), fingerprint(_arrays())}
    assert len(found) == 5


def test_float_and_uint8_storage_of_other_values_differ_and_shapes_count():
    flat = ArrayDataset(torch.zeros(4, 1, 2, 8), torch.tensor([0, 1, 0, 1]))
    square = ArrayDataset(torch.zeros(4, 1, 4, 4), torch.tensor([0, 1, 0, 1]))
    assert fingerprint(flat) != fingerprint(square)  # same bytes, another shape


class Items(Dataset):
    """A user's dataset: items from a list, a random flip as transform (global torch generator), ``labels``."""

    def __init__(self, images, labels, flip=False):
        self.images, self.labels, self.flip = images, torch.as_tensor(labels), flip

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, int(self.labels[index])


def test_a_users_dataset_is_hashed_item_by_item_deterministically_without_touching_the_callers_rng():
    images = torch.rand(10, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    data = Items(images, torch.arange(10) % 2, flip=True)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    first = fingerprint(data)
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected  # the caller's streams continue as before
    torch.manual_seed(99)
    assert fingerprint(data) == first  # the random flips draw the same under the fixed item seed
    changed = images.clone()
    changed[3, 0, 0, 0] += 0.5
    assert fingerprint(Items(changed, torch.arange(10) % 2, flip=True)) != first
    assert fingerprint(Items(images, torch.arange(10) % 2 == 0, flip=True)) != first
    assert own_fingerprint(data) is None and fingerprint(data) == item_fingerprint(data)


def test_transformed_arrays_and_plain_subsets_fall_back_to_their_items():
    flipped = _arrays(transform=lambda image: image.flip(-1))
    assert own_fingerprint(flipped) is None
    assert fingerprint(flipped) != fingerprint(_arrays(transform=lambda image: image))
    subset = Subset(_arrays(), [0, 2, 4])
    assert fingerprint(subset) == item_fingerprint(subset) != fingerprint(Subset(_arrays(), [0, 2, 5]))


def test_labelled_subset_is_its_parent_and_its_indices():
    parent = _arrays()
    assert fingerprint(LabelledSubset(parent, [1, 2])) == fingerprint(LabelledSubset(_arrays(), [1, 2]))
    assert fingerprint(LabelledSubset(parent, [1, 2])) != fingerprint(LabelledSubset(parent, [1, 3]))
    assert own_fingerprint(LabelledSubset(_arrays(transform=lambda image: image), [1])) is None


def test_dominoes_are_identified_by_their_composed_images():
    def compose(seed):
        return dominoes(_arrays(n=12, seed=seed), _arrays(n=12, seed=seed + 1), n=6, num_classes=3, block_size=(5, 5))

    assert fingerprint(compose(0)) == fingerprint(compose(0)) != fingerprint(compose(2))


def test_synth_birds_sized_data_is_fingerprinted_well_under_a_second():
    """The quick profile trains on synth-birds (about 3,000 64x64 images with 22 attributes): an ArrayDataset."""
    g = torch.Generator().manual_seed(0)
    data = ArrayDataset(torch.randint(0, 256, (3000, 3, 64, 64), generator=g, dtype=torch.uint8),
                        torch.arange(3000) % 60, attributes=torch.randint(0, 2, (3000, 22), generator=g))
    start = time.perf_counter()
    fingerprint(data)
    assert time.perf_counter() - start < 0.5


def test_synth_birds_is_identified_by_content_wherever_it_was_generated(tmp_path):
    options = {"n_train": 30, "n_test": 10, "size": 16}
    here = load("synth-birds", "train", root=tmp_path / "a", **options)
    there = load("synth-birds", "train", root=tmp_path / "b", **options)
    assert fingerprint(here) == fingerprint(there) != fingerprint(load("synth-birds", "test", root=tmp_path / "a",
                                                                        **options))


def test_cub_fingerprint_covers_list_files_images_root_and_transform(tmp_path):
    _cub(tmp_path)
    base = tmp_path / "cub200" / "CUB_200_2011"
    first = fingerprint(load("cub200", "train", root=tmp_path, profile="quick"))
    assert fingerprint(load("cub200", "train", root=tmp_path, profile="quick")) == first
    assert fingerprint(load("cub200", "train", root=tmp_path, profile="quick", size=4)) != first  # the transform
    attributes = base / "attributes" / "image_attribute_labels.txt"
    attributes.write_text(attributes.read_text() + "\n")  # a list file's bytes, no parsed value changed
    second = fingerprint(load("cub200", "train", root=tmp_path, profile="quick"))
    assert second != first
    image = base / "images" / "001.Black_footed_Albatross" / "img_1.jpg"
    image.write_bytes(image.read_bytes() + b"\0")  # one image file's size
    assert fingerprint(load("cub200", "train", root=tmp_path, profile="quick")) != second
    image.unlink()
    with pytest.raises(FileNotFoundError, match="img_1.jpg"):
        fingerprint(load("cub200", "train", root=tmp_path, profile="quick"))


def test_aircraft_fingerprint_covers_its_annotation_list(tmp_path):
    _aircraft(tmp_path)
    dataset = load("aircraft", "train", root=tmp_path, profile="quick")
    lists = tmp_path / "aircraft" / "fgvc-aircraft-2013b" / "data"
    assert {p.name for p in dataset.list_files} == {"images_variant_trainval.txt", "variants.txt"}
    first = fingerprint(dataset)
    (lists / "variants.txt").write_text((lists / "variants.txt").read_text() + "\n")
    assert fingerprint(load("aircraft", "train", root=tmp_path, profile="quick")) != first
