"""Test-session folders: embedded data in the checkout's git-ignored ``data/`` (generated once, reused across
sessions), trained models in a temporary cache, so no test writes into the user's ~/.cache."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _session_folders(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("A2LIB_DATA", str(ROOT / "data"))
    patch.setenv("A2LIB_CACHE", str(tmp_path_factory.mktemp("model-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def one_faiss_thread():
    """faiss's OpenMP threads spin badly on a busy shared machine: one thread for a module, restored after."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(previous)
