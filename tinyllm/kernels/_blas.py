"""Matrix products callable from inside @njit code: BLAS when Numba can reach it, plain loops otherwise.

Numba implements np.dot by calling the BLAS that SciPy ships, so `np.dot` inside a kernel needs SciPy installed.
tinyllm does not require SciPy: without it `mm` below is a readable i-k-j loop (about 5x slower than BLAS here,
see scripts/bench_kernels.py), and the kernels stay correct either way.
"""
import importlib.util

import numpy as np

from ._rows import FASTMATH, njit



def _have_scipy():
    try:
        return importlib.util.find_spec("scipy") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["scipy"] = None, as a test does to hide it
        return False


HAVE_SCIPY = _have_scipy()


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def mm_loops(a, b, out):
    """out (M, N) = a (M, K) @ b (K, N) by the i-k-j loop: the inner loop runs along rows of b and out,
    so memory is read in order and LLVM vectorises it."""
    M, K = a.shape
    N = b.shape[1]
    for i in range(M):
        for j in range(N):
            out[i, j] = 0
        for k in range(K):
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]
    return out


if HAVE_SCIPY:
    @njit(cache=True, nogil=True)
    def mm(a, b, out):
        """out (M, N) = a (M, K) @ b (K, N), written in place by BLAS (a, b may be transposed views)."""
        np.dot(a, b, out)
        return out
else:  # pragma: no cover - exercised only where SciPy is absent
    mm = mm_loops
