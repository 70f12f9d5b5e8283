"""The autograd engine: Tensor, Function (forward beside backward), the ops, and the functional API."""
