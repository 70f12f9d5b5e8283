"""Module and Parameter: how layers own their weights, find each other, and save/load them as plain arrays.

A Module finds its parameters by walking its attributes in the order they were assigned, descending into child
modules and into lists, tuples and dicts of them. So `self.blocks = [Block(...) for _ in range(n)]` just works,
and names are dotted paths such as `blocks.0.attn.qkv.weight`. A tensor shared by two modules (tied embeddings)
is listed once, under the first name the walk meets.
"""
import numpy as np

from tinyllm.autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad is always True."""

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def _children(value, name):
    """(dotted_name, item) pairs inside a list/tuple/dict attribute; other values yield themselves."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _children(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _children(item, f"{name}.{key}")
    else:
        yield name, value


class Module:
    """Base class of every layer and model. Subclasses assign parameters/submodules as attributes and define
    forward(); calling the module calls forward."""

    training = True  # instances get their own flag from train()/eval()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ----------------------------------------------------------------------------------
    def _walk(self, prefix, seen):
        """Yield (dotted_name, object) for every Parameter, Module and Generator below self, each once."""
        for attr, value in vars(self).items():
            for name, item in _children(value, prefix + attr):
                if isinstance(item, (Parameter, Module, np.random.Generator)):
                    if id(item) in seen:
                        continue
                    seen.add(id(item))
                    yield name, item
                    if isinstance(item, Module):
                        yield from item._walk(name + ".", seen)

    def named_modules(self):
        """[(dotted_name, Module)] for every submodule (self excluded), in attribute order."""
        return [(n, m) for n, m in self._walk("", {id(self)}) if isinstance(m, Module)]

    def named_parameters(self):
        """[(dotted_name, Parameter)] in a deterministic order (attribute assignment order), without duplicates."""
        return [(n, p) for n, p in self._walk("", {id(self)}) if isinstance(p, Parameter)]

    def parameters(self):
        """The Parameters of named_parameters(), in the same order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        """Total number of trainable scalars (shared tensors counted once)."""
        return int(sum(p.data.size for p in self.parameters()))

    # ---- modes and gradients -------------------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout active) on self and every submodule; returns self."""
        self.training = bool(mode)
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: dropout off. Returns self."""
        return self.train(False)

    def zero_grad(self):
        """Clear the .grad of every parameter."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype):
        """Cast every parameter to float `dtype` in place (e.g. np.float64 for gradient checks); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a float type, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        return self

    # ---- saving and loading --------------------------------------------------------------------------------
    def state_dict(self):
        """{dotted_name: ndarray copy} of every parameter: plain arrays, ready for np.savez (no pickle)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state, strict=True):
        """Copy arrays from `state` into the parameters in place (dtype kept). With strict=True every parameter
        must be present and no other key allowed; a shape mismatch is always an error. Errors list every problem."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        unexpected = [n for n in state if n not in params]
        mis_shaped = [f"{n}: checkpoint {tuple(np.shape(state[n]))} vs model {p.shape}"
                      for n, p in params.items() if n in state and tuple(np.shape(state[n])) != tuple(p.shape)]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mis_shaped:
            problems.append(f"mis-shaped keys: {mis_shaped}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed; " + "; ".join(problems))
        for name, p in params.items():
            if name in state:
                value = np.asarray(state[name])
                if value.dtype.kind not in "fiu":
                    raise ValueError(f"load_state_dict: {name} has non-numeric dtype {value.dtype}")
                p.data[...] = value  # in place: optimizers holding p keep working
        return self

    # ---- random state (dropout) ----------------------------------------------------------------------------
    def rng_state(self):
        """{dotted_name: bit-generator state dict} of every numpy Generator owned below self (JSON-friendly)."""
        return {n: g.bit_generator.state for n, g in self._walk("", {id(self)})
                if isinstance(g, np.random.Generator)}

    def set_rng_state(self, states):
        """Restore what rng_state() returned, so a resumed run draws the same dropout masks."""
        gens = {n: g for n, g in self._walk("", {id(self)}) if isinstance(g, np.random.Generator)}
        unknown = sorted(set(states) - set(gens))
        if unknown:
            raise ValueError(f"set_rng_state: no generator named {unknown}; this model has {sorted(gens)}")
        for name, state in states.items():
            gens[name].bit_generator.state = state

    def extra_repr(self):
        """One line of settings shown by repr(), e.g. 'in=128, out=384, bias=False'. Layers override it."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for attr, value in vars(self).items():
            for name, m in _children(value, attr):
                if isinstance(m, Module):
                    lines.append("  " + f"({name}): {m!r}".replace("\n", "\n  "))
        return "\n".join(lines) + "\n)" if len(lines) > 1 else lines[0] + ")"
