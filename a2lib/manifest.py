"""A folder's manifest: what it was written for and the size and SHA-256 of each of its files, so that a reader can
tell a folder whose files belong together from one where a file was truncated, edited, or copied in from another run.

``write_manifest(folder, config, data)`` writes ``manifest.json`` last, once every other file of the folder is
complete: the config the folder was written for, the fingerprint of the data it was trained on
(``a2lib.data.identity``) and ``{name: {"bytes": size, "sha256": digest}}`` for every other file. ``verify`` checks
each listed file and raises ``ManifestMismatch`` naming the first one that differs: missing, truncated (fewer bytes
than written) or with other content (same name, another file: the case of weights or codes copied from another run
of the same architecture, which loads without a shape error). Cache entries and ``Fitted`` folders carry one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .atomic import write_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT, MANIFEST_VERSION = "a2lib.manifest", 1
HASH_CHUNK = 1 << 20
"""Bytes read at a time while hashing a file."""


class ManifestMismatch(ValueError):
    """A folder's file that is not what its manifest records (or an unreadable manifest); ``path`` is that file."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path} {problem}")


def file_digest(path: Path) -> dict:
    """``{"bytes": size, "sha256": hex digest}`` of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def write_manifest(folder: Path, config: dict, data: str | None) -> None:
    """``manifest.json`` in ``folder``: ``config``, ``data`` (the data fingerprint) and the digest of every other
    file in it, written atomically."""
    folder = Path(folder)
    files = {p.name: file_digest(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST_NAME}
    manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "config": config, "data": data,
                "files": files}
    write_atomic(folder / MANIFEST_NAME, lambda handle: handle.write(json.dumps(manifest, indent=1).encode()))


def read_manifest(folder: Path) -> dict | None:
    """The manifest of ``folder``, or None when it has none (written before folders carried one); one that is not
    valid JSON or not a manifest is a ``ManifestMismatch``."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestMismatch(path, f"is not valid JSON ({error}): it was truncated or edited") from error
    if (not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT
            or not isinstance(manifest.get("files"), dict)):
        raise ManifestMismatch(path, f"is not an {MANIFEST_FORMAT} file")
    return manifest


def verify(folder: Path, manifest: dict) -> None:
    """Check every file the manifest lists; the first that is missing, truncated or of other content is a
    ``ManifestMismatch`` naming it."""
    for name, written in sorted(manifest["files"].items()):
        path = Path(folder) / name
        if not path.is_file():
            raise ManifestMismatch(path, f"is missing (the folder's {MANIFEST_NAME} lists it)")
        found = file_digest(path)
        if found["bytes"] < written["bytes"]:
            raise ManifestMismatch(path, f"is truncated: it has {found['bytes']} of the {written['bytes']} bytes "
                                         "written (a write or copy cut short, or a shorter file put in its place)")
        if found != written:
            raise ManifestMismatch(path, f"is not the file this folder was written with (its SHA-256 differs from "
                                         f"the one {MANIFEST_NAME} records): it was changed or replaced afterwards, "
                                         "e.g. copied from another run")


def unlisted(folder: Path, manifest: dict | None, expected=()) -> list[str]:
    """Names in ``folder`` that neither its manifest (nor ``expected``) lists: what the writer did not write."""
    listed = set(expected) | ({MANIFEST_NAME, *manifest["files"]} if manifest is not None else set())
    return sorted(p.name + ("/" if p.is_dir() else "") for p in Path(folder).iterdir() if p.name not in listed)


__all__ = ["MANIFEST_NAME", "ManifestMismatch", "file_digest", "read_manifest", "unlisted", "verify",
           "write_manifest"]
