"""Scaled dot-product attention, forward and backward: out = softmax(q k^T * scale + mask) v.

Shapes: q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> out (..., Tq, Dv); leading dims equal (e.g. B, H).
`mask` is None or a boolean array broadcastable to (..., Tq, Tk), True = may attend. `causal=True` lets query i
see keys j <= i + (Tk - Tq) (aligned bottom-right, which is what a KV cache needs). The forward returns the
row log-sum-exp `lse` (..., Tq) instead of the T x T probabilities, so a tiled (flash-style) twin can share this
signature; the reference simply recomputes P = exp(S - lse) in the backward. Fully masked rows: out = 0, lse = -inf.
"""
import numpy as np


def _scores(q, k, mask, causal, scale):
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale  # (..., Tq, Tk)
    Tq, Tk = s.shape[-2], s.shape[-1]
    if causal:
        keep = np.tril(np.ones((Tq, Tk), dtype=bool), k=Tk - Tq)
        s = np.where(keep, s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return s


def attention_forward_numpy(q, k, v, mask=None, causal=False, scale=None):
    """-> (out (..., Tq, Dv), lse (..., Tq) float64)."""
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = _scores(q.astype(np.float64), k.astype(np.float64), mask, causal, scale)
    m = np.max(s, axis=-1, keepdims=True) if s.shape[-1] else np.full(s.shape[:-1] + (1,), -np.inf)
    m_safe = np.where(np.isneginf(m), 0.0, m)
    l = np.sum(np.exp(s - m_safe), axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = (m_safe + np.log(l))[..., 0]
    p = np.exp(s - m_safe) / np.where(l == 0, 1.0, l)
    out = np.matmul(p, v.astype(np.float64))
    return out.astype(q.dtype, copy=False), lse


def attention_backward_numpy(q, k, v, out, lse, dout, mask=None, causal=False, scale=None):
    """-> (dq, dk, dv) with the shapes and dtypes of q, k, v.

    With P = exp(S - lse):  dv = P^T dout,  dP = dout v^T,  dS = P * (dP - rowsum(dout * out)),
    dq = dS k * scale,  dk = dS^T q * scale.
    """
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    s = _scores(q64, k64, mask, causal, scale)
    lse_safe = np.where(np.isneginf(lse), np.inf, lse)[..., None]  # fully masked rows -> P = 0
    p = np.exp(s - lse_safe)
    do = dout.astype(np.float64)
    dv = np.matmul(np.swapaxes(p, -1, -2), do)
    dp = np.matmul(do, np.swapaxes(v64, -1, -2))
    delta = np.sum(do * out.astype(np.float64), axis=-1, keepdims=True)
    ds = p * (dp - delta)
    dq = np.matmul(ds, k64) * scale
    dk = np.matmul(np.swapaxes(ds, -1, -2), q64) * scale
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)
