"""S4D: a language model of diagonal state-space layers (Gu, Gupta, Goel & Ré 2022, "On the Parameterization and
Initialization of Diagonal State Space Models"). Each of H channels runs its own linear time-invariant SSM:

    h_t = Ā h_{t-1} + B̄ u_t,   y_t = 2 Re(C h_t) + D u_t        h_t (N/2,) complex; the conjugate half is implied
    Ā = exp(Δ A),  B̄ = (exp(Δ A) - 1) / A · B                   zero-order hold (Section 2; B = 1, folded into C)

Because A, B, C do not depend on the input, the whole map is one causal convolution y = K * u + D u with
    K_l = 2 Re( sum_n C_n B̄_n Ā_n^l ),  l = 0..L-1              (the "Vandermonde kernel", Section 3)
computed by FFT for training, while generation runs the recurrence with a constant-size state (tested equal).

Initialisation is S4D-Lin (Section 4): A_n = -1/2 + i π n, the diagonal approximation of HiPPO-LegS's spectrum,
Δ log-uniform in [dt_min, dt_max], C complex normal. Block (as the S4 repo's examples): y = GLU(Linear(GELU(S4D(
LN(x))))) added to the residual, then a GELU MLP. Shape letters: B batch, T = L time, C = H channels, N state.
Not included: the S4 (DPLR) parameterisation, bidirectional layers, or the separate S4 learning rate.
"""
import math
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.function import Function
from tinyllm.autograd.tensor import Tensor, no_grad
from tinyllm.models.mamba import SSMState, check_ids, check_positive_fields
from tinyllm.nn.layers import MLP, Embedding, LayerNorm, Linear
from tinyllm.nn import init
from tinyllm.nn.module import Module, Parameter


@dataclass
class S4DConfig:
    """Hyper-parameters of the S4D LM; the defaults give 732k parameters for 65 characters (baby budget)."""
    n_layer: int = 4
    d_model: int = 128            # H: channels, each its own SSM
    d_state: int = 64             # N: state size (N/2 complex modes are stored)
    dt_min: float = 0.001
    dt_max: float = 0.1
    block_size: int = 64          # training context (the recurrence has no length limit)
    vocab_size: int = 65
    dtype: str = "float32"

    def __post_init__(self):
        check_positive_fields(self, ("n_layer", "d_model", "d_state", "block_size", "vocab_size"))
        if self.d_state % 2:
            raise ValueError(f"S4DConfig.d_state must be even (N/2 complex conjugate pairs), got {self.d_state}")
        if not 0.0 < self.dt_min <= self.dt_max:
            raise ValueError(f"S4DConfig needs 0 < dt_min <= dt_max, got {self.dt_min!r} and {self.dt_max!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"S4DConfig.dtype must be 'float32' or 'float64', got {self.dtype!r}")


def _discretise(log_dt, log_A_real, A_imag, C_re, C_im):
    """(dt (H, 1), A (H, N2), z = Δ A, C̃ = C B̄ (H, N2) complex): ZOH of the stored parameters."""
    dt = np.exp(log_dt.astype(np.float64))[:, None]                        # (H, 1)
    A = -np.exp(log_A_real.astype(np.float64)) + 1j * A_imag              # (H, N2)
    z = dt * A
    C = C_re + 1j * C_im
    return dt, A, z, C * np.expm1(z) / A


class S4DKernel(Function):
    """(log_dt (H,), log_A_real, A_imag, C_re, C_im (H, N2)) -> K (H, L) real, with a hand-written backward.

    For a real loss of a holomorphic w(z) the gradient is carried as γ = dL/dw · w'(z) (no conjugate), and a real
    parameter x = Re z gets Re γ, an imaginary part y = Im z gets -Im γ.
    """

    def forward(self, log_dt, log_A_real, A_imag, C_re, C_im, L=1):
        dt, A, z, Ct = _discretise(log_dt, log_A_real, A_imag, C_re, C_im)
        E = np.exp(z[:, :, None] * np.arange(L))                          # Ā^l, (H, N2, L)
        self.save_for_backward(dt, A, z, C_re + 1j * C_im, Ct, E, log_A_real)
        return (2 * np.einsum("hn,hnl->hl", Ct, E).real).astype(log_dt.dtype)

    def backward(self, G):
        dt, A, z, C, Ct, E, log_A_real = self.saved_tensors
        L = E.shape[-1]
        g_Ct = 2 * np.einsum("hl,hnl->hn", G, E)                            # via K = 2 Re(sum C̃ E)
        g_z = 2 * Ct * np.einsum("hl,hnl->hn", G * np.arange(L), E)          # via E = exp(z l)
        g_C = g_Ct * np.expm1(z) / A                                        # C̃ = C (e^z - 1) / A
        g_z = g_z + g_Ct * C * np.exp(z) / A
        g_A = -g_Ct * C * np.expm1(z) / A ** 2 + g_z * dt                   # z = Δ A
        d_log_dt = np.sum((g_z * A).real, axis=1) * dt[:, 0]                # Δ = exp(log_dt), real
        d_log_A_real = g_A.real * -np.exp(log_A_real)                       # Re A = -exp(log_A_real)
        return d_log_dt, d_log_A_real, -g_A.imag, g_C.real, -g_C.imag


class CausalFFTConv(Function):
    """y[b, t, h] = sum_{s <= t} K[h, t - s] u[b, s, h]: u (B, L, H), K (H, L) -> (B, L, H), by FFT of length 2L
    (zero padding turns the FFT's circular convolution into a causal one)."""

    def forward(self, u, K):
        L = u.shape[1]
        U = np.fft.rfft(u, n=2 * L, axis=1)                                 # (B, L+1, H)
        Kf = np.fft.rfft(K, n=2 * L, axis=-1).T                             # (L+1, H)
        self.save_for_backward(U, Kf)
        return np.fft.irfft(U * Kf, n=2 * L, axis=1)[:, :L].astype(u.dtype)

    def backward(self, dy):
        U, Kf = self.saved_tensors
        L = dy.shape[1]
        DY = np.fft.rfft(dy, n=2 * L, axis=1)
        du = np.fft.irfft(DY * np.conj(Kf), n=2 * L, axis=1)[:, :L]         # correlation with K
        dK = np.fft.irfft(np.sum(DY * np.conj(U), axis=0), n=2 * L, axis=0)[:L].T   # correlation with u
        return du, dK


class S4DLayer(Module):
    """H independent diagonal SSMs: convolution mode (forward) for training, recurrence (step) for generation.

    The SSM parameters are stored flat (1-D) so the trainer's weight-decay rule (matrices only) leaves them alone.
    """

    def __init__(self, cfg, rng):
        H, N2, dtype = cfg.d_model, cfg.d_state // 2, np.dtype(cfg.dtype)
        self.H, self.N2 = H, N2
        self.log_dt = Parameter(rng.uniform(math.log(cfg.dt_min), math.log(cfg.dt_max), H).astype(dtype))
        self.log_A_real = Parameter(np.full(H * N2, math.log(0.5), dtype=dtype))                # Re A = -1/2
        self.A_imag = Parameter(np.tile(math.pi * np.arange(N2), H).astype(dtype))               # Im A = π n
        self.C_re = Parameter((rng.standard_normal(H * N2) * 0.5 ** 0.5).astype(dtype))
        self.C_im = Parameter((rng.standard_normal(H * N2) * 0.5 ** 0.5).astype(dtype))
        self.D = Parameter(rng.standard_normal(H).astype(dtype))

    def _params(self):
        shape = (self.H, self.N2)
        return (self.log_dt, self.log_A_real.reshape(*shape), self.A_imag.reshape(*shape),
                self.C_re.reshape(*shape), self.C_im.reshape(*shape))

    def kernel(self, L):
        """K (H, L) as a Tensor."""
        return S4DKernel.apply(*self._params(), L=L)

    def forward(self, u):
        """u (B, L, H) -> y (B, L, H): convolution mode."""
        return CausalFFTConv.apply(u, self.kernel(u.shape[1])) + u * self.D

    def step(self, u, h):
        """Recurrent mode, one step: u (B, H) ndarray; h (B, H, N2) complex, updated in place; returns y (B, H)."""
        _, _, z, Ct = _discretise(*(p.data for p in self._params()))
        h[...] = np.exp(z) * h + u[:, :, None]                              # h_t = Ā h_{t-1} + u_t  (B̄ in C̃)
        return (2 * np.einsum("bhn,hn->bh", h, Ct).real + self.D.data * u).astype(u.dtype)


class S4DBlock(Module):
    """x + GLU(W GELU(S4D(LN(x)))), then x + MLP(LN(x))."""

    def __init__(self, cfg, rng):
        C, dtype = cfg.d_model, np.dtype(cfg.dtype)
        self.ln_1 = LayerNorm(C, bias=False, dtype=dtype)
        self.ssm = S4DLayer(cfg, rng)
        self.out = Linear(C, 2 * C, std=init.residual_std(cfg.n_layer), rng=rng, dtype=dtype)
        self.ln_2 = LayerNorm(C, bias=False, dtype=dtype)
        self.mlp = MLP(C, bias=False, proj_std=init.residual_std(cfg.n_layer), rng=rng, dtype=dtype)

    def _mix(self, y):
        """GELU, Linear(C, 2C), GLU: (..., C) -> (..., C)."""
        a = self.out(F.gelu(y))                                             # (..., 2C)
        C = a.shape[-1] // 2
        return a[..., :C] * F.sigmoid(a[..., C:])

    def forward(self, x):
        x = x + self._mix(self.ssm(self.ln_1(x)))                           # (B, T, C)
        return x + self.mlp(self.ln_2(x))

    def step(self, x, h):
        """x (B, C) Tensor, one token; h this layer's SSM state (B, C, N2), updated in place."""
        x = x + self._mix(Tensor(self.ssm.step(self.ln_1(x).data, h)))
        return x + self.mlp(self.ln_2(x))


class S4D(Module):
    """The language model: embeddings (no positions: the SSM kernel is causal and order-aware), S4D blocks, a
    final LayerNorm and the tied output layer."""

    data_parallel_ok = True     # mean loss over all B*T tokens: batch shards may train on threads

    def __init__(self, config=None, seed=0):
        cfg = S4DConfig() if config is None else config
        if not isinstance(cfg, S4DConfig):
            raise TypeError(f"config must be an S4DConfig, got {type(cfg).__name__}")
        self.config = cfg
        rng = np.random.default_rng(seed)
        dtype = np.dtype(cfg.dtype)
        self.wte = Embedding(cfg.vocab_size, cfg.d_model, rng=rng, dtype=dtype)
        self.blocks = [S4DBlock(cfg, rng) for _ in range(cfg.n_layer)]
        self.ln_f = LayerNorm(cfg.d_model, bias=False, dtype=dtype)

    def forward(self, idx, cache=None):
        """idx (B, T) int -> logits (B, T, V). With a cache (new_cache) the tokens go through the recurrence one at
        a time from the cached state (inference only, no gradients)."""
        idx = check_ids(idx, self.config.vocab_size)
        if cache is not None:
            return self._recurrent(idx, cache)
        x = self.wte(idx)                                                   # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T                             # (B, T, V)

    def _recurrent(self, idx, cache):
        if cache.batch != idx.shape[0]:
            raise ValueError(f"cache was made for batch {cache.batch}, got idx with batch {idx.shape[0]}")
        out = []
        with no_grad():
            for t in range(idx.shape[1]):
                x = self.wte(idx[:, t])                                     # (B, C)
                for block, h in zip(self.blocks, cache.h):
                    x = block.step(x, h)
                out.append((self.ln_f(x) @ self.wte.weight.T).data)         # (B, V)
        cache.pos += idx.shape[1]
        return Tensor(np.stack(out, axis=1))                                # (B, T, V)

    def new_cache(self, batch):
        """Per layer a complex state (B, H, N/2); no conv window. Its size does not grow with the text."""
        c = self.config
        return SSMState(batch, [], [(c.d_model, c.d_state // 2)] * c.n_layer, np.dtype(c.dtype), np.complex128)

    def loss(self, batch):
        """Mean next-token cross-entropy (nats) of batch = (x, y), both int arrays (B, T)."""
        x, y = batch
        x, y = check_ids(x, self.config.vocab_size, "x"), check_ids(y, self.config.vocab_size, "y")
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
        return F.cross_entropy(self.forward(x).reshape(-1, self.config.vocab_size), y.reshape(-1))
