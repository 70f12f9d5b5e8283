"""`import tinyllm.functional as F`: the differentiable functions (softmax, cross_entropy, layer_norm, ...).

They live in `tinyllm/autograd/`; this module only gathers them under one short name.
"""
from tinyllm.autograd.functional import *  # noqa: F401,F403
from tinyllm.autograd.functional import __all__  # noqa: F401
