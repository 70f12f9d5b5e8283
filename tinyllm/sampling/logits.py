"""Composable transforms of a next-token distribution, shared by neural and n-gram models.

Everything works on plain NumPy rows of logits (..., V) (log-probabilities are logits too). Removed tokens get
-inf, so a later softmax gives them exactly zero probability. Determinism comes from the seeded `rng` (or from
greedy decoding), never from temperature 1.0.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class SamplingConfig:
    """How to pick the next token. temperature=0 means greedy (argmax)."""
    temperature: float = 1.0
    top_k: int = 0            # keep the k most likely tokens; 0 = off
    top_p: float = 1.0        # keep the smallest set whose probability reaches p; 1.0 = off
    repetition_penalty: float = 1.0  # > 1 discourages tokens already generated (CTRL-style); 1.0 = off
    seed: int | None = None

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


def apply_temperature(logits, temperature):
    """logits / temperature (temperature > 0)."""
    return logits / temperature


def apply_top_k(logits, k):
    """Keep the k largest logits of each row, set the rest to -inf (ties at the k-th value are all kept)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = np.partition(logits, -k, axis=-1)[..., -k, None]  # (..., 1) the k-th largest value
    return np.where(logits < kth, -np.inf, logits)


def apply_top_p(logits, p):
    """Nucleus filtering: keep the most likely tokens until their total probability first reaches p."""
    if p >= 1.0:
        return logits
    order = np.argsort(-logits, axis=-1, kind="stable")              # (..., V) most likely first
    sorted_logits = np.take_along_axis(logits, order, axis=-1)
    probs = softmax(sorted_logits)
    cum_before = np.cumsum(probs, axis=-1) - probs                      # mass strictly before each token
    drop_sorted = cum_before >= p                                       # the first token is always kept
    drop = np.empty_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, -np.inf, logits)


def apply_repetition_penalty(logits, previous_ids, penalty):
    """Divide positive logits (multiply negative ones) of already-seen tokens by `penalty`; logits is (V,)."""
    if penalty == 1.0 or len(previous_ids) == 0:
        return logits
    out = logits.copy()
    seen = np.unique(np.asarray(previous_ids, dtype=np.int64))
    vals = out[..., seen]
    out[..., seen] = np.where(vals > 0, vals / penalty, vals * penalty)
    return out


def softmax(logits):
    """Numerically stable softmax over the last axis (rows of all -inf are not expected here)."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def filter_logits(logits, cfg, previous_ids=()):
    """Apply repetition penalty, temperature, top-k and top-p, in that order; returns new logits."""
    x = np.asarray(logits, dtype=np.float64)
    x = apply_repetition_penalty(x, previous_ids, cfg.repetition_penalty)
    if cfg.temperature > 0:
        x = apply_temperature(x, cfg.temperature)
    x = apply_top_k(x, cfg.top_k)
    return apply_top_p(x, cfg.top_p)


def sample_next(logits, cfg, rng, previous_ids=()):
    """Pick the next token id from one row of logits (V,) under `cfg`; greedy when temperature == 0."""
    x = filter_logits(logits, cfg, previous_ids)
    if cfg.temperature == 0:
        return int(np.argmax(x))
    probs = softmax(x)
    return int(rng.choice(probs.shape[-1], p=probs))
