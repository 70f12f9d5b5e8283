"""Mamba: a language model of selective state-space blocks (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling
with Selective State Spaces"). No attention, no positions: order enters through a causal conv and the recurrence.

    x = wte[idx]                                        (B, T, C)
    for each layer:  x = x + MambaBlock(RMSNorm(x))     residual stack (Section 3.4, Figure 3)
    logits = RMSNorm(x) wte^T                           (B, T, V), tied embeddings

Glossary (code name: paper symbol, where it appears):
    C = d_model     D in the paper: model width            E = expand * C   ED: inner width of the block
    N = d_state     N: state size per channel (Sec. 2)     R = dt_rank      rank of the Δ projection (Sec. 3.6)
    u               x_t: the scanned input                 z                the gate branch (Figure 3, right)
    delta           Δ = softplus(dt_proj(x_proj(u)))        A = -exp(A_log)  A (E, N): negative, so exp(ΔA) < 1
    B, C (the SSM's)  B_t, C_t (Bt, T, N): input-dependent (S6, Algorithm 2) — named Bm, Cm here, since B = batch
    A_bar = exp(ΔA), B_bar x = ΔB x: zero-order hold for A, Euler for B, as the paper's code does (Sec. 2, eq. 4)
    h               h_t (Bt, E, N): the hidden state       Dskip            D: the skip connection y += D * u

Training runs the selective scan kernel over the whole sequence (kernels/scan.py); generation runs `step`, the
same recurrence one token at a time with a constant-size state (conv window + h), tested equal to the scan.
Not included: the hardware-aware parallel scan (this one is sequential in time), bidirectional or Mamba-2 layers.
"""
import math
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm import kernels
from tinyllm.autograd.function import Function
from tinyllm.autograd.scan import selective_scan
from tinyllm.autograd.tensor import Tensor, is_grad_enabled
from tinyllm.nn import init
from tinyllm.nn.layers import Embedding, Linear, RMSNorm
from tinyllm.nn.module import Module, Parameter


def check_positive_fields(cfg, names):
    """Raise a ValueError naming the field unless each of cfg's `names` is an int >= 1."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{type(cfg).__name__}.{name} must be a positive integer, got {value!r}")


def check_ids(idx, vocab_size, what="idx"):
    """idx as an int ndarray (B, T) with ids in [0, vocab_size), else a ValueError naming `what`."""
    idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    if idx.ndim != 2 or idx.dtype.kind not in "iu":
        raise ValueError(f"{what} must be an integer array of shape (B, T), got {idx.dtype} {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(f"{what} must hold token ids in [0, {vocab_size}), got min {idx.min()} and max {idx.max()}")
    return idx


class SSMState:
    """The recurrent cache of an SSM language model (Mamba, S4D): constant size, whatever the text length.

    conv[i] (B, *conv_shapes[i]) and h[i] (B, *state_shapes[i]) are layer i's conv window and SSM state; pos
    counts tokens consumed. It offers what the sampler needs of a cache: batch, reorder(rows) and reset().
    """

    def __init__(self, batch, conv_shapes, state_shapes, dtype, state_dtype=None):
        self.conv = [np.zeros((batch, *s), dtype=dtype) for s in conv_shapes]
        self.h = [np.zeros((batch, *s), dtype=state_dtype or dtype) for s in state_shapes]
        self.pos = 0

    @property
    def batch(self):
        return self.h[0].shape[0] if self.h else 0

    def reset(self):
        for a in self.conv + self.h:
            a[...] = 0
        self.pos = 0

    def reorder(self, rows):
        """Keep or duplicate batch rows (beam search)."""
        self.conv = [a[rows] for a in self.conv]
        self.h = [a[rows] for a in self.h]

    def nbytes(self):
        return sum(a.nbytes for a in self.conv + self.h)


@dataclass
class MambaConfig:
    """Hyper-parameters of the Mamba LM. The defaults (7 layers, C=128) are close to the baby GPT's 0.8M."""
    n_layer: int = 7
    d_model: int = 128            # C
    d_state: int = 16             # N
    expand: int = 2               # E = expand * C
    d_conv: int = 4               # K: taps of the causal depthwise convolution
    dt_rank: int = 0              # R; 0 means ceil(C / 16) as in the paper
    dt_min: float = 0.001         # Δ is initialised log-uniformly in [dt_min, dt_max] (Section 3.6)
    dt_max: float = 0.1
    chunk: int = 16               # the scan keeps one state every `chunk` steps for the backward
    block_size: int = 64          # training context (the recurrence itself has no length limit)
    vocab_size: int = 65
    dtype: str = "float32"

    def __post_init__(self):
        check_positive_fields(self, ("n_layer", "d_model", "d_state", "expand", "d_conv", "chunk", "block_size",
                                     "vocab_size"))
        if isinstance(self.dt_rank, bool) or not isinstance(self.dt_rank, int) or self.dt_rank < 0:
            raise ValueError(f"MambaConfig.dt_rank must be an integer >= 0 (0 = auto), got {self.dt_rank!r}")
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(f"MambaConfig needs 0 < dt_min <= dt_max, got {self.dt_min!r} and {self.dt_max!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"MambaConfig.dtype must be 'float32' or 'float64', got {self.dtype!r}")

    @property
    def d_inner(self):
        return self.expand * self.d_model

    @property
    def rank(self):
        return self.dt_rank or math.ceil(self.d_model / 16)


class CausalConvSiLU(Function):
    """silu(causal depthwise conv1d(x, w) + b) as one graph node: x (B, T, E), w (E, K), b (E,) -> (B, T, E).
    Both directions are the fused kernel of kernels/conv1d.py (tested equal to F.silu(F.conv1d(...)))."""

    def forward(self, x, w, b):
        self.save_for_backward(x, w, b)
        return kernels.conv1d_silu_forward(x, w, b)

    def backward(self, grad):
        return kernels.conv1d_silu_backward(*self.saved_tensors, grad)


class MambaBlock(Module):
    """in_proj -> (u, z); u -> causal conv -> SiLU -> selective SSM; y * SiLU(z) -> out_proj (Figure 3)."""

    def __init__(self, cfg, rng):
        C, E, N, K, R = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.d_conv, cfg.rank
        dtype = np.dtype(cfg.dtype)
        self.cfg = cfg
        self.in_proj = Linear(C, 2 * E, bias=False, rng=rng, dtype=dtype)              # x -> (u, z)
        bound = 1.0 / math.sqrt(K)                                                        # fan-in of one channel
        self.conv_weight = Parameter(rng.uniform(-bound, bound, (E, K)).astype(dtype))   # (E, K)
        self.conv_bias = Parameter(rng.uniform(-bound, bound, E).astype(dtype))          # (E,)
        self.x_proj = Linear(E, R + 2 * N, bias=False, rng=rng, dtype=dtype)            # u -> (Δ low-rank, B, C)
        self.dt_proj = Linear(R, E, bias=True, std=R ** -0.5, rng=rng, dtype=dtype)     # low-rank Δ -> (E,)
        dt = np.exp(rng.uniform(math.log(cfg.dt_min), math.log(cfg.dt_max), E))          # Δ at init
        self.dt_proj.bias.data[...] = dt + np.log(-np.expm1(-dt))                        # softplus^-1(dt)
        # A = -exp(A_log) starts at -(1, 2, ..., N) for every channel: the real S4D/HiPPO init (Section 3.6).
        # A_log and D are stored flat so the trainer's rule (weight decay on matrices only) leaves them alone,
        # as the paper's code exempts them.
        self.A_log = Parameter(np.tile(np.log(np.arange(1, N + 1, dtype=np.float64)), E).astype(dtype))  # (E*N,)
        self.Dskip = Parameter(np.ones(E, dtype=dtype))                                   # (E,)
        self.out_proj = Linear(E, C, bias=False, std=init.residual_std(cfg.n_layer), rng=rng, dtype=dtype)

    def _split(self, a):
        """x_proj output (..., R + 2N) -> (Δ low-rank (..., R), B (..., N), C (..., N))."""
        R, N = self.cfg.rank, self.cfg.d_state
        return a[..., :R], a[..., R:R + N], a[..., R + N:]

    def forward(self, x):
        """x (B, T, C) Tensor -> (B, T, C): the training path through the scan kernel."""
        E = self.cfg.d_inner
        uz = self.in_proj(x)                                                  # (B, T, 2E)
        u, z = uz[..., :E], uz[..., E:]                                       # (B, T, E) each
        u = CausalConvSiLU.apply(u, self.conv_weight, self.conv_bias)         # (B, T, E), conv + SiLU
        dt, Bm, Cm = self._split(self.x_proj(u))                              # (B, T, R), (B, T, N), (B, T, N)
        A = -self.A_log.reshape(E, self.cfg.d_state).exp()                    # (E, N)
        # One fused node: Δ = softplus(dt_proj(dt)), the scan, the skip D u and the gate * SiLU(z), (B, T, E)
        y = selective_scan(u, self.dt_proj(dt), A, Bm, Cm, D=self.Dskip, z=z, chunk=self.cfg.chunk,
                           delta_softplus=True)
        return self.out_proj(y)                                               # (B, T, C)

    def forward_arrays(self, x, conv_state, h):
        """Same as forward on ndarrays, continuing from a state: x (B, T, C); conv_state (B, K-1, E) holds the last
        K-1 conv inputs, h (B, E, N) the SSM state. Both are updated in place. T may be 1 (see step) or more."""
        E, K, T = self.cfg.d_inner, self.cfg.d_conv, x.shape[1]
        uz = self.in_proj.forward_arrays(x.reshape(-1, x.shape[-1])).reshape(x.shape[0], T, 2 * E)
        u, z = uz[..., :E], uz[..., E:]
        window = np.concatenate([conv_state, u], axis=1)                      # (B, K-1+T, E)
        w = self.conv_weight.data
        u = sum(w[:, k] * window[:, k:k + T] for k in range(K)) + self.conv_bias.data   # (B, T, E)
        conv_state[...] = window[:, T:]                                       # the last K-1 inputs
        u = _silu(u)
        dt, Bm, Cm = self._split(self.x_proj.forward_arrays(u.reshape(-1, E)).reshape(x.shape[0], T, -1))
        delta = _softplus(self.dt_proj.forward_arrays(dt.reshape(-1, dt.shape[-1])).reshape(u.shape))
        A = -np.exp(self.A_log.data.reshape(E, self.cfg.d_state))
        if T == 1:
            y = self.step_ssm(u[:, 0], delta[:, 0], A, Bm[:, 0], Cm[:, 0], h)[:, None] * _silu(z)  # (B, 1, E)
        else:                                                                 # the fused scan, skip and gate
            y, _, h_last = kernels.selective_scan_forward(u, delta, A, np.ascontiguousarray(Bm),
                                                          np.ascontiguousarray(Cm), self.Dskip.data,
                                                          np.ascontiguousarray(z), h0=h, chunk=self.cfg.chunk)
            h[...] = h_last
        return self.out_proj.forward_arrays(y.reshape(-1, E)).reshape(x.shape)

    def step_ssm(self, u, delta, A, Bm, Cm, h):
        """One step of the recurrence (Algorithm 2, recurrent mode): u, delta (B, E), A (E, N), Bm, Cm (B, N);
        h (B, E, N) becomes h_t = exp(ΔA) h_{t-1} + Δ B u; returns y_t = C h_t + D u (B, E)."""
        A_bar = np.exp(delta[:, :, None] * A)                                 # (B, E, N)
        h[...] = A_bar * h + (delta * u)[:, :, None] * Bm[:, None, :]
        return np.einsum("ben,bn->be", h, Cm) + self.Dskip.data * u


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x).astype(x.dtype, copy=False)


class ResidualBlock(Module):
    """x + MambaBlock(RMSNorm(x)): the pre-norm residual wrapper of every layer."""

    def __init__(self, cfg, rng):
        self.norm = RMSNorm(cfg.d_model, dtype=np.dtype(cfg.dtype))
        self.mixer = MambaBlock(cfg, rng)

    def forward(self, x):
        return x + self.mixer(self.norm(x))


class Mamba(Module):
    """The language model: embeddings, n_layer residual Mamba blocks, final RMSNorm, tied output layer."""

    data_parallel_ok = True     # mean loss over all B*T tokens, no dropout: batch shards may train on threads

    def __init__(self, config=None, seed=0):
        cfg = MambaConfig() if config is None else config
        if not isinstance(cfg, MambaConfig):
            raise TypeError(f"config must be a MambaConfig, got {type(cfg).__name__}")
        self.config = cfg
        rng = np.random.default_rng(seed)
        dtype = np.dtype(cfg.dtype)
        self.wte = Embedding(cfg.vocab_size, cfg.d_model, rng=rng, dtype=dtype)
        self.layers = [ResidualBlock(cfg, rng) for _ in range(cfg.n_layer)]
        self.norm_f = RMSNorm(cfg.d_model, dtype=dtype)

    def forward(self, idx, cache=None):
        """idx (B, T) int -> logits (B, T, V). With a cache (new_cache), continue the recurrence from its state:
        only the new tokens are passed, and the state is updated in place (inference only, no gradients)."""
        idx = check_ids(idx, self.config.vocab_size)
        if cache is None and is_grad_enabled():
            x = self.wte(idx)                                                 # (B, T, C)
            for layer in self.layers:
                x = layer(x)
            x = self.norm_f(x)
            return x @ self.wte.weight.T                                      # (B, T, V)
        own = cache is None                                                   # no_grad, no cache: a fresh state
        cache = self.new_cache(idx.shape[0]) if own else cache
        if cache.batch != idx.shape[0]:
            raise ValueError(f"cache was made for batch {cache.batch}, got idx with batch {idx.shape[0]}")
        x = self.wte.weight.data[idx]                                         # (B, T, C)
        for i, layer in enumerate(self.layers):
            n = layer.norm.forward(Tensor(x)).data
            x = x + layer.mixer.forward_arrays(n, cache.conv[i], cache.h[i])
        cache.pos += idx.shape[1]
        x = self.norm_f.forward(Tensor(x)).data
        return Tensor(x @ self.wte.weight.data.T)

    def new_cache(self, batch):
        """The recurrent state for `batch` sequences: per layer a conv window (B, K-1, E) and h (B, E, N)."""
        c = self.config
        return SSMState(batch, [(c.d_conv - 1, c.d_inner)] * c.n_layer, [(c.d_inner, c.d_state)] * c.n_layer,
                        np.dtype(c.dtype))

    def loss(self, batch):
        """Mean next-token cross-entropy (nats) of batch = (x, y), both int arrays (B, T)."""
        x, y = batch
        x, y = check_ids(x, self.config.vocab_size, "x"), check_ids(y, self.config.vocab_size, "y")
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        logits = self.forward(x)                                              # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, self.config.vocab_size), y.reshape(-1))
