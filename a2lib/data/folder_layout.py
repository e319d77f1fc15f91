"""The layout of an image folder for ``a2lib.data.load("folder", ...)``, checked before any image is read.

A root holds one of two layouts and nothing else:

* class folders, ``root/<class>/<image>``: ``load`` splits each class at random into train and test;
* a split, ``root/train/<class>/<image>`` and ``root/test/<class>/<image>``: every test class must be a training
  class, and labels are indices into the training classes, so both splits number the classes alike.

Anything else is an error naming the folder and the fix, so that no layout is read as another (``root/train/<class>/``
alone used to become a one-class "test" set named ``train`` made of training images): a ``train/`` without ``test/``
(or the reverse), split folders beside other folders, fewer than ``MIN_CLASSES`` classes, a class folder without
images, images nested below a class folder (``root/<group>/<class>/<image>``, which would make ``<group>`` the class)
and image files lying beside the class folders. Hidden entries (``.ipynb_checkpoints``) and other files (a README)
are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SPLIT_FOLDERS = ("train", "test")
MIN_CLASSES = 2
"""Retrieval needs classes to tell apart: with one, every pair is relevant and any mAP is 1.0."""
NAMES_SHOWN = 5
"""Offending names listed in an error before "…"."""


@dataclass
class FolderLayout:
    """A checked image folder: ``classes`` (sorted names, label = index) and each split's images per class
    (``splits`` keyed "train"/"test" for a split root, else one entry keyed None for class folders)."""

    root: Path
    classes: list[str]
    splits: dict[str | None, dict[str, list[Path]]]

    @property
    def is_split(self) -> bool:
        return None not in self.splits


def _shown(names) -> str:
    names = list(names)
    return ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _no_stray_images(folder: Path) -> None:
    stray = [p.name for p in _visible(folder) if _is_image(p)]
    if stray:
        raise ValueError(f"{folder} holds image files beside its class folders ({_shown(stray)}); every image belongs "
                         f"in a class folder, {folder}/<class>/<image>: move them into one")


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    """The images directly in each class folder under ``folder``; an error for a folder with images nested deeper
    or without images."""
    _no_stray_images(folder)
    classes = {}
    for directory in (p for p in _visible(folder) if p.is_dir()):
        nested = sorted(str(p.relative_to(folder)) for p in directory.rglob("*")
                        if p.parent != directory and _is_image(p))
        if nested:
            raise ValueError(f"{directory} holds images in sub-folders ({_shown(nested)}); images must lie directly "
                             f"in their class folder, {folder}/<class>/<image>: move them up, or pass root="
                             f"{directory} if its sub-folders are the classes")
        classes[directory.name] = sorted(p for p in directory.iterdir() if _is_image(p))
    if not any(classes.values()):
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in class folders under {folder}; "
                                f"expected {folder}/<class>/<image>")
    empty = [name for name, images in classes.items() if not images]
    if empty:
        raise ValueError(f"class folder(s) {_shown(empty)} under {folder} hold no images "
                         f"({', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder(s)")
    return classes


def _split_layout(root: Path) -> FolderLayout:
    others = [p.name for p in _visible(root) if p.is_dir() and p.name not in SPLIT_FOLDERS]
    missing = [name for name in SPLIT_FOLDERS if not (root / name).is_dir()]
    if missing:
        present = next(name for name in SPLIT_FOLDERS if name not in missing)
        raise ValueError(f"{root} has {present}/ but no {missing[0]}/: a split root holds both {root}/train/<class>/ "
                         f"and {root}/test/<class>/. Add {root}/{missing[0]}/, or put the class folders directly in "
                         f"{root} to have each class split at random (test_fraction)")
    if others:
        raise ValueError(f"{root} holds train/ and test/ beside other folders ({_shown(others)}); a root holds either "
                         "class folders or train/ and test/ of class folders: move them into train/ and test/")
    _no_stray_images(root)
    splits = {name: _class_folders(root / name) for name in SPLIT_FOLDERS}
    unknown = sorted(set(splits["test"]) - set(splits["train"]))
    if unknown:
        raise ValueError(f"{root}/test has class folders {root}/train lacks ({_shown(unknown)}); every test class must "
                         "be a training class (its queries would find no relevant image): add them to train/ or "
                         "remove them from test/")
    return FolderLayout(root, sorted(splits["train"]), splits)


def read_layout(root) -> FolderLayout:
    """The checked layout of the image folder ``root`` (module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist; expected {root}/<class>/<image> or "
                                f"{root}/{{train,test}}/<class>/<image>")
    if any((root / name).is_dir() for name in SPLIT_FOLDERS):
        layout = _split_layout(root)
        where = f"{root}/train"
    else:
        layout = FolderLayout(root, [], {None: _class_folders(root)})
        layout.classes = sorted(layout.splits[None])
        where = str(root)
    if len(layout.classes) < MIN_CLASSES:
        raise ValueError(f"{where} holds {len(layout.classes)} class folder ({_shown(layout.classes)}); hashing "
                         f"learns to tell classes apart and needs at least {MIN_CLASSES}: add a folder of images for "
                         "each further class")
    return layout


__all__ = ["FolderLayout", "IMAGE_EXTENSIONS", "MIN_CLASSES", "read_layout"]
