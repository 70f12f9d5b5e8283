"""Linear attention: replace exp(q . k) by a kernel phi(q) . phi(k), and the T x T matrix disappears.

    y_i = sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j)                       (Katharopoulos et al. 2020)
        = phi(q_i)^T S_i / phi(q_i)^T z_i,   S_i = sum_{j<=i} phi(k_j) v_j^T  (D, Dv),  z_i = sum_{j<=i} phi(k_j)

with phi(x) = elu(x) + 1 (positive, so the denominator never vanishes). Three forms, tested equal:
    quadratic   build A = phi(q) phi(k)^T, mask, normalise rows: the readable reference, O(T^2 D)
    prefix-sum  S_i and z_i as running sums over time (cumsum): O(T D Dv) time and memory, linear in T
    recurrent   S += phi(k_t) v_t^T, z += phi(k_t) one token at a time: constant cost per generated token
The recurrent form is what generation uses: its "KV cache" is the fixed-size state (S, z), not a growing list.
Omission: no chunked form (blocks of quadratic attention carrying the state between them), which is what fast
implementations use; prefix-sum stores a (D, Dv) matrix per position instead.
"""
import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor

EPS = 1e-6


def feature_map(x):
    """phi(x) = elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise; works on Tensors and ndarrays."""
    if not isinstance(x, Tensor):
        return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
    positive = x.data > 0
    negative_part = (x * (~positive).astype(x.dtype)).exp()              # exp(0) = 1 where x > 0 (not chosen)
    return F.where(positive, x + 1.0, negative_part)


def linear_attention_quadratic(q, k, v, causal=True, key_mask=None):
    """Reference form. q (B, H, T, D), k (B, H, Tk, D), v (B, H, Tk, Dv) -> (B, H, T, Dv).
    key_mask (B, 1, 1, Tk) boolean, True = a real key (padding masks)."""
    fq, fk = feature_map(q), feature_map(k)
    A = fq @ fk.swapaxes(-1, -2)                                           # (B, H, T, Tk), all positive
    keep = np.ones(A.shape[-2:], dtype=bool)
    if causal:
        T, Tk = A.shape[-2:]
        keep = np.tril(keep, k=Tk - T)
    keep = keep if key_mask is None else keep & key_mask
    A = A * keep.astype(A.dtype)
    return (A @ v) / (A.sum(axis=-1, keepdims=True) + EPS)


def linear_attention(q, k, v, causal=True, key_mask=None):
    """Linear-time form. Causal: running sums S_i, z_i by cumsum over time. Bidirectional: one global sum.
    Shapes as in linear_attention_quadratic (causal needs Tk == T)."""
    fq, fk = feature_map(q), feature_map(k)                               # (B, H, T, D), (B, H, Tk, D)
    if key_mask is not None:
        m = np.swapaxes(key_mask, -1, -2).astype(fk.dtype)                 # (B, 1, Tk, 1)
        fk, v = fk * m, v * m
    if not causal:
        S = fk.swapaxes(-1, -2) @ v                                        # (B, H, D, Dv): sum_j phi(k_j) v_j^T
        z = fk.sum(axis=-2, keepdims=True)                                 # (B, H, 1, D)
        return (fq @ S) / ((fq * z).sum(axis=-1, keepdims=True) + EPS)
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal linear attention needs as many queries as keys, got {q.shape} and {k.shape}")
    B, H, T, D = fq.shape
    Dv = v.shape[-1]
    outer = fk.reshape(B, H, T, D, 1) * v.reshape(B, H, T, 1, Dv)          # (B, H, T, D, Dv): phi(k_j) v_j^T
    S = F.cumsum(outer, axis=2)                                            # S_i = sum_{j<=i}
    z = F.cumsum(fk, axis=2)                                               # (B, H, T, D)
    num = (fq.reshape(B, H, T, 1, D) @ S).reshape(B, H, T, Dv)             # phi(q_i)^T S_i
    return num / ((fq * z).sum(axis=-1, keepdims=True) + EPS)


class LinearState:
    """The recurrent state of one linear-attention layer: S (B, H, D, Dv) and z (B, H, D), plain arrays."""

    def __init__(self, B, H, D, Dv, dtype):
        self.S = np.zeros((B, H, D, Dv), dtype=dtype)
        self.z = np.zeros((B, H, D), dtype=dtype)

    def reorder(self, rows):
        self.S, self.z = self.S[rows], self.z[rows]


def linear_attention_step(state, q, k, v):
    """Feed tokens one at a time: q, k (B, H, T, D), v (B, H, T, Dv) arrays -> (B, H, T, Dv); updates state."""
    out = np.empty(q.shape[:-1] + (v.shape[-1],), dtype=state.S.dtype)
    fq, fk = feature_map(q), feature_map(k)
    for t in range(q.shape[-2]):
        state.S += fk[..., t, :, None] * v[..., t, None, :]               # (B, H, D, Dv)
        state.z += fk[..., t, :]
        num = np.einsum("bhd,bhde->bhe", fq[..., t, :], state.S)
        out[..., t, :] = num / ((fq[..., t, :] * state.z).sum(-1, keepdims=True) + EPS)
    return out
