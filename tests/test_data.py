"""Dominoes composition, embedded-set determinism and caching (default folder, concurrent writers, damaged files),
ArrayDataset, zero-shot split, transforms, load()."""
import numpy as np
import pytest
import torch

from a2lib.data import ArrayDataset, DATASETS, dominoes, for_profile, load, zero_shot_split
from a2lib.data.synth_dominoes import (LAYOUTS, DigitParams, LayoutParams, TextureParams, render_digits,
                                       render_layouts, render_textures)

K = 4
BLOCK = 8


def _source(offset: int, per_class: int = 5, channels: int = 3):
    """Each image is constant: value (offset + 10*class + index_in_class)/255, so its origin can be read back."""
    labels, images = [], []
    for c in range(K):
        for i in range(per_class):
            labels.append(c)
            images.append(np.full((channels, BLOCK, BLOCK), offset + 10 * c + i, dtype=np.uint8))
    return ArrayDataset(np.stack(images), np.array(labels))


def _decode(block):
    value = int(round(float(block[0, 0, 0]) * 255))
    return value


@pytest.fixture
def sources():
    return _source(100), _source(0, per_class=7, channels=1)


def test_both_blocks_in_place_and_classes_balanced(sources):
    simple, complex_ = sources
    d = dominoes(simple, complex_, n=40, block_size=(BLOCK, BLOCK), seed=1)
    assert len(d) == 40
    counts = torch.bincount(d.labels, minlength=K)
    assert counts.tolist() == [10] * K
    for i in range(len(d)):
        image, label = d[i]
        assert image.shape == (3, 2 * BLOCK, BLOCK)
        assert image.min() >= 0 and image.max() <= 1
        top, bottom = image[:, :BLOCK], image[:, BLOCK:]
        assert torch.all(top == top[0, 0, 0]) and torch.all(bottom == bottom[0, 0, 0])
        assert (_decode(top) - 100) // 10 == label
        assert _decode(bottom) // 10 == label
        assert torch.equal(bottom[0], bottom[2])  # grey complex source replicated to 3 channels


@pytest.mark.parametrize("variant,other", [("simple-only", "complex"), ("complex-only", "simple")])
def test_blanked_variant_zeros_the_other_block(sources, variant, other):
    d = dominoes(*sources, variant=variant, flavour="blanked", n=20, block_size=(BLOCK, BLOCK))
    for i in range(len(d)):
        image, label = d[i]
        kept, blank = (image[:, :BLOCK], image[:, BLOCK:]) if other == "complex" else (image[:, BLOCK:], image[:, :BLOCK])
        assert torch.all(blank == 0)
        assert (_decode(kept) % 100) // 10 == label
    assert torch.all(getattr(d, f"{other}_labels") == -1)


@pytest.mark.parametrize("variant,other", [("simple-only", "complex"), ("complex-only", "simple")])
def test_randomised_variant_other_block_never_shows_the_label(sources, variant, other):
    d = dominoes(*sources, variant=variant, flavour="randomised", n=200, block_size=(BLOCK, BLOCK), seed=3)
    shown = []
    for i in range(len(d)):
        image, label = d[i]
        top, bottom = image[:, :BLOCK], image[:, BLOCK:]
        kept, rand = (top, bottom) if other == "complex" else (bottom, top)
        assert (_decode(kept) % 100) // 10 == label
        other_class = (_decode(rand) % 100) // 10
        assert other_class != label
        shown.append(other_class)
    assert torch.equal(getattr(d, f"{other}_labels"), torch.tensor(shown))
    assert len(set(shown)) == K  # every other class appears


def test_bad_variant_and_flavour(sources):
    with pytest.raises(ValueError, match="simple-only"):
        dominoes(*sources, variant="top-only")
    with pytest.raises(ValueError, match="blanked"):
        dominoes(*sources, flavour="shuffled")


def test_item_wise_sources_compose_the_same(sources):
    simple, complex_ = sources

    class Plain(torch.utils.data.Dataset):
        def __init__(self, base):
            self.base = base
        def __len__(self):
            return len(self.base)
        def __getitem__(self, i):
            return self.base[i]

    a = dominoes(simple, complex_, n=12, block_size=(BLOCK, BLOCK), seed=5)
    b = dominoes(Plain(simple), Plain(complex_), n=12, block_size=(BLOCK, BLOCK), seed=5)
    assert torch.equal(a.images_uint8, b.images_uint8)
    assert torch.allclose(a[3][0], b[3][0])


def test_resizes_sources_to_block_size(sources):
    d = dominoes(*sources, n=8, block_size=(16, 12))
    assert d[0][0].shape == (3, 32, 12)


SMALL = dict(n_train=60, n_test=40)


def test_synth_dominoes_deterministic_and_cached(tmp_path):
    a = load("synth-dominoes", "train", root=tmp_path / "a", **SMALL)
    files = list((tmp_path / "a" / "synth-dominoes").glob("*.pt"))
    assert len(files) == 1
    cached = load("synth-dominoes", "train", root=tmp_path / "a", **SMALL)
    fresh = load("synth-dominoes", "train", root=tmp_path / "b", **SMALL)
    assert torch.equal(a.images_uint8, cached.images_uint8) and torch.equal(a.images_uint8, fresh.images_uint8)
    assert torch.equal(a.labels, fresh.labels)
    other = load("synth-dominoes", "train", root=tmp_path / "a", seed=1, **SMALL)
    assert not torch.equal(a.images_uint8, other.images_uint8)
    assert a.images_uint8.shape == (60, 3, 64, 32)
    image, label = a[0]
    assert image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    assert torch.bincount(a.labels).tolist() == [6] * 10
    test = load("synth-dominoes", "test", root=tmp_path / "a", variant="complex-only", flavour="randomised", **SMALL)
    assert len(test) == 40 and bool((test.simple_labels != test.labels).all())


def test_digit_and_texture_renderers():
    rng = np.random.default_rng(0)
    labels = np.arange(20) % 10
    digits = render_digits(labels, "train", DigitParams(), rng)
    assert digits.shape == (20, 3, 32, 32) and digits.dtype == np.uint8
    assert (digits[:, 0] == digits[:, 1]).all()  # grey
    textures = render_textures(labels, TextureParams(), rng)
    assert textures.shape == (20, 3, 32, 32) and textures.std() > 10


def test_layouts_put_the_class_parts_where_the_layout_says():
    """With every nuisance off (no pose jitter, clutter, lighting or noise; white parts on black), class c shows a
    part at each grid point of LAYOUTS[c], spacing px from the centre, and nothing at the other grid points."""
    plain = LayoutParams(spacing=9.0, part_radius=(2.0, 2.0), scale=(1.0, 1.0), rotation_deg=0.0, shift=0.0,
                         part_value=(1.0, 1.0), background_value=(0.0, 0.0), saturation=(0.0, 0.0), distractors=0,
                         gain=(1.0, 1.0), gradient=0.0, noise=0.0)
    labels = np.arange(10)
    images = render_layouts(labels, plain, np.random.default_rng(0))
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.uint8
    centre = 15.5
    for label, offsets in zip(labels, LAYOUTS.values()):
        lit = {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
               if images[label, 0, round(centre + 9 * dy), round(centre + 9 * dx)] == 255}
        assert lit == set(offsets), label
    assert set(np.unique(images)) == {0, 255} and (images[:, 0] == images[:, 2]).all()  # white on black


def test_layouts_are_deterministic_and_vary_with_nuisance():
    labels = np.arange(30) % 10
    a = render_layouts(labels, LayoutParams(), np.random.default_rng(5))
    assert np.array_equal(a, render_layouts(labels, LayoutParams(), np.random.default_rng(5)))
    assert not np.array_equal(a[:10], a[10:20])  # same classes, other pose, colours and clutter


@pytest.mark.parametrize("options,message", [
    ({"digits": {"jitter": 6}}, "digits.jitter must be an integer in [0, 4], got 6"),
    ({"digits": {"scale": 4, "jitter": 1}}, "digits.jitter must be an integer in [0, 0], got 1"),
    ({"digits": {"scale": 5}}, "digits.scale must be an integer in [1, 4], got 5"),
    ({"digits": {"min_intensity": 1.5}}, "digits.min_intensity must be a number in [0.0, 1.0], got 1.5"),
    ({"digits": {"test_fraction": 1.0}}, "digits.test_fraction must be a number in (0.0, 1.0), got 1.0"),
    ({"digits": {"test_fraction": 0.001}}, "digits.test_fraction=0.001 leaves digit"),
    ({"digits": {"jiter": 2}}, "unknown digits option(s) ['jiter']; valid options: scale, jitter"),
    ({"texture": {"noise": 0.0}}, "texture= options shape the 'gratings' complex block, but complex_style is "
                                  "'layouts'; pass complex_style='gratings' with them"),
    ({"complex_style": "gratings", "layout": {}}, "layout= options shape the 'layouts' complex block"),
    ({"layout": {"spacing": 0}}, "layout.spacing must be a number in (0.0, 16.0], got 0"),
    ({"layout": {"part_radius": (5, 3)}}, "layout.part_radius must be a pair (low, high) with low <= high"),
    ({"layout": {"scale": (0.5, 3.0)}}, "layout.scale must be a pair (low, high) with low <= high, both in (0.0, 2.0]"),
    ({"layout": {"rotation_deg": 30}}, "layout.rotation_deg must be a number in [0.0, 22.5), got 30"),
    ({"layout": {"shift": 20}}, "layout.shift must be a number in [0.0, 16.0], got 20"),
    ({"layout": {"part_value": (0.5, 1.1)}}, "layout.part_value must be a pair"),
    ({"layout": {"background_value": (0.5, 0.2)}}, "layout.background_value must be a pair"),
    ({"layout": {"saturation": (-1, 1)}}, "layout.saturation must be a pair"),
    ({"layout": {"distractors": 17}}, "layout.distractors must be an integer in [0, 16], got 17"),
    ({"layout": {"distractor_radius": (1, 17)}}, "layout.distractor_radius must be a pair"),
    ({"layout": {"gain": (0.7, 1.3)}}, "layout.gain must be a pair"),
    ({"layout": {"gradient": 2}}, "layout.gradient must be a number in [0.0, 1.0], got 2"),
    ({"layout": {"noise": 1.5}}, "layout.noise must be a number in [0.0, 1.0], got 1.5"),
    ({"layout": {"distractor": 3}}, "unknown layout option(s) ['distractor']; valid options: spacing"),
    ({"layout": "busy"}, "layout must be a dict of options or a LayoutParams, got str"),
    ({"complex_style": "stripes"}, "unknown synth-dominoes complex_style 'stripes'; choose one of 'layouts'"),
    ({"seed": -1}, "synth-dominoes seed must be an integer >= 0, got -1"),
    ({"seed": 1.5}, "synth-dominoes seed must be an integer >= 0, got 1.5"),
    ({"variant": "top-only"}, "unknown dominoes variant 'top-only'"),
    ({"flavour": "shuffled"}, "unknown dominoes flavour 'shuffled'"),
])
def test_every_generator_option_out_of_range_is_refused_not_capped(tmp_path, options, message):
    """Issue 19: e.g. digits.jitter 6 was silently capped at 4; every option now names itself and its range."""
    with pytest.raises(ValueError) as error:
        load("synth-dominoes", "train", root=tmp_path, **{**SMALL, **options})
    assert message in str(error.value)
    assert not (tmp_path / "synth-dominoes").exists()  # refused before anything is generated


@pytest.mark.parametrize("texture,message", [
    ({"num_orientations": 0}, "texture.num_orientations must be an integer in [1, 10], got 0"),
    ({"num_orientations": 4}, "texture.num_orientations x len(texture.frequencies) must be at least 10"),
    ({"frequencies": [0.2, 0.7]}, "texture.frequencies[1] must be a number in (0.0, 0.5], got 0.7"),
    ({"frequencies": []}, "texture.frequencies must be a non-empty list"),
    ({"orientation_jitter_deg": 120}, "texture.orientation_jitter_deg must be a number in [0.0, 90.0]"),
    ({"frequency_jitter": 1.0}, "texture.frequency_jitter must be a number in [0.0, 1.0), got 1.0"),
    ({"patch_radius": (16, 12)}, "texture.patch_radius must be a pair (low, high) with low <= high"),
    ({"patch_contrast": (0.5, 1.2)}, "texture.patch_contrast must be a pair (low, high) with low <= high, both "
                                     "in [0.0, 1.0], got (0.5, 1.2)"),
    ({"distractor_radius": (0, 3)}, "texture.distractor_radius must be a pair (low, high) with low <= high, both "
                                    "in (0.0, 16.0]"),
    ({"distractor_contrast": 0.5}, "texture.distractor_contrast must be a pair"),
    ({"blob_radius": (2, 20)}, "texture.blob_radius must be a pair"),
    ({"gain": (-0.1, 0.4)}, "texture.gain must be a pair"),
    ({"distractors": 17}, "texture.distractors must be an integer in [0, 16], got 17"),
    ({"blobs": -1}, "texture.blobs must be an integer in [0, 16], got -1"),
    ({"gradient": 1.5}, "texture.gradient must be a number in [0.0, 1.0], got 1.5"),
    ({"noise": -0.01}, "texture.noise must be a number in [0.0, 1.0], got -0.01"),
])
def test_gratings_options_out_of_range_are_refused(tmp_path, texture, message):
    with pytest.raises(ValueError) as error:
        load("synth-dominoes", "train", root=tmp_path, **SMALL, complex_style="gratings", texture=texture)
    assert message in str(error.value)


def test_in_range_options_are_accepted_as_lists_too(tmp_path):
    """YAML and JSON give lists where the defaults are tuples: the same data and the same cache file."""
    as_list = load("synth-dominoes", "train", root=tmp_path, **SMALL, layout={"part_radius": [3.5, 5.0]},
                   digits={"jitter": 4})
    as_tuple = load("synth-dominoes", "train", root=tmp_path, **SMALL, layout={"part_radius": (3.5, 5.0)},
                    digits=DigitParams(jitter=4))
    assert torch.equal(as_list.images_uint8, as_tuple.images_uint8)
    assert len(list((tmp_path / "synth-dominoes").glob("*.pt"))) == 1


@pytest.mark.parametrize("options,message", [
    ({"n": 0}, "dominoes n must be an integer >= 1, got 0"),
    ({"n": 3}, "dominoes n=3 is smaller than the number of classes (4)"),
    ({"num_classes": 1}, "dominoes num_classes must be an integer >= 2, got 1"),
    ({"block_size": (0, 8)}, "dominoes block_size[0] must be an integer >= 1, got 0"),
    ({"block_size": 8}, "dominoes block_size must be a pair (height, width)"),
    ({"seed": -2}, "dominoes seed must be an integer >= 0, got -2"),
    ({"transform": "flip"}, "dominoes transform must be a callable"),
    ({"simple_randomised": 1.5}, "dominoes simple_randomised (the fraction of items whose simple block shows another "
                                 "class) must be a number in [0.0, 1.0], got 1.5"),
    ({"simple_randomised": -0.1}, "must be a number in [0.0, 1.0], got -0.1"),
])
def test_dominoes_options_out_of_range_are_refused(sources, options, message):
    with pytest.raises(ValueError) as error:
        dominoes(*sources, **options)
    assert message in str(error.value)


def test_simple_randomised_swaps_the_digit_of_that_fraction_of_items_only(sources):
    plain = dominoes(*sources, n=40, block_size=(BLOCK, BLOCK), seed=1)
    assert dominoes(*sources, n=40, block_size=(BLOCK, BLOCK), seed=1, simple_randomised=0.0).fingerprint() == \
        plain.fingerprint()  # p = 0 draws nothing: the data as before the option
    swapped = dominoes(*sources, n=40, block_size=(BLOCK, BLOCK), seed=1, simple_randomised=0.25)
    assert torch.equal(swapped.labels, plain.labels) and torch.equal(swapped.complex_index, plain.complex_index)
    changed = swapped.simple_index != plain.simple_index
    assert int(changed.sum()) == 10  # round(0.25 x 40)
    shown = torch.tensor([_decode(swapped[i][0][:, :BLOCK]) - 100 for i in range(40)]) // 10  # class drawn on top
    assert torch.equal(shown, swapped.simple_labels)
    assert (swapped.simple_labels[changed] != swapped.labels[changed]).all()
    assert torch.equal(swapped.simple_labels[~changed], swapped.labels[~changed])
    for flavour in ("blanked", "randomised"):  # complex-only replaces every digit already
        options = dict(n=40, block_size=(BLOCK, BLOCK), seed=1, variant="complex-only", flavour=flavour)
        assert dominoes(*sources, simple_randomised=0.25, **options).fingerprint() == \
            dominoes(*sources, **options).fingerprint()


def test_array_dataset_nhwc_uint8_and_nchw_float():
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, size=(5, 6, 7, 3), dtype=np.uint8)
    d = ArrayDataset(nhwc, [0, 1, 2, 1, 0])
    image, label = d[2]
    assert image.shape == (3, 6, 7) and label == 2 and d.num_classes == 3
    assert torch.allclose(image, torch.from_numpy(nhwc[2]).permute(2, 0, 1).float() / 255)
    assert torch.equal(d.images_uint8[2], torch.from_numpy(nhwc[2]).permute(2, 0, 1))
    nchw = torch.rand(4, 3, 5, 5)
    f = ArrayDataset(nchw, torch.tensor([1, 0, 1, 0]), attributes=np.eye(4)[:, :3], transform=lambda x: x * 2)
    assert torch.allclose(f[1][0], nchw[1] * 2)
    assert f.attributes.shape == (4, 3) and len(f.attribute_names) == 3


def test_array_dataset_multi_hot():
    multi = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    d = ArrayDataset(np.zeros((3, 4, 4, 3), dtype=np.uint8), multi)
    assert d.labels.dtype == torch.float32 and d.num_classes == 3
    assert torch.equal(d[0][1], torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("images,labels,match", [
    (np.zeros((3, 4, 4, 3), np.uint8), [0, 1], "labels for 3 images"),
    (np.zeros((3, 4, 4, 5), np.float32), [0, 1, 2], "NCHW"),
    (np.zeros((3, 4, 4, 3), np.uint8), [[0, 2, 1]] * 3, "multi-hot"),
    (np.zeros((3,), np.uint8), [0, 1, 2], "dimensions"),
])
def test_array_dataset_bad_input(images, labels, match):
    with pytest.raises(ValueError, match=match):
        ArrayDataset(images, labels)


@pytest.mark.parametrize("labels", [["cat", "dog", "cat"], np.array(["cat", "dog", "cat"]), [0, "dog", 1]])
def test_array_dataset_with_class_names_as_labels_says_how_to_map_them(labels):
    """Issue 28: a raw torch TypeError."""
    with pytest.raises(ValueError, match=r"labels must be integer class indices .*got '(cat|dog)' among them; map "
                                         r"class names to indices first: names = sorted\(set\(labels\)\)"):
        ArrayDataset(np.zeros((3, 4, 4, 3), np.uint8), labels)


def test_zero_shot_split_single_and_multi_label():
    labels = torch.arange(40) % 8
    split = zero_shot_split(labels, unseen_fraction=0.25, seed=0)
    assert len(split.unseen_classes) == 2
    assert sorted(split.seen_classes + split.unseen_classes) == list(range(8))
    assert set(split.seen_indices).isdisjoint(split.unseen_indices)
    assert sorted(np.concatenate([split.seen_indices, split.unseen_indices]).tolist()) == list(range(40))
    for i in split.unseen_indices:
        assert int(labels[i]) in split.unseen_classes
    for i in split.seen_indices:
        assert int(labels[i]) in split.seen_classes
    data = ArrayDataset(np.zeros((40, 4, 4, 3), np.uint8), labels)
    seen, unseen = split.subsets(data)
    assert len(seen) + len(unseen) == 40 and set(unseen.labels.tolist()) == set(split.unseen_classes)
    multi = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    s = zero_shot_split(multi, unseen_classes=[1])
    assert s.unseen_indices.tolist() == [1] and s.seen_indices.tolist() == [0, 2]
    with pytest.raises(ValueError, match="proper subset"):
        zero_shot_split(multi, unseen_classes=[0, 1, 2])


def test_transforms_per_profile():
    from PIL import Image
    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 280, 3), dtype=np.uint8))
    train = for_profile("full", train=True)(pil)
    test = for_profile("full", train=False)(pil)
    assert train.shape == test.shape == (3, 224, 224)
    assert test.min() < 0  # ImageNet normalisation
    light = for_profile("quick", train=False, size=64)(pil)
    assert light.shape == (3, 64, 64) and 0 <= light.min() and light.max() <= 1
    tensor = torch.rand(3, 64, 32)
    assert torch.equal(for_profile("quick", train=False)(tensor), tensor)
    with pytest.raises(ValueError, match="full"):
        for_profile("huge", train=True)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError) as error:
        load("imagenet", "train")
    for name in DATASETS:
        assert name in str(error.value)


def test_mnist_cifar_missing_names_root_files_and_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load("mnist-cifar", "train", root=tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path / "mnist-cifar") in message and "train-images-idx3-ubyte" in message and "http" in message


def test_embedded_sets_default_to_the_data_root_never_the_cwd(tmp_path, monkeypatch):
    """Issue 18 point 1: without ``root`` the embedded sets live under ``a2lib.folders.data_root()``."""
    from a2lib.data import synth_dominoes
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("A2LIB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load("synth-dominoes", "train", **SMALL)
    monkeypatch.setenv("A2LIB_DATA", str(tmp_path / "env"))
    synth_dominoes("test", **SMALL)
    assert len(list((tmp_path / "xdg" / "a2lib" / "data" / "synth-dominoes").glob("*.pt"))) == 1
    assert len(list((tmp_path / "env" / "synth-dominoes").glob("*.pt"))) == 1
    assert not (tmp_path / "data").exists()


TINY_DOMINOES = dict(n_train=20, n_test=20)
TINY_BIRDS = dict(n_train=8, size=16)
SLOW_SAVE_S = 1.0


def _generate_at_once(root, barrier, results):
    """One of several processes generating the same embedded data into ``root`` at the same moment. ``torch.save``
    is slowed so the writes of all processes overlap (the window in which fixed temporary names collided)."""
    import hashlib
    import time

    save = torch.save

    def slow_save(*args, **kwargs):
        save(*args, **kwargs)
        time.sleep(SLOW_SAVE_S)

    torch.save = slow_save
    barrier.wait()
    dominoes_set = load("synth-dominoes", "train", root=root, **TINY_DOMINOES)
    birds = load("synth-birds", "train", root=root, **TINY_BIRDS)
    digest = hashlib.sha256(dominoes_set.images_uint8.numpy().tobytes() + birds.images_uint8.numpy().tobytes())
    results.put(digest.hexdigest())


@pytest.mark.slow
def test_three_processes_generating_the_same_data_at_once_all_succeed(tmp_path):
    """Issue 18 point 7: unique temporary names and atomic renames let concurrent writers share one data folder."""
    import hashlib
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_generate_at_once, args=(str(tmp_path / "shared"), barrier, results))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    digests = {results.get(timeout=10) for _ in workers}
    alone_dominoes = load("synth-dominoes", "train", root=tmp_path / "alone", **TINY_DOMINOES)
    alone_birds = load("synth-birds", "train", root=tmp_path / "alone", **TINY_BIRDS)
    alone = hashlib.sha256(alone_dominoes.images_uint8.numpy().tobytes() + alone_birds.images_uint8.numpy().tobytes())
    assert digests == {alone.hexdigest()}
    shared_dominoes = load("synth-dominoes", "train", root=tmp_path / "shared", **TINY_DOMINOES)
    assert torch.equal(shared_dominoes.images_uint8, alone_dominoes.images_uint8)
    leftovers = sorted(p.name for p in (tmp_path / "shared").rglob("*") if p.is_file() and p.suffix != ".pt")
    assert leftovers == []


@pytest.mark.parametrize("damage", ["truncated", "not the expected entries"])
def test_damaged_cache_file_is_moved_aside_and_regenerated(tmp_path, damage):
    """Issue 18 point 6: a damaged cache file is named in a warning, moved aside and regenerated, not a raw error."""
    import re
    import warnings

    first = load("synth-dominoes", "train", root=tmp_path, **SMALL)
    (path,) = (tmp_path / "synth-dominoes").glob("*.pt")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        torch.save({"simple": torch.zeros(1)}, path)
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        again = load("synth-dominoes", "train", root=tmp_path, **SMALL)
    assert torch.equal(first.images_uint8, again.images_uint8) and torch.equal(first.labels, again.labels)
    assert len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = load("synth-dominoes", "train", root=tmp_path, **SMALL)
    assert torch.equal(first.images_uint8, cached.images_uint8)


@pytest.mark.parametrize("option,value", [("n_train", 0), ("n_test", -5), ("n_train", 2.5)])
def test_synth_dominoes_sizes_must_be_positive(tmp_path, option, value):
    with pytest.raises(ValueError, match=f"synth-dominoes {option} must be a positive integer"):
        load("synth-dominoes", "train", root=tmp_path, **{**SMALL, option: value})


def test_default_size_warns_how_many_items_and_why(sources):
    """Issue 18 point 10: n=None builds K x (rarest class) items; it says so when source items are left unused."""
    simple, complex_ = sources  # 5 and 7 images per class
    with pytest.warns(UserWarning, match=r"built 20 items.*20 simple, 28 complex.*4 classes x 5.*simple source.*n="):
        d = dominoes(simple, complex_, block_size=(BLOCK, BLOCK))
    assert len(d) == 20
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dominoes(simple, _source(0), block_size=(BLOCK, BLOCK))  # both sources used in full: nothing to say
        dominoes(simple, complex_, n=28, block_size=(BLOCK, BLOCK))


def test_classes_are_kept_by_index_or_by_class_name_and_an_unknown_one_is_named():
    """Fault case: a folder's class names passed as ``classes`` gave a raw ``int()`` error."""
    from a2lib.data import _keep_classes

    images = np.zeros((6, 4, 4, 3), dtype=np.uint8)
    d = ArrayDataset(images, [0, 1, 2, 0, 1, 2], class_names=["cat", "dog", "owl"])
    by_name, by_index = _keep_classes(d, ["cat", "owl"]), _keep_classes(d, [0, 2])
    assert list(by_name.indices) == list(by_index.indices) == [0, 2, 3, 5]
    with pytest.raises(ValueError, match=r"unknown: \['class_0'\]\).*its class names: cat, dog, owl"):
        _keep_classes(d, ["class_0", "dog"])
    with pytest.raises(ValueError, match=r"unknown: \[3\]"):
        _keep_classes(d, [3])


@pytest.mark.parametrize("size", ["64", 0, 2.5])
def test_a_resize_that_is_not_a_positive_integer_names_size(size):
    """Fault case: ``size="64"`` gave "unsupported operand type(s) for /: 'str' and 'int'"."""
    for kind in ("quick", "full"):
        with pytest.raises(ValueError, match="size"):
            for_profile(kind, train=False, size=size)
