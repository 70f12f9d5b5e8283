"""Layer normalisation over the last axis: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps)."""
import numpy as np


def layernorm_forward_numpy(x, w, b, eps=1e-5):
    """x (..., C), w (C,) or None, b (C,) or None -> (y (..., C), mean (...,), rstd (...,)).

    mean and rstd are saved for the backward pass; statistics are computed in float64.
    """
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
