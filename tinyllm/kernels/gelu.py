"""GELU, x * Phi(x): exact (erf) or the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

The Numba twins use 0.5 (1 + tanh(u)) = sigmoid(2u), evaluated as 1 / (1 + e^{-2u}) with e^{-2|u|} <= 1 (no
overflow, no cancellation in 1 + tanh for very negative x), and the exact form's pdf exp(-x^2 / 2); both exps
go through the vectorisable exp of `_exp.py`. The tanh form computes in the input's dtype (float32 arrays in
float32: twice the SIMD width of float64, within a few ulp of the float64 twin); erf has no such shortcut and is
libm's scalar erf, in float64.
"""
import math

import numpy as np

from ._rows import FASTMATH, empty_apart, exp_nonpos, is_float, njit, prange, threads_for

try:
    from ._exp import as_dtype_of
except ImportError:  # no Numba: the kernels are plain Python and unused
    def as_dtype_of(value, t):
        """value unchanged (the Numba-less stand-in)."""
        return value

# GELU splits its elements over threads from this size on: ~0.25 ms of tanh-form work on one core, enough to repay
# a parallel region. The baby GPT's (768, 512) hidden layer is above it. (Row kernels keep _rows' larger bound.)
_PARALLEL_MIN = 1 << 17

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; the reference may be slow
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu_forward_numpy(x, approximate=True):
    """x (...) -> y (...), same dtype."""
    x64 = x.astype(np.float64, copy=False)
    if approximate:
        y = 0.5 * x64 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))
    return y.astype(x.dtype, copy=False)


def gelu_backward_numpy(x, dy, approximate=True):
    """dx = dy * dGELU/dx, same dtype as x."""
    x64 = x.astype(np.float64, copy=False)
    if approximate:
        u = _SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)
        th = np.tanh(u)
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x64 ** 2)
        d = 0.5 * (1.0 + th) + 0.5 * x64 * (1.0 - th ** 2) * du
    else:
        cdf = 0.5 * (1.0 + _erf(x64 / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * x64 ** 2) / math.sqrt(2.0 * math.pi)
        d = cdf + x64 * pdf
    return (dy * d).astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------------------
# Numba twins over flat arrays, elements lo..hi-1. The tanh form runs in x's dtype: every constant goes through
# as_dtype_of, since a bare Python float would promote float32 arithmetic to float64. error_model="numpy" drops
# Numba's Python-style check for division by zero, a branch that would stop the loops from vectorising.

@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _sigmoid_2u(u):
    """(s, 1 - s) with s = sigmoid(2u) = 0.5 (1 + tanh u), both without cancellation, in u's dtype."""
    z = exp_nonpos(as_dtype_of(-2.0, u) * abs(u))  # in (0, 1]
    inv = as_dtype_of(1.0, u) / (as_dtype_of(1.0, u) + z)
    return (inv, z * inv) if u >= 0 else (z * inv, inv)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _u(xi):
    """u = sqrt(2/pi) (x + 0.044715 x^3), in x's dtype."""
    return as_dtype_of(_SQRT_2_OVER_PI, xi) * (xi + as_dtype_of(0.044715, xi) * xi * xi * xi)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _forward_flat(x, y, approximate, lo, hi):
    """y = GELU(x) for elements lo..hi-1 of the flat arrays x, y."""
    if approximate:
        for i in range(lo, hi):
            s, _ = _sigmoid_2u(_u(x[i]))
            y[i] = x[i] * s
    else:
        for i in range(lo, hi):
            xi = np.float64(x[i])
            y[i] = 0.5 * xi * (1.0 + math.erf(xi * _INV_SQRT_2))


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _backward_flat(x, dy, dx, approximate, lo, hi):
    """dx = dy * GELU'(x) for elements lo..hi-1 (recomputing u from x: cheaper than saving it)."""
    if approximate:
        for i in range(lo, hi):
            # d/dx [x s(u)] = s + x * 2 s (1 - s) * du/dx, since 0.5 (1 - tanh^2 u) = 2 s (1 - s)
            xi = x[i]
            s, sc = _sigmoid_2u(_u(xi))
            du = as_dtype_of(_SQRT_2_OVER_PI, xi) * (as_dtype_of(1.0, xi) + as_dtype_of(3 * 0.044715, xi) * xi * xi)
            dx[i] = dy[i] * (s + as_dtype_of(2.0, xi) * xi * s * sc * du)
    else:
        for i in range(lo, hi):
            xi = np.float64(x[i])
            d = 0.5 * (1.0 + math.erf(xi * _INV_SQRT_2)) + xi * exp_nonpos(-0.5 * xi * xi) * _INV_SQRT_2PI
            dx[i] = np.float64(dy[i]) * d


@njit(cache=True, nogil=True, parallel=True)
def _forward_parallel(x, y, approximate, chunks):
    """One contiguous range of elements per thread."""
    for c in prange(chunks):
        _forward_flat(x, y, approximate, c * x.size // chunks, (c + 1) * x.size // chunks)


@njit(cache=True, nogil=True, parallel=True)
def _backward_parallel(x, dy, dx, approximate, chunks):
    """One contiguous range of elements per thread."""
    for c in prange(chunks):
        _backward_flat(x, dy, dx, approximate, c * x.size // chunks, (c + 1) * x.size // chunks)


def gelu_forward_numba(x, approximate=True):
    """Numba twin of gelu_forward_numpy (dtypes other than float32/float64 run the NumPy twin)."""
    if not is_float(x):
        return gelu_forward_numpy(x, approximate)
    xf = np.ascontiguousarray(x).reshape(-1)  # any shape -> flat
    y, threads = empty_apart(xf.size, xf.dtype), threads_for(xf.size, _PARALLEL_MIN)
    if threads > 1:
        _forward_parallel(xf, y, bool(approximate), threads)
    else:
        _forward_flat(xf, y, bool(approximate), 0, xf.size)
    return y.reshape(x.shape)


def gelu_backward_numba(x, dy, approximate=True):
    """Numba twin of gelu_backward_numpy."""
    if not is_float(x, dy):
        return gelu_backward_numpy(x, dy, approximate)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    xf, dyf = np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(dy).reshape(-1)
    dx, threads = empty_apart(xf.size, xf.dtype), threads_for(xf.size, _PARALLEL_MIN)
    if threads > 1:
        _backward_parallel(xf, dyf, dx, bool(approximate), threads)
    else:
        _backward_flat(xf, dyf, dx, bool(approximate), 0, xf.size)
    return dx.reshape(x.shape)
