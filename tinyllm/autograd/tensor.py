"""Tensor: a NumPy array plus the node that made it, and reverse-mode differentiation over those nodes.

Every op on a Tensor runs a `Function` (forward beside backward, see function.py). When an input requires a
gradient, the output remembers that Function; `backward()` walks the recorded graph in reverse topological order
(backward.py: an explicit stack, no recursion) and accumulates gradients into the leaves' `.grad` (plain ndarrays).
"""
import contextlib

import numpy as np

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _GradMode:
    enabled = True  # False inside no_grad(): ops then record nothing


def is_grad_enabled():
    return _GradMode.enabled


class no_grad(contextlib.ContextDecorator):
    """Build no graph inside the block (or the decorated function): for evaluation and sampling."""

    def __init__(self):
        self._previous = []  # a stack, so one instance can be re-entered (decorated recursive functions)

    def __enter__(self):
        self._previous.append(_GradMode.enabled)
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous.pop()
        return False


class Tensor:
    """An n-dimensional array that can record the ops applied to it. Floats default to float32."""

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__ instead of looping in NumPy

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            data = np.asarray(data, dtype=dtype)
        elif isinstance(data, (np.ndarray, np.generic)):
            data = np.asarray(data)
            if data.dtype.kind == "f" and data.dtype not in _FLOATS:
                data = data.astype(np.float32)  # float16 etc.: compute in float32
        else:
            data = np.asarray(data)  # Python numbers and lists
            if data.dtype.kind == "f":
                data = data.astype(np.float32)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require grad; got dtype {data.dtype} "
                            f"(convert with Tensor(x, dtype=np.float32) first)")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None

    # ---- plain properties ------------------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.transpose())

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def __bool__(self):
        return bool(self.data)

    __hash__ = object.__hash__  # == is elementwise, so hash by identity (tensors can key dicts and sets)

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data outside the graph: no gradient flows through the result."""
        return Tensor(self.data)

    def zero_grad(self):
        self.grad = None

    # ---- backward --------------------------------------------------------------------------------------------
    def backward(self, grad=None, into=None):
        """Accumulate d(self)/d(leaf) * grad into every leaf's `.grad`. `grad` defaults to 1 for a scalar.
        With a dict `into`, the leaves' gradients go there instead (`into[leaf]`, read-only) and `.grad` is
        untouched: how data-parallel workers (training/data_parallel.py) keep their gradients apart."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input had "
                               "requires_grad=True, or it was computed under no_grad()")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a 1-element tensor, this one has shape "
                                   f"{self.shape}; pass grad= an array of that shape")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(grad): grad has shape {grad.shape}, the tensor has shape {self.shape}")
        run_backward(self, grad, into)

    # ---- elementwise arithmetic, with NumPy broadcasting -------------------------------------------------------
    def __add__(self, other): return Add.apply(self, _lift(other, self))
    def __radd__(self, other): return Add.apply(_lift(other, self), self)
    def __sub__(self, other): return Sub.apply(self, _lift(other, self))
    def __rsub__(self, other): return Sub.apply(_lift(other, self), self)
    def __mul__(self, other): return Mul.apply(self, _lift(other, self))
    def __rmul__(self, other): return Mul.apply(_lift(other, self), self)
    def __truediv__(self, other): return Div.apply(self, _lift(other, self))
    def __rtruediv__(self, other): return Div.apply(_lift(other, self), self)
    def __pow__(self, other): return Pow.apply(self, _lift(other, self))
    def __rpow__(self, other): return Pow.apply(_lift(other, self), self)
    def __neg__(self): return Neg.apply(self)
    def __matmul__(self, other): return _matmul(self, _lift(other, self))
    def __rmatmul__(self, other): return _matmul(_lift(other, self), self)

    # comparisons give boolean tensors that carry no gradient
    def __lt__(self, other): return Tensor(self.data < _raw(other))
    def __le__(self, other): return Tensor(self.data <= _raw(other))
    def __gt__(self, other): return Tensor(self.data > _raw(other))
    def __ge__(self, other): return Tensor(self.data >= _raw(other))
    def __eq__(self, other): return Tensor(self.data == _raw(other))
    def __ne__(self, other): return Tensor(self.data != _raw(other))

    def exp(self): return Exp.apply(self)
    def log(self): return Log.apply(self)
    def sqrt(self): return Pow.apply(self, np.asarray(0.5, dtype=self.dtype))
    def tanh(self): return Tanh.apply(self)
    def sigmoid(self): return Sigmoid.apply(self)
    def relu(self): return Relu.apply(self)
    def abs(self): return Abs.apply(self)

    def astype(self, dtype):
        """A differentiable dtype conversion (float32 <-> float64)."""
        return self if np.dtype(dtype) == self.dtype else Cast.apply(self, dtype=np.dtype(dtype))

    # ---- reductions --------------------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False): return Sum.apply(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return Max.apply(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return -(-self).max(axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """sum / n, where n counts the reduced elements (NaN for an empty reduction, as in NumPy)."""
        n = _count(self.shape, axis)
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / n if n else float("nan"))

    def var(self, axis=None, keepdims=False, ddof=0):
        """mean((x - mean(x))^2) (population variance; ddof=1 for the unbiased estimate)."""
        centered = self - self.mean(axis=axis, keepdims=True)
        n = _count(self.shape, axis) - ddof
        return (centered * centered).sum(axis=axis, keepdims=keepdims) * (1.0 / n if n > 0 else float("nan"))

    # ---- shape -------------------------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return Reshape.apply(self, shape=tuple(shape))

    def transpose(self, *axes):
        """Permute axes as NumPy does: no arguments reverses them; `.T` is the same."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return Transpose.apply(self, axes=tuple(axes) if axes else None)

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return Transpose.apply(self, axes=tuple(axes))

    def __getitem__(self, index):
        if isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        elif isinstance(index, Tensor):
            index = index.data
        return GetItem.apply(self, index=index)


def _count(shape, axis):
    """How many elements a reduction over `axis` combines."""
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    try:
        return int(np.prod([shape[a] for a in axes]))
    except IndexError:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for a tensor of shape {shape}") from None


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _lift(other, like):
    """The other operand of an op on `like`: Tensors pass through; numbers and arrays become constants of
    like's float dtype, so `x32 * 0.5` stays float32 (no silent upcast to float64)."""
    if isinstance(other, Tensor):
        return other
    if like.data.dtype.kind == "f":
        return np.asarray(other, dtype=like.data.dtype)
    return np.asarray(other)


def _matmul(a, b):
    from tinyllm.autograd.functional import matmul
    return matmul(a, b)


# The sweep and the ops import function.py, which needs Tensor: import them after the class exists.
from tinyllm.autograd.backward import run_backward  # noqa: E402
from tinyllm.autograd.ops_elementwise import (  # noqa: E402
    Abs, Add, Cast, Div, Exp, Log, Mul, Neg, Pow, Relu, Sigmoid, Sub, Tanh)
from tinyllm.autograd.ops_reduce import Max, Sum  # noqa: E402
from tinyllm.autograd.ops_shape import GetItem, Reshape, Transpose  # noqa: E402
