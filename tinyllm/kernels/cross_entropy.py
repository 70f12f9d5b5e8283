"""Fused log-softmax + negative log-likelihood (with label smoothing and an ignore index), forward and backward.

With smoothing eps the target distribution is q = (1 - eps) * onehot(t) + eps / V, and the loss of a row is
    loss = -sum_v q_v log p_v = lse - (1 - eps) * x_t - (eps / V) * sum_v x_v,   lse = logsumexp(x).
Rows whose target equals `ignore_index` get loss 0 and gradient 0. Pass ignore_index=-1 for "none"
(targets are >= 0, so -1 never matches).
"""
import numpy as np


def cross_entropy_forward_numpy(logits, targets, ignore_index=-1, label_smoothing=0.0):
    """logits (N, V) float, targets (N,) int -> (losses (N,) float64, lse (N,) float64).

    Accumulates in float64 so logits of magnitude 1e4 stay exact enough; the caller averages over valid rows.
    """
    x = logits.astype(np.float64, copy=False)
    N, V = x.shape
    m = np.max(x, axis=1, keepdims=True) if V else np.zeros((N, 1))
    lse = (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))[:, 0]
    valid = targets != ignore_index
    t = np.where(valid, targets, 0)
    x_t = x[np.arange(N), t]
    eps = float(label_smoothing)
    losses = lse - (1.0 - eps) * x_t - (eps / V) * np.sum(x, axis=1)
    return np.where(valid, losses, 0.0), lse


def cross_entropy_backward_numpy(logits, targets, lse, scale, ignore_index=-1, label_smoothing=0.0):
    """dlogits (N, V) = scale * (softmax(x) - q) on valid rows, 0 on ignored ones; dtype of logits.

    `scale` is the upstream gradient divided by the number of valid rows (the mean's denominator).
    """
    x = logits.astype(np.float64, copy=False)
    N, V = x.shape
    p = np.exp(x - lse[:, None])
    eps = float(label_smoothing)
    valid = targets != ignore_index
    t = np.where(valid, targets, 0)
    p -= eps / V
    p[np.arange(N), t] -= 1.0 - eps
    p *= scale
    p[~valid] = 0.0
    return p.astype(logits.dtype, copy=False)
