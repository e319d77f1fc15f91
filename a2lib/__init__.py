"""a2lib: attribute-aware deep hashing (A²-Net, A²-Net++) and simplicity bias, as a thin library behind notebooks.

Data flows one way: ``data`` → ``models`` → ``losses``/``train`` → ``evaluate`` → ``search``/``explain`` → ``plots``;
``workbook`` runs the notebooks that tell the story. See README.md and the notebooks for a guided tour.
``a2lib.fit(train_set, method, bits, recipe)`` is the one call from your own labelled images to searchable codes.
"""

from .fit import fit

__version__ = "0.1.0"

__all__ = ["__version__", "fit"]

