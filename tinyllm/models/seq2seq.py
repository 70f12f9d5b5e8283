"""An encoder-decoder transformer (T5-style: Raffel et al. 2020) and a toy seq2seq task to train it on.

    h      = Encoder(src, src_pad)                            bidirectional, padded keys masked (encoder.py)
    for each decoder block:
        y  = y + self_attn(ln_1(y))                           causal, with the configured position code
        y  = y + cross_attn(ln_x(y), memory=h, mask=src_pad)   queries from the decoder, keys/values from h
        y  = y + mlp(ln_2(y))
    logits = ln_f(y) wte^T                                    one embedding table shared by encoder, decoder, output

Training is teacher forcing: the decoder reads target[:-1] and predicts target[1:], ignoring PAD. Generation is
greedy and recomputes the decoder over the prefix each step (the encoder runs once); targets here are short.
Differences from T5: T5 uses relative position *buckets* as a score bias; here any code of positions.py works
(default learned), and layer norms keep their mean subtraction.

The task (`reverse_batch`): reverse a random string of symbols, e.g. "cab" -> "bac". The decoder must find, at
output step t, the source token t places from the end, which it can only do through cross-attention.
"""
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import no_grad
from tinyllm.models.encoder import Encoder, key_mask
from tinyllm.models.positions import build_position
from tinyllm.models.zoo import ZooBlock, ZooConfig, fan_in_init
from tinyllm.nn.layers import Dropout, LayerNorm, check_positive_int
from tinyllm.nn.module import Module

PAD, BOS, EOS = 0, 1, 2          # special ids of the toy task; symbols are 3 .. vocab_size-1


@dataclass
class Seq2SeqConfig(ZooConfig):
    """ZooConfig for both stacks (n_layer each); block_size bounds source and target lengths."""
    pad_id: int = PAD              # ignored by the loss and masked out of the encoder's keys


class EncoderDecoder(Module):
    """forward(src, tgt_in) -> logits (B, Tt, V); loss((src, tgt)); generate(src, max_len, bos, eos)."""

    def __init__(self, config=None, seed=0):
        cfg = Seq2SeqConfig() if config is None else config
        if not isinstance(cfg, Seq2SeqConfig):
            raise TypeError(f"config must be a Seq2SeqConfig, got {type(cfg).__name__}")
        if cfg.attention == "linear":
            raise ValueError("Seq2SeqConfig.attention='linear' is not supported: cross-attention here is softmax")
        self.config = cfg
        rng = np.random.default_rng(seed)
        self.dropout_rng = np.random.default_rng([seed, 1])
        dtype = np.dtype(cfg.dtype)
        self.encoder = Encoder(cfg, rng, self.dropout_rng)
        self.pos = build_position(cfg.pos, n_embd=cfg.n_embd, n_head=cfg.n_head, block_size=cfg.block_size,
                                  rng=rng, dtype=dtype)
        self.drop = Dropout(cfg.dropout, rng=self.dropout_rng)
        self.blocks = [ZooBlock(cfg, rng, self.dropout_rng, causal=True, cross=True) for _ in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.n_embd, bias=cfg.bias, dtype=dtype)
        if cfg.init == "fan_in":
            fan_in_init(self, rng, output_embedding=self.encoder.wte)     # the output layer is the tied table

    def _check(self, ids, what):
        ids = np.asarray(ids)
        V, bs = self.config.vocab_size, self.config.block_size
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"{what} must be an integer array (B, T), got {ids.dtype} {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"{what} must hold ids in [0, {V}), got min {ids.min()} and max {ids.max()}")
        if ids.shape[1] > bs:
            raise ValueError(f"{what} has length {ids.shape[1]} > block_size {bs}")
        return ids

    def encode(self, src):
        """src (B, Ts) -> (memory (B*Ts, C), src pad mask (B, Ts))."""
        src = self._check(src, "src")
        pad = src != self.config.pad_id                                       # True = real token
        return self.encoder(src, pad), pad

    def decode(self, tgt_in, memory, src_pad):
        """Teacher-forced decoder: tgt_in (B, Tt) -> logits (B*Tt, V)."""
        B, T = tgt_in.shape
        x = self.encoder.wte(tgt_in)                                          # (B, Tt, C): shared table
        pe = self.pos.embed(0, T)
        if pe is not None:
            x = x + pe
        x = self.drop(x.reshape(B * T, self.config.n_embd))
        mem_mask = key_mask(src_pad)                                          # (B, 1, 1, Ts)
        for block in self.blocks:
            x = block(x, B, T, self.pos, memory=memory, memory_mask=mem_mask)
        return self.ln_f(x) @ self.encoder.wte.weight.T                      # (B*Tt, V)

    def forward(self, src, tgt_in):
        tgt_in = self._check(tgt_in, "tgt_in")
        memory, pad = self.encode(src)
        return self.decode(tgt_in, memory, pad).reshape(*tgt_in.shape, self.config.vocab_size)

    def loss(self, batch):
        """batch = (src (B, Ts), tgt (B, Tt)) with tgt = [BOS, y_1 .. y_n, EOS, PAD ..]: mean NLL of tgt[1:]."""
        src, tgt = batch
        tgt = self._check(tgt, "tgt")
        memory, pad = self.encode(src)
        logits = self.decode(tgt[:, :-1], memory, pad)                        # (B*(Tt-1), V)
        return F.cross_entropy(logits, tgt[:, 1:].reshape(-1), ignore_index=self.config.pad_id)

    def generate(self, src, max_len, bos=BOS, eos=EOS):
        """Greedy decoding: (B, <= max_len) ids after BOS, PAD after each row's EOS."""
        check_positive_int("max_len", max_len)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                memory, pad = self.encode(src)
                B = memory.shape[0] // np.asarray(src).shape[1]
                out = np.full((B, 1), bos, dtype=np.int64)
                done = np.zeros(B, dtype=bool)
                for _ in range(min(max_len, self.config.block_size - 1)):
                    logits = self.decode(out, memory, pad).data.reshape(B, out.shape[1], -1)
                    nxt = np.where(done, self.config.pad_id, logits[:, -1].argmax(-1))
                    out = np.concatenate([out, nxt[:, None]], axis=1)
                    done |= nxt == eos
                    if done.all():
                        break
        finally:
            if was_training:
                self.train()
        return out[:, 1:]


def reverse_batch(rng, batch, n_symbols, min_len=1, max_len=8):
    """(src, tgt) for the reversal task: src = symbols then PAD, tgt = [BOS, reversed symbols, EOS, PAD ..].
    Symbol ids are 3 .. 3 + n_symbols - 1; src is (B, max_len), tgt (B, max_len + 2)."""
    check_positive_int("n_symbols", n_symbols)
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    lengths = rng.integers(min_len, max_len + 1, size=batch)
    src = np.full((batch, max_len), PAD, dtype=np.int64)
    tgt = np.full((batch, max_len + 2), PAD, dtype=np.int64)
    tgt[:, 0] = BOS
    for b, n in enumerate(lengths):
        s = rng.integers(3, 3 + n_symbols, size=n)
        src[b, :n] = s
        tgt[b, 1:n + 1] = s[::-1]
        tgt[b, n + 1] = EOS
    return src, tgt


def exact_match(model, src, tgt):
    """Share of rows whose greedy output equals the target exactly (up to and including EOS)."""
    want = tgt[:, 1:]
    got = model.generate(src, want.shape[1])
    got = np.pad(got, ((0, 0), (0, want.shape[1] - got.shape[1])), constant_values=PAD)
    return float(np.mean(np.all(got == want, axis=1)))
