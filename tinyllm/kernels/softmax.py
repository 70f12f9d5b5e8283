"""Row softmax and log-softmax over the last axis, forward and backward.

A row that is entirely -inf (everything masked) gives softmax 0 everywhere and log-softmax -inf everywhere,
never NaN: attention over padding then contributes nothing.
"""
import numpy as np


def softmax_forward_numpy(x):
    """y = exp(x - max) / sum(exp(x - max)) along the last axis. x: (..., V) -> y: (..., V)."""
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)  # all -inf rows: exp(-inf) = 0 below, no inf - inf
    e = np.exp(x - m)
    s = np.sum(e, axis=-1, keepdims=True)
    return (e / np.where(s == 0, 1, s)).astype(x.dtype, copy=False)


def softmax_backward_numpy(y, dy):
    """dx = y * (dy - sum(dy * y)) along the last axis (the softmax Jacobian-vector product)."""
    return (y * (dy - np.sum(dy * y, axis=-1, keepdims=True))).astype(y.dtype, copy=False)


def log_softmax_forward_numpy(x):
    """y = x - logsumexp(x) along the last axis."""
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    s = np.sum(np.exp(x - m), axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = m + np.log(s)
    return (x - lse).astype(x.dtype, copy=False)


def log_softmax_backward_numpy(y, dy):
    """dx = dy - softmax(x) * sum(dy), with softmax(x) = exp(y)."""
    return (dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)).astype(y.dtype, copy=False)
