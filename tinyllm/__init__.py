"""tinyllm: a from-scratch, read-and-modify LLM framework on NumPy (autograd) and Numba (hot kernels).

The few names a script needs are re-exported here and imported lazily, so that `import tinyllm.ngram`
(which needs no autograd) stays cheap and never compiles a kernel.
"""
from importlib import import_module

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_EXPORTS = {
    "Tensor": "tinyllm.autograd.tensor",
    "no_grad": "tinyllm.autograd.tensor",
    "Module": "tinyllm.nn.module",
    "Parameter": "tinyllm.nn.module",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tinyllm' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
