"""A bidirectional transformer encoder and BERT's masked-language-model objective (Devlin et al. 2019).

    h = Encoder(ids, pad_mask)                       every token attends to every real (non-pad) token
    BERT masking: pick 15% of the real tokens; of those 80% -> [MASK], 10% -> a random token, 10% unchanged
    loss = cross-entropy of the original token, at the picked positions only

The encoder is the zoo's block stack with causal=False: every score, position code and attention kind works.
Padding: `pad_mask` (B, T) boolean, True = a real token; padded keys are masked out of every softmax, so
nothing at a padded position can change a real position's output (tested). [MASK] is an extra embedding row
(id = vocab_size), so the output vocabulary stays the tokenizer's. Omissions: no next-sentence prediction,
no segment embeddings, and the MLM head is the tied embedding (BERT adds a dense + LayerNorm transform first).
Registered as "bert": `tinyllm train --model=bert --sample_tokens=0` trains it on any text with the usual
windows (the targets y are ignored: the input is its own target). Sampling text from it is not meaningful.
"""
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor
from tinyllm.models.positions import build_position
from tinyllm.models.zoo import ZooBlock, ZooConfig, fan_in_init
from tinyllm.nn.layers import Dropout, Embedding, LayerNorm
from tinyllm.nn.module import Module


def key_mask(pad_mask):
    """(B, T) True = real token -> (B, 1, 1, T), the key mask attention broadcasts over heads and queries."""
    pad_mask = np.asarray(pad_mask)
    if pad_mask.dtype != bool or pad_mask.ndim != 2:
        raise ValueError(f"pad_mask must be a boolean array (B, T), True = real token; got {pad_mask.dtype} "
                         f"{pad_mask.shape}")
    return pad_mask[:, None, None, :]


class Encoder(Module):
    """Token embedding (+ position code) -> n_layer bidirectional blocks -> final LayerNorm: ids -> h (B*T, C).

    The embedding table has n_extra rows beyond cfg.vocab_size for special ids ([MASK], BOS, ...)."""

    def __init__(self, cfg, rng, dropout_rng, n_extra=0):
        dtype = np.dtype(cfg.dtype)
        self.config = cfg
        self.wte = Embedding(cfg.vocab_size + n_extra, cfg.n_embd, rng=rng, dtype=dtype)
        self.pos = build_position(cfg.pos, n_embd=cfg.n_embd, n_head=cfg.n_head, block_size=cfg.block_size,
                                  rng=rng, dtype=dtype)
        # optional learned absolute table on top of a relative code (RoPE): the position an edge is at
        self.wpe = Embedding(cfg.block_size, cfg.n_embd, rng=rng, dtype=dtype) if getattr(cfg, "abs_pos", False) \
            else None
        self.drop = Dropout(cfg.dropout, rng=dropout_rng)
        self.blocks = [ZooBlock(cfg, rng, dropout_rng, causal=False) for _ in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)

    def forward(self, idx, pad_mask=None):
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        mask = None if pad_mask is None else key_mask(pad_mask)
        if mask is not None and mask.shape[-1] != T:
            raise ValueError(f"pad_mask must have shape {idx.shape}, got {np.shape(pad_mask)}")
        x = self.wte(idx)                                                     # (B, T, C)
        pe = self.pos.embed(0, T)
        if pe is not None:
            x = x + pe
        if self.wpe is not None:
            x = x + self.wpe(np.arange(T))                                    # (T, C) broadcast over B
        x = self.drop(x.reshape(B * T, self.config.n_embd))                  # (B*T, C)
        for block in self.blocks:
            x = block(x, B, T, self.pos, mask)
        return self.ln_f(x)                                                   # (B*T, C)


@dataclass
class BertConfig(ZooConfig):
    """ZooConfig for a bidirectional masked LM (default position code: learned, as BERT)."""
    mask_prob: float = 0.15        # share of real tokens the MLM objective hides and predicts

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"BertConfig.mask_prob must be in (0, 1), got {self.mask_prob!r}")


class MaskedLM(Module):
    """Encoder + tied output layer: forward(idx, pad_mask) -> logits (B, T, V); loss(batch) = BERT MLM."""

    def __init__(self, config=None, seed=0):
        cfg = BertConfig() if config is None else config
        if not isinstance(cfg, BertConfig):
            raise TypeError(f"config must be a BertConfig, got {type(cfg).__name__}")
        self.config = cfg
        self.mask_id = cfg.vocab_size                                         # the extra embedding row
        self.dropout_rng = np.random.default_rng([seed, 1])
        self.mask_rng = np.random.default_rng([seed, 2])                      # which tokens to hide
        self.encoder = Encoder(cfg, np.random.default_rng(seed), self.dropout_rng, n_extra=1)
        if cfg.init == "fan_in":
            fan_in_init(self, np.random.default_rng([seed, 4]), output_embedding=self.encoder.wte)

    def _check_ids(self, idx, what="idx", limit=None):
        idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        limit = self.config.vocab_size if limit is None else limit
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"{what} must be an integer array of shape (B, T), got {idx.dtype} {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= limit):
            raise ValueError(f"{what} must hold token ids in [0, {limit}), got min {idx.min()} and max {idx.max()}")
        return idx

    def _logits2d(self, idx, pad_mask=None):
        h = self.encoder(idx, pad_mask)                                       # (B*T, C)
        return h @ self.encoder.wte.weight[:self.config.vocab_size].T        # (B*T, V): [MASK] is never predicted

    def forward(self, idx, pad_mask=None):
        """idx (B, T) ids (the [MASK] id vocab_size allowed) -> logits (B, T, V)."""
        idx = self._check_ids(idx, limit=self.config.vocab_size + 1)
        B, T = idx.shape
        return self._logits2d(idx, pad_mask).reshape(B, T, self.config.vocab_size)

    def corrupt(self, x, pad_mask=None, rng=None):
        """BERT's corruption: (inputs, targets) with targets = -1 wherever nothing is predicted.
        In eval mode the masks come from a fixed seed, so validation losses are comparable between evals."""
        if rng is None:
            rng = self.mask_rng if self.training else np.random.default_rng(0)
        real = np.ones(x.shape, dtype=bool) if pad_mask is None else np.asarray(pad_mask, dtype=bool)
        picked = (rng.random(x.shape) < self.config.mask_prob) & real
        if real.any() and not picked.any():                                   # always predict something
            flat = np.flatnonzero(real)
            picked.flat[flat[rng.integers(len(flat))]] = True
        u = rng.random(x.shape)
        inputs = x.copy()
        inputs[picked & (u < 0.8)] = self.mask_id
        swap = picked & (u >= 0.8) & (u < 0.9)
        inputs[swap] = rng.integers(0, self.config.vocab_size, size=int(swap.sum()))
        targets = np.where(picked, x, -1)
        return inputs, targets

    def loss(self, batch, pad_mask=None):
        """MLM loss on batch = (x, y) (y is ignored) or (x,) : cross-entropy at the corrupted positions."""
        x = self._check_ids(batch[0], "x")
        if x.shape[1] > self.config.block_size:
            raise ValueError(f"sequence length {x.shape[1]} exceeds block_size {self.config.block_size}")
        inputs, targets = self.corrupt(x, pad_mask)
        return F.cross_entropy(self._logits2d(inputs, pad_mask), targets.reshape(-1), ignore_index=-1)
