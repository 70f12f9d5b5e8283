"""The autograd engine: Tensor, Function (forward beside backward), the ops, and the functional API.

tensor.py is imported first on purpose: the op modules and function.py refer to each other through it, and
fixing the order here makes `import tinyllm.autograd.<anything>` work whichever module a user imports first.
"""
from tinyllm.autograd.tensor import Tensor, is_grad_enabled, no_grad  # noqa: F401
