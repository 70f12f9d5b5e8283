"""Shared plumbing of the Numba kernels: imports (with a fallback when Numba is missing), fast-math flags,
flattening to rows, and when to run in parallel."""
import numpy as np

try:
    import numba
    from numba import njit, prange

    from ._exp import exp_nonpos
except ImportError:  # without Numba the kernels are plain Python (and unused: the package runs the NumPy twins)
    from math import exp as exp_nonpos
    numba = None
    prange = range

    def njit(*args, **kwargs):
        """Stand-in decorator when Numba is missing: leave the function as plain Python."""
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f

# Fast-math flags the Numba kernels may use. "reassoc" lets LLVM split a running sum into SIMD lanes (so the loop
# vectorises), "contract" allows fused multiply-add, "nsz"/"arcp" allow -0 == +0 and x/y == x*(1/y). Deliberately
# absent: "nnan"/"ninf" (inf and NaN keep their IEEE meaning, so -inf masks and NaN propagation still work) and
# "afn" (approximate libm calls).
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

# Below this many elements (or multiply-adds, for attention) a kernel runs on one thread. A parallel region costs
# microseconds to start, and milliseconds when the host deschedules one of the vCPUs: on a shared 2-core machine a
# 2-thread softmax of 48x64x64 took 40 ms instead of 0.2 ms (scripts/bench_kernels.py, README). So only work big
# enough to amortise that risk is split: the 10M-parameter GPT's (4096, 384) activations are, the baby GPT's are not.
PARALLEL_MIN_ELEMENTS = 1 << 20

FLOATS = (np.float32, np.float64)


def is_float(*arrays):
    """True when every array is float32 or float64 (the dtypes the Numba kernels are compiled for)."""
    return all(a.dtype in FLOATS for a in arrays)


def as_rows(x, name="x"):
    """View (or copy, if needed) x (..., V) as a C-contiguous (N, V) array, N = product of the leading dims."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the row axis), got a 0-d array")
    n = 1
    for d in x.shape[:-1]:
        n *= d
    return np.ascontiguousarray(x).reshape(n, x.shape[-1])


# Measured here (AMD EPYC vCPU): when a kernel's output buffer starts exactly where its input's ended -- which is
# where malloc puts the next block of the same size -- the GELU loops ran 3-5x slower (0.94 ms vs 4.6 ms for the
# backward on 768x512 float32), while any gap of a page or more restored full speed. So streaming kernels take their
# outputs from `empty_apart`, which leaves a 4 KB + 64 B gap in front of the data.
_GAP_BYTES = 4096 + 64


def empty_apart(n, dtype):
    """A new flat (n,) array of `dtype` that starts 4 KB + 64 B into its memory block, so it never begins right
    after the block malloc handed out before it (see _GAP_BYTES)."""
    dtype = np.dtype(dtype)
    gap = _GAP_BYTES // dtype.itemsize
    return np.empty(n + gap, dtype=dtype)[gap:]


def threads_for(n_elements, minimum=None):
    """How many threads a kernel should split n_elements of work over: 1 (run serially) below `minimum`
    (default PARALLEL_MIN_ELEMENTS)."""
    if numba is None or n_elements < (PARALLEL_MIN_ELEMENTS if minimum is None else minimum):
        return 1
    return numba.get_num_threads()
