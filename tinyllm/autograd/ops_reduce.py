"""Reductions: sum, max, logsumexp and cumsum. Their backward passes spread the gradient back over the reduced axes.

`axis` follows NumPy: None (all axes), an int (negative allowed) or a tuple of ints.
"""
import numpy as np

from tinyllm.autograd.function import Function


def _expand(grad, in_ndim, axis, keepdims):
    """Re-insert the reduced axes as size 1, so `grad` broadcasts against the input again."""
    if keepdims or axis is None and grad.ndim == in_ndim:
        return grad
    if axis is None:
        return grad.reshape((1,) * in_ndim)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return np.expand_dims(grad, tuple(a % in_ndim for a in axes))


class Sum(Function):
    """y = sum of x over `axis`;  dx = g broadcast back to x's shape."""

    def forward(self, x, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    def backward(self, grad):
        dx = np.empty(self.shape, dtype=grad.dtype)
        dx[...] = _expand(grad, len(self.shape), self.axis, self.keepdims)  # broadcast g back over the sum
        return (dx,)


class Max(Function):
    """y = max of x over `axis`;  ties share the gradient equally (so the sum of dx equals g)."""

    def forward(self, x, axis=None, keepdims=False):
        y = np.max(x, axis=axis, keepdims=True)
        self.save_for_backward(x, y)
        self.axis, self.keepdims = axis, keepdims
        return y if keepdims else (np.squeeze(y, axis=axis) if axis is not None else y.reshape(()))

    def backward(self, grad):
        x, y = self.saved_tensors
        g = _expand(grad, x.ndim, self.axis, self.keepdims)
        hit = x == y
        count = np.sum(hit, axis=self.axis, keepdims=True)
        return (g * hit / count.astype(x.dtype),)


class LogSumExp(Function):
    """y = log(sum(exp(x))) over `axis`, computed as m + log(sum(exp(x - m))) with m = max;  dx = g * softmax(x).

    An all -inf slice gives -inf (the log of an empty sum), never NaN, and its gradient is 0.
    """

    allows_inf = True  # -inf out of all -inf (masked) input is intended, not an anomaly

    def forward(self, x, axis=-1, keepdims=False):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isneginf(m), np.zeros((), x.dtype), m)
        with np.errstate(divide="ignore"):
            lse = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        self.save_for_backward(x, lse)
        self.axis, self.keepdims = axis, keepdims
        return lse if keepdims else np.squeeze(lse, axis=axis)

    def backward(self, grad):
        x, lse = self.saved_tensors
        g = _expand(grad, x.ndim, self.axis, self.keepdims)
        lse = np.where(np.isneginf(lse), np.array(np.inf, x.dtype), lse)  # empty rows: exp(-inf) = 0
        return (g * np.exp(x - lse),)


class CumSum(Function):
    """y_i = sum_{j <= i} x_j along `axis`;  dx_j = sum_{i >= j} g_i, a reversed cumulative sum."""

    def forward(self, x, axis=0):
        self.axis = axis
        return np.cumsum(x, axis=axis)

    def backward(self, grad):
        flipped = np.flip(grad, axis=self.axis)
        return (np.flip(np.cumsum(flipped, axis=self.axis), axis=self.axis),)
