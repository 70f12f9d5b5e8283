"""Scaled dot-product attention, forward and backward: out = softmax(q k^T * scale + mask) v.

Shapes: q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> out (..., Tq, Dv); leading dims equal (e.g. B, H).
`mask` is None or a boolean array broadcastable to (..., Tq, Tk), True = may attend. `causal=True` lets query i
see keys j <= i + (Tk - Tq) (aligned bottom-right, which is what a KV cache needs). The forward returns the
row log-sum-exp `lse` (..., Tq) instead of the T x T probabilities, so a tiled (flash-style) twin can share this
signature; the reference simply recomputes P = exp(S - lse) in the backward. Fully masked rows: out = 0, lse = -inf.
"""
import numpy as np

from ._blas import mm
from ._rows import FASTMATH, exp_nonpos, is_float, njit, prange, threads_for


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


# ---------------------------------------------------------------------------------------------------------------
# Numba twins: one fused kernel per (batch * head) item n, walking the queries in blocks of _BLOCK_Q rows. For each
# block: S = q_blk k^T * scale (BLAS), mask, a two-pass row softmax (max, then exp and sum), out_blk = P v (BLAS).
# Only the block's (rows x keys) scores exist at a time, and with causal=True keys no row of the block can see are
# never computed. The backward recomputes P = exp(S - lse) block by block instead of storing it.
# Arithmetic is in the inputs' dtype, as in PyTorch: float32 products run as sgemm (twice dgemm's rate; attention
# fwd+bwd of the baby GPT 1.35x faster than in float64, with the smaller blocks below), while row sums (the softmax
# normaliser, delta) accumulate in float64. The NumPy twin computes in float64, so float32 results differ from it
# by float32 rounding of the scores: relative error ~1e-7 * max|S| (the tests' tolerance says exactly that).

_BLOCK_Q = 32  # query rows per block: with causal masking, later blocks see more keys, so smaller blocks skip
#                more of the masked triangle (T=64: 25% fewer score products than one 64-row block)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _keys_end(i1, shift, Tk, causal):
    """Number of leading keys any query row < i1 may see (query i sees keys j <= i + shift when causal)."""
    return min(Tk, max(0, i1 + shift)) if causal else Tk


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _masked_scores(s, i0, shift, scale, causal, has_mask, mask_n):
    """s (rows, keys) <- s * scale, with -inf where the causal rule or the mask forbids attending."""
    for r in range(s.shape[0]):
        for j in range(s.shape[1]):
            visible = (not causal or j <= i0 + r + shift) and (not has_mask or mask_n[i0 + r, j])
            s[r, j] = s[r, j] * scale if visible else -np.inf


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _forward_item(q, k, v, mask_n, has_mask, causal, scale, out, lse):
    """Attention for one item: q (Tq, D), k (Tk, D), v (Tk, Dv) -> out (Tq, Dv), lse (Tq,)."""
    Tq, Tk = q.shape[0], k.shape[0]
    shift = Tk - Tq  # causal: query i sees keys j <= i + shift (bottom-right alignment)
    for i0 in range(0, Tq, _BLOCK_Q):
        i1 = min(i0 + _BLOCK_Q, Tq)  # this block is query rows i0..i1-1
        kend = _keys_end(i1, shift, Tk, causal)  # keys 0..kend-1 are all the block can see
        if kend == 0:  # causal with Tq > Tk: these first rows see no key at all
            out[i0:i1] = 0
            lse[i0:i1] = -np.inf
            continue
        s = np.empty((i1 - i0, kend), dtype=q.dtype)  # scores, then (in place) probabilities P of this block
        mm(q[i0:i1], k[:kend].T, s)  # (rows, D) @ (D, kend)
        _masked_scores(s, i0, shift, scale, causal, has_mask, mask_n)
        for r in range(i1 - i0):  # two-pass softmax of each row: max, then exp / sum
            m = -np.inf
            for j in range(kend):
                m = s[r, j] if s[r, j] > m else m
            if m == -np.inf:  # nothing visible: P = 0, out = 0, lse = -inf
                s[r, :] = 0.0
                lse[i0 + r] = -np.inf
                continue
            total = 0.0
            for j in range(kend):
                s[r, j] = exp_nonpos(s[r, j] - m)
                total += s[r, j]
            lse[i0 + r] = m + np.log(total)
            inv = 1.0 / total
            for j in range(kend):
                s[r, j] *= inv
        mm(s, v[:kend], out[i0:i1])  # P (rows, kend) @ v (kend, Dv)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _backward_item(q, k, v, out, lse, dout, mask_n, has_mask, causal, scale, dq, dk, dv):
    """Gradients for one item, following the NumPy twin's formulas block by block (dk, dv accumulate)."""
    Tq, Tk = q.shape[0], k.shape[0]
    shift = Tk - Tq
    dk[:] = 0  # every query block adds into dk and dv
    dv[:] = 0
    for i0 in range(0, Tq, _BLOCK_Q):
        i1 = min(i0 + _BLOCK_Q, Tq)
        kend = _keys_end(i1, shift, Tk, causal)
        if kend == 0:
            dq[i0:i1] = 0
            continue
        q_b, do_b = q[i0:i1], dout[i0:i1]
        p = np.empty((i1 - i0, kend), dtype=q.dtype)
        mm(q_b, k[:kend].T, p)
        _masked_scores(p, i0, shift, scale, causal, has_mask, mask_n)
        for r in range(i1 - i0):
            l_i = lse[i0 + r]
            for j in range(kend):  # P = exp(S - lse); a fully masked row (lse = -inf) gets P = 0
                p[r, j] = exp_nonpos(p[r, j] - l_i) if l_i != -np.inf else 0.0
        t = np.empty((kend, v.shape[1]), dtype=q.dtype)
        dv[:kend] += mm(p.T, do_b, t)  # dv = P^T dout
        ds = np.empty((i1 - i0, kend), dtype=q.dtype)
        mm(do_b, v[:kend].T, ds)  # dP = dout v^T
        for r in range(i1 - i0):
            delta = 0.0  # rowsum(dout * out)
            for c in range(out.shape[1]):
                delta += np.float64(do_b[r, c]) * np.float64(out[i0 + r, c])
            for j in range(kend):
                ds[r, j] = p[r, j] * (ds[r, j] - delta)  # dS = P * (dP - delta)
        mm(ds, k[:kend], dq[i0:i1])
        dq[i0:i1] *= scale  # dq = dS k * scale
        t = np.empty((kend, q.shape[1]), dtype=q.dtype)
        dk[:kend] += mm(ds.T, q_b, t) * scale  # dk = dS^T q * scale


@njit(cache=True, nogil=True, parallel=True)
def _forward_all(q, k, v, mask, midx, has_mask, causal, scale, out, lse):
    """All N items, spread over Numba's threads; item n uses mask[midx[n]] (see _flat_mask)."""
    for n in prange(q.shape[0]):
        _forward_item(q[n], k[n], v[n], mask[midx[n]], has_mask, causal, scale, out[n], lse[n])


@njit(cache=True, nogil=True)
def _forward_all_serial(q, k, v, mask, midx, has_mask, causal, scale, out, lse):
    """All N items on the calling thread (small inputs: no parallel-region start-up)."""
    for n in range(q.shape[0]):
        _forward_item(q[n], k[n], v[n], mask[midx[n]], has_mask, causal, scale, out[n], lse[n])


@njit(cache=True, nogil=True, parallel=True)
def _backward_all(q, k, v, out, lse, dout, mask, midx, has_mask, causal, scale, dq, dk, dv):
    """All N items in parallel: items write disjoint slices of dq, dk, dv, so no locking is needed."""
    for n in prange(q.shape[0]):
        _backward_item(q[n], k[n], v[n], out[n], lse[n], dout[n], mask[midx[n]], has_mask, causal, scale,
                       dq[n], dk[n], dv[n])


@njit(cache=True, nogil=True)
def _backward_all_serial(q, k, v, out, lse, dout, mask, midx, has_mask, causal, scale, dq, dk, dv):
    """All N items on the calling thread."""
    for n in range(q.shape[0]):
        _backward_item(q[n], k[n], v[n], out[n], lse[n], dout[n], mask[midx[n]], has_mask, causal, scale,
                       dq[n], dk[n], dv[n])


def _numba_can_run(q, k, v, mask):
    """The cases the fused kernel covers; anything else (broadcast q/k/v, empty dims, odd or mixed dtypes, a
    mask with more dims than q) runs the NumPy twin."""
    return (q.ndim >= 2 and q.ndim == k.ndim == v.ndim and q.shape[:-2] == k.shape[:-2] == v.shape[:-2]
            and is_float(q) and q.dtype == k.dtype == v.dtype and q.size and k.size and v.size
            and (mask is None or np.ndim(mask) <= q.ndim))


def _flat_mask(mask, lead, Tq, Tk):
    """mask broadcastable to lead + (Tq, Tk) -> (compact (M, Tq, Tk) bool, index (N,) of each item's mask)."""
    n_items = int(np.prod(lead, dtype=np.int64))
    if mask is None:
        return np.ones((1, 1, 1), dtype=bool), np.zeros(n_items, dtype=np.int64)
    mask = np.asarray(mask).astype(bool, copy=False)
    full = lead + (Tq, Tk)
    try:
        fits = np.broadcast_shapes(mask.shape, full) == full
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to the scores' shape {full}")
    mask = mask.reshape((1,) * (len(full) - mask.ndim) + mask.shape)  # pad to the scores' ndim
    mask_lead = mask.shape[:-2]  # leading dims the mask really has (1 where it is shared)
    compact = np.ascontiguousarray(np.broadcast_to(mask, mask_lead + (Tq, Tk))).reshape(-1, Tq, Tk)
    index = np.arange(compact.shape[0]).reshape(mask_lead)
    return compact, np.ascontiguousarray(np.broadcast_to(index, lead)).reshape(n_items)


def attention_forward_numba(q, k, v, mask=None, causal=False, scale=None):
    """Numba twin of attention_forward_numpy (unsupported cases, listed in _numba_can_run, run the twin)."""
    if not _numba_can_run(q, k, v, mask):
        return attention_forward_numpy(q, k, v, mask, causal, scale)
    scale, (q3, k3, v3), m, midx, out, lse, work = forward_inputs(q, k, v, mask, scale)
    run = _forward_all if threads_for(work) > 1 else _forward_all_serial
    run(q3, k3, v3, m, midx, mask is not None, bool(causal), float(scale), out, lse)
    return out.reshape(q.shape[:-1] + v.shape[-1:]), lse.reshape(q.shape[:-1])


def forward_inputs(q, k, v, mask, scale):
    """Flattening shared by the Numba attention forward kernels (this one and the tiled twin): -> (scale,
    (q, k, v) as contiguous (N, T, D), mask rows, mask index, out (N, Tq, Dv) and lse (N, Tq) to fill, work)."""
    lead, (Tq, D), Tk, Dv = q.shape[:-2], q.shape[-2:], k.shape[-2], v.shape[-1]
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    m, midx = _flat_mask(mask, lead, Tq, Tk)
    flat = tuple(np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:]) for a in (q, k, v))  # (N, T, D)
    n = flat[0].shape[0]
    out, lse = np.empty((n, Tq, Dv), dtype=q.dtype), np.empty((n, Tq))
    return scale, flat, m, midx, out, lse, n * Tq * Tk * D


def attention_backward_numba(q, k, v, out, lse, dout, mask=None, causal=False, scale=None):
    """Numba twin of attention_backward_numpy."""
    if not _numba_can_run(q, k, v, mask) or not out.dtype == dout.dtype == q.dtype:
        return attention_backward_numpy(q, k, v, out, lse, dout, mask, causal, scale)
    scale, (q3, k3, v3, o3, do3), l2, m, midx, work = backward_inputs(q, k, v, out, lse, dout, mask, scale)
    dq, dk, dv = np.empty_like(q3), np.empty_like(k3), np.empty_like(v3)
    run = _backward_all if threads_for(work) > 1 else _backward_all_serial
    run(q3, k3, v3, o3, l2, do3, m, midx, mask is not None, bool(causal), float(scale), dq, dk, dv)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)


def backward_inputs(q, k, v, out, lse, dout, mask, scale):
    """Checks and flattening shared by the Numba attention backward kernels (this one and the tiled twin):
    -> (scale, (q, k, v, out, dout) as contiguous (N, T, D), lse (N, Tq) float64, mask rows, mask index, work)."""
    lead, (Tq, D), Tk, Dv = q.shape[:-2], q.shape[-2:], k.shape[-2], v.shape[-1]
    if out.shape != lead + (Tq, Dv) or dout.shape != out.shape or lse.shape != lead + (Tq,):
        raise ValueError(f"out and dout must be {lead + (Tq, Dv)} and lse {lead + (Tq,)}, "
                         f"got {out.shape}, {dout.shape}, {lse.shape}")
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    m, midx = _flat_mask(mask, lead, Tq, Tk)
    flat = tuple(np.ascontiguousarray(a).reshape((-1,) + a.shape[-2:]) for a in (q, k, v, out, dout))
    l2 = np.ascontiguousarray(lse, dtype=np.float64).reshape(-1, Tq)
    return scale, flat, l2, m, midx, flat[0].shape[0] * Tq * Tk * D
