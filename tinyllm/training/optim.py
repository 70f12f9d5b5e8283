"""Optimizers that update parameters in place from their `.grad`: SGD (momentum, Nesterov), Adam, AdamW.

A parameter is anything with two NumPy arrays, `.data` and `.grad` (grad may be None: the parameter is skipped).
Updates are vectorised NumPy on whole arrays, written into `.data` in place, so the model never sees new objects.

Parameters are passed as a list, or as param groups (dicts with a "params" list and per-group options such as
"weight_decay"), exactly as in PyTorch. `decay_groups` builds the two groups tinyllm uses for GPT training:

    The weight-decay rule: decay a parameter iff it is a matrix (ndim >= 2) and not an embedding table.
    So biases and norm gains (1-D) are never decayed, and neither are token/position embeddings -- including the
    token embedding when it is tied to the output layer, because decaying it would shrink the input
    representation of rare tokens that receive almost no gradient (see nanoGPT/minGPT for the alternatives).

`state_dict()` returns plain data: {"arrays": {name: ndarray}, "scalars": {...JSON-able...}} so a checkpoint can
put the arrays in `weights.npz` and the scalars in `manifest.json` (no pickle).
"""
import math

import numpy as np

from tinyllm.training.adam_kernel import adam_update


def _check_hyper(name, value, low=0.0, high=None, low_inclusive=True):
    """Reject a bad hyperparameter with a message naming it."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (value == low and not low_inclusive) or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else (f">= {low}" if low_inclusive else f"> {low}")
        raise ValueError(f"{name} must be {bound}, got {value!r}")


class Optimizer:
    """Base class: holds param groups and per-parameter state; subclasses implement `_update(p, g, state, group)`."""

    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("params is empty: the optimizer has nothing to update")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups = []
        seen = set()
        for group in params:
            unknown = set(group) - set(defaults) - {"params"}
            if unknown:
                raise ValueError(f"param group has unknown option(s) {sorted(unknown)}; "
                                 f"known: {sorted(defaults)}")
            group = {**self.defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not (hasattr(p, "data") and hasattr(p, "grad")):
                    raise TypeError(f"params must have .data and .grad arrays, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError("a parameter appears twice in params (tied weights must be passed once)")
                seen.add(id(p))
            self._validate(group)
            self.param_groups.append(group)
        self.state = {}   # flat parameter index -> dict of arrays (momentum buffers, moments)
        self.step_count = 0  # number of step() calls so far (Adam's t)

    def _validate(self, group):
        _check_hyper("lr", group["lr"])

    def params(self):
        """All parameters in a fixed order (group by group); the index is the key of their state."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        """Drop every gradient (set to None), so the next backward() starts from nothing."""
        for p in self.params():
            p.grad = None

    def set_lr(self, lr):
        """Set the learning rate of every group (what a schedule calls once per step)."""
        _check_hyper("lr", lr)
        for group in self.param_groups:
            group["lr"] = float(lr)

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        self.step_count += 1
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = np.asarray(p.grad)
                    if g.shape != p.data.shape:
                        raise ValueError(f"parameter {i}: grad shape {g.shape} != data shape {p.data.shape}")
                    self._update(p.data, g, self.state.setdefault(i, {}), group)
                i += 1

    def _update(self, w, g, state, group):
        raise NotImplementedError

    # ---- plain-data state, for checkpoints ----
    def state_dict(self):
        """{"arrays": {"<index>.<buffer>": ndarray}, "scalars": {"step_count", "groups": [options...]}}."""
        arrays = {f"{i}.{k}": v for i, s in self.state.items() for k, v in s.items()}
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}
                  | {"n_params": len(g["params"])} for g in self.param_groups]
        return {"arrays": arrays, "scalars": {"type": type(self).__name__, "step_count": self.step_count,
                                              "groups": groups}}

    def load_state_dict(self, state):
        """Restore what state_dict() returned; checks the optimizer type, group sizes and buffer shapes."""
        scalars, arrays = state["scalars"], state["arrays"]
        if scalars.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {scalars.get('type')!r}, not {type(self).__name__!r}")
        if len(scalars["groups"]) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(scalars['groups'])} param groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for saved, group in zip(scalars["groups"], self.param_groups):
            if saved["n_params"] != len(group["params"]):
                raise ValueError(f"param group size mismatch: saved {saved['n_params']}, now {len(group['params'])}")
            for k, v in saved.items():
                if k != "n_params":
                    group[k] = tuple(v) if isinstance(v, list) else v
        params = self.params()
        self.state = {}
        for key, value in arrays.items():
            index, name = key.split(".", 1)
            p = params[int(index)]
            if value.shape != p.data.shape:
                raise ValueError(f"optimizer buffer {key!r} has shape {value.shape}, parameter has {p.data.shape}")
            self.state.setdefault(int(index), {})[name] = np.array(value, dtype=p.data.dtype)
        self.step_count = int(scalars["step_count"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's form, no dampening) and Nesterov.

    b_t = mu * b_{t-1} + g_t (b_1 = g_1);  update d = b_t, or g_t + mu * b_t with Nesterov;  w -= lr * d.
    weight_decay here is classic L2: g_t = grad + weight_decay * w.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _validate(self, group):
        _check_hyper("lr", group["lr"])
        _check_hyper("momentum", group["momentum"], 0.0, 1.0)
        _check_hyper("weight_decay", group["weight_decay"])
        if group["nesterov"] and group["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0")

    def _update(self, w, g, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * w
        if mu:
            if "momentum" not in state:
                state["momentum"] = g.astype(w.dtype, copy=True)
            else:
                b = state["momentum"]
                b *= mu
                b += g
            b = state["momentum"]
            g = g + mu * b if group["nesterov"] else b
        w -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction; weight_decay is coupled L2 (added to the grad).

    m_t = b1 m + (1-b1) g;  v_t = b2 v + (1-b2) g^2;  m_hat = m_t / (1-b1^t);  v_hat = v_t / (1-b2^t);
    w -= lr * m_hat / (sqrt(v_hat) + eps).
    """
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _validate(self, group):
        _check_hyper("lr", group["lr"])
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_hyper("betas[0]", betas[0], 0.0, 1.0)
        _check_hyper("betas[1]", betas[1], 0.0, 1.0)
        _check_hyper("eps", group["eps"], 0.0, low_inclusive=False)
        _check_hyper("weight_decay", group["weight_decay"])

    def _update(self, w, g, state, group):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        shrink = 1.0
        if wd and self.decoupled:
            shrink = 1.0 - lr * wd    # AdamW: shrink the weights directly, outside the adaptive scaling
        elif wd:
            g = g + wd * w            # Adam: L2 penalty folded into the gradient
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        t = self.step_count
        # fold both bias corrections into one step size and one eps: w -= a_t * m / (sqrt(v) + eps_t)
        a_t = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        eps_t = eps * math.sqrt(1.0 - b2 ** t)
        # m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w = shrink * w - a_t * m / (sqrt(v) + eps_t), in place
        adam_update(w, np.asarray(g, dtype=w.dtype), state["exp_avg"], state["exp_avg_sq"], b1, b2, a_t, eps_t,
                    shrink)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): w -= lr * wd * w, then the Adam step."""
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def decay_groups(model, weight_decay, decay_embeddings=False):
    """Two param groups for `model` (a Module) following this file's weight-decay rule: matrices decayed, others not.

    Embedding tables are the `.weight` of any submodule whose class name contains "Embedding"; a tied tensor
    (token embedding = output layer) is one parameter, listed once, and counts as an embedding.
    decay_embeddings=True decays them too (nanoGPT's rule: every parameter with ndim >= 2).
    """
    embedding_ids = set() if decay_embeddings else {
        id(mod.weight) for _, mod in model.named_modules()
        if "Embedding" in type(mod).__name__ and getattr(mod, "weight", None) is not None}
    decay, no_decay, seen = [], [], set()
    for _, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.data.ndim >= 2 and id(p) not in embedding_ids else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def clip_grad_norm(params, max_norm):
    """Scale all gradients together so their global L2 norm is at most max_norm; returns the norm before clipping.

    The norm is sqrt(sum over params of sum(g^2)), accumulated in float64. A non-finite norm is returned unchanged
    and the gradients are left alone, so the caller can report the NaN/Inf instead of spreading it.
    """
    _check_hyper("max_norm", max_norm, 0.0, low_inclusive=False)
    grads = [np.asarray(p.grad) for p in params if p.grad is not None]
    total = global_grad_norm(params)
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total


def global_grad_norm(params):
    """sqrt(sum over params of sum(g^2)): the norm clip_grad_norm bounds, and what the trainer logs."""
    return math.sqrt(sum(_sum_of_squares(np.asarray(p.grad)) for p in params if p.grad is not None))


def _sum_of_squares(g):
    """sum(g^2) as a Python float: a BLAS dot in g's dtype, redone in float64 if float32 overflowed."""
    flat = g.ravel()
    sq = float(np.vdot(flat, flat))
    if not math.isfinite(sq) and np.isfinite(flat).all():
        flat64 = flat.astype(np.float64)
        sq = float(np.vdot(flat64, flat64))
    return sq
