"""GPT: a decoder-only transformer with learned positions and pre-LN blocks (Radford et al. 2019, "GPT-2").

    x = wte[idx] + wpe[0..T-1]                     (B, T, C), then flattened to (B*T, C)
    for each block:  x = x + attn(ln_1(x))         causal multi-head self-attention
                     x = x + mlp(ln_2(x))          Linear(C, 4C) -> GELU -> Linear(4C, C)
    logits = ln_f(x) W_out                          (B, T, V); W_out = wte^T when embeddings are tied

The residual stream stays 2-D (B*T, C) between blocks, so every Linear is a single matmul; only attention
reshapes to heads. Every trainable model exposes forward(idx) -> logits and loss(batch) -> scalar, which is all
the trainer needs; new_cache() adds fast incremental decoding for the sampler.

Under no_grad (sampling, evaluation) the same equations run on plain ndarrays (`forward_arrays`, calling the
same kernels), because at one token per step the Tensor wrappers would cost more than the arithmetic.
"""
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor, is_grad_enabled
from tinyllm.models.attention import ATTN_IMPLS, CausalSelfAttention, KVCache
from tinyllm.nn import init
from tinyllm.nn.layers import MLP, Dropout, Embedding, LayerNorm, Linear
from tinyllm.nn.module import Module

DTYPES = ("float32", "float64")


@dataclass
class GPTConfig:
    """Hyper-parameters of GPT. Defaults are the CPU "baby GPT" (804,096 parameters for 65 characters)."""
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64          # longest context the model ever sees (number of learned positions)
    vocab_size: int = 65
    dropout: float = 0.0          # on embeddings and on each residual branch (training mode only)
    bias: bool = False            # biases in Linear and LayerNorm
    tie_embeddings: bool = True   # output projection = token embedding transposed (saves V*C parameters)
    attn_impl: str = "fused"      # "fused" (Numba kernel) or "naive" (matmul + mask + softmax), tested equal
    dtype: str = "float32"        # "float64" for gradient checks and exact-equality tests

    def __post_init__(self):
        for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("bias", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GPTConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.attn_impl not in ATTN_IMPLS:
            raise ValueError(f"GPTConfig.attn_impl must be one of {ATTN_IMPLS}, got {self.attn_impl!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"GPTConfig.dtype must be one of {DTYPES}, got {self.dtype!r}")


class Block(Module):
    """One pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, cfg, rng, dropout_rng):
        dtype, proj_std = np.dtype(cfg.dtype), init.residual_std(cfg.n_layer)
        self.ln_1 = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        self.attn = CausalSelfAttention(cfg.n_embd, cfg.n_head, bias=cfg.bias, dropout=cfg.dropout,
                                        attn_impl=cfg.attn_impl, proj_std=proj_std, rng=rng,
                                        dropout_rng=dropout_rng, dtype=dtype)
        self.ln_2 = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        self.mlp = MLP(cfg.n_embd, bias=cfg.bias, dropout=cfg.dropout, proj_std=proj_std, rng=rng,
                       dropout_rng=dropout_rng, dtype=dtype)

    def forward(self, x, B, T, cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), B, T, cache, layer)     # (B*T, C)
        return x + self.mlp(self.ln_2(x))

    def forward_arrays(self, x, B, T, cache=None, layer=0):
        x = x + self.attn.forward_arrays(self.ln_1.forward_arrays(x), B, T, cache, layer)
        return x + self.mlp.forward_arrays(self.ln_2.forward_arrays(x))


class GPT(Module):
    """The model. GPT(config, seed) draws its weights from `seed`; dropout masks come from a Generator seeded
    from the same seed and owned by the model (saved by rng_state() for exact resumes)."""

    # The loss is the mean over all B*T tokens, so a batch may be split into shards trained on threads of their
    # own (training/data_parallel.py): the full gradient is the row-weighted mean of the shards' gradients.
    data_parallel_ok = True

    def __init__(self, config=None, seed=0):
        cfg = GPTConfig() if config is None else config
        if not isinstance(cfg, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(cfg).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.config = cfg
        rng = np.random.default_rng(seed)
        self.dropout_rng = np.random.default_rng([seed, 1])    # independent stream, same seed
        dtype = np.dtype(cfg.dtype)
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd, rng=rng, dtype=dtype)
        self.wpe = Embedding(cfg.block_size, cfg.n_embd, rng=rng, dtype=dtype)
        self.drop = Dropout(cfg.dropout, rng=self.dropout_rng)
        self.blocks = [Block(cfg, rng, self.dropout_rng) for _ in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        self.lm_head = None if cfg.tie_embeddings else Linear(cfg.n_embd, cfg.vocab_size, bias=False, rng=rng,
                                                              dtype=dtype)

    def _check_ids(self, idx, what="idx"):
        idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"{what} must be an integer array of shape (B, T), got {idx.dtype} {idx.shape}")
        V = self.config.vocab_size
        if idx.size and (idx.min() < 0 or idx.max() >= V):
            raise ValueError(f"{what} must hold token ids in [0, {V}), got min {idx.min()} and max {idx.max()}")
        return idx

    def _lean(self):
        """True when forward may take the plain-array path: no graph recorded, no dropout, fused attention."""
        return (not is_grad_enabled() and (not self.training or self.config.dropout == 0.0)
                and self.config.attn_impl == "fused")

    def _logits2d(self, idx, cache=None):
        """idx (B, T) -> logits (B*T, V) for positions start..start+T-1 (start = cache.pos, or 0)."""
        if self._lean():
            return Tensor(self._logits2d_arrays(idx, cache))
        return self._head(self._hidden2d(idx, cache))

    def _hidden2d(self, idx, cache=None):
        """idx (B, T) -> the final-norm hidden states (B*T, C) that the output projection reads."""
        B, T = idx.shape
        start = 0 if cache is None else cache.pos
        x = self.wte(idx) + self.wpe(np.arange(start, start + T))            # (B, T, C) + (T, C)
        x = self.drop(x.reshape(B * T, self.config.n_embd))                  # (B*T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, B, T, cache, layer)
        return self.ln_f(x)

    def _head(self, x):
        """Hidden states (N, C) -> logits (N, V): the tied embedding (or lm_head) as the output projection."""
        w_out = self.wte.weight.T if self.lm_head is None else self.lm_head.weight   # (C, V)
        return x @ w_out

    def _logits2d_arrays(self, idx, cache=None):
        """_logits2d on plain ndarrays calling the same kernels: what sampling and evaluation run under no_grad,
        where Tensor bookkeeping would cost more than the arithmetic at one token per step (tested equal)."""
        return self._hidden2d_arrays(idx, cache) @ self.output_weight()                 # (B*T, V)

    def _hidden2d_arrays(self, idx, cache=None):
        """_hidden2d on plain ndarrays: the final-norm hidden states (B*T, C)."""
        B, T = idx.shape
        start = 0 if cache is None else cache.pos
        x = self.wte.weight.data[idx] + self.wpe.weight.data[start:start + T]   # (B, T, C)
        x = x.reshape(B * T, self.config.n_embd)
        for layer, block in enumerate(self.blocks):
            x = block.forward_arrays(x, B, T, cache, layer)
        return self.ln_f.forward_arrays(x)

    def output_weight(self):
        """The output projection (C, V) as an ndarray: the tied embedding's transpose, or lm_head's weight."""
        return self.wte.weight.data.T if self.lm_head is None else self.lm_head.weight.data

    def forward(self, idx, cache=None):
        """idx (B, T) int -> logits Tensor (B, T, V).

        With a cache (from new_cache) only the new tokens are passed: their logits come back and their keys and
        values are appended. When the window of block_size positions would overflow, the cache is rebuilt from the
        last `cache.keep` tokens plus the new ones: one full forward over that shorter window, after which cheap
        steps resume. (Learned absolute positions make sliding a cache impossible without recomputation; rebuilding
        at half the window costs one block-sized forward every block_size/2 tokens.) The cache is for inference:
        no gradient flows into keys and values cached by earlier calls.
        """
        idx = self._check_ids(idx)
        B, T = idx.shape
        if cache is None:
            if T > self.config.block_size:
                raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}; "
                                 f"crop idx to its last {self.config.block_size} tokens")
            return self._logits2d(idx).reshape(B, T, self.config.vocab_size)
        return forward_cached(self, idx, cache)

    def new_cache(self, batch, keep=None):
        """An empty KVCache for `batch` sequences; `keep` tokens survive a rebuild (default block_size // 2)."""
        c = self.config
        return KVCache(c.n_layer, batch, c.n_head, c.n_embd // c.n_head, c.block_size, self.wte.weight.dtype, keep)

    def loss(self, batch):
        """Mean next-token cross-entropy (nats) of batch = (x, y), both int arrays (B, T)."""
        x, y = batch
        x = self._check_ids(x, "x")
        y = self._check_ids(y, "y")
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        if x.shape[1] > self.config.block_size:
            raise ValueError(f"sequence length {x.shape[1]} exceeds block_size {self.config.block_size}")
        return F.cross_entropy(self._logits2d(x), y.reshape(-1))


def forward_cached(model, idx, cache):
    """Logits (B, T, V) for new ids (B, T) appended to `cache`, rebuilding the window on overflow (see
    GPT.forward). Shared by every model with `_logits2d(idx, cache)` and a cache with ids/pos/keep/reset."""
    B, T = idx.shape
    if cache.batch != B:
        raise ValueError(f"cache was made for batch {cache.batch}, got idx with batch {B}")
    if T > model.config.block_size:
        raise ValueError(f"cannot feed {T} tokens at once (block_size {model.config.block_size})")
    if cache.pos + T > cache.block_size:
        n_keep = min(cache.keep, cache.block_size - T)
        idx = np.concatenate([cache.ids[:, cache.pos - n_keep:cache.pos], idx], axis=1)  # (B, n_keep + T)
        cache.reset()
        return forward_cached(model, idx, cache)[:, n_keep:]
    logits = model._logits2d(idx, cache).reshape(B, T, model.config.vocab_size)
    cache.ids[:, cache.pos:cache.pos + T] = idx
    cache.pos += T
    return logits
