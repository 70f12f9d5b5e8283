"""Flash-style attention as one autograd node: the same function as F.scaled_dot_product_attention, computed
tile by tile (kernels/flash_attention.py), so neither direction ever holds the (Tq, Tk) scores.

    >>> from tinyllm.autograd.flash import flash_attention
    >>> y = flash_attention(q, k, v, causal=True)      # == F.scaled_dot_product_attention(q, k, v, causal=True)

Kept beside the default path rather than replacing it: at training lengths (T <= 256) the row-block kernel is as
fast and simpler; the tiled one matters when T x T no longer fits in memory (scripts/attention_costs.py).
"""
import math

import numpy as np

from tinyllm import kernels
from tinyllm.autograd.function import Function, unbroadcast
from tinyllm.autograd.functional import _array, _tensor
from tinyllm.kernels.flash_attention import BLOCK_K, BLOCK_Q, _check_blocks


class FlashAttention(Function):
    """out = softmax(q k^T / sqrt(D) + mask) v by online softmax over key tiles; backward recomputes P from lse."""

    def forward(self, q, k, v, mask=None, causal=False, block_q=BLOCK_Q, block_k=BLOCK_K):
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        self.shapes = (q.shape, k.shape, v.shape)
        q, k, v = (a if a.shape[:-2] == lead else np.broadcast_to(a, lead + a.shape[-2:]) for a in (q, k, v))
        self.scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
        self.mask, self.causal, self.blocks = mask, causal, (block_q, block_k)
        out, lse = kernels.flash_attention_forward(q, k, v, mask, causal, self.scale, block_q, block_k)
        self.save_for_backward(q, k, v, out, lse)    # O(T) extra: out and lse, never P
        return out

    def backward(self, grad):
        q, k, v, out, lse = self.saved_tensors
        dq, dk, dv = kernels.flash_attention_backward(q, k, v, out, lse, grad, self.mask, self.causal, self.scale,
                                                      *self.blocks)
        sq, sk, sv = self.shapes
        return unbroadcast(dq, sq), unbroadcast(dk, sk), unbroadcast(dv, sv)


def flash_attention(q, k, v, mask=None, causal=False, block_q=BLOCK_Q, block_k=BLOCK_K):
    """Tiled softmax(q k^T / sqrt(D) + mask) v. q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> (..., Tq, Dv).

    mask: boolean broadcastable to (..., Tq, Tk), True = may attend; causal=True: query i sees keys
    j <= i + Tk - Tq. block_q / block_k: tile sizes (positive ints). Rows that see nothing give 0.
    """
    q, k, v = _tensor(q), _tensor(k), _tensor(v)
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"flash_attention: need q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv); "
                         f"got q {q.shape}, k {k.shape}, v {v.shape}")
    _check_blocks(block_q, block_k)
    mask = None if mask is None else _array(mask, "mask", "b")
    return FlashAttention.apply(q, k, v, mask=mask, causal=bool(causal), block_q=int(block_q), block_k=int(block_k))
