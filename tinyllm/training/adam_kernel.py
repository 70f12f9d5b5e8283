"""The Adam/AdamW element update, as a NumPy reference and a fused Numba twin with the same signature.

    w *= shrink                               (AdamW's decoupled decay: shrink = 1 - lr * wd; 1 for Adam)
    m  = b1 * m + (1 - b1) * g
    v  = b2 * v + (1 - b2) * g^2
    w -= a_t * m / (sqrt(v) + eps_t)          (a_t, eps_t fold in the bias corrections; see optim.Adam)

The NumPy version makes about ten passes over memory with temporaries; the Numba one makes one pass and no
temporaries, which matters because the update touches every parameter every step. Both update w, m, v in place.
Scalars are cast to the arrays' dtype first, so float32 arithmetic matches NumPy's (tested equal).
`adam_update` picks the twin that matches tinyllm.kernels' active backend (TINYLLM_KERNELS).
"""
import numpy as np


def adam_update_numpy(w, g, m, v, b1, b2, a_t, eps_t, shrink):
    """Reference: vectorised NumPy, in place on w, m, v (any shapes, all equal)."""
    if shrink != 1.0:
        w *= shrink
    m *= b1
    m += (1.0 - b1) * g
    v *= b2
    v += (1.0 - b2) * np.square(g)
    denom = np.sqrt(v)
    denom += eps_t
    w -= a_t * (m / denom)


try:
    from numba import njit

    # error_model="numpy": IEEE division (no Python zero-check branch), which lets LLVM vectorise the loop (~3x)
    @njit(cache=True, nogil=True, error_model="numpy")
    def _fused(w, g, m, v, b1, c1, b2, c2, a_t, eps_t, shrink):
        """One pass over flat arrays; c1 = 1 - b1 and c2 = 1 - b2 are precomputed like NumPy's scalars."""
        for i in range(w.size):
            gi = g[i]
            mi = m[i] * b1
            mi = mi + c1 * gi
            vi = v[i] * b2
            vi = vi + c2 * (gi * gi)
            m[i] = mi
            v[i] = vi
            w[i] = w[i] * shrink - a_t * (mi / (np.sqrt(vi) + eps_t))
except ImportError:  # Numba missing: the reference serves
    _fused = None


def adam_update_numba(w, g, m, v, b1, b2, a_t, eps_t, shrink):
    """Fused twin: same contract; falls back to the reference for non-contiguous or mixed-dtype arrays."""
    arrays = (w, g, m, v)
    if _fused is None or any(not a.flags.c_contiguous or a.dtype != w.dtype for a in arrays) or w.dtype.kind != "f":
        return adam_update_numpy(w, g, m, v, b1, b2, a_t, eps_t, shrink)
    t = w.dtype.type
    _fused(w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
           t(b1), t(1.0 - b1), t(b2), t(1.0 - b2), t(a_t), t(eps_t), t(shrink))


def adam_update(w, g, m, v, b1, b2, a_t, eps_t, shrink):
    """The twin for the active kernel backend."""
    from tinyllm import kernels
    impl = adam_update_numba if kernels.backend == "numba" else adam_update_numpy
    impl(w, g, m, v, b1, b2, a_t, eps_t, shrink)
