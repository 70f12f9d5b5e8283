"""Row softmax and log-softmax over the last axis, forward and backward.

A row that is entirely -inf (everything masked) gives softmax 0 everywhere and log-softmax -inf everywhere,
never NaN: attention over padding then contributes nothing. A NaN or +inf anywhere in a row makes that row NaN.

The Numba twins make one pass for the row max and one fused pass for exp and the running sum, using the
vectorisable exp of `_exp.py`; rows run on one thread unless the input is big (see `_rows.py`).
"""
import numpy as np

from ._rows import FASTMATH, as_rows, exp_nonpos, is_float, njit, prange, threads_for


def softmax_forward_numpy(x):
    """y = exp(x - max) / sum(exp(x - max)) along the last axis. x: (..., V) -> y: (..., V)."""
    m = np.max(x, axis=-1, keepdims=True, initial=-np.inf)  # initial: an empty row (V = 0) is fine too
    m = np.where(np.isneginf(m), 0, m)  # all -inf rows: exp(-inf) = 0 below, no inf - inf
    e = np.exp(x - m)
    s = np.sum(e, axis=-1, keepdims=True)
    return (e / np.where(s == 0, 1, s)).astype(x.dtype, copy=False)


def softmax_backward_numpy(y, dy):
    """dx = y * (dy - sum(dy * y)) along the last axis (the softmax Jacobian-vector product)."""
    return (y * (dy - np.sum(dy * y, axis=-1, keepdims=True))).astype(y.dtype, copy=False)


def log_softmax_forward_numpy(x):
    """y = x - logsumexp(x) along the last axis."""
    m = np.max(x, axis=-1, keepdims=True, initial=-np.inf)
    m = np.where(np.isneginf(m), 0, m)
    s = np.sum(np.exp(x - m), axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = m + np.log(s)
    lse = np.where(np.isneginf(lse), 0, lse)  # all -inf row: y = x = -inf rather than -inf - (-inf) = NaN
    return (x - lse).astype(x.dtype, copy=False)


def log_softmax_backward_numpy(y, dy):
    """dx = dy - softmax(x) * sum(dy), with softmax(x) = exp(y)."""
    return (dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)).astype(y.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------------------
# Numba twins. Each row kernel handles rows lo..hi-1 of C-contiguous (N, V) arrays, so the parallel variant is just
# "split the rows into one chunk per thread". Accumulators have the input's dtype (float32 stays 8 SIMD lanes wide).

@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _row_max(x, i):
    """max of row i, ignoring NaN (a NaN row is caught later because exp(NaN - m) stays NaN); -inf rows -> 0."""
    m = x.dtype.type(-np.inf)
    for j in range(x.shape[1]):
        m = x[i, j] if x[i, j] > m else m
    return m if m != -np.inf else x.dtype.type(0)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _softmax_rows(x, y, lo, hi):
    """y[i] = softmax(x[i]) for rows lo..hi-1 of x, y (N, V): three passes over a row that sits in L1 cache."""
    one = x.dtype.type(1)
    for i in range(lo, hi):
        m = _row_max(x, i)  # pass 1: the max, so every exponent below is <= 0 and cannot overflow
        s = x.dtype.type(0)
        for j in range(x.shape[1]):  # pass 2: e = exp(x - m) stored in y, and its sum (vectorised)
            e = exp_nonpos(x[i, j] - m)
            y[i, j] = e
            s += e
        r = one / s if s != 0 else one  # all -inf row: s = 0, y stays 0
        for j in range(x.shape[1]):  # pass 3: normalise (one division per row, then multiplies)
            y[i, j] *= r


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _log_softmax_rows(x, y, lo, hi):
    """y[i] = x[i] - logsumexp(x[i]) for rows lo..hi-1; logsumexp = m + log(sum exp(x - m))."""
    for i in range(lo, hi):
        m = _row_max(x, i)
        s = x.dtype.type(0)
        for j in range(x.shape[1]):  # only the sum is needed here, so nothing is stored
            s += exp_nonpos(x[i, j] - m)
        lse = m + np.log(s) if s != 0 else x.dtype.type(0)  # all -inf row: y = x = -inf
        for j in range(x.shape[1]):
            y[i, j] = x[i, j] - lse


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _softmax_backward_rows(y, dy, dx, lo, hi):
    """dx[i] = y[i] * (dy[i] - <dy[i], y[i]>): the Jacobian of softmax is diag(y) - y y^T, applied to dy."""
    for i in range(lo, hi):
        dot = y.dtype.type(0)  # <dy, y>, one number per row
        for j in range(y.shape[1]):
            dot += dy[i, j] * y[i, j]
        for j in range(y.shape[1]):
            dx[i, j] = y[i, j] * (dy[i, j] - dot)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _log_softmax_backward_rows(y, dy, dx, lo, hi):
    """dx[i] = dy[i] - softmax(x[i]) * sum(dy[i]), where softmax(x) = exp(y) needs no second input."""
    for i in range(lo, hi):
        total = y.dtype.type(0)
        for j in range(y.shape[1]):
            total += dy[i, j]
        for j in range(y.shape[1]):
            dx[i, j] = dy[i, j] - exp_nonpos(y[i, j]) * total


@njit(cache=True, nogil=True, parallel=True)
def _forward_parallel(kernel_id, x, y, chunks):
    """Split the rows into `chunks` contiguous ranges, one per thread; kernel_id 0 = softmax, 1 = log-softmax."""
    n = x.shape[0]
    for c in prange(chunks):
        lo, hi = c * n // chunks, (c + 1) * n // chunks
        if kernel_id == 0:
            _softmax_rows(x, y, lo, hi)
        else:
            _log_softmax_rows(x, y, lo, hi)


@njit(cache=True, nogil=True, parallel=True)
def _backward_parallel(kernel_id, y, dy, dx, chunks):
    """The backward kernels split like _forward_parallel."""
    n = y.shape[0]
    for c in prange(chunks):
        lo, hi = c * n // chunks, (c + 1) * n // chunks
        if kernel_id == 0:
            _softmax_backward_rows(y, dy, dx, lo, hi)
        else:
            _log_softmax_backward_rows(y, dy, dx, lo, hi)


def _forward(kernel_id, x):
    """Flatten to rows, allocate the output, run the serial or the parallel kernel, restore the shape."""
    x2 = as_rows(x)  # (..., V) -> (N, V)
    y, threads = np.empty_like(x2), threads_for(x2.size)
    if threads > 1:
        _forward_parallel(kernel_id, x2, y, threads)
    elif kernel_id == 0:
        _softmax_rows(x2, y, 0, x2.shape[0])
    else:
        _log_softmax_rows(x2, y, 0, x2.shape[0])
    return y.reshape(x.shape)


def _backward(kernel_id, y, dy):
    """As _forward; dy is cast to y's dtype so one compiled kernel serves mixed-precision callers."""
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of y {y.shape}, got {dy.shape}")
    y2, dy2 = as_rows(y, "y"), as_rows(dy.astype(y.dtype, copy=False), "dy")
    dx, threads = np.empty_like(y2), threads_for(y2.size)
    if threads > 1:
        _backward_parallel(kernel_id, y2, dy2, dx, threads)
    elif kernel_id == 0:
        _softmax_backward_rows(y2, dy2, dx, 0, y2.shape[0])
    else:
        _log_softmax_backward_rows(y2, dy2, dx, 0, y2.shape[0])
    return dx.reshape(y.shape)


def softmax_forward_numba(x):
    """Numba twin of softmax_forward_numpy (dtypes other than float32/float64 run the NumPy twin)."""
    return _forward(0, x) if is_float(x) else softmax_forward_numpy(x)


def softmax_backward_numba(y, dy):
    """Numba twin of softmax_backward_numpy."""
    return _backward(0, y, dy) if is_float(y) else softmax_backward_numpy(y, dy)


def log_softmax_forward_numba(x):
    """Numba twin of log_softmax_forward_numpy."""
    return _forward(1, x) if is_float(x) else log_softmax_forward_numpy(x)


def log_softmax_backward_numba(y, dy):
    """Numba twin of log_softmax_backward_numpy."""
    return _backward(1, y, dy) if is_float(y) else log_softmax_backward_numpy(y, dy)
