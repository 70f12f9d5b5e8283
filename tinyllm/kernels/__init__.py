"""Hot loops, each a Numba kernel beside its plain-NumPy twin with the same signature.

`TINYLLM_KERNELS=numpy|numba` picks the backend at import (default numba; numpy if Numba is missing).
The autograd ops call the names exported here, e.g. `kernels.softmax_forward(x)`, and never care which twin runs.
Every kernel file defines `<name>_numpy` and `<name>_numba`; `use(backend)` rebinds the public names.

Conventions shared by all kernels (shape letters as in the README glossary):
- reductions run over the last axis; leading axes are flattened into rows (N = product of leading dims);
- inputs may be float32 or float64 and non-contiguous; outputs have the input's float dtype;
- masks are boolean with True = "may attend"; masked scores are -inf, never a large finite number.
"""
import os
import sys
from importlib import import_module

# public kernel name -> module defining `<name>_numpy` and `<name>_numba`
KERNELS = {
    "matmul": "matmul",
    "softmax_forward": "softmax", "softmax_backward": "softmax",
    "log_softmax_forward": "softmax", "log_softmax_backward": "softmax",
    "cross_entropy_forward": "cross_entropy", "cross_entropy_backward": "cross_entropy",
    "layernorm_forward": "layernorm", "layernorm_backward": "layernorm",
    "gelu_forward": "gelu", "gelu_backward": "gelu",
    "attention_forward": "attention", "attention_backward": "attention",
    "flash_attention_forward": "flash_attention", "flash_attention_backward": "flash_attention",
    "selective_scan_forward": "scan", "selective_scan_backward": "scan",
    "conv1d_silu_forward": "conv1d", "conv1d_silu_backward": "conv1d",
}

BACKENDS = ("numpy", "numba")
backend = None  # the active backend's name, set by use()


def _numba_available():
    try:
        import numba  # noqa: F401
        return True
    except ImportError:
        return False


def use(name):
    """Switch every kernel to backend `name` ('numpy' or 'numba'); returns the previous backend."""
    global backend
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {BACKENDS} (env TINYLLM_KERNELS)")
    if name == "numba" and not _numba_available():
        raise RuntimeError("TINYLLM_KERNELS=numba but Numba is not installed; pip install numba or use numpy")
    previous, this = backend, sys.modules[__name__]
    for public, module in KERNELS.items():
        mod = import_module(f"{__name__}.{module}")
        impl = getattr(mod, f"{public}_{name}", None)
        if impl is None:  # a kernel without a Numba twin yet falls back to its reference
            impl = getattr(mod, f"{public}_numpy")
        setattr(this, public, impl)
    backend = name
    return previous


def get(public, name):
    """The `name` twin of kernel `public`, e.g. get('softmax_forward', 'numpy'): what tests compare."""
    mod = import_module(f"{__name__}.{KERNELS[public]}")
    return getattr(mod, f"{public}_{name}")


def num_threads():
    """Threads Numba's parallel kernels use (1 when running the NumPy backend without Numba)."""
    if not _numba_available():
        return 1
    import numba
    return numba.get_num_threads()


def set_num_threads(n):
    """Set Numba's thread count (BLAS threads are set by OPENBLAS_NUM_THREADS / threadpoolctl)."""
    import numba
    numba.set_num_threads(int(n))


from .runtime import prefer_passive_wait  # noqa: E402

prefer_passive_wait()  # before any parallel kernel starts Numba's OpenMP workers (see runtime.py)
_default = os.environ.get("TINYLLM_KERNELS", "numba").strip().lower() or "numba"
if _default == "numba" and not _numba_available():
    _default = "numpy"
use(_default)
