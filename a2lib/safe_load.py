"""Reading the library's torch files without running code from them: ``load_tensors(path)``.

Every file a2lib writes with ``torch.save`` (cache entries, checkpoints, ``Fitted`` folders, embedded data caches)
holds only tensors, numbers, strings, ``None`` and plain containers, so it is read with ``weights_only=True``: a file
whose unpickling would build any other object (and so could run code, as a planted pickle whose ``__reduce__`` calls
``os.system`` would) is refused before anything of it runs. Caches may be shared between users, workers and cluster
jobs, so no file in them is trusted. Each failure is one ``UnreadableFile`` naming the file and what is wrong with it.
(A backbone's local ``weights_path`` file is read with ``weights_only=True`` too, in ``a2lib.models.backbones``.)
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

TRUNCATED_SIGNS = ("PytorchStreamReader", "central directory", "unexpected EOF", "file read failed")
"""Words of torch's errors for an archive cut short or damaged."""


class UnreadableFile(ValueError):
    """A torch file that cannot be read back safely; ``path`` is the file, the message says why and what to do."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path} {problem}")


def _problem(error: Exception) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0]
    if isinstance(error, pickle.UnpicklingError):
        return ("holds Python objects other than tensors, numbers, strings and plain containers (a checkpoint of an "
                "earlier a2lib, or a file made or changed by something else): it was refused without running any of "
                "it")
    if isinstance(error, (EOFError, zipfile.BadZipFile)) or any(sign in text for sign in TRUNCATED_SIGNS):
        return f"is truncated or damaged (an unreadable archive: {text})"
    return f"is damaged or not a file torch.save wrote ({type(error).__name__}: {text})"


def load_tensors(path) -> object:
    """``torch.load(path, map_location="cpu", weights_only=True)``; any failure is an ``UnreadableFile``."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch, zipfile and pickle raise many types for a damaged or foreign file
        raise UnreadableFile(path, _problem(error)) from error


__all__ = ["UnreadableFile", "load_tensors"]
