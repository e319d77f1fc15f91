"""Real fine-grained loaders (layouts and sources in data/README.md): CUB-200-2011 (with its 312 attributes),
FGVC-Aircraft and Food-101 (torchvision), NABirds and VegFru (official list files) and a class-per-folder loader,
whose layout is checked before any image is read (``folder_layout``).

Images load lazily from disk; ``labels`` (and CUB's ``attributes``) come from the list files without opening images.
A dataset's ``fingerprint()`` (its identity in the model cache, ``a2lib.data.identity``) covers its resolved root,
the list files it read, each image file's relative path, size and modification time, labels, attributes and the
transform's ``repr`` (a transform without a stable repr, a lambda say, makes every run a new identity).
Missing roots/files raise FileNotFoundError naming what is missing and where to get it; malformed list lines
(non-integer, unknown or duplicate ids, split flags other than 0/1; see ``list_files``) raise ValueError naming the
file, the line and the fix; a corrupt image raises ValueError naming the file.
"""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from .folder_layout import read_layout
from .identity import DataDigest
from .list_files import parse_int, read_official_lists, read_rows
from .registry import DataFacts, register_dataset
from .transforms import PAPER_IMAGE, for_profile

CUB_URL = "https://data.caltech.edu/records/65de6-vk739 (CUB_200_2011.tgz)"
AIRCRAFT_URL = "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz"
FOOD101_URL = "http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz"
NABIRDS_URL = "https://dl.allaboutbirds.org/nabirds (free after accepting the terms of use)"
VEGFRU_URL = "https://github.com/ustc-vim/vegfru (images and vegfru_list/)"
CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
CUB_ATTRIBUTE_LABELS = "attributes/image_attribute_labels.txt"
CUB_NUM_ATTRIBUTES = 312
NABIRDS_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
VEGFRU_SUBSETS = {"vegfru": "vegfru", "veg200": "veg", "fru92": "fru"}
SPLITS = ("train", "test")
FOLDER_TEST_FRACTION = 0.2


def _check_split(name: str, split: str, choices: Sequence[str] = SPLITS) -> None:
    if split not in choices:
        raise ValueError(f"unknown split {split!r} for {name}; choose one of {', '.join(choices)}")


def _missing(dataset: str, root: Path, missing: Sequence[str], expected: Sequence[str], source: str):
    return FileNotFoundError(
        f"{dataset} not found or incomplete at {root}: missing {', '.join(missing)}. Expected under {root}: "
        f"{', '.join(expected)}. Get it from {source} and extract it there (see data/README.md)."
    )


def load_image(path) -> Image.Image:
    """Open an image as RGB; a missing file or one PIL cannot decode is reported with its path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file {path} is listed by the dataset but does not exist")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"corrupt or unreadable image file {path}: {error}") from error


class ImageListDataset(Dataset):
    """Images listed on disk with class labels (and optional per-image attributes); items ``(transform(img), label)``.

    ``root``: the folder the images and ``list_files`` (the files the labels and split were read from) lie under.
    """

    def __init__(self, paths: Sequence, labels, class_names: Sequence[str], transform: Callable | None,
                 attributes=None, attribute_names: Sequence[str] | None = None, name: str = "images",
                 root=None, list_files: Sequence = ()):
        self.paths = [Path(p) for p in paths]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.transform = transform
        self.attributes = None if attributes is None else torch.as_tensor(attributes).float()
        self.attribute_names = None if attribute_names is None else list(attribute_names)
        self.name = name
        self.root = None if root is None else Path(root)
        self.list_files = [Path(p) for p in list_files]

    def __len__(self) -> int:
        return len(self.paths)

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix() if self.root is not None else str(path)
        except ValueError:
            return str(path)

    def fingerprint(self) -> str:
        """Resolved root, list files' bytes, each image file's relative path, size and mtime, labels, attributes,
        class names and the transform's repr (module docstring); no image is opened."""
        digest = DataDigest("files").text(self.name).text(self.root.resolve() if self.root is not None else None)
        for path in self.list_files:
            digest.text(self._relative(path)).file_bytes(path)
        digest.text(len(self.paths))
        for path in self.paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                raise FileNotFoundError(f"image file {path} is listed by the dataset but does not exist") from None
            digest.text(f"{self._relative(path)}|{stat.st_size}|{stat.st_mtime_ns}")
        digest.tensor(self.labels).tensor(self.attributes).text("\n".join(self.class_names))
        return digest.text(repr(self.transform)).hexdigest()

    def __getitem__(self, index: int):
        image = load_image(self.paths[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


def _transform(transform, profile: str, split: str, size: int | None):
    return transform if transform is not None else for_profile(profile, train=split == "train", size=size)


def _cub_attribute_names_file(base: Path) -> Path | None:
    for candidate in (base / "attributes.txt", base.parent / "attributes.txt", base / "attributes" / "attributes.txt"):
        if candidate.exists():
            return candidate
    return None


def _cub_attribute_names(path: Path | None) -> list[str]:
    if path is not None:
        return [fields[1] for _, fields in read_rows(path, 2, 1)]
    return [f"attribute_{a + 1}" for a in range(CUB_NUM_ATTRIBUTES)]


def _cub_attributes(path: Path, index_of_image: dict[int, int], n: int, num_attributes: int):
    """Parse ``<image_id> <attribute_id> <is_present> <certainty_id> <time>`` (extra fields tolerated)."""
    present = np.zeros((n, num_attributes), dtype=np.float32)
    certainty = np.zeros((n, num_attributes), dtype=np.int64)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) < 4:
                    raise ValueError
                image_id, attribute_id, is_present, certainty_id = (int(f) for f in fields[:4])
            except ValueError:
                raise ValueError(
                    f"malformed line {number} in {path}: expected '<image_id> <attribute_id> <is_present> "
                    f"<certainty_id> <time>', got {line.strip()!r}"
                ) from None
            if not 1 <= attribute_id <= num_attributes or is_present not in (0, 1):
                raise ValueError(f"malformed line {number} in {path}: attribute id {attribute_id} or "
                                 f"is_present {is_present} out of range")
            row = index_of_image.get(image_id)
            if row is not None:
                present[row, attribute_id - 1] = is_present
                certainty[row, attribute_id - 1] = certainty_id
    return present, certainty


@register_dataset("cub200", source="published", facts=DataFacts(200, 5_994, PAPER_IMAGE), paper_name="CUB200-2011",
                  in_subfolder=True)
def cub200(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None,
           attributes: bool = True) -> ImageListDataset:
    """CUB-200-2011: 5,994 train / 5,794 test (``train_test_split.txt``), 200 classes, 312 attributes.

    ``root`` holds ``CUB_200_2011/`` (or is that folder). ``.attributes`` is ``is_present`` (N x 312),
    ``.attribute_certainty`` the certainty id (1 not visible .. 4 definitely).
    """
    _check_split("cub200", split)
    root = Path(root)
    base = root / "CUB_200_2011" if (root / "CUB_200_2011").is_dir() else root
    needed = CUB_FILES + ((CUB_ATTRIBUTE_LABELS,) if attributes else ()) + ("images/",)
    missing = [f for f in needed if not (base / f).exists()]
    if missing:
        raise _missing("CUB-200-2011", base, missing, needed, CUB_URL)
    lists = read_official_lists(base, numbered_classes=True)
    class_names = [lists.class_names[c] for c in range(1, len(lists.class_names) + 1)]
    split_path = base / "train_test_split.txt"
    image_ids = {i: parse_int(split_path, number, i, "image id") for i, number in lists.split_lines.items()}
    want = split == "train"
    ids = sorted((i for i, flag in lists.is_train.items() if flag == want), key=image_ids.get)
    for name, table in (("image_class_labels.txt", lists.labels), ("images.txt", lists.paths)):
        absent = [i for i in ids if i not in table]
        if absent:
            raise ValueError(f"{base / name} has no line for image id(s) {absent[:5]} listed in train_test_split.txt; "
                             "add them or remove them from train_test_split.txt")
    label_list = [lists.labels[i] - 1 for i in ids]
    names_file = _cub_attribute_names_file(base) if attributes else None
    list_files = [base / f for f in CUB_FILES] + ([base / CUB_ATTRIBUTE_LABELS] if attributes else [])
    dataset = ImageListDataset([base / "images" / lists.paths[i] for i in ids], label_list, class_names,
                               _transform(transform, profile, split, size), name="cub200", root=base,
                               list_files=list_files + ([names_file] if names_file is not None else []))
    dataset.image_ids = [image_ids[i] for i in ids]
    if attributes:
        names = _cub_attribute_names(names_file)
        index_of_image = {image_ids[i]: row for row, i in enumerate(ids)}
        present, certainty = _cub_attributes(base / CUB_ATTRIBUTE_LABELS, index_of_image, len(ids), len(names))
        dataset.attributes = torch.from_numpy(present)
        dataset.attribute_certainty = torch.from_numpy(certainty)
        dataset.attribute_names = names
    return dataset


def _from_torchvision(name: str, make, root: Path, expected: Sequence[str], url: str, download: bool):
    try:
        return make(download=False)
    except RuntimeError:
        pass
    if download:
        try:
            return make(download=True)
        except Exception as error:  # network errors come in many types
            raise FileNotFoundError(
                f"{name} is not at {root} and downloading it from {url} failed ({error}). Expected under {root}: "
                f"{', '.join(expected)}. Download it by hand and extract it there (see data/README.md)."
            ) from error
    raise FileNotFoundError(
        f"{name} not found at {root} (download=False). Expected under {root}: {', '.join(expected)}. "
        f"Pass download=True or get it from {url} (see data/README.md)."
    )


@register_dataset("aircraft", source="published", facts=DataFacts(100, 6_667, PAPER_IMAGE), paper_name="Aircraft",
                  in_subfolder=True)
def aircraft(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None,
             download: bool = False, annotation_level: str = "variant") -> ImageListDataset:
    """FGVC-Aircraft via torchvision: ``train`` = trainval (6,667), ``test`` (3,333); 100 variants."""
    _check_split("aircraft", split)
    from torchvision.datasets import FGVCAircraft
    root = Path(root)
    expected = ["fgvc-aircraft-2013b/data/images/*.jpg", "fgvc-aircraft-2013b/data/variants.txt",
                "fgvc-aircraft-2013b/data/images_variant_trainval.txt", "fgvc-aircraft-2013b/data/images_variant_test.txt"]
    tv_split = "trainval" if split == "train" else "test"
    base = _from_torchvision(
        "FGVC-Aircraft", lambda download: FGVCAircraft(root, split=tv_split, annotation_level=annotation_level,
                                                       download=download),
        root, expected, AIRCRAFT_URL, download)
    lists = root / "fgvc-aircraft-2013b" / "data"
    list_files = [lists / f"images_{annotation_level}_{tv_split}.txt", lists / f"{annotation_level}s.txt"]
    return ImageListDataset(base._image_files, base._labels, base.classes, _transform(transform, profile, split, size),
                            name="aircraft", root=root, list_files=[p for p in list_files if p.exists()])


@register_dataset("food101", source="published", facts=DataFacts(101, 75_750, PAPER_IMAGE), paper_name="Food101",
                  in_subfolder=True)
def food101(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None,
            download: bool = False) -> ImageListDataset:
    """Food-101 via torchvision: ``meta/train.json`` (75,750) / ``meta/test.json`` (25,250); 101 classes."""
    _check_split("food101", split)
    from torchvision.datasets import Food101
    root = Path(root)
    expected = ["food-101/images/<class>/<id>.jpg", "food-101/meta/train.json", "food-101/meta/test.json"]
    base = _from_torchvision("Food-101", lambda download: Food101(root, split=split, download=download),
                             root, expected, FOOD101_URL, download)
    list_files = [root / "food-101" / "meta" / f"{split}.json"]
    return ImageListDataset(base._image_files, base._labels, base.classes, _transform(transform, profile, split, size),
                            name="food101", root=root, list_files=[p for p in list_files if p.exists()])


@register_dataset("nabirds", source="published", facts=DataFacts(555, 23_929, PAPER_IMAGE), paper_name="NABirds",
                  in_subfolder=True)
def nabirds(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None):
    """NABirds, official split (``train_test_split.txt``); the class ids used by images, mapped to 0..K-1."""
    _check_split("nabirds", split)
    root = Path(root)
    base = root / "nabirds" if (root / "nabirds").is_dir() else root
    needed = NABIRDS_FILES + ("images/",)
    missing = [f for f in needed if not (base / f).exists()]
    if missing:
        raise _missing("NABirds", base, missing, needed, NABIRDS_URL)
    lists = read_official_lists(base, numbered_classes=False)
    used = sorted(set(lists.labels.values()))
    index = {c: k for k, c in enumerate(used)}
    want = split == "train"
    ids = [i for i in lists.paths if lists.is_train.get(i) == want]
    absent = [i for i in ids if i not in lists.labels]
    if absent:
        raise ValueError(f"{base / 'image_class_labels.txt'} has no line for image(s) {absent[:5]}; add them or "
                         "remove them from images.txt")
    dataset = ImageListDataset([base / "images" / lists.paths[i] for i in ids], [index[lists.labels[i]] for i in ids],
                               [lists.class_names[c] for c in used], _transform(transform, profile, split, size),
                               name="nabirds", root=base, list_files=[base / f for f in NABIRDS_FILES])
    dataset.class_ids = used
    return dataset


@register_dataset("vegfru", source="published", facts=DataFacts(292, 29_200, PAPER_IMAGE), paper_name="VegFru",
                  in_subfolder=True)
def vegfru(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None,
           subset: str = "vegfru", include_val: bool = False):
    """VegFru from ``vegfru_list/<subset>_{train,val,test}.txt`` (``<relative image path> <label>`` per line).

    ``subset``: "vegfru" (292 classes), "veg200" or "fru92"; ``include_val`` adds the val list to train.
    """
    _check_split("vegfru", split)
    if subset not in VEGFRU_SUBSETS:
        raise ValueError(f"unknown VegFru subset {subset!r}; choose one of {', '.join(VEGFRU_SUBSETS)}")
    root = Path(root)
    base = next((root / d for d in ("vegfru-dataset", "vegfru") if (root / d / "vegfru_list").is_dir()), root)
    prefix = VEGFRU_SUBSETS[subset]
    lists = [f"vegfru_list/{prefix}_{split}.txt"] + ([f"vegfru_list/{prefix}_val.txt"] if include_val and split == "train" else [])
    missing = [f for f in lists if not (base / f).exists()]
    if missing:
        raise _missing("VegFru", base, missing, lists + ["veg200_images/", "fru92_images/"], VEGFRU_URL)
    paths, labels, names = [], [], {}
    for rel in lists:
        path = base / rel
        for number, fields in read_rows(path, 2):
            if len(fields) != 2:
                raise ValueError(f"malformed line {number} in {path}: expected '<image path> <label>'")
            label = parse_int(path, number, fields[1], "label")
            paths.append(base / fields[0])
            labels.append(label)
            names.setdefault(label, Path(fields[0]).parent.name)
    labels_sorted = sorted(names)
    index = {c: k for k, c in enumerate(labels_sorted)}
    dataset = ImageListDataset(paths, [index[c] for c in labels], [names[c] for c in labels_sorted],
                               _transform(transform, profile, split, size), name="vegfru", root=base,
                               list_files=[base / rel for rel in lists])
    dataset.class_ids = labels_sorted
    return dataset


def _check_test_fraction(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"folder test_fraction must be a number strictly between 0 and 1 (the share of each "
                         f"class's images held out for test), got {value!r}")
    return float(value)


def _test_count(folder_path: Path, count: int, test_fraction: float, root: Path) -> int:
    """How many of a class's ``count`` images go to test; an error when one side of the split would lack the class."""
    n_test = int(round(count * test_fraction))
    if not 0 < n_test < count:
        empty = "test" if n_test == 0 else "train"
        raise ValueError(
            f"class folder {folder_path} has {count} image(s); test_fraction={test_fraction} puts {n_test} in test, "
            f"so the {empty} split would have none of this class. Add images, change test_fraction, or split by hand "
            f"into {root}/train/<class>/ and {root}/test/<class>/")
    return n_test


@register_dataset("folder", source="user")
def folder(root, split: str = "train", transform=None, profile: str = "full", size: int | None = None,
           test_fraction: float = FOLDER_TEST_FRACTION, seed: int = 0) -> ImageListDataset:
    """Class-per-folder images: ``root/<split>/<class>/*`` when ``root`` holds ``train/`` and ``test/``, else
    ``root/<class>/*`` split per class at random (``test_fraction`` in (0, 1), ``seed``; every class must keep an
    image on both sides). Any other layout is an error naming the fix (``a2lib.data.folder_layout``)."""
    _check_split("folder", split)
    test_fraction = _check_test_fraction(test_fraction)
    layout = read_layout(root)
    root = layout.root
    if layout.is_split:
        found = layout.splits[split]
        paths = [path for name in layout.classes for path in found.get(name, [])]
        labels = [k for k, name in enumerate(layout.classes) for _ in found.get(name, [])]
    else:
        rng = np.random.default_rng(seed)
        paths, labels = [], []
        for k, name in enumerate(layout.classes):
            images = layout.splits[None][name]
            order = rng.permutation(len(images))
            n_test = _test_count(root / name, len(images), test_fraction, root)
            chosen = np.sort(order[:n_test] if split == "test" else order[n_test:])
            paths += [images[i] for i in chosen]
            labels += [k] * len(chosen)
    return ImageListDataset(paths, labels, layout.classes, _transform(transform, profile, split, size),
                            name="folder", root=root)
