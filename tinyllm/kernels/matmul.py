"""Batched matrix multiply with NumPy broadcasting of leading dims: (..., M, K) @ (..., K, N) -> (..., M, N).

Measured on this project's 2-core machine (scripts/bench_kernels.py): nothing hand-written comes near BLAS
(~150 GFLOP/s per core in float32 vs ~25 for the best Numba loop), so the "Numba" twin is mostly about calling
BLAS well: one big GEMM instead of many small ones when b is a plain matrix, and, for attention-shaped batches
on 2+ threads, a Numba prange over the batch calling BLAS per item (np.matmul runs such batches on one thread).
`matmul_naive_numba` is the readable triple loop, kept as a reference and for the benchmark table.
"""
import math

import numpy as np

from ._blas import HAVE_SCIPY, mm, mm_loops
from ._rows import is_float, njit, prange, threads_for

# A batch is split across threads only when each item is at least this many multiply-adds (M * K * N).
_PARALLEL_MIN_ITEM_MACS = 32 * 32 * 32


def matmul_numpy(a, b):
    """Reference: np.matmul (OpenBLAS underneath)."""
    return np.matmul(a, b)


@njit(cache=True)
def _naive(a, b, out):
    """The textbook i-j-k triple loop: out[i, j] = sum_k a[i, k] b[k, j] (strided reads of b: slow)."""
    M, K = a.shape
    N = b.shape[1]
    for i in range(M):
        for j in range(N):
            acc = 0.0
            for k in range(K):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc
    return out


def matmul_naive_numba(a, b):
    """(M, K) @ (K, N) by the naive Numba loop; 2-D float inputs only (the benchmark's 'own kernel' row)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_naive_numba needs (M, K) @ (K, N), got {a.shape} @ {b.shape}")
    return _naive(a, b, np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b)))


def matmul_loops_numba(a, b):
    """(M, K) @ (K, N) by the vectorised i-k-j Numba loop that kernels use when SciPy (Numba's BLAS) is absent."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul_loops_numba needs (M, K) @ (K, N), got {a.shape} @ {b.shape}")
    return mm_loops(a, b, np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b)))


@njit(cache=True, parallel=True)
def _batched(a, b, b_transposed, out):
    """out[i] = a[i] @ b[i] for every batch item, items spread over Numba's threads, each a BLAS call.
    b is C-contiguous (B, K, N), or (B, N, K) holding b transposed when b_transposed (BLAS reads it as is)."""
    for i in prange(a.shape[0]):
        if b_transposed:
            mm(a[i], b[i].T, out[i])
        else:
            mm(a[i], b[i], out[i])
    return out


def matmul_numba(a, b):
    """Same contract as matmul_numpy. Plain 2-D products, vectors, mixed or non-float dtypes and broadcast
    (unequal) leading dims go straight to np.matmul, as do batches too small to be worth splitting over threads."""
    if a.ndim > 2 and b.ndim >= 2 and a.dtype == b.dtype and is_float(a):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: inner dims differ, a {a.shape} @ b {b.shape}")
        M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
        if b.ndim == 2:
            # (..., M, K) @ (K, N): all rows of a share b, so it is one (rows, K) @ (K, N) GEMM
            out = np.dot(a.reshape(math.prod(a.shape[:-1]), K), b)  # copies only if a's rows are unevenly strided
            return out.reshape(a.shape[:-1] + (N,))
        batch = a.shape[:-2]
        if (HAVE_SCIPY and batch == b.shape[:-2] and M * K * N >= _PARALLEL_MIN_ITEM_MACS
                and threads_for(a.size + b.size + M * N) > 1):
            a3 = np.ascontiguousarray(a).reshape(-1, M, K)  # (B, M, K)
            bt = np.swapaxes(b, -1, -2)  # k.T in attention: a transposed view that BLAS can read without a copy
            transposed = bt.flags.c_contiguous and not b.flags.c_contiguous
            b3 = bt.reshape(-1, N, K) if transposed else np.ascontiguousarray(b).reshape(-1, K, N)
            out = np.empty((a3.shape[0], M, N), dtype=a.dtype)
            return _batched(a3, b3, transposed, out).reshape(batch + (M, N))
    return np.matmul(a, b)
