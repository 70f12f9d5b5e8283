"""Flash-style (tiled, online-softmax) attention, forward and backward, never holding a Tq x Tk score matrix.

Same contract as kernels/attention.py: q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> out (..., Tq, Dv) and the
row log-sum-exp lse (..., Tq); causal=True lets query i see keys j <= i + Tk - Tq (bottom-right); `mask` is None or
boolean broadcastable to (..., Tq, Tk), True = may attend. Fully masked rows: out = 0, lse = -inf.

Forward (FlashAttention, Dao et al. 2022, Algorithm 1; loop order of FlashAttention-2, Dao 2023): for each tile of
block_q queries keep a running max m, running sum l and unnormalised output acc, and visit the keys block_k at a time:

    S = q_i k_j^T * scale                      (block_q, block_k)  -- the only scores that ever exist
    m_new = max(m, rowmax S);  P = exp(S - m_new);  alpha = exp(m - m_new)
    l = alpha * l + rowsum P;  acc = alpha * acc + P v_j
    out_i = acc / l,  lse_i = m + log l

Backward (FlashAttention-2, Algorithm 2): delta = rowsum(dout * out); for each key tile j, for each query tile i,
recompute P = exp(S - lse) and accumulate dv_j += P^T dout_i, dS = P * (dout_i v_j^T - delta_i),
dq_i += dS k_j * scale, dk_j += dS^T q_i * scale. Extra memory is O(T) (lse, delta, dq) plus the tiles.
With causal=True, tiles lying wholly above the diagonal are skipped, so roughly half the work disappears.
Arithmetic is float64 for every input dtype, like the reference kernel, so both agree to float32 rounding.
A boolean `mask`, when given, is itself Tq x Tk bytes (the caller's array); causal=True needs no mask at all.
"""
import numpy as np

from ._blas import mm
from ._rows import FASTMATH, exp_nonpos, njit, prange, threads_for
from .attention import _numba_can_run, backward_inputs, forward_inputs

BLOCK_Q = 64   # queries per tile
BLOCK_K = 64   # keys per tile: a (64, 64) float64 score tile is 32 KiB, well inside L1/L2


def _check_blocks(block_q, block_k):
    for name, b in (("block_q", block_q), ("block_k", block_k)):
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"{name} must be a positive integer, got {b!r}")


def _tile_keep(i0, i1, j0, j1, shift, causal, mask):
    """Boolean (..., i1-i0, j1-j0): which scores of this tile may be attended to (None = all of them)."""
    keep = None
    if causal:
        keep = np.arange(j0, j1)[None, :] <= np.arange(i0, i1)[:, None] + shift
    if mask is not None:
        m = mask[..., i0:i1, j0:j1]
        keep = m if keep is None else keep & m
    return keep


def _prepare_mask(mask, Tq, Tk):
    """Mask as a bool array with at least 2 dims, so tile slicing [..., i0:i1, j0:j1] works (or None)."""
    if mask is None:
        return None
    mask = np.asarray(mask).astype(bool, copy=False)
    return mask.reshape((1,) * max(0, 2 - mask.ndim) + mask.shape)


def flash_attention_forward_numpy(q, k, v, mask=None, causal=False, scale=None, block_q=BLOCK_Q, block_k=BLOCK_K):
    """Readable tiled reference (vectorised over the leading dims) -> (out (..., Tq, Dv), lse (..., Tq) float64)."""
    _check_blocks(block_q, block_k)
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    Tq, Tk, Dv = q.shape[-2], k.shape[-2], v.shape[-1]
    shift = Tk - Tq
    mask = _prepare_mask(mask, Tq, Tk)
    q64, k64, v64 = (a.astype(np.float64) for a in (q, k, v))
    out, lse = np.zeros(lead + (Tq, Dv)), np.full(lead + (Tq,), -np.inf)
    for i0 in range(0, Tq, block_q):
        i1 = min(i0 + block_q, Tq)
        m = np.full(lead + (i1 - i0, 1), -np.inf)      # running max        (..., rows, 1)
        l = np.zeros(lead + (i1 - i0, 1))              # running sum        (..., rows, 1)
        acc = np.zeros(lead + (i1 - i0, Dv))           # unnormalised out   (..., rows, Dv)
        for j0 in range(0, Tk, block_k):
            j1 = min(j0 + block_k, Tk)
            if causal and j0 > i1 - 1 + shift:         # the whole tile is in the future: skip it
                break
            s = np.matmul(q64[..., i0:i1, :], np.swapaxes(k64[..., j0:j1, :], -1, -2)) * scale  # (..., rows, cols)
            keep = _tile_keep(i0, i1, j0, j1, shift, causal, mask)
            if keep is not None:
                s = np.where(keep, s, -np.inf)
            m_new = np.maximum(m, np.max(s, axis=-1, keepdims=True))
            m_safe = np.where(np.isneginf(m_new), 0.0, m_new)   # rows with nothing visible yet: exp(-inf) = 0
            p = np.exp(s - m_safe)
            alpha = np.exp(m - m_safe)
            l = alpha * l + np.sum(p, axis=-1, keepdims=True)
            acc = alpha * acc + np.matmul(p, v64[..., j0:j1, :])
            m = m_new
        out[..., i0:i1, :] = acc / np.where(l == 0, 1.0, l)
        with np.errstate(divide="ignore"):
            lse[..., i0:i1] = np.where(l == 0, -np.inf, m + np.log(np.where(l == 0, 1.0, l)))[..., 0]
    return out.astype(q.dtype, copy=False), lse


def flash_attention_backward_numpy(q, k, v, out, lse, dout, mask=None, causal=False, scale=None,
                                   block_q=BLOCK_Q, block_k=BLOCK_K):
    """Readable tiled backward: recompute P per tile from lse -> (dq, dk, dv) shaped and typed like q, k, v."""
    _check_blocks(block_q, block_k)
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    Tq, Tk = q.shape[-2], k.shape[-2]
    shift = Tk - Tq
    mask = _prepare_mask(mask, Tq, Tk)
    q64, k64, v64, do = (np.broadcast_to(a.astype(np.float64), lead + a.shape[-2:]) for a in (q, k, v, dout))
    delta = np.sum(do * out.astype(np.float64), axis=-1, keepdims=True)   # (..., Tq, 1)
    lse_safe = np.where(np.isneginf(lse), np.inf, lse)[..., None]         # fully masked rows -> P = 0
    dq, dk, dv = np.zeros(q64.shape), np.zeros(k64.shape), np.zeros(v64.shape)
    for j0 in range(0, Tk, block_k):
        j1 = min(j0 + block_k, Tk)
        k_j, v_j = k64[..., j0:j1, :], v64[..., j0:j1, :]
        for i0 in range(0, Tq, block_q):
            i1 = min(i0 + block_q, Tq)
            if causal and j0 > i1 - 1 + shift:
                continue
            s = np.matmul(q64[..., i0:i1, :], np.swapaxes(k_j, -1, -2)) * scale
            keep = _tile_keep(i0, i1, j0, j1, shift, causal, mask)
            if keep is not None:
                s = np.where(keep, s, -np.inf)
            p = np.exp(s - lse_safe[..., i0:i1, :])                      # (..., rows, cols)
            do_i = do[..., i0:i1, :]
            dv[..., j0:j1, :] += np.matmul(np.swapaxes(p, -1, -2), do_i)
            ds = p * (np.matmul(do_i, np.swapaxes(v_j, -1, -2)) - delta[..., i0:i1, :])
            dq[..., i0:i1, :] += np.matmul(ds, k_j) * scale
            dk[..., j0:j1, :] += np.matmul(np.swapaxes(ds, -1, -2), q64[..., i0:i1, :]) * scale
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)


# ---------------------------------------------------------------------------------------------------------------
# Numba twin: one item n (a batch-head pair) per loop iteration, the same tiles as above. Each item allocates only
# tile-sized float64 buffers plus O(T) vectors; the tiles of q, k, v are converted to float64 as they are read.

@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _score_tile(s, i0, j0, shift, scale, causal, has_mask, mask_n):
    """s (rows, cols) <- s * scale, with -inf where the causal rule or the mask forbids attending."""
    for r in range(s.shape[0]):
        for c in range(s.shape[1]):
            visible = (not causal or j0 + c <= i0 + r + shift) and (not has_mask or mask_n[i0 + r, j0 + c])
            s[r, c] = s[r, c] * scale if visible else -np.inf


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _flash_forward_item(q, k, v, mask_n, has_mask, causal, scale, bq, bk, out, lse):
    """One item: q (Tq, D), k (Tk, D), v (Tk, Dv) -> out (Tq, Dv), lse (Tq,), by online softmax over key tiles."""
    Tq, Tk, Dv = q.shape[0], k.shape[0], v.shape[1]
    shift = Tk - Tq
    s_buf, pv_buf = np.empty(bq * bk), np.empty(bq * Dv)   # flat, so each tile view is C-contiguous for BLAS
    acc_buf, m, l = np.empty((bq, Dv)), np.empty(bq), np.empty(bq)
    for i0 in range(0, Tq, bq):
        i1 = min(i0 + bq, Tq)
        rows = i1 - i0
        q_i = q[i0:i1].astype(np.float64)
        acc = acc_buf[:rows]
        acc[:] = 0.0
        m[:] = -np.inf
        l[:] = 0.0
        for j0 in range(0, Tk, bk):
            j1 = min(j0 + bk, Tk)
            if causal and j0 > i1 - 1 + shift:
                break
            s = s_buf[:rows * (j1 - j0)].reshape(rows, j1 - j0)
            mm(q_i, k[j0:j1].astype(np.float64).T, s)          # S = q_i k_j^T   (rows, cols)
            _score_tile(s, i0, j0, shift, scale, causal, has_mask, mask_n)
            for r in range(rows):
                m_new = m[r]
                for c in range(j1 - j0):
                    m_new = s[r, c] if s[r, c] > m_new else m_new
                if m_new == -np.inf:          # nothing visible so far in this row: P = 0, state unchanged
                    s[r, :] = 0.0
                    continue
                alpha = exp_nonpos(m[r] - m_new)  # rescales what was summed under the old max
                total = 0.0
                for c in range(j1 - j0):
                    s[r, c] = exp_nonpos(s[r, c] - m_new)
                    total += s[r, c]
                l[r] = alpha * l[r] + total
                for c in range(Dv):
                    acc[r, c] *= alpha
                m[r] = m_new
            pv = pv_buf[:rows * Dv].reshape(rows, Dv)
            mm(s, v[j0:j1].astype(np.float64), pv)                # P v_j   (rows, Dv)
            acc += pv
        for r in range(rows):
            if l[r] == 0.0:
                out[i0 + r] = 0.0
                lse[i0 + r] = -np.inf
            else:
                for c in range(Dv):
                    out[i0 + r, c] = acc[r, c] / l[r]
                lse[i0 + r] = m[r] + np.log(l[r])


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _flash_backward_item(q, k, v, out, lse, dout, mask_n, has_mask, causal, scale, bq, bk, dq, dk, dv):
    """One item's gradients, key tiles outer and query tiles inner (FlashAttention-2's order)."""
    Tq, Tk, D, Dv = q.shape[0], k.shape[0], q.shape[1], v.shape[1]
    shift = Tk - Tq
    delta = np.empty(Tq)                                   # rowsum(dout * out)
    for r in range(Tq):
        t = 0.0
        for c in range(Dv):
            t += np.float64(dout[r, c]) * np.float64(out[r, c])
        delta[r] = t
    dq64 = np.zeros((Tq, D))
    p_buf, ds_buf = np.empty(bq * bk), np.empty(bq * bk)   # flat, so each tile view is C-contiguous for BLAS
    dk_j, dv_j = np.empty((bk, D)), np.empty((bk, Dv))
    t_k, t_v, t_q = np.empty(bk * D), np.empty(bk * Dv), np.empty(bq * D)
    for j0 in range(0, Tk, bk):
        j1 = min(j0 + bk, Tk)
        cols = j1 - j0
        k_j, v_j = k[j0:j1].astype(np.float64), v[j0:j1].astype(np.float64)
        dk_j[:cols] = 0.0
        dv_j[:cols] = 0.0
        for i0 in range(0, Tq, bq):
            i1 = min(i0 + bq, Tq)
            rows = i1 - i0
            if causal and j0 > i1 - 1 + shift:
                continue
            q_i, do_i = q[i0:i1].astype(np.float64), dout[i0:i1].astype(np.float64)
            p, ds = p_buf[:rows * cols].reshape(rows, cols), ds_buf[:rows * cols].reshape(rows, cols)
            mm(q_i, k_j.T, p)
            _score_tile(p, i0, j0, shift, scale, causal, has_mask, mask_n)
            for r in range(rows):
                l_r = lse[i0 + r]
                for c in range(cols):          # P = exp(S - lse); fully masked rows (lse = -inf) get P = 0
                    p[r, c] = exp_nonpos(p[r, c] - l_r) if l_r != -np.inf else 0.0
            dv_j[:cols] += mm(p.T, do_i, t_v[:cols * Dv].reshape(cols, Dv))            # dv_j += P^T dout_i
            mm(do_i, v_j.T, ds)                                 # dP = dout_i v_j^T
            for r in range(rows):
                d_r = delta[i0 + r]
                for c in range(cols):
                    ds[r, c] = p[r, c] * (ds[r, c] - d_r)        # dS = P * (dP - delta)
            dq64[i0:i1] += mm(ds, k_j, t_q[:rows * D].reshape(rows, D)) * scale      # dq_i += dS k_j * scale
            dk_j[:cols] += mm(ds.T, q_i, t_k[:cols * D].reshape(cols, D)) * scale    # dk_j += dS^T q_i * scale
        dk[j0:j1] = dk_j[:cols]
        dv[j0:j1] = dv_j[:cols]
    dq[:] = dq64


@njit(cache=True, nogil=True, parallel=True)
def _forward_all(q, k, v, mask, midx, has_mask, causal, scale, bq, bk, out, lse):
    for n in prange(q.shape[0]):
        _flash_forward_item(q[n], k[n], v[n], mask[midx[n]], has_mask, causal, scale, bq, bk, out[n], lse[n])


@njit(cache=True, nogil=True)
def _forward_all_serial(q, k, v, mask, midx, has_mask, causal, scale, bq, bk, out, lse):
    for n in range(q.shape[0]):
        _flash_forward_item(q[n], k[n], v[n], mask[midx[n]], has_mask, causal, scale, bq, bk, out[n], lse[n])


@njit(cache=True, nogil=True, parallel=True)
def _backward_all(q, k, v, out, lse, dout, mask, midx, has_mask, causal, scale, bq, bk, dq, dk, dv):
    for n in prange(q.shape[0]):
        _flash_backward_item(q[n], k[n], v[n], out[n], lse[n], dout[n], mask[midx[n]], has_mask, causal, scale,
                             bq, bk, dq[n], dk[n], dv[n])


@njit(cache=True, nogil=True)
def _backward_all_serial(q, k, v, out, lse, dout, mask, midx, has_mask, causal, scale, bq, bk, dq, dk, dv):
    for n in range(q.shape[0]):
        _flash_backward_item(q[n], k[n], v[n], out[n], lse[n], dout[n], mask[midx[n]], has_mask, causal, scale,
                             bq, bk, dq[n], dk[n], dv[n])


def flash_attention_forward_numba(q, k, v, mask=None, causal=False, scale=None, block_q=BLOCK_Q, block_k=BLOCK_K):
    """Numba twin of flash_attention_forward_numpy (cases the kernel does not cover run the NumPy twin)."""
    _check_blocks(block_q, block_k)
    if not _numba_can_run(q, k, v, mask):
        return flash_attention_forward_numpy(q, k, v, mask, causal, scale, block_q, block_k)
    scale, (q3, k3, v3), m, midx, out, lse, work = forward_inputs(q, k, v, mask, scale)
    run = _forward_all if threads_for(work) > 1 else _forward_all_serial
    run(q3, k3, v3, m, midx, mask is not None, bool(causal), float(scale), int(block_q), int(block_k), out, lse)
    return out.reshape(q.shape[:-1] + v.shape[-1:]), lse.reshape(q.shape[:-1])


def flash_attention_backward_numba(q, k, v, out, lse, dout, mask=None, causal=False, scale=None,
                                   block_q=BLOCK_Q, block_k=BLOCK_K):
    """Numba twin of flash_attention_backward_numpy."""
    _check_blocks(block_q, block_k)
    if not _numba_can_run(q, k, v, mask) or out.dtype not in (np.float32, np.float64) or dout.dtype != out.dtype:
        return flash_attention_backward_numpy(q, k, v, out, lse, dout, mask, causal, scale, block_q, block_k)
    scale, (q3, k3, v3, o3, do3), l2, m, midx, work = backward_inputs(q, k, v, out, lse, dout, mask, scale)
    dq, dk, dv = np.empty_like(q3), np.empty_like(k3), np.empty_like(v3)
    run = _backward_all if threads_for(work) > 1 else _backward_all_serial
    run(q3, k3, v3, o3, l2, do3, m, midx, mask is not None, bool(causal), float(scale), int(block_q), int(block_k),
        dq, dk, dv)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)


def workspace_bytes(Tq, Tk, D, Dv, block_q=BLOCK_Q, block_k=BLOCK_K, backward=False):
    """At most the bytes the Numba kernel allocates per item (float64 buffers) beyond inputs and outputs:
    constant (tiles) in the forward, O(T) in the backward (delta and dq in float64)."""
    bq, bk = block_q, block_k
    if not backward:  # s, pv, acc tiles + m, l + q_i, k_j, v_j float64 copies
        return 8 * (bq * bk + 2 * bq * Dv + 2 * bq + bq * D + bk * D + bk * Dv)
    return 8 * (Tq + Tq * D + 2 * bq * bk + 2 * bk * D + 2 * bk * Dv + 2 * bq * D + bq * Dv + bk * D + bk * Dv)
