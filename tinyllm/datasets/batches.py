"""ids -> batches: random (x, y) windows of shape (B, T) for training, a fixed seeded set for evaluation.

A window is block_size + 1 consecutive ids starting at a random offset; x is its first T ids and y the last T,
so y[b, t] is the token that follows x[b, :t + 1] -- the next-token targets for every position at once.
"""
import numpy as np


def _check(ids, batch_size, block_size):
    """Validate arguments shared by get_batch and eval_batches; returns ids as a 1-D array (or memmap)."""
    if not hasattr(ids, "ndim"):
        ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of token ids, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must hold integer token ids, got dtype {ids.dtype}")
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if len(ids) < block_size + 1:
        raise ValueError(f"the split has {len(ids)} tokens, but a window needs block_size + 1 = {block_size + 1}; "
                         f"use a smaller block_size or more text (or a larger val_fraction for the val split)")
    return ids


def windows(ids, offsets, block_size):
    """Gather (x, y) int64 arrays of shape (B, T) from windows starting at `offsets` (B,)."""
    index = np.asarray(offsets)[:, None] + np.arange(block_size + 1)  # (B, T + 1)
    w = np.asarray(ids[index], dtype=np.int64)  # fancy indexing also works on a memory-mapped array
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])  # x (B, T), y (B, T)


def get_batch(ids, batch_size, block_size, rng):
    """One training batch: batch_size windows at offsets drawn uniformly from rng (a numpy Generator)."""
    ids = _check(ids, batch_size, block_size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    offsets = rng.integers(0, len(ids) - block_size, size=batch_size)  # every window fits: offset + T < len
    return windows(ids, offsets, block_size)


def eval_batches(ids, batch_size, block_size, n_batches, seed):
    """n_batches batches drawn with their own Generator(seed): the same windows every call, so evals compare."""
    ids = _check(ids, batch_size, block_size)
    if isinstance(n_batches, bool) or not isinstance(n_batches, (int, np.integer)) or n_batches < 1:
        raise ValueError(f"n_batches must be a positive int, got {n_batches!r}")
    rng = np.random.default_rng(seed)
    return [get_batch(ids, batch_size, block_size, rng) for _ in range(n_batches)]
