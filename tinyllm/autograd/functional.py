"""The functional API, `import tinyllm.functional as F`: differentiable functions built on the ops.

Fused ops (matmul, softmax, log_softmax, cross_entropy, layer_norm, gelu, attention) are single graph nodes;
the rest (rms_norm, silu, dropout, masked_fill, ...) are short compositions of primitives. Arguments that carry
no gradient (targets, ids, conditions, masks) may be NumPy arrays or Tensors. `axis` follows NumPy.
Masks are boolean with True = keep / may attend; masked scores become -inf, never a large finite number.
"""
import numpy as np

from tinyllm.autograd.ops_elementwise import Mul, Relu, Sigmoid, Softplus, Tanh, Where
from tinyllm.autograd.ops_fused import (
    Attention, CausalConv1d, CrossEntropy, Embedding, Gelu, LayerNorm, LogSoftmax, MatMul, Softmax)
from tinyllm.autograd.ops_reduce import CumSum, LogSumExp
from tinyllm.autograd.ops_shape import Concat, Reshape, Stack
from tinyllm.autograd.tensor import Tensor

__all__ = [
    "matmul", "softmax", "log_softmax", "logsumexp", "cross_entropy", "layer_norm", "rms_norm",
    "gelu", "silu", "softplus", "relu", "sigmoid", "tanh", "dropout", "embedding", "concat", "stack",
    "where", "masked_fill", "cumsum", "conv1d", "scaled_dot_product_attention",
]


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _array(x, name, kind=None):
    """A no-gradient argument as an ndarray; `kind` ('b' bool, 'i' integer) is checked when given."""
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if kind == "b" and a.dtype != bool:
        raise TypeError(f"{name} must be a boolean array (True = keep), got dtype {a.dtype}")
    if kind == "i" and a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a


def _operand(x, dtype):
    """A Tensor passes through; numbers and arrays become constants of `dtype` (no float64 upcasting)."""
    return x if isinstance(x, Tensor) else np.asarray(x, dtype=dtype)


# ---- linear algebra -------------------------------------------------------------------------------------------
def matmul(a, b):
    """a @ b with NumPy semantics: (..., M, K) @ (..., K, N) -> (..., M, N), leading dims broadcast.

    A 1-D operand is a vector: it is promoted to a matrix ((1, K) on the left, (K, 1) on the right) and the
    added axis is dropped from the result, as np.matmul does.
    """
    a, b = _tensor(a), _tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    if a.ndim > 1 and b.ndim > 1:
        return MatMul.apply(a, b)
    a2 = a if a.ndim > 1 else Reshape.apply(a, shape=(1,) + a.shape)
    b2 = b if b.ndim > 1 else Reshape.apply(b, shape=b.shape + (1,))
    y = MatMul.apply(a2, b2)
    shape = list(y.shape)
    if b.ndim == 1:
        shape.pop(-1)
    if a.ndim == 1:
        shape.pop(-1 if b.ndim == 1 else -2)
    return Reshape.apply(y, shape=tuple(shape))


# ---- normalised exponentials and losses -------------------------------------------------------------------------
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, max-shifted. A row that is all -inf (fully masked) gives all zeros."""
    return Softmax.apply(_tensor(x), axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`. A row that is all -inf gives all -inf."""
    return LogSoftmax.apply(_tensor(x), axis=axis)


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) along `axis` (int, tuple or None), computed without overflow."""
    return LogSumExp.apply(_tensor(x), axis=axis, keepdims=keepdims)


def cross_entropy(logits, targets, ignore_index=None, label_smoothing=0.0):
    """Mean negative log-likelihood of `targets` under softmax(logits), over rows whose target != ignore_index.

    logits (N, V) (or (..., V)), targets (N,) (or (...)) integers in [0, V). With label_smoothing eps the
    target distribution is (1 - eps) * onehot + eps / V. If every row is ignored the loss is 0 (not NaN).
    """
    logits = _tensor(logits)
    t = _array(targets, "targets", "i")
    if logits.ndim < 1 or t.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: targets shape {t.shape} must equal logits shape {logits.shape} "
                         f"without its last (class) axis")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    ignore = -1 if ignore_index is None else int(ignore_index)
    V = logits.shape[-1]
    kept = t[t != ignore] if ignore_index is not None else t
    if kept.size and (kept.min() < 0 or kept.max() >= V):
        raise ValueError(f"cross_entropy: targets must lie in [0, {V}) (V = logits.shape[-1]), "
                         f"got values from {kept.min()} to {kept.max()}")
    return CrossEntropy.apply(logits, t, ignore_index=ignore, label_smoothing=float(label_smoothing))


# ---- normalisation ------------------------------------------------------------------------------------------------
def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias (C,) or None."""
    x = _tensor(x)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != x.shape[-1:]:
            raise ValueError(f"layer_norm: {name} must have shape {x.shape[-1:]} (C of x {x.shape}), got {p.shape}")
    return LayerNorm.apply(x, _operand(weight, x.dtype) if weight is not None else None,
                           _operand(bias, x.dtype) if bias is not None else None, eps=float(eps))


def rms_norm(x, weight=None, eps=1e-5):
    """x / sqrt(mean(x^2) + eps) * weight over the last axis (Zhang & Sennrich 2019): no centring, no bias."""
    x = _tensor(x)
    if weight is not None and tuple(weight.shape) != x.shape[-1:]:
        raise ValueError(f"rms_norm: weight must have shape {x.shape[-1:]} (C of x {x.shape}), got {weight.shape}")
    y = x * ((x * x).mean(axis=-1, keepdims=True) + eps) ** -0.5
    return y if weight is None else y * weight


# ---- activations ----------------------------------------------------------------------------------------------------
def gelu(x, approximate=True):
    """x * Phi(x). approximate=True (or 'tanh') uses the tanh formula of GPT-2; False (or 'none') the exact erf."""
    if approximate in ("tanh", "none"):
        approximate = approximate == "tanh"
    if not isinstance(approximate, (bool, np.bool_)):
        raise ValueError(f"gelu: approximate must be True/False or 'tanh'/'none', got {approximate!r}")
    return Gelu.apply(_tensor(x), approximate=bool(approximate))


def silu(x):
    """x * sigmoid(x) (a.k.a. swish)."""
    x = _tensor(x)
    return x * Sigmoid.apply(x)


def softplus(x):
    """log(1 + exp(x)), computed stably; its derivative is sigmoid(x)."""
    return Softplus.apply(_tensor(x))


def relu(x):
    return Relu.apply(_tensor(x))


def sigmoid(x):
    return Sigmoid.apply(_tensor(x))


def tanh(x):
    return Tanh.apply(_tensor(x))


def dropout(x, p, training=True, rng=None):
    """Zero each element with probability p and scale survivors by 1/(1-p) (inverted dropout); identity when
    not training. `rng` is a np.random.Generator (pass one for reproducible runs; None draws a fresh one)."""
    x = _tensor(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return Mul.apply(x, np.zeros((), dtype=x.dtype))
    rng = np.random.default_rng() if rng is None else rng
    keep = rng.random(x.shape, dtype=x.dtype if x.dtype in (np.float32, np.float64) else np.float64) >= p
    return Mul.apply(x, keep * np.asarray(1.0 / (1.0 - p), dtype=x.dtype))  # (same shape as x)


# ---- gathering and combining --------------------------------------------------------------------------------------
def embedding(ids, weight):
    """weight[ids]: ids (...) integers in [0, V), weight (V, C) -> (..., C). Repeated ids accumulate gradient."""
    ids = _array(ids, "ids", "i")
    weight = _tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (V, C), got shape {weight.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
        raise ValueError(f"embedding: ids must lie in [0, {weight.shape[0]}) (V = weight.shape[0]), "
                         f"got values from {ids.min()} to {ids.max()}")
    return Embedding.apply(ids, weight)


def _same_dtype(tensors, name):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}: needs at least one tensor")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    dtype = like.dtype if like is not None else None
    return [_operand(t, dtype) if dtype is not None and dtype.kind == "f" else _tensor(t) for t in tensors]


def concat(tensors, axis=0):
    """Join tensors along an existing `axis`."""
    return Concat.apply(*_same_dtype(tensors, "concat"), axis=axis)


def stack(tensors, axis=0):
    """Join equally shaped tensors along a new `axis`."""
    return Stack.apply(*_same_dtype(tensors, "stack"), axis=axis)


def where(cond, a, b):
    """a where cond else b (broadcasting); gradients flow only to the side that was chosen."""
    cond = _array(cond, "cond", "b")
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    dtype = like.dtype if like is not None and like.dtype.kind == "f" else None
    return Where.apply(cond, _operand(a, dtype), _operand(b, dtype))


def masked_fill(x, mask, value):
    """x with `value` wherever mask is True (e.g. -inf on attention scores); no gradient flows there."""
    x = _tensor(x)
    mask = _array(mask, "mask", "b")
    return Where.apply(mask, np.asarray(value, dtype=x.dtype), x)


def cumsum(x, axis=-1):
    """Running sum along `axis`."""
    return CumSum.apply(_tensor(x), axis=axis)


def conv1d(x, weight, bias=None):
    """Causal depthwise convolution over time: x (..., T, C), weight (C, K), bias (C,) or None -> (..., T, C).

    Output t of channel c mixes inputs t-K+1..t of that channel only (left zero-padding), as in Mamba.
    """
    x, weight = _tensor(x), _tensor(weight)
    if weight.ndim != 2 or x.ndim < 2:
        raise ValueError(f"conv1d: need x (..., T, C) and weight (C, K), got {x.shape} and {weight.shape}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv1d: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return CausalConv1d.apply(x, weight, bias if bias is None else _operand(bias, x.dtype))


def scaled_dot_product_attention(q, k, v, mask=None, causal=False):
    """softmax(q k^T / sqrt(D) + mask) v as one fused node. q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv).

    mask: boolean, broadcastable to (..., Tq, Tk), True = may attend. causal=True lets query i see keys
    j <= i + Tk - Tq. A query that may attend to nothing gets output 0 (not NaN) and no gradient.
    """
    q, k, v = _tensor(q), _tensor(k), _tensor(v)
    if min(q.ndim, k.ndim, v.ndim) < 2 or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: need q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv); "
                         f"got q {q.shape}, k {k.shape}, v {v.shape}")
    mask = None if mask is None else _array(mask, "mask", "b")
    return Attention.apply(q, k, v, mask=mask, causal=bool(causal))
