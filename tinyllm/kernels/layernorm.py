"""Layer normalisation over the last axis: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps).

The Numba twins do one row per iteration with float64 statistics (as the NumPy twin does); the backward sums
dw and db into one partial row per thread, then adds the partial rows, so no two threads write the same memory.
"""
import numpy as np

from ._rows import FASTMATH, as_rows, is_float, njit, prange, threads_for


def _check_features(x):
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"x must have a non-empty last axis (C >= 1) to normalise over, got shape {x.shape}")


def layernorm_forward_numpy(x, w, b, eps=1e-5):
    """x (..., C), w (C,) or None, b (C,) or None -> (y (..., C), mean (...,), rstd (...,)).

    mean and rstd are saved for the backward pass; statistics are computed in float64.
    """
    _check_features(x)
    x64 = x.astype(np.float64, copy=False)
    mean = x64.mean(axis=-1)
    var = ((x64 - mean[..., None]) ** 2).mean(axis=-1)
    rstd = 1.0 / np.sqrt(var + eps)
    y = (x64 - mean[..., None]) * rstd[..., None]
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y.astype(x.dtype, copy=False), mean, rstd


def layernorm_backward_numpy(dy, x, w, mean, rstd):
    """-> (dx (..., C), dw (C,) or None when w is None, db (C,)).

    With xhat = (x - mean) * rstd and g = dy * w:  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    xhat = (x.astype(np.float64, copy=False) - mean[..., None]) * rstd[..., None]
    dy64 = dy.astype(np.float64, copy=False)
    g = dy64 * w if w is not None else dy64
    dx = rstd[..., None] * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    lead = tuple(range(dy.ndim - 1))
    dw = (dy64 * xhat).sum(axis=lead).astype(w.dtype) if w is not None else None
    db = dy64.sum(axis=lead).astype(dy.dtype)  # the caller ignores it when there is no bias
    return dx.astype(x.dtype, copy=False), dw, db


# ---------------------------------------------------------------------------------------------------------------
# Numba twins. w and b arrive as arrays always (an empty array stands for None, flagged by has_w / has_b) so one
# compiled signature serves both cases.

@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _forward_rows(x, w, b, has_w, has_b, eps, y, mean, rstd, lo, hi):
    """Rows lo..hi-1 of x (N, C) -> y (N, C), mean (N,), rstd (N,). The variance is two-pass (mean first, then
    squared deviations), which stays accurate when |mean| >> std, unlike E[x^2] - E[x]^2."""
    C = x.shape[1]
    for i in range(lo, hi):
        s = 0.0
        for j in range(C):  # float64 sums even for float32 x, as in the NumPy twin
            s += np.float64(x[i, j])
        mu = s / C
        ss = 0.0
        for j in range(C):
            d = np.float64(x[i, j]) - mu
            ss += d * d
        r = 1.0 / np.sqrt(ss / C + eps)
        mean[i], rstd[i] = mu, r
        for j in range(C):
            v = (np.float64(x[i, j]) - mu) * r
            if has_w:
                v *= np.float64(w[j])
            if has_b:
                v += np.float64(b[j])
            y[i, j] = v


@njit(cache=True, nogil=True, parallel=True)
def _forward_parallel(x, w, b, has_w, has_b, eps, y, mean, rstd, chunks):
    """One contiguous range of rows per thread (rows are independent in the forward)."""
    for c in prange(chunks):
        lo, hi = c * x.shape[0] // chunks, (c + 1) * x.shape[0] // chunks
        _forward_rows(x, w, b, has_w, has_b, eps, y, mean, rstd, lo, hi)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _backward_rows(dy, x, w, has_w, mean, rstd, dx, dw, db, lo, hi):
    """dx for rows lo..hi-1; adds this chunk's sum_i dy * xhat and sum_i dy into the (C,) rows dw and db."""
    C = x.shape[1]
    for i in range(lo, hi):
        mu, r = mean[i], rstd[i]
        sum_g, sum_gx = 0.0, 0.0  # pass 1: the two row means the formula needs, plus dw and db
        for j in range(C):
            xhat = (np.float64(x[i, j]) - mu) * r
            g = np.float64(dy[i, j]) * np.float64(w[j]) if has_w else np.float64(dy[i, j])
            sum_g += g
            sum_gx += g * xhat
            dw[j] += np.float64(dy[i, j]) * xhat
            db[j] += np.float64(dy[i, j])
        mean_g, mean_gx = sum_g / C, sum_gx / C
        for j in range(C):  # pass 2: dx; xhat and g are recomputed (cheaper than storing a (C,) row)
            xhat = (np.float64(x[i, j]) - mu) * r
            g = np.float64(dy[i, j]) * np.float64(w[j]) if has_w else np.float64(dy[i, j])
            dx[i, j] = r * (g - mean_g - xhat * mean_gx)


@njit(cache=True, nogil=True, parallel=True)
def _backward_parallel(dy, x, w, has_w, mean, rstd, dx, dw_parts, db_parts):
    """Thread c handles one range of rows and sums its dw, db into row c of dw_parts, db_parts (chunks, C)."""
    chunks = dw_parts.shape[0]
    for c in prange(chunks):
        lo, hi = c * x.shape[0] // chunks, (c + 1) * x.shape[0] // chunks
        _backward_rows(dy, x, w, has_w, mean, rstd, dx, dw_parts[c], db_parts[c], lo, hi)


def _param(p, C, name):
    """w or b as a contiguous (C,) array (empty when None), after checking its shape."""
    if p is None:
        return np.empty(0)
    if p.shape != (C,):
        raise ValueError(f"{name} must have shape ({C},) to match the last axis of x, got {p.shape}")
    return np.ascontiguousarray(p)


def layernorm_forward_numba(x, w, b, eps=1e-5):
    """Numba twin of layernorm_forward_numpy (dtypes other than float32/float64 run the NumPy twin)."""
    if not is_float(x):
        return layernorm_forward_numpy(x, w, b, eps)
    _check_features(x)
    x2 = as_rows(x)  # (..., C) -> (N, C)
    N, C = x2.shape
    wc, bc = _param(w, C, "w"), _param(b, C, "b")
    y, mean, rstd = np.empty_like(x2), np.empty(N), np.empty(N)
    args = (x2, wc, bc, w is not None, b is not None, float(eps), y, mean, rstd)
    threads = threads_for(x2.size)
    if threads > 1:
        _forward_parallel(*args, threads)
    else:
        _forward_rows(*args, 0, N)
    return y.reshape(x.shape), mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1])


def layernorm_backward_numba(dy, x, w, mean, rstd):
    """Numba twin of layernorm_backward_numpy."""
    if not is_float(x, dy):
        return layernorm_backward_numpy(dy, x, w, mean, rstd)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    if mean.shape != x.shape[:-1] or rstd.shape != x.shape[:-1]:
        raise ValueError(f"mean and rstd must have shape {x.shape[:-1]}, got {mean.shape} and {rstd.shape}")
    x2, dy2 = as_rows(x), as_rows(dy, "dy")
    N, C = x2.shape
    wc = _param(w, C, "w")
    m, r = (np.ascontiguousarray(a, dtype=np.float64).reshape(N) for a in (mean, rstd))
    dx = np.empty_like(x2)
    threads = threads_for(x2.size)
    dw_parts, db_parts = np.zeros((threads, C)), np.zeros((threads, C))  # one partial sum per thread
    if threads > 1:
        _backward_parallel(dy2, x2, wc, w is not None, m, r, dx, dw_parts, db_parts)
    else:
        _backward_rows(dy2, x2, wc, w is not None, m, r, dx, dw_parts[0], db_parts[0], 0, N)
    dw = dw_parts.sum(axis=0).astype(w.dtype) if w is not None else None
    return dx.reshape(x.shape), dw, db_parts.sum(axis=0).astype(dy.dtype)
