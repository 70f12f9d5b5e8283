"""The selective scan as one differentiable op: forward and hand-written backward both live in kernels/scan.py.

    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t,   y_t = C_t . h_t + D u_t,   out_t = y_t * silu(z_t)

(Mamba, Gu & Dao 2023, Section 3 and Figure 3). The skip D, the gate z and Δ's softplus are optional and fused
into the one node, as in the official kernel: no (B, L, D) intermediate is stored for them. The op saves only its
inputs and one state every `chunk` steps (not every h_t); its backward recomputes each chunk's states.
"""
import numpy as np

from tinyllm import kernels
from tinyllm.autograd.function import Function
from tinyllm.autograd.tensor import Tensor


class SelectiveScan(Function):
    """u, delta (Bt, L, D), A (D, N), B, C (Bt, L, N)[, D (D,)][, z (Bt, L, D)] -> out (Bt, L, D)."""

    def forward(self, u, delta, A, B, C, *optional, has_D=False, chunk=16, delta_softplus=False):
        D = optional[0] if has_D else None
        z = optional[-1] if len(optional) > int(has_D) else None
        out, h_ckpt, _ = kernels.selective_scan_forward(u, delta, A, B, C, D, z, None, chunk, delta_softplus)
        self.save_for_backward(u, delta, A, B, C, D, z, h_ckpt)
        self.chunk, self.delta_softplus = chunk, delta_softplus
        return out

    def backward(self, grad):
        u, delta, A, B, C, D, z, h_ckpt = self.saved_tensors
        grads = kernels.selective_scan_backward(u, delta, A, B, C, D, z, h_ckpt, grad, self.chunk,
                                                self.delta_softplus)
        grads = [g for g in grads if g is not None]                   # one per input: D, z only when given
        return tuple(g if need else None for g, need in zip(grads, self.needs_input_grad))


def selective_scan(u, delta, A, B, C, D=None, z=None, chunk=16, delta_softplus=False):
    """out = (scan(u, delta, A, B, C) + D * u) * silu(z) as Tensors; D and z are optional. Every float input must
    share one dtype; delta >= 0 and A <= 0 keep Ā = exp(delta A) <= 1 (the Numba kernel needs it; other values run
    on the NumPy reference). delta_softplus=True: `delta` is the raw input and the scan uses softplus(delta)."""
    ts = [x if isinstance(x, Tensor) else Tensor(x) for x in (u, delta, A, B, C)]
    dtypes = {t.dtype for t in ts}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        raise TypeError(f"selective_scan: u, delta, A, B, C must share one float dtype, got "
                        f"{[str(t.dtype) for t in ts]}")
    optional = []
    for name, x, shape in (("D", D, (ts[0].shape[-1],)), ("z", z, ts[0].shape)):
        if x is None:
            continue
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=ts[0].dtype))
        if tuple(x.shape) != tuple(shape) or x.dtype != ts[0].dtype:
            raise ValueError(f"selective_scan: {name} must be {ts[0].dtype} of shape {tuple(shape)}, got "
                             f"{x.dtype} {tuple(x.shape)}")
        optional.append(x)
    return SelectiveScan.apply(*ts, *optional, has_D=D is not None, chunk=chunk,
                               delta_softplus=bool(delta_softplus))                              # (Bt, L, D)
