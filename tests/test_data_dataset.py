"""Windows, the positional split, epoch loaders and resumable random batches (numpy tokens)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gptstudio.core.data import RandomBatcher, SlidingWindowDataset, make_dataloader, split_tokens
from gptstudio.core.errors import ConfigError, DatasetError

# --- sliding windows -------------------------------------------------------------------------


def test_window_is_x_and_x_shifted_by_one():
    tokens = np.array([5, 9, 2, 7, 3, 8, 1], dtype=np.uint16)
    ds = SlidingWindowDataset(tokens, block_size=3, stride=2)
    x, y = ds[1]
    assert x.tolist() == [2, 7, 3] and y.tolist() == [7, 3, 8]
    assert x.dtype == torch.int64 and y.dtype == torch.int64


@pytest.mark.parametrize("n, block, stride", [(10, 4, None), (10, 4, 1), (10, 4, 3), (5, 4, None),
                                              (100, 7, 5), (9, 4, 4)])
def test_every_window_that_fits_and_no_other(n, block, stride):
    ds = SlidingWindowDataset(np.arange(n), block, stride)
    step = stride or block
    starts = [i for i in range(0, n, step) if i + block + 1 <= n]  # brute force
    assert len(ds) == len(starts)
    assert [ds[i][0][0].item() for i in range(len(ds))] == starts
    assert ds[-1][1][-1].item() == starts[-1] + block  # last target token exists
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_default_stride_means_no_overlap():
    ds = SlidingWindowDataset(np.arange(13), block_size=4)
    xs = [ds[i][0].tolist() for i in range(len(ds))]
    assert xs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_works_on_a_memmap(tmp_path):
    path = tmp_path / "t.bin"
    np.arange(50, dtype=np.uint16).tofile(path)
    tokens = np.memmap(path, dtype=np.uint16, mode="r")
    x, y = SlidingWindowDataset(tokens, 8)[2]
    assert x.tolist() == list(range(16, 24)) and y.tolist() == list(range(17, 25))


def test_too_short_for_one_window():
    with pytest.raises(DatasetError, match=r"has 4 tokens, fewer than one window needs \(4 \+ 1\)"):
        SlidingWindowDataset(np.arange(4), 4)
    SlidingWindowDataset(np.arange(5), 4)  # exactly one window is fine


def test_bad_arguments():
    with pytest.raises(ConfigError, match="block_size"):
        SlidingWindowDataset(np.arange(10), 0)
    with pytest.raises(ConfigError, match="stride"):
        SlidingWindowDataset(np.arange(10), 2, stride=0)
    with pytest.raises(DatasetError, match="1-D"):
        SlidingWindowDataset(np.zeros((3, 4), dtype=np.int64), 2)
    with pytest.raises(DatasetError, match="integer"):
        SlidingWindowDataset(np.linspace(0, 1, 10), 2)


# --- split -------------------------------------------------------------------------------------


def test_split_by_position():
    train, val = split_tokens(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = split_tokens(np.arange(10), 0.25)  # 2.5 rounds to 2
    assert (len(train), len(val)) == (8, 2)
    train, val = split_tokens(np.arange(10), 0.0)
    assert len(train) == 10 and len(val) == 0


def test_split_returns_views():
    tokens = np.arange(100)
    train, _ = split_tokens(tokens)
    assert np.shares_memory(train, tokens)


def test_split_checks_windows_when_given_a_block_size():
    train, val = split_tokens(np.arange(100), 0.1, block_size=9)  # val has 10 = 9 + 1 tokens
    assert len(val) == 10
    with pytest.raises(DatasetError, match=r"validation split has 10 tokens .*\(10 \+ 1\)"):
        split_tokens(np.arange(100), 0.1, block_size=10)
    with pytest.raises(DatasetError, match="training split has 5 tokens"):
        split_tokens(np.arange(10), 0.5, block_size=5)
    split_tokens(np.arange(10), 0.0, block_size=5)  # no validation wanted: no check


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_fraction_bounds(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_tokens(np.arange(10), fraction)


# --- epoch loader ------------------------------------------------------------------------------


def test_an_epoch_visits_every_window_once_in_a_seeded_order():
    tokens = np.arange(101)
    loader = make_dataloader(tokens, block_size=4, batch_size=8, seed=3)
    first = torch.cat([x[:, 0] for x, _ in loader]).tolist()
    second = torch.cat([x[:, 0] for x, _ in loader]).tolist()
    assert sorted(first) == list(range(0, 97, 4))  # 25 windows, each once
    assert first != sorted(first) and second != first  # shuffled, differently each epoch
    again = make_dataloader(tokens, block_size=4, batch_size=8, seed=3)
    assert torch.cat([x[:, 0] for x, _ in again]).tolist() == first
    other = make_dataloader(tokens, block_size=4, batch_size=8, seed=4)
    assert torch.cat([x[:, 0] for x, _ in other]).tolist() != first


def test_loader_batches_and_order_without_shuffle():
    loader = make_dataloader(np.arange(101), 4, 8, shuffle=False)
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(8, 4), (8, 4), (8, 4), (1, 4)]
    x, y = batches[0]
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert x[:, 0].tolist() == list(range(0, 32, 4))
    assert len(list(make_dataloader(np.arange(101), 4, 8, drop_last=True))) == 3
    with pytest.raises(ConfigError, match="batch_size"):
        make_dataloader(np.arange(101), 4, 0)


# --- random batches ----------------------------------------------------------------------------


def test_random_batches_are_windows_of_the_tokens():
    batcher = RandomBatcher(np.arange(1000, dtype=np.uint16), block_size=16, batch_size=5, seed=0)
    for _ in range(20):
        x, y = batcher.next_batch()
        assert x.shape == y.shape == (5, 16) and x.dtype == torch.int64
        # tokens are 0..999, so a window is consecutive numbers and y is x + 1
        assert torch.equal(x - x[:, :1], torch.arange(16).expand(5, 16))
        assert torch.equal(y, x + 1)
        assert int(y.max()) <= 999


def test_random_starts_cover_the_whole_range_including_the_last_window():
    batcher = RandomBatcher(np.arange(6), block_size=4, batch_size=64, seed=1)
    x, y = batcher.next_batch()
    assert set(x[:, 0].tolist()) == {0, 1}  # the only two windows of 6 tokens
    one = RandomBatcher(np.arange(5), block_size=4, batch_size=3, seed=1)  # exactly one window
    assert one.next_batch()[0][:, 0].tolist() == [0, 0, 0]


def test_same_seed_same_batches():
    a = RandomBatcher(np.arange(500), 8, 4, seed=7)
    b = RandomBatcher(np.arange(500), 8, 4, seed=7)
    c = RandomBatcher(np.arange(500), 8, 4, seed=8)
    xa, xb, xc = a.next_batch()[0], b.next_batch()[0], c.next_batch()[0]
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)


def test_resume_is_bit_exact_through_json():
    tokens = np.arange(10_000)
    straight = RandomBatcher(tokens, 32, 8, seed=42)
    for _ in range(5):
        straight.next_batch()
    saved = json.dumps(straight.state_dict())  # what a checkpoint would store
    expected = [straight.next_batch() for _ in range(5)]

    resumed = RandomBatcher(tokens, 32, 8, seed=0)  # the seed comes from the state
    resumed.load_state_dict(json.loads(saved))
    assert resumed.batches_drawn == 5 and resumed.seed == 42
    for x, y in expected:
        rx, ry = resumed.next_batch()
        assert torch.equal(rx, x) and torch.equal(ry, y)


def test_state_for_other_data_or_corrupt_state_is_refused():
    state = RandomBatcher(np.arange(100), 8, 4).state_dict()
    with pytest.raises(DatasetError, match="n_tokens = 100, but this batcher has 99"):
        RandomBatcher(np.arange(99), 8, 4).load_state_dict(state)
    with pytest.raises(DatasetError, match="block_size = 8, but this batcher has 9"):
        RandomBatcher(np.arange(100), 9, 4).load_state_dict(state)
    with pytest.raises(DatasetError, match="incomplete or corrupt"):
        RandomBatcher(np.arange(100), 8, 4).load_state_dict({"version": 1})
    with pytest.raises(DatasetError, match="incomplete or corrupt"):
        RandomBatcher(np.arange(100), 8, 4).load_state_dict({**state, "bit_generator": "x"})
    with pytest.raises(DatasetError, match="version"):
        RandomBatcher(np.arange(100), 8, 4).load_state_dict({**state, "version": 99})


def test_random_batcher_errors():
    with pytest.raises(DatasetError, match="fewer than one window"):
        RandomBatcher(np.arange(8), 8, 4)
    with pytest.raises(ConfigError, match="batch_size"):
        RandomBatcher(np.arange(100), 8, 0)


def test_docstring_examples():
    import doctest

    from gptstudio.core.data import dataset

    assert doctest.testmod(dataset).failed == 0
