"""LengthBucketSampler: balanced epochs over groups (corpus-balanced sampling)."""

from __future__ import annotations

from collections import Counter

import pytest

from serkit.data.dataset import LengthBucketSampler


def test_groups_are_balanced_and_epochs_differ():
    groups = ["ravdess"] * 90 + ["emodb"] * 30
    s = LengthBucketSampler(list(range(120)), 8, seed=0, groups=groups)
    first = [i for b in s for i in b]
    assert len(s) == len(s.batches()) == 15
    counts = Counter(groups[i] for i in first)
    assert counts == {"ravdess": 60, "emodb": 60}
    # the small group is repeated whole, the large one subsampled without repeats
    assert Counter(Counter(i for i in first if i >= 90).values()) == {2: 30}
    assert max(Counter(i for i in first if i < 90).values()) == 1
    s.set_epoch(1)
    assert sorted(i for b in s for i in b) != sorted(first)
    s.set_epoch(0)
    assert [i for b in s for i in b] == first  # deterministic per (seed, epoch)


def test_without_groups_every_item_once():
    s = LengthBucketSampler([5, 3, 9, 1, 7], 2, seed=1)
    assert sorted(i for b in s for i in b) == [0, 1, 2, 3, 4]


def test_bad_groups():
    with pytest.raises(ValueError, match="one group per item"):
        LengthBucketSampler([1, 2, 3], 2, groups=["a"])
    with pytest.raises(ValueError, match="shuffle"):
        LengthBucketSampler([1, 2], 2, shuffle=False, groups=["a", "b"])
