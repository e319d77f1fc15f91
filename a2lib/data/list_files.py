"""Reading the text list files of the real datasets, every field checked so a bad line is an error, never bad data.

CUB-200-2011 and NABirds ship the same four lists (``images.txt``, ``image_class_labels.txt``,
``train_test_split.txt``, ``classes.txt``); ``read_official_lists`` parses them. Every error names the file, the
line and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAIN_FLAGS = {"1": True, "0": False}


def read_rows(path: Path, min_fields: int, max_split: int = -1) -> list[tuple[int, list[str]]]:
    """Non-empty whitespace-separated rows of a list file with their 1-based line numbers."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(maxsplit=max_split) if max_split > 0 else line.split()
            if len(fields) < min_fields:
                raise ValueError(
                    f"malformed line {number} in {path}: expected at least {min_fields} fields, got {line!r}"
                )
            rows.append((number, fields))
    return rows


def parse_int(path: Path, number: int, text: str, what: str = "field") -> int:
    """``text`` as an int, or a ValueError naming the file, the line and what the field is."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"malformed line {number} in {path}: {what} {text!r} is not an integer; "
                         "fix or remove the line") from None


def id_table(path: Path) -> dict[str, tuple[int, str]]:
    """``<id> <value>`` rows as id -> (line number, value); an id listed twice is an error naming both lines."""
    table: dict[str, tuple[int, str]] = {}
    for number, (key, value) in read_rows(path, 2, 1):
        if key in table:
            raise ValueError(f"malformed line {number} in {path}: id {key} is listed twice (lines {table[key][0]} "
                             f"and {number}); each id must appear once: remove one of the lines")
        table[key] = (number, value)
    return table


@dataclass
class OfficialLists:
    """The checked content of a CUB-style dataset's four list files (image ids are kept as the files spell them);
    ``split_lines``: each image's line in ``train_test_split.txt``, for errors about it."""
    paths: dict[str, str]
    labels: dict[str, int]
    is_train: dict[str, bool]
    class_names: dict[int, str]
    split_lines: dict[str, int]


def _class_names(path: Path, numbered: bool) -> dict[int, str]:
    """``classes.txt`` as class id -> name; ``numbered``: the ids must be 1..K (CUB's numbering)."""
    names: dict[int, str] = {}
    rows = read_rows(path, 2, 1)
    for number, (text, name) in rows:
        class_id = parse_int(path, number, text, "class id")
        if class_id in names:
            raise ValueError(f"malformed line {number} in {path}: class id {class_id} is listed twice; "
                             "each class must appear once: remove one of the lines")
        if numbered and not 1 <= class_id <= len(rows):
            raise ValueError(f"malformed line {number} in {path}: class id {class_id} is outside 1..{len(rows)}; "
                             f"the {len(rows)} classes must be numbered 1..{len(rows)}: fix the id")
        names[class_id] = name
    return names


def read_official_lists(base: Path, numbered_classes: bool) -> OfficialLists:
    """Parse and check the four lists under ``base``: unique ids, integer class ids that ``classes.txt`` lists,
    train/test flags 1 or 0. ``numbered_classes``: class ids are 1..K (CUB) rather than any listed id (NABirds)."""
    class_path = base / "classes.txt"
    class_names = _class_names(class_path, numbered_classes)
    paths = {key: value for key, (_, value) in id_table(base / "images.txt").items()}
    label_path = base / "image_class_labels.txt"
    labels = {}
    for key, (number, text) in id_table(label_path).items():
        class_id = parse_int(label_path, number, text, "class id")
        if class_id not in class_names:
            valid = f"1..{len(class_names)}" if numbered_classes else "one of its ids"
            raise ValueError(f"malformed line {number} in {label_path}: class id {class_id} of image {key} is not "
                             f"in {class_path} (which lists {len(class_names)} classes; valid ids: {valid}); "
                             "fix the line or classes.txt")
        labels[key] = class_id
    split_path = base / "train_test_split.txt"
    is_train, split_lines = {}, {}
    for key, (number, flag) in id_table(split_path).items():
        if flag not in TRAIN_FLAGS:
            raise ValueError(f"malformed line {number} in {split_path}: split flag {flag!r} of image {key} must be "
                             "1 (training image) or 0 (test image); fix the line")
        is_train[key], split_lines[key] = TRAIN_FLAGS[flag], number
    return OfficialLists(paths, labels, is_train, class_names, split_lines)
