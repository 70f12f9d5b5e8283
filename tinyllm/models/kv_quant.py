"""KV-cache quantisation to int8: each cached head vector (one token, one head) is stored as D int8 codes and
one float32 scale, so a float32 cache shrinks to (D + 4) / 4D of its size (28% at D = 32).

    s = max_d |x_d| / 127,   code_d = round(x_d / s) in [-127, 127],   x_hat_d = s * code_d,   |x_hat_d - x_d| <= s/2

Symmetric absmax quantisation with a scale per (layer, batch row, head, position): the scale is fixed when the
token is written, so appending never forces re-quantising older entries. Keys and values are quantised the same
way (KIVI, Liu et al. 2024, argues keys prefer per-channel scales; per-token is the simple choice kept here).

Int8KVCache is a drop-in KVCache: GPT's attention writes `cache.k[layer, :, :, a:b] = x` and reads
`cache.k[layer, :, :, :b]`, and Int8Buffer answers both with quantise-on-write and dequantise-on-read.
`with_int8_cache(model)` makes the sampler (which calls model.new_cache) decode with it.
"""
import numpy as np

from tinyllm.models.attention import KVCache

QMAX = 127  # symmetric range: -128 is never used, so negation is exact


def quantize(x):
    """x (..., D) float -> (codes (..., D) int8, scale (..., 1) float32), per vector along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    scale = (np.max(np.abs(x), axis=-1, keepdims=True) / QMAX).astype(np.float32) if x.shape[-1] else \
        np.zeros(x.shape[:-1] + (1,), np.float32)
    s = scale.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        codes = np.where(s > 0, np.rint(x / np.where(s > 0, s, 1.0)), 0.0)
    return np.clip(codes, -QMAX, QMAX).astype(np.int8), scale


def dequantize(codes, scale, dtype=np.float32):
    """codes (..., D) int8, scale (..., 1) -> x_hat (..., D) in `dtype`."""
    return (codes.astype(np.float64) * scale.astype(np.float64)).astype(dtype, copy=False)


class Int8Buffer:
    """A stand-in for a float (..., S, D) array: int8 codes plus one scale per vector, indexed on every axis but
    the last (a scale covers a whole head vector, so D cannot be sliced)."""

    def __init__(self, shape, dtype):
        self.codes = np.zeros(shape, dtype=np.int8)                  # (L, B, H, S, D)
        self.scale = np.zeros(shape[:-1] + (1,), dtype=np.float32)   # (L, B, H, S, 1)
        self.dtype = np.dtype(dtype)

    @property
    def shape(self):
        return self.codes.shape

    @property
    def nbytes(self):
        return self.codes.nbytes + self.scale.nbytes

    def _key(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if len(key) >= self.codes.ndim or any(k is Ellipsis or k is None for k in key):
            raise IndexError(f"Int8Buffer index {key!r}: index at most the first {self.codes.ndim - 1} axes "
                             "(no Ellipsis/None); the last axis D shares one scale and cannot be sliced")
        return key

    def __getitem__(self, key):
        key = self._key(key)
        return dequantize(self.codes[key], self.scale[key], self.dtype)

    def __setitem__(self, key, x):
        key = self._key(key)
        x = np.broadcast_to(np.asarray(x), self.codes[key].shape)
        self.codes[key], self.scale[key] = quantize(x)

    def take_rows(self, rows):
        """A new buffer with batch rows `rows` (axis 1), as beam search's reorder needs."""
        new = Int8Buffer.__new__(Int8Buffer)
        new.codes, new.scale, new.dtype = self.codes[:, rows], self.scale[:, rows], self.dtype
        return new


class Int8KVCache(KVCache):
    """KVCache whose keys and values live in Int8Buffers; same constructor and interface."""

    def __init__(self, n_layer, batch, n_head, head_dim, block_size, dtype, keep=None):
        super().__init__(n_layer, batch, n_head, head_dim, block_size, dtype, keep)   # validates the arguments
        shape = self.k.shape                                                          # (L, B, H, block_size, D)
        self.k, self.v = Int8Buffer(shape, dtype), Int8Buffer(shape, dtype)           # float buffers are dropped

    def reorder(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        if rows.shape != (self.batch,):
            raise ValueError(f"reorder expects {self.batch} row indices, got shape {rows.shape}")
        self.k, self.v = self.k.take_rows(rows), self.v.take_rows(rows)
        self.ids = self.ids[rows]

    @property
    def nbytes(self):
        """Bytes held for keys and values (codes + scales)."""
        return self.k.nbytes + self.v.nbytes


class with_int8_cache:
    """Wrap a GPT so that new_cache() returns an Int8KVCache; everything else is the model's own.

        generate(with_int8_cache(model), prompt_ids, 100)
    """

    def __init__(self, model):
        if not hasattr(model, "new_cache"):
            raise TypeError(f"model must offer new_cache() (a KV-cache model such as GPT), got {type(model).__name__}")
        self.model = model

    def __call__(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def new_cache(self, batch, keep=None):
        c = self.model.config
        return Int8KVCache(c.n_layer, batch, c.n_head, c.n_embd // c.n_head, c.block_size,
                           self.model.wte.weight.dtype, keep)
