"""The studies behind the notebooks: ``Study`` (a profile block's shared setup and the one way configs are built),
the paper's numbers (``paper``), the method comparison (``comparison``) and the simplicity-bias study
(``simplicity``)."""
from .paper import with_paper
from .setup import Study

__all__ = ["Study", "with_paper"]
