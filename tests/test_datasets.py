"""Token datasets: batch shapes and shift, seeded determinism, clear errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.datasets.batches import eval_batches, get_batch


@given(st.integers(2, 300), st.integers(1, 8), st.integers(1, 16), st.integers(0, 2**32 - 1),
       st.sampled_from([np.uint16, np.uint32, np.int64]))
def test_get_batch_shapes_and_shift(n, batch_size, block_size, seed, dtype):
    block_size = min(block_size, n - 1)
    ids = np.random.default_rng(seed).integers(0, 1000, size=n).astype(dtype)
    x, y = get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    assert x.shape == y.shape == (batch_size, block_size) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])  # y is x shifted left by one
    windows = {tuple(ids[o:o + block_size + 1]) for o in range(n - block_size)}
    for b in range(batch_size):  # every row is a real window of the data
        assert tuple(x[b]) + (y[b, -1],) in windows


@given(st.integers(0, 2**32 - 1))
def test_same_seed_same_batches(seed):
    ids = np.arange(500, dtype=np.uint16)
    a = get_batch(ids, 4, 8, np.random.default_rng(seed))
    b = get_batch(ids, 4, 8, np.random.default_rng(seed))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    e1, e2 = eval_batches(ids, 4, 8, 3, seed), eval_batches(ids, 4, 8, 3, seed)
    assert len(e1) == 3 and all(np.array_equal(u, v) for p, q in zip(e1, e2) for u, v in zip(p, q))


def test_every_offset_can_be_drawn():
    """Offsets cover [0, n - T - 1]: the last window (ending at the last token) is reachable, none overflow."""
    ids = np.arange(10)
    x, y = get_batch(ids, 2000, 4, np.random.default_rng(0))
    assert set(x[:, 0]) == set(range(6)) and y.max() == 9


def test_batch_errors_are_clear():
    ids = np.arange(8)
    with pytest.raises(ValueError, match="the split has 8 tokens, but a window needs block_size \\+ 1 = 9"):
        get_batch(ids, 2, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        get_batch(ids, 0, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="1-D"):
        get_batch(ids.reshape(2, 4), 1, 2, np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy Generator"):
        get_batch(ids, 1, 2, 42)
    with pytest.raises(ValueError, match="integer token ids"):
        get_batch(np.zeros(8), 1, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_batches"):
        eval_batches(ids, 1, 2, 0, 0)
