"""Fused log-softmax + negative log-likelihood (with label smoothing and an ignore index), forward and backward.

With smoothing eps the target distribution is q = (1 - eps) * onehot(t) + eps / V, and the loss of a row is
    loss = -sum_v q_v log p_v = lse - (1 - eps) * x_t - (eps / V) * sum_v x_v,   lse = logsumexp(x).
Rows whose target equals `ignore_index` get loss 0 and gradient 0. Pass ignore_index=-1 for "none"
(targets are >= 0, so -1 never matches). Any other target outside [0, V) is an error.

The Numba twins read each row of logits once in the forward (max, then exp-sum, x_t and sum x in one pass) and
once in the backward (p = exp(x - lse) written straight into the gradient), accumulating in float64.
"""
import numpy as np

from ._rows import FASTMATH, exp_nonpos, njit, prange, threads_for


def _check(logits, targets, label_smoothing):
    """Shape and type checks shared by both twins (clear errors instead of silent wrap-around indexing)."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, V), got shape {logits.shape}")
    if logits.shape[1] == 0:
        raise ValueError("logits must have at least one class (V >= 1), got V = 0")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"targets must be (N,) = ({logits.shape[0]},) to match logits, got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be integers, got dtype {targets.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")


def _check_range(targets, V, ignore_index):
    """Every target is a class index in [0, V) unless it is the ignored value."""
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= V))
    if bad.any():
        raise ValueError(f"targets must be in [0, {V}) or equal ignore_index={ignore_index}; "
                         f"got {targets[bad][0]} at row {np.flatnonzero(bad)[0]}")


def cross_entropy_forward_numpy(logits, targets, ignore_index=-1, label_smoothing=0.0):
    """logits (N, V) float, targets (N,) int -> (losses (N,) float64, lse (N,) float64).

    Accumulates in float64 so logits of magnitude 1e4 stay exact enough; the caller averages over valid rows.
    """
    _check(logits, targets, label_smoothing)
    x = logits.astype(np.float64, copy=False)
    N, V = x.shape
    _check_range(targets, V, ignore_index)
    m = np.max(x, axis=1, keepdims=True)
    lse = (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))[:, 0]
    valid = targets != ignore_index
    t = np.where(valid, targets, 0)
    x_t = x[np.arange(N), t]
    eps = float(label_smoothing)
    losses = lse - (1.0 - eps) * x_t
    if eps > 0:  # only then: with eps = 0 a -inf logit (a masked class) would give 0 * -inf = NaN
        losses = losses - (eps / V) * np.sum(x, axis=1)
    return np.where(valid, losses, 0.0), lse


def cross_entropy_backward_numpy(logits, targets, lse, scale, ignore_index=-1, label_smoothing=0.0):
    """dlogits (N, V) = scale * (softmax(x) - q) on valid rows, 0 on ignored ones; dtype of logits.

    `scale` is the upstream gradient divided by the number of valid rows (the mean's denominator).
    """
    _check(logits, targets, label_smoothing)
    x = logits.astype(np.float64, copy=False)
    N, V = x.shape
    _check_range(targets, V, ignore_index)
    p = np.exp(x - lse[:, None])
    eps = float(label_smoothing)
    valid = targets != ignore_index
    t = np.where(valid, targets, 0)
    p -= eps / V
    p[np.arange(N), t] -= 1.0 - eps
    p *= scale
    p[~valid] = 0.0
    return p.astype(logits.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------------------
# Numba twins: one row per iteration, rows lo..hi-1; they return the first row with an out-of-range target (or -1)
# so the Python wrapper can raise the same error as the NumPy twin.

@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _forward_rows(x, t, ignore_index, eps, losses, lse, lo, hi):
    """losses[i], lse[i] for rows lo..hi-1 of logits x (N, V) with targets t (N,): the formula of the module
    docstring, in float64. Pass 1 finds the row max m; pass 2 sums exp(x - m) and x itself."""
    N, V = x.shape
    for i in range(lo, hi):
        if t[i] != ignore_index and (t[i] < 0 or t[i] >= V):
            return i
        m = -np.inf
        for j in range(V):
            m = np.float64(x[i, j]) if x[i, j] > m else m  # skips NaN; exp(NaN - m) below makes lse NaN
        s, total = 0.0, 0.0
        for j in range(V):
            xj = np.float64(x[i, j])
            s += exp_nonpos(xj - m)  # an all -inf row gives -inf - -inf = NaN, as in the NumPy twin
            total += xj
        lse[i] = m + np.log(s)
        if t[i] == ignore_index:
            losses[i] = 0.0
        else:
            losses[i] = lse[i] - (1.0 - eps) * x[i, t[i]]
            if eps > 0:
                losses[i] -= (eps / V) * total
    return -1


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _backward_rows(x, t, lse, scale, ignore_index, eps, dx, lo, hi):
    """dx (N, V) = scale * (p - q) for rows lo..hi-1, with p = exp(x - lse) recomputed from the saved lse, so
    the forward never has to store the (N, V) probabilities."""
    N, V = x.shape
    eps_v = eps / V  # hoisted: a division in the inner loop carries a zero check that blocks vectorisation
    for i in range(lo, hi):
        if t[i] == ignore_index:
            dx[i, :] = 0
            continue
        if t[i] < 0 or t[i] >= V:
            return i
        for j in range(V):
            p = exp_nonpos(np.float64(x[i, j]) - lse[i]) - eps_v  # softmax - the smoothed target ...
            if j == t[i]:
                p -= 1.0 - eps  # ... whose one-hot part sits at the target
            dx[i, j] = p * scale
    return -1


@njit(cache=True, nogil=True, parallel=True)
def _forward_parallel(x, t, ignore_index, eps, losses, lse, chunks):
    """One contiguous range of rows per thread; returns the largest bad-row index found (or -1)."""
    bad = np.full(chunks, -1)
    for c in prange(chunks):
        lo, hi = c * x.shape[0] // chunks, (c + 1) * x.shape[0] // chunks
        bad[c] = _forward_rows(x, t, ignore_index, eps, losses, lse, lo, hi)
    return bad.max()


@njit(cache=True, nogil=True, parallel=True)
def _backward_parallel(x, t, lse, scale, ignore_index, eps, dx, chunks):
    """The backward split like _forward_parallel."""
    bad = np.full(chunks, -1)
    for c in prange(chunks):
        lo, hi = c * x.shape[0] // chunks, (c + 1) * x.shape[0] // chunks
        bad[c] = _backward_rows(x, t, lse, scale, ignore_index, eps, dx, lo, hi)
    return bad.max()


def _prepare(logits, targets, label_smoothing):
    """Checks, then contiguous float logits and int64 targets (the dtypes the kernels are compiled for)."""
    _check(logits, targets, label_smoothing)
    if logits.dtype not in (np.float32, np.float64):
        logits = logits.astype(np.float64)
    return np.ascontiguousarray(logits), np.ascontiguousarray(targets, dtype=np.int64)


def cross_entropy_forward_numba(logits, targets, ignore_index=-1, label_smoothing=0.0):
    """Numba twin of cross_entropy_forward_numpy."""
    x, t = _prepare(logits, targets, label_smoothing)
    N, eps = x.shape[0], float(label_smoothing)
    losses, lse = np.empty(N), np.empty(N)
    threads = threads_for(x.size)
    if threads > 1:
        bad = _forward_parallel(x, t, int(ignore_index), eps, losses, lse, threads)
    else:
        bad = _forward_rows(x, t, int(ignore_index), eps, losses, lse, 0, N)
    if bad >= 0:
        _check_range(t, x.shape[1], ignore_index)
    return losses, lse


def cross_entropy_backward_numba(logits, targets, lse, scale, ignore_index=-1, label_smoothing=0.0):
    """Numba twin of cross_entropy_backward_numpy."""
    x, t = _prepare(logits, targets, label_smoothing)
    lse = np.ascontiguousarray(lse, dtype=np.float64)
    if lse.shape != t.shape:
        raise ValueError(f"lse must be (N,) = {t.shape}, got {lse.shape}")
    dx = np.empty(x.shape, dtype=logits.dtype if logits.dtype in (np.float32, np.float64) else np.float64)
    args = (x, t, lse, float(scale), int(ignore_index), float(label_smoothing), dx)
    threads = threads_for(x.size)
    bad = _backward_parallel(*args, threads) if threads > 1 else _backward_rows(*args, 0, x.shape[0])
    if bad >= 0:
        _check_range(t, x.shape[1], ignore_index)
    return dx.astype(logits.dtype, copy=False)
