"""gpt_zoo: the GPT of gpt.py with every attention piece chosen in the config, so each claim can be measured.

    tinyllm train --model=gpt_zoo --model.pos=rope                  # RoPE instead of learned positions
    tinyllm train --model=gpt_zoo --model.score=additive --model.pos=alibi
    tinyllm train --model=gpt_zoo --model.attention=linear --model.mlp=moe --model.n_expert=4

    x = wte[idx] (+ pos.embed)                      (B, T, C), flattened to (B*T, C)
    for each block:  x = x + attn(ln_1(x))          MultiHeadAttention(score, pos, kind): zoo_attention.py
                     x = x + mlp(ln_2(x))           dense MLP, or a mixture of experts (moe.py)
    logits = ln_f(x) W_out                          (B, T, V)
    loss   = cross_entropy + aux_loss_weight * sum of the MoE layers' load-balancing losses

With score="scaled_dot", pos="learned", attention="softmax", mlp="dense" it computes exactly what GPT computes
(tested on shared weights). ZooBlock is reused by the encoder (encoder.py) and the encoder-decoder (seq2seq.py).
"""
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.models.gpt import GPT, GPTConfig, forward_cached
from tinyllm.models.moe import MoE
from tinyllm.models.positions import POSITIONS, build_position
from tinyllm.models.scores import SCORES
from tinyllm.models.zoo_attention import KINDS, MultiHeadAttention
from tinyllm.nn import init
from tinyllm.nn.layers import MLP, Dropout, Embedding, LayerNorm, Linear, check_positive_int
from tinyllm.nn.module import Module

MLPS = ("dense", "moe")
INITS = ("gpt2", "fan_in")


@dataclass
class ZooConfig(GPTConfig):
    """GPTConfig plus the swappable pieces. Defaults reproduce GPT exactly."""
    score: str = "scaled_dot"      # scaled_dot | dot | general | cosine | additive | location (scores.py)
    pos: str = "learned"           # learned | sinusoidal | rope | alibi | none (positions.py)
    attention: str = "softmax"     # softmax | linear | local
    window: int = 16               # keys each query sees when attention=local (itself included)
    mlp: str = "dense"             # dense | moe
    n_expert: int = 4              # experts per MoE layer
    top_k: int = 1                 # experts per token
    expert_hidden: int = 0         # hidden width of an expert (0 = 4*n_embd/n_expert: same parameters as dense)
    capacity_factor: float = 1.25  # an expert takes at most ceil(factor * N * top_k / n_expert) tokens
    aux_loss_weight: float = 0.01  # weight of the load-balancing loss
    init: str = "gpt2"             # gpt2: N(0, 0.02^2) (see nn/init.py) | fan_in: PyTorch's layer defaults (fan_in_init)

    def __post_init__(self):
        super().__post_init__()
        for name, allowed in (("score", SCORES), ("pos", POSITIONS), ("attention", KINDS), ("mlp", MLPS),
                              ("init", INITS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{type(self).__name__}.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("window", "n_expert", "top_k"):
            check_positive_int(f"{type(self).__name__}.{name}", getattr(self, name))
        if self.attention == "linear" and self.score != "scaled_dot":
            raise ValueError(f"{type(self).__name__}.score is unused by attention='linear' (a feature map replaces "
                             f"the softmax of scores); leave score='scaled_dot', got {self.score!r}")
        if self.top_k > self.n_expert:
            raise ValueError(f"{type(self).__name__}.top_k ({self.top_k}) must be <= n_expert ({self.n_expert})")
        if self.expert_hidden < 0:
            raise ValueError(f"{type(self).__name__}.expert_hidden must be >= 0, got {self.expert_hidden}")
        if not self.capacity_factor > 0:
            raise ValueError(f"{type(self).__name__}.capacity_factor must be > 0, got {self.capacity_factor}")
        if self.aux_loss_weight < 0:
            raise ValueError(f"{type(self).__name__}.aux_loss_weight must be >= 0, got {self.aux_loss_weight}")
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos='rope' needs an even head dimension, got n_embd/n_head = "
                             f"{self.n_embd // self.n_head}")


class ZooBlock(Module):
    """Pre-LN block: x + attn(ln_1(x)) [+ cross_attn(ln_x(x), memory)] then + mlp(ln_2(x))."""

    def __init__(self, cfg, rng, dropout_rng, causal=True, cross=False):
        dtype, proj_std = np.dtype(cfg.dtype), init.residual_std(cfg.n_layer)
        common = dict(attn_impl=cfg.attn_impl, max_len=cfg.block_size, bias=cfg.bias, dropout=cfg.dropout,
                      proj_std=proj_std, rng=rng, dropout_rng=dropout_rng, dtype=dtype)
        self.ln_1 = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        self.attn = MultiHeadAttention(cfg.n_embd, cfg.n_head, score=cfg.score, kind=cfg.attention,
                                       window=cfg.window, causal=causal, **common)
        self.ln_2 = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        if cfg.mlp == "moe":
            self.mlp = MoE(cfg.n_embd, cfg.n_expert, cfg.top_k, cfg.expert_hidden or None, cfg.capacity_factor,
                           bias=cfg.bias, dropout=cfg.dropout, proj_std=proj_std, rng=rng,
                           dropout_rng=dropout_rng, dtype=dtype)
        else:
            self.mlp = MLP(cfg.n_embd, bias=cfg.bias, dropout=cfg.dropout, proj_std=proj_std, rng=rng,
                           dropout_rng=dropout_rng, dtype=dtype)
        self.cross = cross
        if cross:   # cross-attention: softmax with the same score, no position code, never causal
            self.ln_x = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
            self.xattn = MultiHeadAttention(cfg.n_embd, cfg.n_head, score=cfg.score, causal=False, cross=True,
                                            **common)

    def forward(self, x, B, T, pos=None, key_mask=None, state=None, start=0, memory=None, memory_mask=None):
        x = x + self.attn(self.ln_1(x), B, T, pos, key_mask, state, start)                   # (B*T, C)
        if self.cross:
            x = x + self.xattn(self.ln_x(x), B, T, key_mask=memory_mask, memory=memory)
        return x + self.mlp(self.ln_2(x))

    def aux_loss(self):
        return self.mlp.aux_loss if isinstance(self.mlp, MoE) else None


def fan_in_init(model, rng, output_embedding=None):
    """Redraw `model`'s weights as PyTorch's layers initialise themselves, instead of GPT-2's N(0, 0.02^2).

    Every Linear (weight and bias) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_features (nn.Linear's
    default); `output_embedding`, the token table a tied model also uses as its output layer Linear(C, V), gets
    fan_in = C; any other embedding table (token or learned position) ~ N(0, 1) (nn.Embedding's default). Norm gains stay 1. At C = 128 that is a
    std of 0.051 for most matrices instead of 0.02, without GPT-2's 1/sqrt(2 n_layer) shrink. On the baby recipe
    with RoPE it trains faster (scripts/parity_torch.py; README, attention section).
    """
    for _, mod in model.named_modules():
        if isinstance(mod, Linear):
            bound = mod.in_features ** -0.5
            for p in (mod.weight, mod.bias):
                if p is not None:
                    p.data[...] = rng.uniform(-bound, bound, p.data.shape)
        elif isinstance(mod, Embedding):
            if mod is output_embedding:
                bound = mod.embedding_dim ** -0.5                             # the output layer Linear(C, V)
                mod.weight.data[...] = rng.uniform(-bound, bound, mod.weight.data.shape)
            else:
                mod.weight.data[...] = rng.standard_normal(mod.weight.data.shape)
        elif getattr(mod, "weight", None) is not None and "Positions" in type(mod).__name__:
            mod.weight.data[...] = rng.standard_normal(mod.weight.data.shape)   # learned positions (B, C) table


class ZooCache:
    """Per-layer inference state (keys/values, or linear attention's (S, z)) plus the tokens fed so far.

    Same contract as the KVCache of attention.py (batch, pos, ids, keep, reset, reorder), so the sampler and
    beam search use it unchanged; like GPT, the model rebuilds it from `ids` when block_size would overflow.
    """

    def __init__(self, n_layer, batch, block_size, keep=None):
        check_positive_int("batch", batch)
        keep = block_size // 2 if keep is None else keep
        if not 0 <= keep < block_size:
            raise ValueError(f"keep must be in [0, block_size={block_size}), got {keep}")
        self.layers = [dict() for _ in range(n_layer)]
        self.ids = np.zeros((batch, block_size), dtype=np.int64)
        self.pos, self.keep, self.block_size = 0, keep, block_size

    @property
    def batch(self):
        return self.ids.shape[0]

    def reset(self):
        self.pos = 0
        self.layers = [dict() for _ in self.layers]

    def reorder(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape != (self.batch,):
            raise ValueError(f"reorder expects {self.batch} row indices, got shape {rows.shape}")
        for state in self.layers:
            for key, value in state.items():
                if isinstance(value, np.ndarray):
                    state[key] = value[rows]
                else:
                    value.reorder(rows)
        self.ids = self.ids[rows]


class ZooGPT(Module):
    """The decoder-only model with swappable pieces; same interface as GPT (forward, loss, new_cache)."""

    @property
    def data_parallel_ok(self):
        """Batch shards on threads (training/data_parallel.py) need a loss that is a mean over tokens: not with
        MoE, whose balancing loss and expert capacities depend on the whole batch."""
        return self.config.mlp == "dense"

    def __init__(self, config=None, seed=0):
        cfg = ZooConfig() if config is None else config
        if not isinstance(cfg, ZooConfig):
            raise TypeError(f"config must be a ZooConfig, got {type(cfg).__name__}")
        self.config = cfg
        rng = np.random.default_rng(seed)
        self.dropout_rng = np.random.default_rng([seed, 1])
        dtype = np.dtype(cfg.dtype)
        self.wte = Embedding(cfg.vocab_size, cfg.n_embd, rng=rng, dtype=dtype)
        self.pos = build_position(cfg.pos, n_embd=cfg.n_embd, n_head=cfg.n_head, block_size=cfg.block_size,
                                  rng=rng, dtype=dtype)
        self.drop = Dropout(cfg.dropout, rng=self.dropout_rng)
        self.blocks = [ZooBlock(cfg, rng, self.dropout_rng) for _ in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        self.lm_head = None if cfg.tie_embeddings else Linear(cfg.n_embd, cfg.vocab_size, bias=False, rng=rng,
                                                              dtype=dtype)
        if cfg.init == "fan_in":
            fan_in_init(self, rng, output_embedding=self.wte if self.lm_head is None else None)

    _check_ids = GPT._check_ids   # the same (B, T) integer-id check as the GPT's

    def _logits2d(self, idx, cache=None):
        """idx (B, T) -> logits (B*T, V) for positions start..start+T-1 (start = cache.pos, or 0)."""
        B, T = idx.shape
        start = 0 if cache is None else cache.pos
        x = self.wte(idx)                                                     # (B, T, C)
        pe = self.pos.embed(start, T)
        if pe is not None:
            x = x + pe                                                        # + (T, C)
        x = self.drop(x.reshape(B * T, self.config.n_embd))                  # (B*T, C)
        for layer, block in enumerate(self.blocks):
            state = None if cache is None else cache.layers[layer]
            x = block(x, B, T, self.pos, None, state, start)
        x = self.ln_f(x)
        w_out = self.wte.weight.T if self.lm_head is None else self.lm_head.weight   # (C, V)
        return x @ w_out                                                       # (B*T, V)

    def forward(self, idx, cache=None):
        """idx (B, T) int -> logits Tensor (B, T, V); with a cache, as GPT.forward (rebuilds on overflow)."""
        idx = self._check_ids(idx)
        B, T = idx.shape
        bs = self.config.block_size
        if T > bs:
            raise ValueError(f"sequence length {T} exceeds block_size {bs}; crop idx to its last {bs} tokens")
        if cache is None:
            return self._logits2d(idx).reshape(B, T, self.config.vocab_size)
        return forward_cached(self, idx, cache)

    def new_cache(self, batch, keep=None):
        return ZooCache(self.config.n_layer, batch, self.config.block_size, keep)

    def aux_loss(self):
        """Sum of the MoE layers' load-balancing losses from the last forward (None without MoE)."""
        losses = [b.aux_loss() for b in self.blocks if b.aux_loss() is not None]
        return None if not losses else sum(losses[1:], losses[0])

    def expert_utilisation(self):
        """Per MoE layer, the share of the last batch's tokens each expert processed."""
        return [b.mlp.utilisation() for b in self.blocks if isinstance(b.mlp, MoE)]

    def attention_maps(self, idx):
        """Attention probabilities (n_layer, B, H, T, T) for idx, through the naive path (recorded)."""
        from tinyllm.autograd.tensor import no_grad
        if self.config.attention == "linear":
            raise ValueError("linear attention never forms attention probabilities, so it has no maps to draw")
        for b in self.blocks:
            b.attn.record = True
        try:
            with no_grad():
                self.forward(idx)
            return np.stack([b.attn.last_probs for b in self.blocks])
        finally:
            for b in self.blocks:
                b.attn.record = False

    def loss(self, batch):
        """Mean next-token cross-entropy of batch = (x, y), plus the weighted MoE balancing loss."""
        x, y = batch
        x, y = self._check_ids(x, "x"), self._check_ids(y, "y")
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        if x.shape[1] > self.config.block_size:
            raise ValueError(f"sequence length {x.shape[1]} exceeds block_size {self.config.block_size}")
        loss = F.cross_entropy(self._logits2d(x), y.reshape(-1))
        aux = self.aux_loss()
        if aux is not None and self.config.aux_loss_weight > 0:
            loss = loss + aux * self.config.aux_loss_weight
        return loss
