"""The selective scan as one differentiable op: forward and hand-written backward both live in kernels/scan.py.

    y_t = C_t . h_t,   h_t = exp(delta_t A) * h_{t-1} + delta_t B_t u_t      (Mamba, Gu & Dao 2023, Section 3)

`selective_scan(u, delta, A, B, C, D)` adds the skip term D * u_t of the paper's SSM output. The op saves only
the inputs and one state every `chunk` steps (not every h_t); its backward recomputes each chunk's states.
"""
import numpy as np

from tinyllm import kernels
from tinyllm.autograd.function import Function
from tinyllm.autograd.tensor import Tensor


class SelectiveScan(Function):
    """u, delta (Bt, L, D), A (D, N), B, C (Bt, L, N) -> y (Bt, L, D); gradients for all five inputs."""

    def forward(self, u, delta, A, B, C, chunk=16, delta_softplus=False):
        y, h_ckpt, _ = kernels.selective_scan_forward(u, delta, A, B, C, None, chunk, delta_softplus)
        self.save_for_backward(u, delta, A, B, C, h_ckpt)
        self.chunk, self.delta_softplus = chunk, delta_softplus
        return y

    def backward(self, grad):
        u, delta, A, B, C, h_ckpt = self.saved_tensors
        grads = kernels.selective_scan_backward(u, delta, A, B, C, h_ckpt, grad, self.chunk, self.delta_softplus)
        return tuple(g if need else None for g, need in zip(grads, self.needs_input_grad))


def selective_scan(u, delta, A, B, C, D=None, chunk=16, delta_softplus=False):
    """y = scan(u, delta, A, B, C) + D * u as Tensors. Every float input must share one dtype; delta >= 0 and
    A <= 0 keep Ā = exp(delta A) <= 1 (the Numba kernel needs it; other values run on the NumPy reference).
    delta_softplus=True: `delta` is the raw input and the scan uses softplus(delta), fused into the op."""
    ts = [x if isinstance(x, Tensor) else Tensor(x) for x in (u, delta, A, B, C)]
    dtypes = {t.dtype for t in ts}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        raise TypeError(f"selective_scan: u, delta, A, B, C must share one float dtype, got "
                        f"{[str(t.dtype) for t in ts]}")
    y = SelectiveScan.apply(*ts, chunk=chunk, delta_softplus=bool(delta_softplus))                    # (Bt, L, D)
    if D is None:
        return y
    if tuple(np.shape(D.data if isinstance(D, Tensor) else D)) != (ts[0].shape[-1],):
        raise ValueError(f"selective_scan: D must have shape ({ts[0].shape[-1]},), got {np.shape(D)}")
    return y + ts[0] * D
