"""Class-balanced batches: every item once per epoch, runs of K same-class items, seeded."""
import pytest
import torch

from a2lib.train.batches import ClassBalancedBatches


def _batches(labels, batch_size, per_class, seed=0):
    return list(ClassBalancedBatches(torch.tensor(labels), batch_size, per_class, torch.Generator().manual_seed(seed)))


def test_each_batch_holds_whole_runs_of_one_class_and_every_item_once():
    labels = [c for c in range(4) for _ in range(8)]  # 4 classes x 8 items: every run has exactly 4 items
    batches = _batches(labels, batch_size=8, per_class=4)
    assert sorted(i for batch in batches for i in batch) == list(range(32))
    assert all(len(batch) == 8 for batch in batches) and len(batches) == 4
    for batch in batches:
        for start in (0, 4):
            assert len({labels[i] for i in batch[start:start + 4]}) == 1


def test_positives_per_batch_beat_shuffling():
    """60 classes x 10 items, batch 16: K = 4 gives every item at least 3 in-batch positives."""
    labels = [c for c in range(60) for _ in range(10)]
    batches = _batches(labels, batch_size=16, per_class=4)
    positives = [sum(labels[j] == labels[i] for j in batch) - 1 for batch in batches for i in batch]
    assert sum(positives) / len(positives) >= 2


def test_seeded_and_a_single_leftover_joins_the_previous_batch():
    labels = [0, 0, 0, 1, 1, 1, 2]
    first, again, other = _batches(labels, 3, 3, seed=1), _batches(labels, 3, 3, seed=1), _batches(labels, 3, 3, 2)
    assert first == again
    assert sorted(i for batch in first for i in batch) == list(range(7))
    assert min(len(batch) for batch in first) >= 2 and len(first) == len(ClassBalancedBatches(
        torch.tensor(labels), 3, 3, torch.Generator()))
    assert first != other or _batches(labels, 3, 3, seed=3) != first


def test_rejects_multi_label_and_bad_run_length():
    with pytest.raises(ValueError, match="class indices"):
        ClassBalancedBatches(torch.zeros(4, 3), 2, 1, torch.Generator())
    with pytest.raises(ValueError, match="per_class must lie in"):
        ClassBalancedBatches(torch.zeros(4), 2, 3, torch.Generator())


@pytest.mark.parametrize("batch_size, per_class, expected", [(16, 4, (24, 120)), (32, 4, (48, 496)),
                                                              (10, 4, (13, 45)), (5, 1, (0, 10))])
def test_similar_pairs_counts_the_pairs_of_one_class_in_a_batch(batch_size, per_class, expected):
    # 16 = 4 classes x 4: 4 * C(4, 2) = 24 of C(16, 2) = 120; 10 = 4 + 4 + 2: 6 + 6 + 1 = 13 of 45
    from a2lib.train.batches import similar_pairs

    assert similar_pairs(batch_size, per_class) == expected


def test_similar_pairs_match_a_batch_of_whole_runs():
    from a2lib.train.batches import similar_pairs

    labels = [c for c in range(8) for _ in range(4)]  # every run has exactly 4 items: batches of whole runs
    for batch in _batches(labels, batch_size=16, per_class=4):
        similar = sum(labels[i] == labels[j] for a, i in enumerate(batch) for j in batch[a + 1:])
        assert (similar, len(batch) * (len(batch) - 1) // 2) == similar_pairs(16, 4)
