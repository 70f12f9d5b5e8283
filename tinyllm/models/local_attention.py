"""Local (sliding-window) attention: each query sees only the last `window` keys, itself included.

    y_i = sum_{i-w < j <= i} softmax_j(q_i . k_j / sqrt(D) + bias_ij) v_j          (Longformer's / Mistral's window)

Two forms, tested equal:
    masked   full (T, T) scores with everything outside the band set to -inf: the readable reference, O(T^2)
    banded   gather, for every query, its w keys (a (B, H, T, w, D) stack of shifted copies): O(T w D), so
             cost grows linearly in T for a fixed window. Stacking copies costs w x the memory of k; a kernel
             would read the band in place.
Information still travels further than w: after L layers a token can hear from L (w - 1) positions back.
"""
import numpy as np

import tinyllm.functional as F


def window_mask(Tq, Tk, window, causal=True):
    """(Tq, Tk) boolean, True = may attend. Queries are the last Tq of Tk positions (so KV caches work)."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    i = np.arange(Tk - Tq, Tk)[:, None]                                      # query positions
    j = np.arange(Tk)[None, :]
    if causal:
        return (j <= i) & (j > i - window)
    return np.abs(i - j) < window


def local_attention_masked(q, k, v, window, scale, bias=None):
    """Reference: causal softmax(q k^T * scale + bias) v restricted to the band. q, k, v (B, H, T, D)."""
    s = (q @ k.swapaxes(-1, -2)) * scale                                     # (B, H, T, T)
    if bias is not None:
        s = s + bias
    s = F.masked_fill(s, ~window_mask(q.shape[-2], k.shape[-2], window), -np.inf)
    return F.softmax(s, axis=-1) @ v


def banded_bias(bias, window):
    """A (H, T, T) score bias rearranged to the banded layout (H, T, w): entry r is key i - r."""
    H, T, _ = bias.shape
    i = np.arange(T)[:, None]
    j = np.clip(i - np.arange(window)[None, :], 0, None)                      # (T, w)
    return bias[:, i, j]


def local_attention_banded(q, k, v, window, scale, bias=None):
    """Linear-in-T form: query i scores only keys i, i-1, .., i-w+1 (those before position 0 are masked).

    q, k, v (B, H, T, D) Tensors; bias (H, T, w) in the banded layout (see banded_bias) or None.
    """
    B, H, T, D = q.shape
    w = min(window, T)
    zeros_k = np.zeros((B, H, w - 1, D), dtype=k.dtype)
    kp = F.concat([zeros_k, k], axis=2)                                       # (B, H, T + w - 1, D)
    vp = F.concat([np.zeros((B, H, w - 1, v.shape[-1]), dtype=v.dtype), v], axis=2)
    # r-th copy holds key i - r at row i: padded index (i - r) + (w - 1)
    kw = F.stack([kp[:, :, w - 1 - r: w - 1 - r + T] for r in range(w)], axis=3)   # (B, H, T, w, D)
    vw = F.stack([vp[:, :, w - 1 - r: w - 1 - r + T] for r in range(w)], axis=3)
    s = (q.reshape(B, H, T, 1, D) * kw).sum(axis=-1) * scale                  # (B, H, T, w)
    if bias is not None:
        s = s + bias[:, :, :w]
    before_start = np.arange(T)[:, None] - np.arange(w)[None, :] < 0          # (T, w): keys i - r < 0
    p = F.softmax(F.masked_fill(s, before_start, -np.inf), axis=-1)
    return (p.reshape(B, H, T, w, 1) * vw).sum(axis=-2)                       # (B, H, T, Dv)
