"""Elementwise primitives with NumPy broadcasting; each backward sums broadcast gradients with `unbroadcast`.

Only ops that are cheaper or stabler as one node get a class here. `sub` and `div` are primitives rather than
`a + (-b)` and `a * b**-1` because a training step runs hundreds of them and every node costs Python time;
`sigmoid` and `softplus` are primitives because their composed forms overflow `exp` for large |x|.
"""
import numpy as np

from tinyllm.autograd.function import Function, unbroadcast


def _zero_where_no_grad(grad, dx):
    """dx, with exact zeros wherever grad is 0: 0 * inf = NaN must not leak out of an untaken branch.

    In `where(x > 0, sqrt(x), 0)` the sqrt branch gets gradient 0 at x = 0, where d sqrt/dx = inf; without this
    the chain rule would return NaN (HIPS autograd #183). Only arrays holding a NaN/Inf pay for the fix.
    """
    if np.isfinite(dx).all():
        return dx
    return np.where(grad == 0, np.zeros((), dx.dtype), dx)


class Add(Function):
    """y = a + b."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, grad):
        sa, sb = self.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


class Sub(Function):
    """y = a - b."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, grad):
        sa, sb = self.shapes
        return unbroadcast(grad, sa), (unbroadcast(-grad, sb) if self.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b;  da = g * b,  db = g * a."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        da = unbroadcast(grad * b, a.shape) if need_a else None
        db = unbroadcast(grad * a, b.shape) if need_b else None
        return da, db


class Div(Function):
    """y = a / b;  da = g / b,  db = -g * a / b^2 = -g * y / b."""

    def forward(self, a, b):
        y = a / b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, grad):
        a, b, y = self.saved_tensors
        need_a, need_b = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            da = unbroadcast(_zero_where_no_grad(grad, grad / b), a.shape) if need_a else None
            db = unbroadcast(_zero_where_no_grad(grad, -grad * y / b), b.shape) if need_b else None
        return da, db


class Neg(Function):
    """y = -x."""

    def forward(self, x):
        return -x

    def backward(self, grad):
        return (-grad,)


class Pow(Function):
    """y = x ** p;  dx = g * p * x^(p-1),  dp = g * y * log(x) (only computed when p needs a gradient)."""

    def forward(self, x, p):
        y = x ** p
        self.save_for_backward(x, p, y)
        return y

    def backward(self, grad):
        x, p, y = self.saved_tensors
        need_x, need_p = self.needs_input_grad
        dx = dp = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_x:
                dx = unbroadcast(_zero_where_no_grad(grad, grad * p * x ** (p - 1)), x.shape)
            if need_p:
                dp = unbroadcast(_zero_where_no_grad(grad, grad * y * np.log(x)), p.shape)
        return dx, dp


class Exp(Function):
    """y = e^x;  dx = g * y."""

    def forward(self, x):
        y = np.exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        with np.errstate(invalid="ignore"):
            return (_zero_where_no_grad(grad, grad * y),)  # y may be inf (overflow) in an untaken branch


class Log(Function):
    """y = ln x;  dx = g / x."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.log(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return (_zero_where_no_grad(grad, grad / x),)


class Tanh(Function):
    """y = tanh x;  dx = g * (1 - y^2)."""

    def forward(self, x):
        y = np.tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return (grad * (1 - y * y),)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 so no exp overflows;  dx = g * y * (1 - y)."""

    def forward(self, x):
        y = 0.5 * (1 + np.tanh(0.5 * x))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return (grad * y * (1 - y),)


class Softplus(Function):
    """y = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) (stable form);  dx = g * sigmoid(x)."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * (0.5 * (1 + np.tanh(0.5 * x))),)


class Relu(Function):
    """y = max(x, 0);  dx = g where x > 0 (the kink at 0 gets gradient 0)."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(x, 0)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * (x > 0),)


class Abs(Function):
    """y = |x|;  dx = g * sign(x) (0 at the kink)."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.abs(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return (grad * np.sign(x),)


class Where(Function):
    """y = a where cond else b; the gradient flows to whichever side was picked. `cond` is a constant."""

    allows_inf = True  # masked_fill(x, mask, -inf) is the sanctioned way to mask scores

    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = (a.shape, b.shape)
        return np.where(cond, a, b)

    def backward(self, grad):
        sa, sb = self.shapes
        _, need_a, need_b = self.needs_input_grad
        zero = np.zeros((), dtype=grad.dtype)
        da = unbroadcast(np.where(self.cond, grad, zero), sa) if need_a else None
        db = unbroadcast(np.where(self.cond, zero, grad), sb) if need_b else None
        return None, da, db


class Cast(Function):
    """y = x converted to another float dtype; the gradient is converted back."""

    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad):
        return (grad.astype(self.in_dtype),)
