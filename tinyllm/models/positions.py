"""Position codes: how attention learns *where* a token is. Self-attention alone is blind to order.

Without any position code, permuting the input tokens permutes the outputs the same way (self-attention is
permutation-equivariant; tested). The codes differ in *where* they inject position:

    none        nothing: a bag of tokens (a causal mask alone still leaks some order: token t sees t others)
    learned     x_t = wte[id_t] + wpe[t]                   a trained table, one row per position (GPT-2)
    sinusoidal  x_t = wte[id_t] + PE[t],  PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(...)  (Vaswani 2017)
    rope        q_t, k_t rotated by angle t * theta_i in each 2-D pair of channels, so that
                <R_t q, R_s k> = <q, R_(s-t) k>: scores depend only on the offset s - t (Su et al. 2021, eq. 14)
    alibi       scores_ts += -m_h * (t - s): a fixed per-head linear penalty on distance (Press et al. 2021)

Every code is a Module with the same three hooks, each an identity when the code does not use it:
    embed(start, T)     -> (T, C) added to the token embeddings, or None
    rotate(x, start)    -> x (..., T, D) with positions start..start+T-1 applied (queries and keys)
    bias(Tq, Tk, causal)-> (H, Tq, Tk) constant added to the scores, or None
"""
import numpy as np

from tinyllm.autograd.tensor import Tensor
from tinyllm.nn import init
from tinyllm.nn.layers import check_positive_int
from tinyllm.nn.module import Module, Parameter

POSITIONS = ("none", "learned", "sinusoidal", "rope", "alibi")


class NoPosition(Module):
    """No position information at all."""

    def embed(self, start, T):
        return None

    def rotate(self, x, start):
        return x

    def bias(self, Tq, Tk, causal=True):
        return None


class LearnedPositions(NoPosition):
    """wpe: a (block_size, C) trained table added to the token embeddings; cannot extrapolate past block_size."""

    def __init__(self, block_size, n_embd, rng, dtype):
        self.weight = Parameter(init.normal((block_size, n_embd), init.GPT2_STD, rng, dtype))

    def embed(self, start, T):
        return self.weight[start:start + T]                                   # (T, C)


def sinusoid_table(n_pos, dim, base=10000.0):
    """PE (n_pos, dim): even channels sin(t / base^(2i/dim)), odd channels cos(...) of the same angle."""
    t = np.arange(n_pos)[:, None]                                             # (T, 1)
    inv_freq = base ** (-np.arange(0, dim, 2) / dim)                          # (ceil(dim/2),)
    angle = t * inv_freq                                                      # (T, ceil(dim/2))
    pe = np.zeros((n_pos, dim))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, :dim // 2])
    return pe


class SinusoidalPositions(NoPosition):
    """The fixed sin/cos table of "Attention is all you need", added to the embeddings; no parameters.

    Vaswani et al. multiply unit-scale embeddings by sqrt(C) so the table (entries in [-1, 1]) does not drown
    them. Here token embeddings start at std 0.02 (GPT-2), so the table is scaled by 0.02 instead: the same
    balance. Unscaled, it swamps the tokens and the tied output layer (val 3.35 vs 2.40 in a short run).
    """

    def __init__(self, block_size, n_embd, dtype, scale=init.GPT2_STD):
        self.table = (scale * sinusoid_table(block_size, n_embd)).astype(dtype)   # (block_size, C), a constant

    def embed(self, start, T):
        return self.table[start:start + T]


class RoPE(NoPosition):
    """Rotary position embedding: channel pairs (i, i + D/2) of q and k rotate by angle t * theta_i.

        rotate(x)_t = x_t * cos(t theta) + rotate_half(x_t) * sin(t theta),  rotate_half([a, b]) = [-b, a]
        theta_i = base^(-2i/D),  i = 0 .. D/2 - 1

    A rotation by t on the query and by s on the key leaves their dot product a function of s - t only.
    """

    def __init__(self, head_dim, max_len, dtype, base=10000.0):
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension (channels rotate in pairs), got {head_dim}")
        theta = base ** (-np.arange(0, head_dim, 2) / head_dim)               # (D/2,)
        angle = np.arange(max_len)[:, None] * theta                           # (T, D/2)
        angle = np.concatenate([angle, angle], axis=1)                        # (T, D): pair i and i + D/2 share it
        self.cos, self.sin = np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)
        self.half = head_dim // 2

    def rotate(self, x, start):
        T = x.shape[-2]
        if start + T > self.cos.shape[0]:
            raise ValueError(f"RoPE table covers {self.cos.shape[0]} positions, asked for {start + T}")
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]       # (T, D)
        if isinstance(x, Tensor):
            import tinyllm.functional as F
            rotated = F.concat([-x[..., self.half:], x[..., :self.half]], axis=-1)
        else:
            rotated = np.concatenate([-x[..., self.half:], x[..., :self.half]], axis=-1)
        return x * cos + rotated * sin                                        # (..., T, D)


def alibi_slopes(n_head):
    """m_h = 2^(-8h/H) for h = 1..H: a geometric sequence, so heads range from local to nearly global."""
    check_positive_int("n_head", n_head)
    return 2.0 ** (-8.0 * np.arange(1, n_head + 1) / n_head)


class ALiBi(NoPosition):
    """Attention with linear biases: no embedding, only -m_h * distance added to every score."""

    def __init__(self, n_head, dtype):
        self.slopes = alibi_slopes(n_head).astype(dtype)                     # (H,)

    def bias(self, Tq, Tk, causal=True):
        """(H, Tq, Tk): query i sits at key position i + Tk - Tq (the queries are the newest tokens)."""
        i = np.arange(Tk - Tq, Tk)[:, None]
        j = np.arange(Tk)[None, :]
        dist = np.abs(i - j) if not causal else np.maximum(i - j, 0)          # future keys are masked anyway
        return -self.slopes[:, None, None] * dist                            # (H, Tq, Tk)


def build_position(name, *, n_embd, n_head, block_size, rng, dtype):
    """The position code called `name` (one of POSITIONS) for a model of these sizes."""
    if name == "none":
        return NoPosition()
    if name == "learned":
        return LearnedPositions(block_size, n_embd, rng, dtype)
    if name == "sinusoidal":
        return SinusoidalPositions(block_size, n_embd, dtype)
    if name == "rope":
        return RoPE(n_embd // n_head, block_size, dtype)
    if name == "alibi":
        return ALiBi(n_head, dtype)
    raise ValueError(f"pos must be one of {POSITIONS}, got {name!r}")
