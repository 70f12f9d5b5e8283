"""Weight initialisation: plain functions returning fresh arrays drawn from a caller-owned numpy Generator.

GPT-2 draws every weight matrix and embedding from N(0, 0.02^2), sets biases to 0 and norm gains to 1, and shrinks
the projections that write into the residual stream by 1/sqrt(2 n_layer) (two such writes per block), so the
stream's variance does not grow with depth.
"""
import numpy as np

GPT2_STD = 0.02


def normal(shape, std, rng, dtype=np.float32):
    """An array of `shape` drawn from N(0, std^2) with `rng` (a numpy Generator), cast to `dtype`."""
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return (rng.standard_normal(shape) * std).astype(dtype)


def zeros(shape, dtype=np.float32):
    """An array of zeros (biases)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32):
    """An array of ones (norm gains)."""
    return np.ones(shape, dtype=dtype)


def residual_std(n_layer, std=GPT2_STD):
    """GPT-2's std for the projections that add into the residual stream: std / sqrt(2 n_layer)."""
    if n_layer < 1:
        raise ValueError(f"n_layer must be >= 1, got {n_layer}")
    return std / np.sqrt(2 * n_layer)
