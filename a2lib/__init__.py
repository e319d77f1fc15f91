"""a2lib: attribute-aware deep hashing (A²-Net, A²-Net++) and simplicity bias, as a thin library behind notebooks.

Data flows one way: ``data`` → ``models`` → ``losses`` → ``train`` → ``inference``/``evaluate`` → ``search``/
``efficiency`` → ``shallow``/``explain`` → ``studies`` (the paper's experiments and numbers) → ``workbook`` (runner,
profiles, figures, results). ``a2lib.fit(train_set, method, bits, recipe)`` is the one call from your own labelled
images to a ``Fitted`` model that encodes, evaluates, searches and saves (``a2lib.Fitted.load`` reads it back).
The floors, the data path and where each concept lives: ``ARCHITECTURE.md`` at the repository's root.
"""

__version__ = "0.1.0"

_LAZY = {"fit": "fitting", "Fitted": "fitting"}
"""Exported on first use, so that ``import a2lib`` (and the ``a2lib`` command) does not load torch and faiss."""


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'a2lib' has no attribute {name!r}")


__all__ = ["Fitted", "__version__", "fit"]
