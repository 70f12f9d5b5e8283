"""The building blocks of a transformer: Linear, Embedding, LayerNorm, RMSNorm, Dropout and the GELU MLP.

Every layer takes a numpy Generator `rng` for its initial weights (GPT-2 style, see init.py) and a float `dtype`.
Without `rng` a layer draws from a Generator seeded 0, so results are reproducible; pass one Generator to all
layers of a model to give each its own draw.

Layers on the inference path also have `forward_arrays`: the same equation on plain ndarrays calling the same
kernels, with no Tensor wrappers and no graph. A model uses it under no_grad to keep per-token decoding lean;
tests check it equals forward().
"""
import numpy as np

import tinyllm.functional as F
from tinyllm import kernels
from tinyllm.nn import init
from tinyllm.nn.module import Module, Parameter


def check_positive_int(name, value):
    """Raise a ValueError naming `name` unless value is an int >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_probability(name, value):
    """Raise a ValueError naming `name` unless 0 <= value < 1."""
    if not isinstance(value, (int, float, np.floating)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def _rng(rng):
    return np.random.default_rng(0) if rng is None else rng


class Linear(Module):
    """y = x W + b with W stored as (in_features, out_features), so the forward is one matmul, no transpose.

    Works on (N, in) or (..., in); a 2-D input costs exactly one BLAS call (plus the bias add).
    """

    def __init__(self, in_features, out_features, bias=True, std=init.GPT2_STD, rng=None, dtype=np.float32):
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.weight = Parameter(init.normal((in_features, out_features), std, _rng(rng), dtype))
        self.bias = Parameter(init.zeros((out_features,), dtype)) if bias else None

    def extra_repr(self):
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expected input (..., {self.in_features}), got shape {x.shape}")
        if x.ndim == 2:
            y = x @ self.weight                                   # (N, out)
        else:
            lead = x.shape[:-1]
            y = (x.reshape(-1, self.in_features) @ self.weight).reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias

    def forward_arrays(self, x):
        """x (N, in) ndarray -> (N, out) ndarray."""
        y = x @ self.weight.data
        if self.bias is not None:
            y += self.bias.data
        return y


class Embedding(Module):
    """Row lookup: ids (...) int -> weight[ids] (..., dim). The gradient scatter-adds into the rows used."""

    def __init__(self, num_embeddings, embedding_dim, std=init.GPT2_STD, rng=None, dtype=np.float32):
        self.num_embeddings = check_positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim), std, _rng(rng), dtype))

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"

    def forward(self, ids):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"Embedding expects integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(f"Embedding ids must be in [0, {self.num_embeddings}), "
                             f"got min {ids.min()} and max {ids.max()}")
        return F.embedding(ids, self.weight)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * gain (+ bias) over the last axis; bias optional (GPT without bias)."""

    def __init__(self, dim, bias=True, eps=1e-5, dtype=np.float32):
        self.dim = check_positive_int("dim", dim)
        self.eps = float(eps)
        self.weight = Parameter(init.ones((dim,), dtype))
        self.bias = Parameter(init.zeros((dim,), dtype)) if bias else None

    def extra_repr(self):
        return f"{self.dim}, bias={self.bias is not None}"

    def forward(self, x):
        return F.layer_norm(x, self.weight, self.bias, eps=self.eps)

    def forward_arrays(self, x):
        return kernels.layernorm_forward(x, self.weight.data, None if self.bias is None else self.bias.data,
                                         self.eps)[0]


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2) + eps) * gain over the last axis: LayerNorm without centring or bias."""

    def __init__(self, dim, eps=1e-5, dtype=np.float32):
        self.dim = check_positive_int("dim", dim)
        self.eps = float(eps)
        self.weight = Parameter(init.ones((dim,), dtype))

    def extra_repr(self):
        return f"{self.dim}"

    def forward(self, x):
        return F.rms_norm(x, self.weight, eps=self.eps)


class Dropout(Module):
    """Zero each element with probability p and scale survivors by 1/(1-p), in training mode only.

    The masks come from `rng`, a numpy Generator the owning model passes to all its Dropout layers, so a seeded
    model draws the same masks every run (and Module.rng_state() can save them for resuming).
    """

    def __init__(self, p=0.0, rng=None):
        self.p = check_probability("p", p)
        self.rng = _rng(rng)

    def extra_repr(self):
        return f"p={self.p}"

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x  # no op at all: nothing in the graph, nothing drawn from rng
        return F.dropout(x, self.p, True, self.rng)


class MLP(Module):
    """The transformer's position-wise feed-forward: Linear(C, 4C) -> GELU (tanh form, as GPT-2) -> Linear(4C, C).

    `proj_std` is the init std of the output projection (GPT-2 shrinks it; see init.residual_std).
    """

    def __init__(self, dim, hidden=None, bias=True, dropout=0.0, proj_std=init.GPT2_STD, rng=None,
                 dropout_rng=None, dtype=np.float32):
        dim = check_positive_int("dim", dim)
        hidden = 4 * dim if hidden is None else check_positive_int("hidden", hidden)
        rng = _rng(rng)
        self.fc = Linear(dim, hidden, bias=bias, rng=rng, dtype=dtype)
        self.proj = Linear(hidden, dim, bias=bias, std=proj_std, rng=rng, dtype=dtype)
        self.drop = Dropout(dropout, rng=dropout_rng)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))               # (N, C) -> (N, 4C) -> (N, C)

    def forward_arrays(self, x):
        """Inference only: dropout is off."""
        return self.proj.forward_arrays(kernels.gelu_forward(self.fc.forward_arrays(x), True))
