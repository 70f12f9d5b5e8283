"""Check a function's analytic gradient against finite differences, without any reference implementation.

For random directions v (one per input) and u (output-shaped) the chain rule says
    <u, J v> = sum_i <dL/dx_i, v_i>   with L = sum(u * f(x)),
and the left side is also the central difference (L(x + h v) - L(x - h v)) / 2h. Comparing the two along a
few random directions checks the whole Jacobian at the cost of a few forward passes (HIPS autograd's approach).

Example (learners: write your own op, then check it the same way):

    >>> import numpy as np, tinyllm.functional as F
    >>> from tinyllm.gradcheck import gradcheck
    >>> x = np.random.default_rng(0).normal(size=(3, 5))
    >>> gradcheck(lambda t: F.softmax(t) * t, x)
    True
"""
import numpy as np

from tinyllm.autograd.tensor import Tensor


def directional_derivatives(f, inputs, rng, h=1e-6):
    """One random direction: (analytic <u, J v>, central-difference estimate), both floats."""
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    ts = [Tensor(x, requires_grad=True) for x in xs]
    y = f(*ts)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(y).__name__}")
    if y.dtype != np.float64:
        raise TypeError(f"gradcheck: f returned dtype {y.dtype}; keep float64 end to end for a meaningful check")
    u = rng.normal(size=y.shape)
    vs = [rng.normal(size=x.shape) for x in xs]
    if y.requires_grad:
        y.backward(u)
    analytic = sum(float(np.sum(t.grad * v)) for t, v in zip(ts, vs) if t.grad is not None)

    def L(sign):
        shifted = [Tensor(x + sign * h * v) for x, v in zip(xs, vs)]
        return float(np.sum(u * f(*shifted).data))

    numeric = (L(+1) - L(-1)) / (2 * h)
    return analytic, numeric


def gradcheck(f, *inputs, n_directions=3, h=1e-6, rtol=1e-4, atol=1e-6, seed=0):
    """Return True if f's backward agrees with central differences along `n_directions` random directions.

    f: takes one Tensor per input (float64) and returns a Tensor. inputs: arrays, differentiated w.r.t. all.
    Raises AssertionError with both numbers when they disagree. Keep inputs away from kinks (relu at 0,
    ties in max, sqrt at 0), where no finite difference is meaningful.
    """
    rng = np.random.default_rng(seed)
    for i in range(n_directions):
        analytic, numeric = directional_derivatives(f, inputs, rng, h)
        if not abs(analytic - numeric) <= atol + rtol * max(abs(analytic), abs(numeric)):
            raise AssertionError(f"gradcheck failed along direction {i}: analytic <u, J v> = {analytic!r}, "
                                 f"finite difference = {numeric!r} (diff {abs(analytic - numeric):.3g})")
    return True
