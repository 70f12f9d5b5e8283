"""Mamba's short causal depthwise convolution followed by SiLU, as one kernel (forward and backward), beside its
NumPy twin:

    a_t[c] = b[c] + sum_k w[c, k] x_{t-K+1+k}[c]      (x_s = 0 for s < 0: left zero padding, so causal)
    y_t[c] = silu(a_t[c]) = a_t[c] sigmoid(a_t[c])

Shapes: x, y (Bt, T, C); w (C, K); b (C,). Fused, the pair reads x once and writes y once; as separate graph
nodes (conv, sigmoid, multiply) each would store a (Bt, T, C) array for its backward. The backward recomputes
a_t instead of keeping it:

    da = dy * silu'(a) = dy * s (1 + a (1 - s)),  s = sigmoid(a)
    dx_s[c] = sum_k da_{s+K-1-k}[c] w[c, k],   dw[c, k] = sum_{b,t} da_t[c] x_{t-K+1+k}[c],   db[c] = sum_{b,t} da_t[c]
"""
import numpy as np

from ._rows import FASTMATH, exp_nonpos, is_float, njit

try:
    from ._exp import as_dtype_of
except ImportError:  # no Numba: the kernels are plain Python and unused
    def as_dtype_of(value, t):
        """value unchanged (the Numba-less stand-in)."""
        return value


def _check(x, w, b):
    if x.ndim != 3:
        raise ValueError(f"conv1d_silu: x must be (Bt, T, C), got shape {x.shape}")
    if w.ndim != 2 or w.shape[0] != x.shape[2]:
        raise ValueError(f"conv1d_silu: w must be (C, K) with C={x.shape[2]}, got shape {w.shape}")
    if b.shape != (x.shape[2],):
        raise ValueError(f"conv1d_silu: b must have shape ({x.shape[2]},), got {b.shape}")


# ---- NumPy reference: a loop over the K taps, in float64 ----------------------------------------------------------
def _pre_activation(x, w, b):
    """a (Bt, T, C) and the zero-padded input xp (Bt, K-1+T, C), both float64."""
    T, K = x.shape[1], w.shape[1]
    xp = np.concatenate([np.zeros((x.shape[0], K - 1, x.shape[2])), x.astype(np.float64)], axis=1)
    a = np.broadcast_to(b.astype(np.float64), x.shape).copy()
    for k in range(K):
        a += w[:, k] * xp[:, k:k + T]                                  # (Bt, T, C)
    return a, xp


def conv1d_silu_forward_numpy(x, w, b):
    """x (Bt, T, C), w (C, K), b (C,) -> silu(causal depthwise conv) (Bt, T, C), in x's dtype."""
    _check(x, w, b)
    a, _ = _pre_activation(x, w, b)
    return (a * 0.5 * (1.0 + np.tanh(0.5 * a))).astype(x.dtype)


def conv1d_silu_backward_numpy(x, w, b, dy):
    """(dx, dw, db) of sum(dy * y)."""
    _check(x, w, b)
    T, K = x.shape[1], w.shape[1]
    a, xp = _pre_activation(x, w, b)
    s = 0.5 * (1.0 + np.tanh(0.5 * a))
    da = dy * s * (1.0 + a * (1.0 - s))                               # (Bt, T, C)
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for k in range(K):
        dxp[:, k:k + T] += da * w[:, k]
        dw[:, k] = np.einsum("btc,btc->c", da, xp[:, k:k + T])
    return dxp[:, K - 1:].astype(x.dtype), dw.astype(w.dtype), da.sum(axis=(0, 1)).astype(b.dtype)


# ---- Numba: one pass over (t, c) per batch row, channels innermost (contiguous, so it vectorises) -----------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _sigmoid(a):
    e = exp_nonpos(-abs(a))
    inv = as_dtype_of(1.0, a) / (as_dtype_of(1.0, a) + e)
    return inv if a >= 0 else e * inv


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _forward(x, wt, b, y):
    """y = silu(conv(x)); wt = w^T (K, C), so the channel loops read contiguous rows."""
    Bt, T, C = x.shape
    K = wt.shape[0]
    a = np.empty(C, x.dtype)
    for r in range(Bt):
        for t in range(T):
            a[:] = b
            for k in range(max(0, K - 1 - t), K):
                s = t - K + 1 + k
                for c in range(C):
                    a[c] += wt[k, c] * x[r, s, c]
            for c in range(C):
                y[r, t, c] = a[c] * _sigmoid(a[c])


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _backward(x, wt, b, dy, dx, dw, db):
    """dx is written; dw (K, C) (transposed like wt, so its rows are contiguous) and db accumulate."""
    Bt, T, C = x.shape
    K = wt.shape[0]
    a = np.empty(C, x.dtype)
    da = np.empty(C, x.dtype)
    one = as_dtype_of(1.0, x[0, 0, 0])
    for r in range(Bt):
        dx[r] = 0
        for t in range(T):
            a[:] = b
            k0 = max(0, K - 1 - t)
            for k in range(k0, K):
                for c in range(C):
                    a[c] += wt[k, c] * x[r, t - K + 1 + k, c]
            for c in range(C):
                s = _sigmoid(a[c])
                da[c] = dy[r, t, c] * s * (one + a[c] * (one - s))
                db[c] += da[c]
            for k in range(k0, K):
                for c in range(C):
                    dx[r, t - K + 1 + k, c] += da[c] * wt[k, c]
                    dw[k, c] += da[c] * x[r, t - K + 1 + k, c]


def _numba_ok(x, w, b, *more):
    return is_float(x, w, b, *more) and len({a.dtype for a in (x, w, b, *more)}) == 1 and x.size > 0


def conv1d_silu_forward_numba(x, w, b):
    _check(x, w, b)
    if not _numba_ok(x, w, b):
        return conv1d_silu_forward_numpy(x, w, b)
    y = np.empty(x.shape, x.dtype)
    _forward(x, np.ascontiguousarray(w.T), np.ascontiguousarray(b), y)
    return y


def conv1d_silu_backward_numba(x, w, b, dy):
    _check(x, w, b)
    if not _numba_ok(x, w, b, dy):
        return conv1d_silu_backward_numpy(x, w, b, dy)
    dx = np.empty(x.shape, x.dtype)
    dwt, db = np.zeros((w.shape[1], w.shape[0]), w.dtype), np.zeros(b.shape, b.dtype)
    _backward(x, np.ascontiguousarray(w.T), np.ascontiguousarray(b), np.ascontiguousarray(dy), dx, dwt, db)
    return dx, dwt.T.copy(), db
