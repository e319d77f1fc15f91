"""Real loaders on tiny trees written in the official file formats (offline), and their bad-input errors."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from a2lib.data import load

SIZE = 8


def _jpeg(path: Path, value: int, size: int = SIZE):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path, format="JPEG")


def _write(path: Path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross")


def _cub(root: Path, n_attributes: int = 3, n_train: int = 4, n_test: int = 2, size: int = SIZE):
    """A CUB-200-2011 tree in the official layout under ``root/cub200``: two classes taking turns, image ids
    1..n_train in the train split and the next n_test in the test split, flat-coloured JPEGs of ``size`` pixels."""
    base = root / "cub200" / "CUB_200_2011"
    classes = CUB_CLASSES
    images, labels, split, attr_lines = [], [], [], []
    for i in range(1, n_train + n_test + 1):
        c = 1 + (i - 1) % len(classes)
        rel = f"{classes[c - 1]}/img_{i}.jpg"
        _jpeg(base / "images" / rel, 20 * i % 256, size)
        images.append(f"{i} {rel}")
        labels.append(f"{i} {c}")
        split.append(f"{i} {int(i <= n_train)}")
        for a in range(1, n_attributes + 1):
            present = int((i + a) % 2 == 0)
            line = f"{i} {a} {present} {1 + (i + a) % 4} 3.5"
            if i == 2 and a == 1:
                line += " 0"  # some official lines carry an extra field
            attr_lines.append(line)
    _write(base / "images.txt", images)
    _write(base / "image_class_labels.txt", labels)
    _write(base / "train_test_split.txt", split)
    _write(base / "classes.txt", [f"{k + 1} {name}" for k, name in enumerate(classes)])
    _write(base / "attributes" / "image_attribute_labels.txt", attr_lines)
    _write(root / "cub200" / "attributes.txt", [f"{a} has_attr_{a}::x" for a in range(1, n_attributes + 1)])
    return base


def test_cub200_labels_attributes_certainty(tmp_path):
    _cub(tmp_path)
    train = load("cub200", "train", root=tmp_path)
    test = load("cub200", "test", root=tmp_path, profile="quick", size=SIZE)
    assert len(train) == 4 and len(test) == 2
    assert train.labels.tolist() == [0, 1, 0, 1] and train.class_names[1] == "002.Laysan_Albatross"
    assert train.attribute_names == ["has_attr_1::x", "has_attr_2::x", "has_attr_3::x"]
    for row, image_id in enumerate(train.image_ids):
        for a in range(1, 4):
            assert train.attributes[row, a - 1] == int((image_id + a) % 2 == 0)
            assert train.attribute_certainty[row, a - 1] == 1 + (image_id + a) % 4
    image, label = train[0]
    assert image.shape == (3, 224, 224) and label == 0
    image, _ = test[0]
    assert image.shape == (3, SIZE, SIZE) and abs(float(image.mean()) - 100 / 255) < 0.05


def test_cub200_missing_root_names_files_and_source(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load("cub200", "train", root=tmp_path)
    message = str(error.value)
    assert "images.txt" in message and str(tmp_path / "cub200") in message and "caltech" in message


def test_cub200_incomplete_root_names_the_missing_file(tmp_path):
    base = _cub(tmp_path)
    (base / "train_test_split.txt").unlink()
    with pytest.raises(FileNotFoundError, match="missing train_test_split.txt"):
        load("cub200", "train", root=tmp_path)


def test_cub200_malformed_attribute_line_names_file_and_line(tmp_path):
    base = _cub(tmp_path)
    path = base / "attributes" / "image_attribute_labels.txt"
    lines = path.read_text().splitlines()
    lines[4] = "5 2 yes"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 5 in .*image_attribute_labels.txt"):
        load("cub200", "train", root=tmp_path)


def test_cub200_malformed_list_line_names_file_and_line(tmp_path):
    base = _cub(tmp_path)
    path = base / "images.txt"
    path.write_text(path.read_text() + "garbage\n")
    with pytest.raises(ValueError, match=r"line 7 in .*images.txt"):
        load("cub200", "train", root=tmp_path)


def test_corrupt_image_names_the_file(tmp_path):
    base = _cub(tmp_path)
    bad = base / "images" / "001.Black_footed_Albatross" / "img_1.jpg"
    bad.write_bytes(b"not a jpeg at all")
    dataset = load("cub200", "train", root=tmp_path)
    with pytest.raises(ValueError, match="img_1.jpg"):
        dataset[0]


def _aircraft(root: Path):
    data = root / "aircraft" / "fgvc-aircraft-2013b" / "data"
    variants = ["707-320", "A300B4", "Cessna 172"]
    _write(data / "variants.txt", variants)
    trainval, test = [], []
    for i in range(9):
        name = f"{1000000 + i}"
        _jpeg(data / "images" / f"{name}.jpg", 10 * i)
        (trainval if i < 6 else test).append(f"{name} {variants[i % 3]}")
    _write(data / "images_variant_trainval.txt", trainval)
    _write(data / "images_variant_test.txt", test)


def test_aircraft(tmp_path):
    _aircraft(tmp_path)
    train = load("aircraft", "train", root=tmp_path, profile="quick", size=SIZE)
    test = load("aircraft", "test", root=tmp_path)
    assert len(train) == 6 and len(test) == 3
    assert train.labels.tolist() == [0, 1, 2, 0, 1, 2] and train.class_names[2] == "Cessna 172"
    assert train[1][0].shape == (3, SIZE, SIZE)


def test_aircraft_missing(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load("aircraft", "train", root=tmp_path, download=False)
    assert "fgvc-aircraft-2013b" in str(error.value) and str(tmp_path / "aircraft") in str(error.value)


def test_food101(tmp_path):
    base = tmp_path / "food101" / "food-101"
    meta = {"train": {"apple_pie": [], "baby_back_ribs": []}, "test": {"apple_pie": [], "baby_back_ribs": []}}
    for k, cls in enumerate(["apple_pie", "baby_back_ribs"]):
        for i in range(3):
            _jpeg(base / "images" / cls / f"{k}{i}.jpg", 50 * k + i)
            meta["train" if i < 2 else "test"][cls].append(f"{cls}/{k}{i}")
    (base / "meta").mkdir(parents=True)
    for split in ("train", "test"):
        (base / "meta" / f"{split}.json").write_text(json.dumps(meta[split]))
    train = load("food101", "train", root=tmp_path, profile="quick", size=SIZE)
    assert len(train) == 4 and train.labels.tolist() == [0, 0, 1, 1] and train.class_names == ["apple_pie", "baby_back_ribs"]
    assert train[3][0].shape == (3, SIZE, SIZE)
    assert len(load("food101", "test", root=tmp_path)) == 2


def test_food101_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="food-101"):
        load("food101", "train", root=tmp_path, download=False)


def _nabirds(root: Path) -> Path:
    base = root / "nabirds" / "nabirds"
    ids = [f"0000{i}-aaaa-bbbb" for i in range(5)]
    classes = {295: "Wood Duck (Breeding Male)", 817: "Bald Eagle (Adult, subadult)"}
    images, labels, split = [], [], []
    for i, uid in enumerate(ids):
        cid = 295 if i % 2 == 0 else 817
        rel = f"{cid:04d}/{uid.replace('-', '')}.jpg"
        _jpeg(base / "images" / rel, 30 * i)
        images.append(f"{uid} {rel}")
        labels.append(f"{uid} {cid}")
        split.append(f"{uid} {int(i < 3)}")
    _write(base / "images.txt", images)
    _write(base / "image_class_labels.txt", labels)
    _write(base / "train_test_split.txt", split)
    _write(base / "classes.txt", ["0 Birds", *(f"{c} {n}" for c, n in classes.items())])
    return base


def test_nabirds(tmp_path):
    _nabirds(tmp_path)
    train = load("nabirds", "train", root=tmp_path, profile="quick", size=SIZE)
    assert len(train) == 3 and train.labels.tolist() == [0, 1, 0]
    assert train.class_names == ["Wood Duck (Breeding Male)", "Bald Eagle (Adult, subadult)"]
    assert len(load("nabirds", "test", root=tmp_path)) == 2
    assert train[2][0].shape == (3, SIZE, SIZE)


def test_nabirds_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="allaboutbirds"):
        load("nabirds", "train", root=tmp_path)


def _vegfru(root: Path):
    base = root / "vegfru" / "vegfru-dataset"
    lines = {"train": [], "val": [], "test": []}
    for i, (folder, label) in enumerate([("veg200_images/acorn_squash", 0), ("veg200_images/alfalfa", 1),
                                         ("fru92_images/abiu", 200)] * 3):
        rel = f"{folder}/img_{i}.jpg"
        _jpeg(base / rel, 25 * i)
        lines[["train", "val", "test"][i // 3]].append(f"{rel} {label}")
    for split, rows in lines.items():
        _write(base / "vegfru_list" / f"vegfru_{split}.txt", rows)
    return base


def test_vegfru(tmp_path):
    _vegfru(tmp_path)
    train = load("vegfru", "train", root=tmp_path, profile="quick", size=SIZE)
    assert len(train) == 3 and train.labels.tolist() == [0, 1, 2]
    assert train.class_names == ["acorn_squash", "alfalfa", "abiu"] and train.class_ids == [0, 1, 200]
    assert len(load("vegfru", "train", root=tmp_path, include_val=True)) == 6
    assert len(load("vegfru", "test", root=tmp_path)) == 3
    assert train[0][0].shape == (3, SIZE, SIZE)


def test_vegfru_malformed_line(tmp_path):
    base = _vegfru(tmp_path)
    path = base / "vegfru_list" / "vegfru_test.txt"
    path.write_text(path.read_text() + "fru92_images/abiu/x.jpg two\n")
    with pytest.raises(ValueError, match=r"line 4 in .*vegfru_test.txt"):
        load("vegfru", "test", root=tmp_path)


def test_vegfru_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="vegfru_list/vegfru_train.txt"):
        load("vegfru", "train", root=tmp_path)


def test_folder_with_and_without_split_dirs(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(5):
            _jpeg(tmp_path / "flat" / cls / f"{i}.png", 40 * i)
            _jpeg(tmp_path / "split" / ("train" if i < 3 else "test") / cls / f"{i}.jpg", 40 * i)
    train = load("folder", "train", root=tmp_path / "flat", profile="quick", size=SIZE)
    test = load("folder", "test", root=tmp_path / "flat", profile="quick", size=SIZE)
    assert len(train) == 8 and len(test) == 2 and train.class_names == ["cat", "dog"]
    assert set(map(str, train.paths)).isdisjoint(map(str, test.paths))
    assert train[0][0].shape == (3, SIZE, SIZE)
    split_train = load("folder", "train", root=tmp_path / "split")
    assert len(split_train) == 6 and torch.bincount(split_train.labels).tolist() == [3, 3]


def test_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("folder", "train", root=tmp_path / "nothing")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images"):
        load("folder", "train", root=tmp_path / "empty")


def _set_line(path: Path, number: int, text: str):
    """Replace line ``number`` (1-based) of a list file."""
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


CUB_LIST_ERRORS = [
    ("image_class_labels.txt", 3, "3 0", r"line 3 in .*image_class_labels.txt: class id 0 of image 3 .*1\.\.2.*fix"),
    ("image_class_labels.txt", 3, "3 3", r"line 3 in .*image_class_labels.txt: class id 3 of image 3 .*1\.\.2.*fix"),
    ("image_class_labels.txt", 3, "3 two", r"line 3 in .*image_class_labels.txt: class id 'two' is not an integer"),
    ("train_test_split.txt", 2, "2 2", r"line 2 in .*train_test_split.txt: split flag '2' .* 1 \(training image\) or 0"),
    ("train_test_split.txt", 2, "2 yes", r"line 2 in .*train_test_split.txt: split flag 'yes'"),
    ("train_test_split.txt", 5, "2 1", r"line 5 in .*train_test_split.txt: id 2 is listed twice \(lines 2 and 5\)"),
    ("images.txt", 6, "1 002.Laysan_Albatross/img_2.jpg", r"line 6 in .*images.txt: id 1 is listed twice"),
    ("image_class_labels.txt", 4, "3 1", r"line 4 in .*image_class_labels.txt: id 3 is listed twice"),
    ("classes.txt", 2, "3 002.Laysan_Albatross", r"line 2 in .*classes.txt: class id 3 is outside 1\.\.2"),
    ("train_test_split.txt", 1, "one 1", r"line 1 in .*train_test_split.txt: image id 'one' is not an integer"),
]


@pytest.mark.parametrize("name,number,text,match", CUB_LIST_ERRORS)
def test_cub200_list_values_that_would_give_wrong_data_name_file_line_and_fix(tmp_path, name, number, text, match):
    """Issue 18 point 8: ids out of range, split flags other than 0/1, duplicate ids and non-integers are errors."""
    base = _cub(tmp_path)
    _set_line(base / name, number, text)
    with pytest.raises(ValueError, match=match):
        load("cub200", "train", root=tmp_path)


@pytest.mark.parametrize("name,number,text,match", [
    ("image_class_labels.txt", 2, "00001-aaaa-bbbb 296",
     r"line 2 in .*image_class_labels.txt: class id 296 of image 00001-aaaa-bbbb is not in .*classes.txt"),
    ("train_test_split.txt", 4, "00003-aaaa-bbbb -1", r"line 4 in .*train_test_split.txt: split flag '-1'"),
    ("images.txt", 5, "00000-aaaa-bbbb 0295/x.jpg", r"line 5 in .*images.txt: id 00000-aaaa-bbbb is listed twice"),
])
def test_nabirds_shares_the_list_checks(tmp_path, name, number, text, match):
    base = _nabirds(tmp_path)
    _set_line(base / name, number, text)
    with pytest.raises(ValueError, match=match):
        load("nabirds", "train", root=tmp_path)


def _flat_folder(root: Path, counts: dict[str, int]) -> Path:
    for cls, count in counts.items():
        for i in range(count):
            _jpeg(root / cls / f"{i}.png", 40 * i)
    return root


@pytest.mark.parametrize("fraction", [0, 1, -0.2, 1.5, float("nan"), "0.2", True])
def test_folder_test_fraction_must_be_between_0_and_1(tmp_path, fraction):
    """Issue 18 point 10: test_fraction=0 or 1 silently left a split empty."""
    root = _flat_folder(tmp_path / "flat", {"cat": 5, "dog": 5})
    with pytest.raises(ValueError, match="test_fraction must be a number strictly between 0 and 1"):
        load("folder", "train", root=root, test_fraction=fraction)


@pytest.mark.parametrize("counts,fraction,bad,empty", [({"cat": 5, "dog": 1}, 0.2, "dog", "test"),
                                                        ({"cat": 5, "dog": 2}, 0.2, "dog", "test"),
                                                        ({"cat": 4, "dog": 5}, 0.9, "cat", "train")])
def test_folder_split_keeps_every_class_on_both_sides_or_says_which_lacks_it(tmp_path, counts, fraction, bad, empty):
    """round(n * test_fraction) must be 1..n-1 for every class (2 x 0.2 rounds to 0, 4 x 0.9 to 4)."""
    root = _flat_folder(tmp_path / "flat", counts)
    for split in ("train", "test"):
        with pytest.raises(ValueError, match=rf"class folder .*{bad} has {counts[bad]} image.*the {empty} split "
                                             rf"would have none of this class.*{root}/train/<class>"):
            load("folder", split, root=root, test_fraction=fraction)


def _layout(root: Path, files) -> Path:
    for name in files:
        _jpeg(root / name, 100)
    return root


@pytest.mark.parametrize("files, split, match", [
    (["train/cat/0.jpg", "train/dog/0.jpg"], "test", r"has train/ but no test/: a split root holds both"),
    (["test/cat/0.jpg", "test/dog/0.jpg"], "train", r"has test/ but no train/"),
    (["train/cat/0.jpg", "train/dog/0.jpg", "test/cat/0.jpg", "extra/cat/0.jpg"], "train",
     r"holds train/ and test/ beside other folders \(extra\)"),
    (["cat/0.jpg", "cat/1.jpg", "cat/2.jpg"], "train", r"holds 1 class folder \(cat\); .* at least 2"),
    (["train/cat/0.jpg", "test/cat/0.jpg"], "test", r"train holds 1 class folder \(cat\)"),
    (["birds/crow/0.jpg", "birds/owl/0.jpg", "cats/tabby/0.jpg"], "train",
     r"birds holds images in sub-folders \(birds/crow/0.jpg, birds/owl/0.jpg\); .*pass root=.*birds"),
    (["cat/0.jpg", "dog/0.jpg", "stray.jpg"], "train", r"holds image files beside its class folders \(stray.jpg\)"),
    (["train/cat/0.jpg", "train/dog/0.jpg", "test/cat/0.jpg", "test/cow/0.jpg"], "test",
     r"test has class folders .*train lacks \(cow\)"),
])
def test_a_folder_root_is_class_folders_or_train_and_test_and_nothing_else(tmp_path, files, split, match):
    """Issue 28: a root with only train/<class>/ gave a one-class "test" set named "train" of training images."""
    root = _layout(tmp_path / "root", files)
    with pytest.raises(ValueError, match=match):
        load("folder", split, root=root)


def test_an_empty_class_folder_is_named(tmp_path):
    root = _layout(tmp_path / "root", ["cat/0.jpg", "dog/0.jpg"])
    (root / "cow").mkdir()
    with pytest.raises(ValueError, match=r"class folder\(s\) cow under .* hold no images"):
        load("folder", "train", root=root)


def test_split_roots_number_test_classes_as_the_training_classes(tmp_path):
    """A test split holding fewer classes than train/ kept its own numbering: its "dog" got the label of "cat"."""
    root = _layout(tmp_path / "root", ["train/cat/0.jpg", "train/dog/0.jpg", "test/dog/0.jpg", "test/dog/1.jpg",
                                       ".ipynb_checkpoints/x.jpg", "README.txt"])
    train, test = load("folder", "train", root=root), load("folder", "test", root=root)
    assert train.class_names == test.class_names == ["cat", "dog"]
    assert test.labels.tolist() == [1, 1] and test.num_classes == 2
