"""Multi-head attention with every piece swappable: score function, position code, kind, masks, self or cross.

    q, k, v   = x W_q, (x or memory) W_k, (x or memory) W_v         each split into H heads: (B, H, T, D)
    q, k      = rotate(q), rotate(k)                                  RoPE only; identity for other codes
    s         = score(q, k) + bias                                    (B, H, Tq, Tk); ALiBi supplies the bias
    y         = softmax(s masked) v                                   kind="softmax" (or "local": a band mask)
    y         = phi(q) (phi(k)^T v) / phi(q) sum phi(k)               kind="linear" (linear_attention.py)
    out       = merge_heads(y) W_proj                                 (B*T, C)

Masks are boolean, True = may attend: the causal (or window) mask over (Tq, Tk) and an optional key mask
(B, 1, 1, Tk) marking padding with False. Cross-attention (the decoder reading the encoder's output `memory`)
is never causal and uses no position code, as in T5. attn_impl="fused" sends dot-product scores without a bias
to the fused Numba kernel (F.scaled_dot_product_attention) and causal local windows to the banded form;
"naive" spells every step out; "tiled" is "fused" with the flash-style kernel. They are tested equal.
"""
import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor
from tinyllm.models.linear_attention import LinearState, linear_attention, linear_attention_step
from tinyllm.models.local_attention import banded_bias, local_attention_banded, window_mask
from tinyllm.models.scores import build_score
from tinyllm.nn import init
from tinyllm.nn.layers import Dropout, Linear, check_positive_int
from tinyllm.nn.module import Module

KINDS = ("softmax", "linear", "local")


class MultiHeadAttention(Module):
    """Attention on the flattened stream x (B*T, C); see the module docstring for the pieces."""

    def __init__(self, n_embd, n_head, *, score="scaled_dot", kind="softmax", window=16, causal=True,
                 cross=False, attn_impl="fused", max_len=64, bias=False, dropout=0.0, proj_std=init.GPT2_STD,
                 rng=None, dropout_rng=None, dtype=np.float32):
        check_positive_int("n_head", n_head)
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        if kind not in KINDS:
            raise ValueError(f"attention kind must be one of {KINDS}, got {kind!r}")
        rng = np.random.default_rng(0) if rng is None else rng
        self.n_head, self.head_dim = n_head, n_embd // n_head
        self.kind, self.window, self.causal, self.cross, self.attn_impl = kind, window, causal, cross, attn_impl
        if cross:
            self.q = Linear(n_embd, n_embd, bias=bias, rng=rng, dtype=dtype)
            self.kv = Linear(n_embd, 2 * n_embd, bias=bias, rng=rng, dtype=dtype)
        else:
            self.qkv = Linear(n_embd, 3 * n_embd, bias=bias, rng=rng, dtype=dtype)   # one matmul for q, k, v
        self.proj = Linear(n_embd, n_embd, bias=bias, std=proj_std, rng=rng, dtype=dtype)
        if kind == "linear" and score != "scaled_dot":
            raise ValueError(f"attention kind 'linear' replaces the score function by a feature map; "
                             f"leave score='scaled_dot' (got {score!r})")
        self.score = None if kind == "linear" else build_score(
            score, n_head=n_head, head_dim=self.head_dim, max_len=max_len, rng=rng, dtype=dtype)
        self.resid_drop = Dropout(dropout, rng=dropout_rng)
        self.record = False          # set True to keep the last attention probabilities (attention maps)
        self.last_probs = None       # (B, H, Tq, Tk) ndarray when record is on (softmax kinds only)

    def _heads(self, t, B, T, n):
        """(B*T, n*C) -> n tensors (B, H, T, D)."""
        t = t.reshape(B, T, n, self.n_head, self.head_dim).transpose(2, 0, 3, 1, 4)   # (n, B, H, T, D)
        return [t[i] for i in range(n)]

    def forward(self, x, B, T, pos=None, key_mask=None, state=None, start=0, memory=None):
        """x (B*T, C) -> (B*T, C).

        pos: the model's position code (rotate/bias hooks) or None; key_mask (B, 1, 1, Tk) bool or None;
        state: this layer's slot in a cache (a dict, inference only); start: position of x's first token;
        memory (B*Tm, C): what cross-attention reads.
        """
        if self.cross:
            (q,) = self._heads(self.q(x), B, T, 1)
            k, v = self._heads(self.kv(memory), B, memory.shape[0] // B, 2)   # (B, H, Tm, D) each
            pos, causal = None, False
        else:
            q, k, v = self._heads(self.qkv(x), B, T, 3)                      # (B, H, T, D) each
            causal = self.causal
            if pos is not None:
                q, k = pos.rotate(q, start), pos.rotate(k, start)
        if self.kind == "linear":
            y = self._linear(q, k, v, causal, key_mask, state)
        else:
            if state is not None:
                k, v = _extend_cache(state, k, v)                            # (B, H, start+T, D)
            y = self._softmax(q, k, v, causal, key_mask, pos, cached=state is not None)
        y = y.transpose(0, 2, 1, 3).reshape(B * T, self.n_head * self.head_dim)   # merge heads: (B*T, C)
        return self.resid_drop(self.proj(y))

    def _linear(self, q, k, v, causal, key_mask, state):
        if state is None:
            return linear_attention(q, k, v, causal=causal, key_mask=key_mask)
        if not causal or key_mask is not None:
            raise ValueError("the recurrent (cached) form of linear attention is causal and takes no key mask")
        if "linear" not in state:
            state["linear"] = LinearState(q.shape[0], self.n_head, self.head_dim, v.shape[-1], q.dtype)
        return Tensor(linear_attention_step(state["linear"], q.data, k.data, v.data))

    def _softmax(self, q, k, v, causal, key_mask, pos, cached):
        Tq, Tk, D = q.shape[-2], k.shape[-2], self.head_dim
        local = self.kind == "local"
        bias = pos.bias(Tq, Tk, causal) if pos is not None else None          # (H, Tq, Tk) or None
        fused = self.attn_impl in ("fused", "tiled") and not self.record
        dot_scale = getattr(self.score, "scale", None)
        if fused and local and causal and dot_scale is not None and key_mask is None and not cached:
            return local_attention_banded(q, k, v, self.window, dot_scale,
                                          None if bias is None else banded_bias(bias, min(self.window, Tq)))
        keep = None
        if local:
            keep = window_mask(Tq, Tk, self.window, causal)                   # (Tq, Tk)
        elif causal and not (fused and getattr(self.score, "fusable", False) and bias is None and key_mask is None):
            keep = np.tril(np.ones((Tq, Tk), dtype=bool), k=Tk - Tq)
        if key_mask is not None:
            keep = key_mask if keep is None else keep & key_mask              # (B, 1, Tq|1, Tk)
        if fused and getattr(self.score, "fusable", False) and bias is None:
            qs = q if np.isclose(dot_scale, D ** -0.5) else q * float(dot_scale * np.sqrt(D))
            if self.attn_impl == "tiled":                                     # the flash-style kernel
                from tinyllm.autograd.flash import flash_attention
                return flash_attention(qs, k, v, mask=keep, causal=causal and keep is None)
            return F.scaled_dot_product_attention(qs, k, v, mask=keep, causal=causal and keep is None)
        s = self.score(q, k)                                                  # (B, H, Tq, Tk)
        if bias is not None:
            s = s + bias
        if keep is not None:
            s = F.masked_fill(s, ~keep, -np.inf)
        p = F.softmax(s, axis=-1)
        if self.record:
            self.last_probs = p.data.copy()
        return p @ v                                                          # (B, H, Tq, D)


def _extend_cache(state, k, v):
    """Append this step's keys/values to the layer's cache and return all of them as constants (no gradient
    flows into a cache: it is for inference)."""
    k_new, v_new = (k.data if isinstance(k, Tensor) else k), (v.data if isinstance(v, Tensor) else v)
    state["k"] = k_new if "k" not in state else np.concatenate([state["k"], k_new], axis=2)
    state["v"] = v_new if "v" not in state else np.concatenate([state["v"], v_new], axis=2)
    return Tensor(state["k"]), Tensor(state["v"])
