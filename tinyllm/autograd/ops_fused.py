"""Fused ops: one graph node each, with a hand-written backward that calls the kernels in `tinyllm.kernels`.

Each could be composed from primitives (tests check that they equal their composed form); fusing them saves
the Python overhead of many nodes and the memory of their intermediates. Kernels are looked up on the module at
call time (`kernels.softmax_forward`), so `kernels.use('numpy' | 'numba')` switches them immediately.
"""
import math

import numpy as np

from tinyllm import kernels
from tinyllm.autograd.function import Function, unbroadcast


def _rows(x):
    """(..., K) -> (N, K) with N the product of the leading dims (explicit, so K = 0 works too)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _last(x, axis):
    """Move `axis` to the end (a view) because the kernels reduce over the last axis."""
    return x if axis == -1 or axis == x.ndim - 1 else np.moveaxis(x, axis, -1)


class MatMul(Function):
    """y = a @ b over (..., M, K) @ (..., K, N) with broadcast leading dims;  da = g b^T,  db = a^T g.

    With a 2-D weight b (the Linear-layer case) the batch dims of a fold into M, so the forward and each
    gradient are one BLAS call, and db is summed over the batch inside that call.
    """

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul needs (..., M, K) @ (..., K, N), got {a.shape} @ {b.shape}")
        self.save_for_backward(a, b)
        if b.ndim == 2 and a.ndim > 2:
            y = kernels.matmul(_rows(a), b)  # (N, K) @ (K, N') with N = B*T
            return y.reshape(a.shape[:-1] + (b.shape[1],))
        return kernels.matmul(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        da = db = None
        if b.ndim == 2:
            g2 = _rows(grad)  # (N, N')
            if need_a:
                da = kernels.matmul(g2, b.T).reshape(a.shape)
            if need_b:
                db = kernels.matmul(_rows(a).T, g2)  # (K, N) @ (N, N'): sums over the batch
            return da, db
        if need_a:
            da = unbroadcast(kernels.matmul(grad, np.swapaxes(b, -1, -2)), a.shape)
        if need_b:
            db = unbroadcast(kernels.matmul(np.swapaxes(a, -1, -2), grad), b.shape)
        return da, db


class Softmax(Function):
    """y = exp(x - logsumexp(x)) along `axis`;  dx = y * (g - sum(g * y)). All -inf rows give 0, not NaN."""

    def forward(self, x, axis=-1):
        self.axis = axis
        y = kernels.softmax_forward(_last(x, axis))
        self.save_for_backward(y)
        return y if axis in (-1, x.ndim - 1) else np.moveaxis(y, -1, axis)

    def backward(self, grad):
        (y,) = self.saved_tensors
        dx = kernels.softmax_backward(y, _last(grad, self.axis))
        return (dx if self.axis in (-1, grad.ndim - 1) else np.moveaxis(dx, -1, self.axis),)


class LogSoftmax(Function):
    """y = x - logsumexp(x) along `axis`;  dx = g - exp(y) * sum(g). All -inf rows give -inf."""

    allows_inf = True

    def forward(self, x, axis=-1):
        self.axis = axis
        y = kernels.log_softmax_forward(_last(x, axis))
        self.save_for_backward(y)
        return y if axis in (-1, x.ndim - 1) else np.moveaxis(y, -1, axis)

    def backward(self, grad):
        (y,) = self.saved_tensors
        dx = kernels.log_softmax_backward(y, _last(grad, self.axis))
        return (dx if self.axis in (-1, grad.ndim - 1) else np.moveaxis(dx, -1, self.axis),)


class CrossEntropy(Function):
    """loss = mean over non-ignored rows of -sum_v q_v log softmax(x)_v, q = (1 - eps) onehot(t) + eps / V.

    Log-space throughout (the kernel works in float64), so logits of magnitude 1e4 are fine. When every row is
    ignored the loss is 0 with zero gradient (documented choice: no NaN from 0 / 0).
    """

    def forward(self, logits, targets, ignore_index=-1, label_smoothing=0.0):
        V = logits.shape[-1]
        x = _rows(logits)  # (N, V)
        t = targets.reshape(-1)  # (N,)
        losses, lse = kernels.cross_entropy_forward(x, t, ignore_index, label_smoothing)
        self.count = max(int(np.count_nonzero(t != ignore_index)), 1)
        self.save_for_backward(x, t, lse)
        self.in_shape, self.options = logits.shape, (ignore_index, label_smoothing)
        return np.asarray(losses.sum() / self.count, dtype=logits.dtype)

    def backward(self, grad):
        x, t, lse = self.saved_tensors
        scale = float(grad) / self.count
        dx = kernels.cross_entropy_backward(x, t, lse, scale, *self.options)
        return dx.reshape(self.in_shape), None


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over the last axis (w, b may be None). Ba et al. 2016."""

    def forward(self, x, w, b, eps=1e-5):
        y, mean, rstd = kernels.layernorm_forward(x, w, b, eps)
        self.save_for_backward(x, w, mean, rstd)
        return y

    def backward(self, grad):
        x, w, mean, rstd = self.saved_tensors
        dx, dw, db = kernels.layernorm_backward(grad, x, w, mean, rstd)
        return dx, dw, (db if self.needs_input_grad[2] else None)


class Gelu(Function):
    """y = x * Phi(x) (Hendrycks & Gimpel 2016): exact erf form, or the tanh approximation when `approximate`."""

    def forward(self, x, approximate=True):
        self.approximate = approximate
        self.save_for_backward(x)
        return kernels.gelu_forward(x, approximate)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (kernels.gelu_backward(x, grad, self.approximate),)


class Attention(Function):
    """out = softmax(q k^T / sqrt(D) + mask) v on (..., T, D) inputs (Vaswani et al. 2017, eq. 1), one node.

    The kernel keeps the row log-sum-exp instead of the (T, T) probabilities; the backward recomputes them.
    Leading dims of q, k, v broadcast against each other; their gradients are summed back.
    """

    def forward(self, q, k, v, mask=None, causal=False):
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        self.shapes = (q.shape, k.shape, v.shape)
        q, k, v = (a if a.shape[:-2] == lead else np.broadcast_to(a, lead + a.shape[-2:]) for a in (q, k, v))
        # the kernel works on contiguous (N, T, D) items: copy strided views (heads of a qkv projection) once here
        # and save the copies, so the backward does not copy them again
        q, k, v = (np.ascontiguousarray(a) for a in (q, k, v))
        self.scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
        self.mask, self.causal = mask, causal
        out, lse = kernels.attention_forward(q, k, v, mask, causal, self.scale)
        self.save_for_backward(q, k, v, out, lse)
        return out

    def backward(self, grad):
        q, k, v, out, lse = self.saved_tensors
        dq, dk, dv = kernels.attention_backward(q, k, v, out, lse, grad, self.mask, self.causal, self.scale)
        sq, sk, sv = self.shapes
        return unbroadcast(dq, sq), unbroadcast(dk, sk), unbroadcast(dv, sv)


class Embedding(Function):
    """y = weight[ids]: row lookup (...) -> (..., C);  dweight sums g over every position that read a row.

    The backward sorts the ids and sums each run of equal ids with one reduceat: several times faster than
    np.add.at (the obvious scatter-add) at GPT shapes, and repeated ids accumulate all the same.
    """

    def forward(self, ids, weight):
        self.save_for_backward(ids)
        self.weight_shape = weight.shape
        return weight[ids]

    def backward(self, grad):
        (ids,) = self.saved_tensors
        dw = np.zeros(self.weight_shape, dtype=grad.dtype)
        flat = ids.reshape(-1)  # (N,)
        if flat.size:
            order = np.argsort(flat, kind="stable")
            sorted_ids = flat[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
            g = _rows(grad)[order]  # (N, C), rows grouped by id
            dw[sorted_ids[starts]] = np.add.reduceat(g, starts, axis=0)
        return None, dw


class CausalConv1d(Function):
    """Depthwise causal convolution over time: y[t, c] = sum_k w[c, k] * x[t - (K-1) + k, c]  (+ b[c]).

    x (..., T, C), w (C, K): channel c has its own K taps and sees only the present and the past (the
    short convolution in Mamba's block, Gu & Dao 2023). Equal to PyTorch's conv1d(groups=C, padding=K-1)[:T].
    """

    def forward(self, x, w, b=None):
        C, K = w.shape
        if x.shape[-1] != C:
            raise ValueError(f"conv1d: x has {x.shape[-1]} channels in its last axis, weight (C, K) has C={C}")
        T = x.shape[-2]
        pad = np.zeros(x.shape[:-2] + (K - 1, C), dtype=x.dtype)
        xp = np.concatenate([pad, x], axis=-2)  # (..., K-1+T, C)
        y = np.zeros(x.shape, dtype=np.result_type(x, w))
        for k in range(K):
            y += w[:, k] * xp[..., k:k + T, :]
        if b is not None:
            y += b
        self.save_for_backward(xp, w)
        return y

    def backward(self, grad):
        xp, w = self.saved_tensors
        C, K = w.shape
        T = grad.shape[-2]
        need_x, need_w, need_b = self.needs_input_grad
        dxp = np.zeros(xp.shape, dtype=grad.dtype) if need_x else None
        dw = np.zeros(w.shape, dtype=grad.dtype) if need_w else None
        lead = tuple(range(grad.ndim - 1))
        for k in range(K):
            if need_x:
                dxp[..., k:k + T, :] += grad * w[:, k]
            if need_w:
                dw[:, k] = np.sum(grad * xp[..., k:k + T, :], axis=lead)
        db = np.sum(grad, axis=lead) if need_b else None
        return (dxp[..., K - 1:, :] if need_x else None), dw, db
