"""synth-birds: taxonomy (species of a genus differ in 1-2 properties), attributes, visibility, masks, caching."""
import itertools

import numpy as np
import pytest
import torch

from a2lib.data import load
from a2lib.data.synth_birds import (ATTRIBUTE_NAMES, PROPERTIES, TAXONOMY, generate_birds,
                                    properties_to_attributes)


def test_taxonomy_genera_and_species():
    props = TAXONOMY["species_properties"]
    genus = TAXONOMY["genus_of_class"]
    assert len(props) >= 50 and len(set(map(tuple, props))) == len(props)
    assert len(set(TAXONOMY["species_names"])) == len(props)
    for g in np.unique(genus):
        members = props[genus == g]
        assert len(members) >= 2
        for a, b in itertools.combinations(members, 2):
            assert 1 <= int((a != b).sum()) <= 2
    for a, b in itertools.combinations(range(len(props)), 2):
        if genus[a] != genus[b]:
            assert (props[a] != props[b]).sum() >= 1


def test_attribute_encoding_by_hand():
    assert len(ATTRIBUTE_NAMES) >= 8
    row = np.array([[list(PROPERTIES[p]).index(v) for p, v in [
        ("crown_color", "blue"), ("wing_color", "brown"), ("breast_color", "buff"), ("wing_pattern", "spotted"),
        ("tail_shape", "forked"), ("bill_length", "long"), ("eye_ring", "present"), ("crest", "absent")]]])
    attributes = properties_to_attributes(row)[0]
    on = {ATTRIBUTE_NAMES[i] for i in np.flatnonzero(attributes)}
    assert on == {"has_crown_color::blue", "has_wing_color::brown", "has_breast_color::buff",
                  "has_wing_pattern::spotted", "has_tail_shape::forked", "has_bill_length::long", "has_eye_ring"}


def test_dataset_structure_visibility_and_masks(tmp_path):
    d = load("synth-birds", "train", root=tmp_path, n_train=120, size=48)
    n = len(d)
    assert n == 120 and d.images_uint8.shape == (n, 3, 48, 48)
    image, label = d[0]
    assert image.shape == (3, 48, 48) and 0 <= image.min() and image.max() <= 1
    assert d.num_classes == len(d.species_names) == len(d.genus_of_class) >= 50
    assert len(d.genus_names) == int(d.genus_of_class.max()) + 1
    assert d.attributes.shape == (n, len(d.attribute_names)) and len(d.attribute_names) >= 8
    assert torch.bincount(d.labels, minlength=d.num_classes).max() <= 2
    # per-image attributes are the species' attributes with some switched off (occluded / out of frame), never on
    species = d.class_attributes[d.labels]
    assert bool((d.attributes <= species).all())
    assert bool((d.attributes < species).any())
    assert d.masks.shape == (n, 48, 48) and d.masks.dtype == torch.bool
    area = d.masks.float().mean(dim=(1, 2))
    assert bool((area > 0.01).all()) and bool((area < 0.5).all())
    # masks are aligned with the image: bird pixels differ from the background around them on average
    assert d.visibility.shape[0] == n and bool(((d.visibility >= 0) & (d.visibility <= 1)).all())


def test_deterministic_and_cached(tmp_path):
    a = load("synth-birds", "test", root=tmp_path / "a", n_test=64, size=32, seed=3)
    b = load("synth-birds", "test", root=tmp_path / "a", n_test=64, size=32, seed=3)
    c = load("synth-birds", "test", root=tmp_path / "c", n_test=64, size=32, seed=3)
    assert len(list((tmp_path / "a" / "synth-birds").glob("*.pt"))) == 1
    for x in (b, c):
        assert torch.equal(a.images_uint8, x.images_uint8) and torch.equal(a.masks, x.masks)
        assert torch.equal(a.attributes, x.attributes) and torch.equal(a.labels, x.labels)
    other = load("synth-birds", "test", root=tmp_path / "a", n_test=64, size=32, seed=4)
    assert not torch.equal(a.images_uint8, other.images_uint8)


def test_mask_marks_the_bird_pixels():
    """Render with a flat grey background and no clutter/lighting/noise: mask == pixels that are not background."""
    flat = dict(clutter_blobs=0, branches=0, occluder_probability=0.0, gain=(1.0, 1.0), colour_cast=0.0,
                shading=0.0, noise=0.0)
    from a2lib.data.synth_birds import BirdParams, render_birds
    rng = np.random.default_rng(0)
    out = render_birds(np.arange(6), 40, BirdParams(**flat), rng)
    images, masks = out["images"].astype(int), out["masks"]
    assert masks.any(axis=(1, 2)).all()
    for image, mask in zip(images, masks):
        for row in range(image.shape[1]):
            background = image[:, row][:, ~mask[row]]
            if background.shape[1] == 0:
                continue
            assert np.ptp(background, axis=1).max() <= 1  # the sky gradient is constant along a row
            bird = image[:, row][:, mask[row]]
            differs = np.abs(bird - background[:, :1]).max(axis=0) > 2
            assert differs.mean() >= 0.9 if bird.shape[1] >= 5 else True


def test_size_limits():
    with pytest.raises(ValueError, match="224"):
        generate_birds(4, 300, 0)
    assert generate_birds(2, 224, 0)["images"].shape == (2, 3, 224, 224)


@pytest.mark.parametrize("option,value", [("n_train", 0), ("n_test", 0), ("n_train", -1), ("n_train", "10")])
def test_sizes_must_be_positive_integers(tmp_path, option, value):
    """Issue 18 point 10: n_train=0 was a KeyError from deep inside the generator."""
    with pytest.raises(ValueError, match=f"synth-birds {option} must be a positive integer"):
        load("synth-birds", "train", root=tmp_path, size=16, **{option: value})
    with pytest.raises(ValueError, match="synth-birds n must be a positive integer"):
        generate_birds(0, 16, 0)


def test_truncated_cache_file_is_reported_moved_aside_and_regenerated(tmp_path):
    """Issue 18 point 6, for the birds' cache."""
    import re
    first = load("synth-birds", "test", root=tmp_path, n_test=8, size=16)
    (path,) = (tmp_path / "synth-birds").glob("*.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=re.escape(str(path)) + ".*moved it to .*corrupt-"):
        again = load("synth-birds", "test", root=tmp_path, n_test=8, size=16)
    assert torch.equal(first.images_uint8, again.images_uint8) and torch.equal(first.masks, again.masks)
    assert len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 1 and path.exists()
