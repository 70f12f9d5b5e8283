"""Parameter and FLOP counts of the GPT (tinyllm/models/gpt.py), by hand from its shapes (Kaplan et al. 2020, Table 1).

Per token, a Linear with an (in, out) weight costs 2·in·out FLOPs forward (one multiply + one add per weight),
and the backward costs twice that (one matmul for the input's gradient, one for the weight's), so training
costs 3x the forward. With N the non-embedding parameters, T the context and C the width:

    forward per token   = 2·N_mm  +  4·L·T·C  +  2·C·V
                          (Linears)  (q k^T and att v over all T keys)  (the logits)
    training per token  = 3 · forward   ≈ 6·N  when T and V are small next to 12·C  (the "C = 6·N·D" rule)

N_mm = 12·L·C² counts the weights that go through matmuls (q, k, v, out projection, the 4C MLP); norms and
biases are O(C) per layer and ignored, as Kaplan does. The attention term counts the full T x T score matrix
the naive path computes (the fused kernel skips the masked half, so it does about half of that term).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamCount:
    """Parameters of a GPT, split the way scaling-law papers report them."""
    total: int           # everything model.num_parameters() counts
    embedding: int       # token table (+ untied head) + position table
    non_embedding: int   # total - embedding: Kaplan's N


def _check_shape(n_layer, n_embd, vocab_size, block_size):
    for name, value in (("n_layer", n_layer), ("n_embd", n_embd), ("vocab_size", vocab_size),
                        ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def gpt_params(n_layer, n_embd, vocab_size, block_size, bias=False, tie_embeddings=True):
    """ParamCount of GPT(GPTConfig(...)) with these shapes, counted from the layer list (tested equal)."""
    _check_shape(n_layer, n_embd, vocab_size, block_size)
    C = n_embd
    b = 1 if bias else 0
    per_layer = (C + b * C)                     # ln_1 weight (+ bias)
    per_layer += 3 * C * C + b * 3 * C          # qkv projection
    per_layer += C * C + b * C                  # attention output projection
    per_layer += C + b * C                      # ln_2
    per_layer += 4 * C * C + b * 4 * C          # mlp fc: C -> 4C
    per_layer += 4 * C * C + b * C              # mlp proj: 4C -> C
    embedding = vocab_size * C + block_size * C + (0 if tie_embeddings else vocab_size * C)
    non_embedding = n_layer * per_layer + C + b * C   # + ln_f
    return ParamCount(total=embedding + non_embedding, embedding=embedding, non_embedding=non_embedding)


def matmul_params(n_layer, n_embd):
    """N_mm = 12·L·C²: the weights every token multiplies through (the N of C = 6·N·D)."""
    return 12 * n_layer * n_embd * n_embd


@dataclass(frozen=True)
class FlopCount:
    """FLOPs per token of a GPT at context T (counting a multiply-add as 2 FLOPs)."""
    linear: int      # 2·N_mm: every Linear in the blocks
    attention: int   # 4·L·T·C: q k^T and att v, full T x T
    logits: int      # 2·C·V: the output projection
    forward: int     # the sum of the three
    train: int       # 3 · forward (backward = 2 matmuls per forward matmul)
    six_n: int       # 6·N_mm: the usual approximation of train


def gpt_flops_per_token(n_layer, n_embd, vocab_size, block_size):
    """FlopCount for one token of a (B, T=block_size) batch; checked against the matmuls the engine runs."""
    _check_shape(n_layer, n_embd, vocab_size, block_size)
    L, C, V, T = n_layer, n_embd, vocab_size, block_size
    linear = 2 * matmul_params(L, C)
    attention = 4 * L * T * C
    logits = 2 * C * V
    forward = linear + attention + logits
    return FlopCount(linear=linear, attention=attention, logits=logits, forward=forward, train=3 * forward,
                     six_n=6 * matmul_params(L, C))


def training_flops(n_layer, n_embd, vocab_size, block_size, tokens):
    """Total training compute C = (train FLOPs per token) · D for D = `tokens` training tokens."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be an integer >= 0, got {tokens!r}")
    return gpt_flops_per_token(n_layer, n_embd, vocab_size, block_size).train * tokens
