"""Score functions: how much query i attends to key j, before the softmax. Six from attention's history.

Every score maps q (B, H, Tq, D) and k (B, H, Tk, D) to scores (B, H, Tq, Tk); the attention layer then masks,
adds any position bias, applies softmax over j and averages the values. Heads have their own parameters.

    dot          s_ij = q_i . k_j                                  (Luong et al. 2015, "dot")
    scaled_dot   s_ij = q_i . k_j / sqrt(D)                        (Vaswani et al. 2017, eq. 1)
    general      s_ij = q_i^T W k_j                                (Luong et al. 2015, "general")
    cosine       s_ij = g * q_i . k_j / (|q_i| |k_j|)              (Graves et al. 2014, content-based addressing)
    additive     s_ij = v^T tanh(W_q q_i + W_k k_j)  = v^T tanh(W [q_i; k_j])   (Bahdanau et al. 2015)
    location     s_ij = (W q_i)_j: the query alone picks positions  (Luong et al. 2015, "location")

Why 1/sqrt(D): if q and k have independent unit-variance entries, q . k is a sum of D products of variance 1,
so its variance is D; the softmax of scores with standard deviation sqrt(D) saturates (one key gets nearly all
the weight, and gradients vanish). Dividing by sqrt(D) restores unit variance. `scripts/attention_zoo.py
--demo=variance` and tests/test_attention_zoo_parts.py show it numerically.
"""
import numpy as np

import tinyllm.functional as F
from tinyllm.nn import init
from tinyllm.nn.module import Module, Parameter

SCORES = ("scaled_dot", "dot", "general", "cosine", "additive", "location")


def _keys_t(k):
    return k.swapaxes(-1, -2)                                               # (B, H, D, Tk)


class DotScore(Module):
    """s = q k^T: the raw dot product (its variance grows with D; see the module docstring)."""
    fusable = True          # the fused attention kernel can compute it (after rescaling q)
    scale = 1.0

    def forward(self, q, k):
        return (q @ _keys_t(k)) * self.scale                              # (B, H, Tq, Tk)


class ScaledDotScore(DotScore):
    """s = q k^T / sqrt(D): the transformer's score."""

    def __init__(self, head_dim):
        self.scale = 1.0 / np.sqrt(head_dim)


class GeneralScore(Module):
    """s = q W k^T with one (D, D) matrix per head, initialised to I / sqrt(D) (so it starts as scaled dot)."""
    fusable = False

    def __init__(self, n_head, head_dim, rng, dtype):
        W = np.eye(head_dim)[None] / np.sqrt(head_dim) + rng.normal(0, init.GPT2_STD, (n_head, head_dim, head_dim))
        self.W = Parameter(W.astype(dtype))                                 # (H, D, D)

    def forward(self, q, k):
        return (q @ self.W) @ _keys_t(k)                                    # (B, H, Tq, D) @ (B, H, D, Tk)


class CosineScore(Module):
    """s = g_h * cos(q, k) with a learned per-head gain g (init 10: cosines in [-1, 1] alone are too flat)."""
    fusable = False

    def __init__(self, n_head, dtype, eps=1e-6):
        self.g = Parameter(np.full((n_head, 1, 1), 10.0, dtype=dtype))     # (H, 1, 1)
        self.eps = eps

    def forward(self, q, k):
        qn = q * ((q * q).sum(axis=-1, keepdims=True) + self.eps) ** -0.5  # (B, H, Tq, D), unit rows
        kn = k * ((k * k).sum(axis=-1, keepdims=True) + self.eps) ** -0.5  # eps keeps the gradient finite at 0
        return (qn @ _keys_t(kn)) * self.g


class AdditiveScore(Module):
    """s_ij = v^T tanh(W_q q_i + W_k k_j): a one-hidden-layer MLP on each (query, key) pair.

    Splitting W [q; k] into W_q q + W_k k lets each side be projected once; the pairwise tensor
    (B, H, Tq, Tk, A) is still built, which makes this the costliest score (A = D here).
    """
    fusable = False

    def __init__(self, n_head, head_dim, rng, dtype):
        A = head_dim
        self.W_q = Parameter(init.normal((n_head, head_dim, A), head_dim ** -0.5, rng, dtype))   # (H, D, A)
        self.W_k = Parameter(init.normal((n_head, head_dim, A), head_dim ** -0.5, rng, dtype))
        self.v = Parameter(init.normal((n_head, 1, 1, A), A ** -0.5, rng, dtype))            # (H, 1, 1, A)

    def forward(self, q, k):
        qa = (q @ self.W_q).reshape(*q.shape[:-1], 1, self.W_q.shape[-1])   # (B, H, Tq, 1, A)
        ka = (k @ self.W_k).reshape(*k.shape[:-2], 1, k.shape[-2], self.W_k.shape[-1])   # (B, H, 1, Tk, A)
        return (F.tanh(qa + ka) * self.v).sum(axis=-1)                      # (B, H, Tq, Tk)


class LocationScore(Module):
    """s_ij = (q_i W)_j: a score per absolute key position j, computed from the query alone (keys unused).

    The model can learn "look 3 tokens back" only as "look at position t-3" for every t separately, which is
    why content-based scores replaced it. Keys are assumed to sit at positions 0..Tk-1 (Tk <= max_len).
    """
    fusable = False

    def __init__(self, n_head, head_dim, max_len, rng, dtype):
        self.W = Parameter(init.normal((n_head, head_dim, max_len), head_dim ** -0.5, rng, dtype))   # (H, D, L)

    def forward(self, q, k):
        Tk = k.shape[-2]
        if Tk > self.W.shape[-1]:
            raise ValueError(f"location score covers {self.W.shape[-1]} key positions, got {Tk}")
        return q @ self.W[:, :, :Tk]                                          # (B, H, Tq, Tk)


def build_score(name, *, n_head, head_dim, max_len, rng, dtype):
    """The score module called `name` (one of SCORES) for attention with these sizes."""
    if name == "scaled_dot":
        return ScaledDotScore(head_dim)
    if name == "dot":
        return DotScore()
    if name == "general":
        return GeneralScore(n_head, head_dim, rng, dtype)
    if name == "cosine":
        return CosineScore(n_head, dtype)
    if name == "additive":
        return AdditiveScore(n_head, head_dim, rng, dtype)
    if name == "location":
        return LocationScore(n_head, head_dim, max_len, rng, dtype)
    raise ValueError(f"score must be one of {SCORES}, got {name!r}")
