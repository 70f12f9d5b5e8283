"""GELU, x * Phi(x): exact (erf) or the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; the reference may be slow
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu_forward_numpy(x, approximate=True):
    """x (...) -> y (...), same dtype."""
    x64 = x.astype(np.float64, copy=False)
    if approximate:
        y = 0.5 * x64 * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))
    return y.astype(x.dtype, copy=False)


def gelu_backward_numpy(x, dy, approximate=True):
    """dx = dy * dGELU/dx, same dtype as x."""
    x64 = x.astype(np.float64, copy=False)
    if approximate:
        u = _SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)
        th = np.tanh(u)
        du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x64 ** 2)
        d = 0.5 * (1.0 + th) + 0.5 * x64 * (1.0 - th ** 2) * du
    else:
        cdf = 0.5 * (1.0 + _erf(x64 / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * x64 ** 2) / math.sqrt(2.0 * math.pi)
        d = cdf + x64 * pdf
    return (dy * d).astype(x.dtype, copy=False)
