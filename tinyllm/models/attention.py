"""Multi-head causal self-attention with a fused qkv projection, and the KV cache for incremental decoding.

    q, k, v = split(x Wqkv)                       each (B, H, T, D), D = C / H
    y       = softmax(q k^T / sqrt(D) + causal mask) v
    out     = merge_heads(y) Wproj                (B*T, C)

Interchangeable paths compute y: "fused" calls F.scaled_dot_product_attention (one Numba kernel forward and
backward, never storing the T x T probabilities), "naive" spells the equation out with matmul, a -inf mask and
softmax, so a learner can read it, and "tiled" runs the flash-style online-softmax kernel (tinyllm/autograd/flash.py),
whose extra memory is O(T) at any length. They are tested equal. Dropout is applied to the output projection only
(not to the attention probabilities, which the fused kernel never materialises), so all paths stay identical.
"""
import numpy as np

import tinyllm.functional as F
from tinyllm import kernels
from tinyllm.autograd.flash import flash_attention
from tinyllm.nn import init
from tinyllm.nn.layers import Dropout, Linear, check_positive_int
from tinyllm.nn.module import Module

ATTN_IMPLS = ("fused", "naive", "tiled")


class KVCache:
    """Keys and values already computed for a batch of sequences, one slot per layer: inference only.

    Buffers are preallocated to block_size positions, so a decode step writes its new key/value in place and the
    attention reads the view [:pos]. `ids` remembers the tokens themselves, which the model needs to rebuild the
    cache when the window is full (see GPT.forward). `keep` is how many recent tokens survive such a rebuild.
    """

    def __init__(self, n_layer, batch, n_head, head_dim, block_size, dtype, keep=None):
        check_positive_int("batch", batch)
        keep = block_size // 2 if keep is None else keep
        if not 0 <= keep < block_size:
            raise ValueError(f"keep must be in [0, block_size={block_size}), got {keep}")
        shape = (n_layer, batch, n_head, block_size, head_dim)
        self.k = np.zeros(shape, dtype=dtype)               # (L, B, H, block_size, D)
        self.v = np.zeros(shape, dtype=dtype)
        self.ids = np.zeros((batch, block_size), dtype=np.int64)
        self.pos = 0                                        # tokens cached so far (same for every row)
        self.keep = keep
        self.block_size = block_size

    @property
    def batch(self):
        return self.ids.shape[0]

    def reset(self):
        """Forget everything (buffers are overwritten before they are read again)."""
        self.pos = 0

    def repeat(self, batch):
        """A cache of `batch` rows, each a copy of this one-row cache: a prompt shared by every beam is read once."""
        if self.batch != 1:
            raise ValueError(f"repeat needs a one-row cache, this one has {self.batch} rows")
        twin = KVCache.__new__(KVCache)
        twin.__dict__.update(self.__dict__)
        twin.k, twin.v = np.repeat(self.k, batch, axis=1), np.repeat(self.v, batch, axis=1)
        twin.ids = np.repeat(self.ids, batch, axis=0)
        return twin

    def reorder(self, rows):
        """Keep batch rows `rows` (an int array of length B, repeats allowed): beam search's re-ranking."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape != (self.batch,):
            raise ValueError(f"reorder expects {self.batch} row indices, got shape {rows.shape}")
        if np.array_equal(rows, np.arange(self.batch)):
            return
        n = self.pos                         # only the filled positions move (the rest is overwritten before use)
        self.k[:, :, :, :n] = self.k[:, rows, :, :n]        # the right side is a copy: safe with repeated rows
        self.v[:, :, :, :n] = self.v[:, rows, :, :n]
        self.ids[:, :n] = self.ids[rows, :n]


class CausalSelfAttention(Module):
    """Multi-head causal self-attention on the flattened residual stream x (B*T, C)."""

    def __init__(self, n_embd, n_head, bias=False, dropout=0.0, attn_impl="fused", proj_std=init.GPT2_STD,
                 rng=None, dropout_rng=None, dtype=np.float32):
        check_positive_int("n_embd", n_embd)
        check_positive_int("n_head", n_head)
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}")
        self.n_head, self.head_dim, self.attn_impl = n_head, n_embd // n_head, attn_impl
        self.qkv = Linear(n_embd, 3 * n_embd, bias=bias, rng=rng, dtype=dtype)   # fused: one matmul for q, k, v
        self.proj = Linear(n_embd, n_embd, bias=bias, std=proj_std, rng=rng, dtype=dtype)
        self.resid_drop = Dropout(dropout, rng=dropout_rng)

    def forward(self, x, B, T, cache=None, layer=0):
        """x (B*T, C) -> (B*T, C). With `cache`, the T new tokens attend to the cached ones too (positions
        cache.pos .. cache.pos+T-1) and their keys/values are written into the cache for `layer`."""
        H, D = self.n_head, self.head_dim
        qkv = self.qkv(x).reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)   # (3, B, H, T, D)
        q, k, v = qkv[0], qkv[1], qkv[2]                                      # each (B, H, T, D)
        if cache is not None:
            k, v = self._extend_cache(cache, layer, k, v)                    # (B, H, pos+T, D)
        if self.attn_impl == "fused":
            y = F.scaled_dot_product_attention(q, k, v, causal=True)
        elif self.attn_impl == "tiled":                                      # tiled: O(T) memory at any T
            y = flash_attention(q, k, v, causal=True)
        else:
            y = self.naive_attention(q, k, v)
        y = y.transpose(0, 2, 1, 3).reshape(B * T, H * D)                   # merge heads: (B*T, C)
        return self.resid_drop(self.proj(y))

    def naive_attention(self, q, k, v):
        """softmax(q k^T / sqrt(D), masked so query i sees keys j <= i + Tk - Tq) v, op by op."""
        Tq, Tk = q.shape[-2], k.shape[-2]
        att = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / np.sqrt(self.head_dim))   # (B, H, Tq, Tk)
        future = ~np.tril(np.ones((Tq, Tk), dtype=bool), k=Tk - Tq)         # True = may not attend
        att = F.masked_fill(att, future, -np.inf)
        return F.softmax(att, axis=-1) @ v                                                       # (B, H, Tq, D)

    def forward_arrays(self, x, B, T, cache=None, layer=0):
        """forward() on plain ndarrays (fused kernel, no dropout, no graph): the lean inference path."""
        H, D = self.n_head, self.head_dim
        qkv = self.qkv.forward_arrays(x).reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)   # (3, B, H, T, D)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if cache is not None:
            k, v = self._extend_cache(cache, layer, k, v)
        y, _ = kernels.attention_forward(q, k, v, None, True, 1.0 / np.sqrt(D))            # (B, H, T, D)
        return self.proj.forward_arrays(y.transpose(0, 2, 1, 3).reshape(B * T, H * D))

    @staticmethod
    def _extend_cache(cache, layer, k, v):
        """Write the new keys/values at positions pos..pos+T-1 and return all cached ones (pos+T of them).
        Tensors come back as constants: the cache is for inference, no gradient flows into it."""
        from tinyllm.autograd.tensor import Tensor
        start, stop = cache.pos, cache.pos + k.shape[-2]
        is_tensor = isinstance(k, Tensor)
        cache.k[layer, :, :, start:stop] = k.data if is_tensor else k
        cache.v[layer, :, :, start:stop] = v.data if is_tensor else v
        k_all, v_all = cache.k[layer, :, :, :stop], cache.v[layer, :, :, :stop]
        return (Tensor(k_all), Tensor(v_all)) if is_tensor else (k_all, v_all)
