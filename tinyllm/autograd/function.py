"""Function: one differentiable op, its forward beside its backward (early tinygrad's ctx style).

A subclass writes `forward(ctx, *arrays, **options) -> ndarray` and `backward(ctx, grad) -> grads`, one gradient
per positional input (None where no gradient is needed). `Function.apply` runs the forward on raw NumPy arrays and,
when some input needs a gradient, records the node in the output Tensor so `Tensor.backward` can replay it.
"""
import numpy as np

from tinyllm.autograd import anomaly


def unbroadcast(grad, shape):
    """Sum `grad` back to `shape`, undoing NumPy broadcasting: the one place broadcast inputs get their gradient.

    Broadcasting prepends axes and stretches size-1 axes; the chain rule sums over every copy it made.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


class Function:
    """Base class of every op. The instance is the `ctx`: it keeps what backward needs and the graph edges."""

    # Set by apply when a graph is built: `inputs` are the positional inputs (Tensors, or arrays used as
    # constants), `needs_input_grad[i]` says whether input i wants a gradient (so backward can skip work),
    # and `parents` are the inputs that do: the graph's edges.
    inputs = ()
    needs_input_grad = ()
    parents = ()
    saved_tensors = ()
    allows_inf = False  # True for ops whose output may hold -inf on purpose (masks); the anomaly check obeys it

    def save_for_backward(self, *arrays):
        """Keep arrays for the backward pass (read back as `ctx.saved_tensors`)."""
        self.saved_tensors = arrays

    def forward(self, *arrays, **options):
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} must define backward")

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the op on Tensors (or arrays treated as constants) and return a Tensor wired into the graph."""
        ctx = cls()
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        try:
            out = ctx.forward(*arrays, **options)
        except ValueError as e:  # NumPy's broadcasting / axis errors: say which op and which shapes
            shapes = " and ".join(str(getattr(a, "shape", ())) for a in arrays)
            raise ValueError(f"{cls.__name__} on inputs of shape {shapes}: {e}") from None
        if anomaly.enabled:
            anomaly.check_forward(cls.__name__, out, cls.allows_inf)
        t = _new_tensor(Tensor)
        t.data = out if type(out) is np.ndarray else np.asarray(out)  # NumPy reductions return scalars
        t.grad, t._ctx, t.requires_grad = None, None, False
        if _GradMode.enabled:
            needs = tuple([isinstance(x, Tensor) and x.requires_grad for x in inputs])
            if True in needs:
                ctx.inputs, ctx.needs_input_grad = inputs, needs
                ctx.parents = tuple([x for x, need in zip(inputs, needs) if need])
                t._ctx, t.requires_grad = ctx, True
        return t


def check_grad(fn, x, g):
    """The safety net of backward: a gradient must have its input's shape (else name the op) and dtype.

    A dtype differs only when an op mixed float32 and float64 inputs; the gradient is cast to the input's dtype.
    """
    if g.shape != x.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} "
                           f"for an input of shape {x.shape}")
    if anomaly.enabled:
        anomaly.check_backward(type(fn).__name__, g)
    return g if g.dtype == x.dtype else g.astype(x.dtype)


# tensor.py imports this module; importing Tensor last keeps either import order working.
from tinyllm.autograd.tensor import Tensor, _GradMode  # noqa: E402

_new_tensor = object.__new__  # op outputs skip Tensor.__init__'s checks: the data is already a valid ndarray
