"""Ops that move numbers without changing them: reshape, transpose, indexing, concat, stack, broadcast.

Their backward passes move the gradient back; indexing scatter-adds, so an index used twice collects two gradients.
"""
import numpy as np

from tinyllm.autograd.backward import SparseGrad
from tinyllm.autograd.function import Function, unbroadcast


class Reshape(Function):
    """y = x viewed with a new shape (same elements, row-major order)."""

    def forward(self, x, shape=()):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
        return (grad.reshape(self.in_shape),)


class Transpose(Function):
    """y = x with its axes permuted by `axes`;  dx = g permuted back by the inverse permutation."""

    def forward(self, x, axes=None):
        self.axes = tuple(range(x.ndim))[::-1] if axes is None else axes
        return np.transpose(x, self.axes)

    def backward(self, grad):
        return (np.transpose(grad, np.argsort(self.axes)),)


class BroadcastTo(Function):
    """y = x broadcast to `shape` (a read-only view);  dx = g summed back with unbroadcast."""

    def forward(self, x, shape=()):
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, grad):
        return (unbroadcast(grad, self.in_shape),)


def _may_repeat(index):
    """True when `index` holds an integer array (or list): only then can one element be picked twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) and np.asarray(p).dtype.kind in "iu" for p in parts)


class GetItem(Function):
    """y = x[index] with NumPy semantics (ints, slices, integer arrays, boolean masks).

    Backward scatters g back into x's shape. Integer arrays may repeat an element, so they scatter-add
    (np.add.at) and repeats accumulate; other indices pick each element once and return a SparseGrad, which
    the backward sweep writes straight into the input's gradient buffer.
    """

    def forward(self, x, index=()):
        self.in_shape, self.in_dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, grad):
        if not _may_repeat(self.index):
            return (SparseGrad(self.index, grad, self.in_shape, self.in_dtype),)
        dx = np.zeros(self.in_shape, dtype=self.in_dtype)
        np.add.at(dx, self.index, grad)
        return (dx,)


class Concat(Function):
    """y = the inputs joined along `axis`;  each input's gradient is its slice of g."""

    def forward(self, *xs, axis=0):
        self.axis = axis
        self.sizes = [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    def backward(self, grad):
        cuts = np.cumsum(self.sizes)[:-1]
        return tuple(np.split(grad, cuts, axis=self.axis))


class Stack(Function):
    """y = the inputs stacked along a new `axis`;  input i's gradient is g taken at position i of that axis."""

    def forward(self, *xs, axis=0):
        y = np.stack(xs, axis=axis)
        self.axis = axis % y.ndim
        return y

    def backward(self, grad):
        return tuple(np.take(grad, i, axis=self.axis) for i in range(grad.shape[self.axis]))
