"""Batched matrix multiply with NumPy broadcasting of leading dims: (..., M, K) @ (..., K, N) -> (..., M, N)."""
import numpy as np


def matmul_numpy(a, b):
    """Reference: np.matmul (OpenBLAS underneath)."""
    return np.matmul(a, b)
