"""Two processes training the same config into one cache at once (issues 17 and 18.7): both succeed, one entry."""
import multiprocessing
import traceback

import pytest
import torch

from a2lib.data import ArrayDataset
from a2lib.train import TrainConfig, cache, load_or_train

CONFIG = TrainConfig(dataset="race arrays", model="baseline", bits=8, backbone="small", outer_iterations=1,
                     n_samples=16, inner_epochs=1, batch_size=8, val_fraction=0.0, device="cpu")
JOIN_TIMEOUT_S = 300


def _data() -> ArrayDataset:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(24) % 3
    return ArrayDataset(0.2 + 0.25 * labels[:, None, None, None] + 0.1 * torch.rand(24, 3, 16, 16, generator=g),
                        labels)


def _train_into(cache_dir, barrier, results):
    """A spawned process: wait for the other, then load_or_train into the shared cache; report codes or the error."""
    try:
        torch.set_num_threads(1)
        data = _data()
        barrier.wait()
        result = load_or_train(CONFIG, cache_dir=cache_dir, dataset=data, verbose=False)
        results.put(("ok", result.db_codes.numpy()))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_two_processes_racing_on_one_entry_both_succeed_and_it_holds_the_single_process_result(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_train_into, args=(str(tmp_path / "shared"), barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=JOIN_TIMEOUT_S) for _ in workers]
    for worker in workers:
        worker.join(JOIN_TIMEOUT_S)
    assert [kind for kind, _ in reports] == ["ok", "ok"], [detail for kind, detail in reports if kind != "ok"]
    alone = load_or_train(CONFIG, cache_dir=tmp_path / "alone", dataset=_data(), verbose=False)
    for _, codes in reports:
        assert torch.equal(torch.from_numpy(codes), alone.db_codes)
    entries = [p for p in (tmp_path / "shared").iterdir() if p.is_dir()]
    assert [p.name for p in entries] == [cache.entry_dir(CONFIG, alone.data_fingerprint).name]
    assert not [p for p in (tmp_path / "shared").iterdir() if ".tmp" in p.name or p.name.endswith(".partial")]
    loaded = cache.load_cached(CONFIG, alone.data_fingerprint, tmp_path / "shared")
    assert loaded is not None and torch.equal(loaded.db_codes, alone.db_codes)
