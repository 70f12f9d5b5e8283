"""Layers built on the autograd engine: Module/Parameter, Linear, Embedding, LayerNorm, RMSNorm, Dropout, MLP.

Attention lives with the models that use it (tinyllm/models/attention.py).
"""
from tinyllm.nn.module import Module, Parameter
from tinyllm.nn.layers import Dropout, Embedding, LayerNorm, Linear, MLP, RMSNorm

__all__ = ["Module", "Parameter", "Linear", "Embedding", "LayerNorm", "RMSNorm", "Dropout", "MLP"]
