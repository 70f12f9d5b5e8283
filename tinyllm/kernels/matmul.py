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
# A plain 2-D product is split across threads from this many multiply-adds on (~0.1 ms of BLAS on one core):
# below it a parallel region's start-up (tens of µs when the workers sleep) eats what the split saves.
# Every Linear layer of the baby GPT (768 x 128 x 128 and up) is above it; its 768 x 128 x 65 output layer too.
_PARALLEL_MIN_MACS = 1 << 22


def matmul_numpy(a, b):
    """Reference: np.matmul (OpenBLAS underneath)."""
    return np.matmul(a, b)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True, parallel=True)
def _batched(a, b, b_transposed, out):
    """out[i] = a[i] @ b[i] for every batch item, items spread over Numba's threads, each a BLAS call.
    b is C-contiguous (B, K, N), or (B, N, K) holding b transposed when b_transposed (BLAS reads it as is)."""
    for i in prange(a.shape[0]):
        if b_transposed:
            mm(a[i], b[i].T, out[i])
        else:
            mm(a[i], b[i], out[i])
    return out


@njit(cache=True, nogil=True, parallel=True)
def _row_slabs(a, b, out, slabs):
    """out = a @ b with the rows of a (and out) cut into `slabs` contiguous slabs, one BLAS call per thread."""
    M = a.shape[0]
    for i in prange(slabs):
        r0, r1 = i * M // slabs, (i + 1) * M // slabs
        mm(a[r0:r1], b, out[r0:r1])
    return out


@njit(cache=True, nogil=True, parallel=True)
def _inner_slabs(x, g, partial, slabs):
    """partial[i] = x[rows_i]^T @ g[rows_i]: x^T g split along its summed axis (the N = B*T rows of a weight
    gradient), one BLAS call per thread; the caller adds the partial products."""
    N = x.shape[0]
    for i in prange(slabs):
        r0, r1 = i * N // slabs, (i + 1) * N // slabs
        mm(x[r0:r1].T, g[r0:r1], partial[i])
    return partial


def _matmul_2d_threads(a, b):
    """(M, K) @ (K, N) on Numba's threads when the product is big enough, else None (the caller uses BLAS).

    a C-contiguous: its rows are split. a = x^T with x C-contiguous (a weight gradient x^T g): the summed axis
    is split and the partial products added. b may be C-contiguous or a transposed view of one."""
    M, K = a.shape
    N = b.shape[1]
    slabs = threads_for(M * K * N, _PARALLEL_MIN_MACS)
    if slabs < 2 or not HAVE_SCIPY or not (b.flags.c_contiguous or b.flags.f_contiguous):
        return None
    if a.flags.c_contiguous and M >= 2 * slabs:
        return _row_slabs(a, b, np.empty((M, N), dtype=a.dtype), slabs)
    if a.flags.f_contiguous and b.flags.c_contiguous and K >= 2 * slabs:
        partial = _inner_slabs(a.T, b, np.empty((slabs, M, N), dtype=a.dtype), slabs)
        out = partial[0]
        for i in range(1, slabs):
            out += partial[i]
        return out
    return None


def matmul_numba(a, b):
    """Same contract as matmul_numpy. Plain 2-D products, vectors, mixed or non-float dtypes and broadcast
    (unequal) leading dims go straight to np.matmul, as do batches too small to be worth splitting over threads."""
    if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and is_float(a) and a.shape[1] == b.shape[0]:
        out = _matmul_2d_threads(a, b)
        if out is not None:
            return out
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
