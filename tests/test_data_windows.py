"""The window explorer's arithmetic (core's `data.windows.WindowPlan`) against the engine's own
sliding-window dataset and batch sources, which it describes."""

from __future__ import annotations

import numpy as np
import pytest

from gptstudio.core.data import RandomBatcher, SlidingWindowDataset, make_dataloader
from gptstudio.core.data.windows import WindowPlan
from gptstudio.core.errors import ConfigError, DatasetError

CASES = [(10, 4, 2), (10, 4, 4), (10, 4, 5), (101, 8, 3), (101, 8, 8), (101, 8, 13), (9, 8, 1),
         (500, 16, 7)]


@pytest.mark.parametrize("n, block, stride", CASES)
def test_every_window_is_the_datasets(n, block, stride):
    tokens = (np.arange(n) * 7919) % 101  # repeats, so positions are not the values
    plan = WindowPlan(n, block, stride)
    dataset = SlidingWindowDataset(tokens, block, stride)
    assert plan.n_windows == len(dataset)
    for index in range(plan.n_windows):
        x, y = plan.window(tokens, index)
        dx, dy = dataset[index]
        assert np.array_equal(x, dx.numpy()) and np.array_equal(y, dy.numpy())
        assert np.array_equal(x[1:], y[:-1])  # y is x shifted by one
    # Overlap, gaps and the tokens left out, recounted from the windows' positions.
    starts = [plan.start(i) for i in range(plan.n_windows)]
    if plan.n_windows > 1:
        shared = len(set(range(starts[0], starts[0] + block)) & set(range(starts[1],
                                                                          starts[1] + block)))
        assert plan.overlap == shared
        assert plan.gap == max(0, starts[1] - (starts[0] + block))
    used = set()
    for start in starts:
        used.update(range(start, start + block + 1))  # x and its target y
    assert plan.n_left_out == n - 1 - max(used)
    assert plan.dataset(tokens).stride == stride


@pytest.mark.parametrize("n, block, stride", CASES)
def test_a_batch_is_what_the_loader_or_the_trainer_draws_first(n, block, stride):
    tokens = (np.arange(n) * 31) % 97
    plan = WindowPlan(n, block, stride)
    batch = min(4, plan.n_windows)
    for seed in (0, 3):
        starts, x, y = plan.batch(tokens, batch, source="epoch", seed=seed)
        lx, ly = next(iter(make_dataloader(tokens, block, batch, stride=stride, seed=seed)))
        assert np.array_equal(x, lx.numpy()) and np.array_equal(y, ly.numpy())
        for row, start in enumerate(starts.tolist()):
            assert start % stride == 0 and np.array_equal(x[row], tokens[start:start + block])
        starts, x, y = plan.batch(tokens, 3, source="trainer", seed=seed)
        bx, by = RandomBatcher(tokens, block, 3, seed=seed).next_batch()
        assert np.array_equal(x, bx.numpy()) and np.array_equal(y, by.numpy())
        for row, start in enumerate(starts.tolist()):
            assert np.array_equal(x[row], tokens[start:start + block])


def test_bad_sizes_say_what_to_change():
    with pytest.raises(DatasetError, match="fewer than one window"):
        WindowPlan(8, 8, 1)
    with pytest.raises(ConfigError, match="stride"):
        WindowPlan(100, 8, 0)
    with pytest.raises(ConfigError, match="block_size"):
        WindowPlan(100, True)
    plan = WindowPlan(100, 8)
    assert plan.stride == 8 and plan.overlap == 0
    with pytest.raises(DatasetError, match="no window 12"):
        plan.window(np.arange(100), 12)
    with pytest.raises(DatasetError, match="for 100 tokens"):
        plan.window(np.arange(99), 0)
    with pytest.raises(ConfigError, match="'epoch' or 'trainer'"):
        plan.batch(np.arange(100), 2, source="other")  # type: ignore[arg-type]
