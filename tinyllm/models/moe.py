"""Mixture-of-experts MLP: a router sends each token to its top-k of E small MLPs (Shazeer et al. 2017; Switch
Transformer, Fedus et al. 2021).

    p      = softmax(x W_r)                      (N, E) router probabilities
    E_i    = the k experts with the largest p_i  (ties: lower index first)
    y_i    = sum_{e in E_i} p_ie * MLP_e(x_i)    experts see only the tokens routed to them
    aux    = E * sum_e f_e * P_e                 load balancing (Switch eq. 4): f_e = share of routed slots that
                                                  chose e (a count, no gradient), P_e = mean_i p_ie (differentiable)

aux is 1 when routing is perfectly uniform and grows to E when one expert takes everything; adding
aux_weight * aux to the loss pushes the router towards balance. Each expert has a capacity of
ceil(capacity_factor * N * k / E) tokens per batch; tokens beyond it are dropped by that expert (their output
from it is 0, so only the residual carries them), in order of preference rank, then of position.
With E experts of hidden size 4C/E the parameters equal one dense MLP's, and top-1 uses 1/E of its FLOPs.
Omission: experts run one after another in a Python loop; real systems batch them across devices.
"""
import math

import numpy as np

import tinyllm.functional as F
from tinyllm.nn.layers import MLP, Linear, check_positive_int
from tinyllm.nn.module import Module


class MoE(Module):
    """Top-k routed experts for x (N, C); after each forward, `aux_loss` (scalar Tensor) and `counts` (E,)
    (tokens each expert processed) and `dropped` (routed slots lost to capacity) describe the routing."""

    def __init__(self, n_embd, n_expert=4, top_k=1, hidden=None, capacity_factor=1.25, bias=False, dropout=0.0,
                 proj_std=0.02, rng=None, dropout_rng=None, dtype=np.float32):
        check_positive_int("n_expert", n_expert)
        check_positive_int("top_k", top_k)
        if top_k > n_expert:
            raise ValueError(f"top_k ({top_k}) must be <= n_expert ({n_expert})")
        if not isinstance(capacity_factor, (int, float)) or capacity_factor <= 0:
            raise ValueError(f"capacity_factor must be a positive number, got {capacity_factor!r}")
        hidden = max(1, 4 * n_embd // n_expert) if hidden is None else check_positive_int("hidden", hidden)
        self.n_expert, self.top_k, self.capacity_factor = n_expert, top_k, float(capacity_factor)
        self.router = Linear(n_embd, n_expert, bias=False, rng=rng, dtype=dtype)
        self.experts = [MLP(n_embd, hidden, bias=bias, dropout=dropout, proj_std=proj_std, rng=rng,
                            dropout_rng=dropout_rng, dtype=dtype) for _ in range(n_expert)]
        self.aux_loss, self.counts, self.dropped = None, np.zeros(n_expert, dtype=np.int64), 0

    def capacity(self, N):
        """How many tokens one expert may take from a batch of N tokens."""
        return math.ceil(self.capacity_factor * N * self.top_k / self.n_expert)

    def route(self, probs):
        """Token rows each expert processes (a list of E int arrays), honouring top-k and capacity."""
        N, E = probs.shape
        choice = np.argsort(-probs, axis=1, kind="stable")[:, :self.top_k]   # (N, k): preference order
        cap, rows_per_expert, dropped = self.capacity(N), [], 0
        for e in range(E):
            rows, rank = np.nonzero(choice == e)
            order = np.lexsort((rows, rank))                                   # first choices before second
            rows = rows[order]
            dropped += max(0, rows.size - cap)
            rows_per_expert.append(np.sort(rows[:cap]))
        return rows_per_expert, dropped, choice

    def forward(self, x):
        N, E = x.shape[0], self.n_expert
        probs = F.softmax(self.router(x), axis=-1)                             # (N, E)
        rows_per_expert, self.dropped, choice = self.route(probs.data)
        out = None
        for e, rows in enumerate(rows_per_expert):
            if rows.size == 0:
                continue
            gate = probs[rows, np.full(rows.size, e)].reshape(rows.size, 1)    # (n_e, 1)
            y_e = self.experts[e](x[rows]) * gate                              # (n_e, C)
            dispatch = np.zeros((N, rows.size), dtype=x.dtype)                 # (N, n_e) one-hot: scatter rows back
            dispatch[rows, np.arange(rows.size)] = 1.0
            out = dispatch @ y_e if out is None else out + dispatch @ y_e      # (N, C)
        self.counts = np.array([r.size for r in rows_per_expert], dtype=np.int64)
        f = np.bincount(choice.reshape(-1), minlength=E) / max(choice.size, 1)  # (E,) share of routed slots
        self.aux_loss = (probs.mean(axis=0) * f.astype(x.dtype)).sum() * float(E)
        return out if out is not None else x * 0.0

    def utilisation(self):
        """Share of the last batch's tokens each expert processed, as a list of floats."""
        total = max(int(self.counts.sum()), 1)
        return [round(int(c) / total, 4) for c in self.counts]
