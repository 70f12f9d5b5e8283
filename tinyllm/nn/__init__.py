"""Layers built on the autograd engine: Module/Parameter, Linear, Embedding, norms, MLP, attention."""
