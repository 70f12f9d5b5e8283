"""Denoising diffusion probabilistic models on low-dimensional data (Ho, Jain & Abbeel 2020), plus DDIM sampling.

    forward   q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),  t = 1..T
              q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I),  alpha_t = 1 - beta_t,
                                 alpha_bar_t = prod_{s<=t} alpha_s          (closed form; tested against iterating)
    model     eps_theta(x_t, t): an MLP that predicts the noise that was added, t enters through a sinusoidal embedding
    training  Algorithm 1: loss = || eps - eps_theta(sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, t) ||^2
    sampling  Algorithm 2: x_T ~ N(0, I); x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta) / sqrt(alpha_t)
                                                     + sigma_t z,  sigma_t^2 = beta_t
              DDIM (Song et al. 2021, eq. 12): S << T steps on a subsequence of times; eta = 0 is deterministic

Schedules are arrays indexed by the paper's t (index 0 is t = 0: beta_0 = 0, alpha_bar_0 = 1), so the code reads
like the equations. With T = 50 the popular linear schedule ends at alpha_bar_T ~ 0.6: x_T is far from N(0, I) and
sampling from pure noise fails (measured); use T ~ 1000 linear, or the cosine schedule, which reaches ~0 at any T.
"""
import math
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor, no_grad
from tinyllm.models.positions import sinusoid_table
from tinyllm.nn.layers import Linear
from tinyllm.nn.module import Module
from tinyllm.training.optim import Adam

SCHEDULES = ("linear", "cosine")


@dataclass
class DDPMConfig:
    """Noise schedule and eps-network sizes."""
    T: int = 1000                  # diffusion steps
    schedule: str = "linear"       # linear (Ho et al.) | cosine (Nichol & Dhariwal 2021)
    beta_1: float = 1e-4           # linear schedule: beta_t rises linearly from beta_1 ...
    beta_T: float = 0.02           # ... to beta_T
    data_dim: int = 2              # d of x in R^d
    hidden: int = 128              # width of the eps-MLP
    n_hidden: int = 3              # hidden layers of the eps-MLP
    time_dim: int = 32             # width of the sinusoidal time embedding

    def __post_init__(self):
        for name in ("T", "data_dim", "hidden", "n_hidden", "time_dim"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"DDPMConfig.{name} must be a positive integer, got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"DDPMConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0.0 < self.beta_1 <= self.beta_T < 1.0:
            raise ValueError(f"DDPMConfig needs 0 < beta_1 <= beta_T < 1, got beta_1={self.beta_1}, "
                             f"beta_T={self.beta_T}")
        if self.time_dim % 2:
            raise ValueError(f"DDPMConfig.time_dim must be even (sin/cos pairs), got {self.time_dim}")


def make_schedule(T, kind="linear", beta_1=1e-4, beta_T=0.02, s=0.008):
    """dict of float64 arrays of length T + 1 indexed by t: beta, alpha, alpha_bar (t = 0 is the clean data)."""
    if kind == "linear":
        beta = np.concatenate([[0.0], np.linspace(beta_1, beta_T, T)])
    elif kind == "cosine":                                                    # alpha_bar_t = f(t) / f(0)
        f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
        alpha_bar = f / f[0]
        beta = np.concatenate([[0.0], np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.999)])
    else:
        raise ValueError(f"schedule kind must be one of {SCHEDULES}, got {kind!r}")
    alpha = 1.0 - beta
    return {"beta": beta, "alpha": alpha, "alpha_bar": np.cumprod(alpha)}


class EpsMLP(Module):
    """eps_theta(x_t, t): h = silu(W_x x + W_t emb(t)), then n_hidden residual silu layers, then a linear read-out."""

    def __init__(self, cfg, rng):
        self.time_table = sinusoid_table(cfg.T + 1, cfg.time_dim)              # (T+1, time_dim), a constant
        self.inp = Linear(cfg.data_dim, cfg.hidden, std=1.0 / math.sqrt(cfg.data_dim), rng=rng, dtype=np.float64)
        self.time = Linear(cfg.time_dim, cfg.hidden, std=1.0 / math.sqrt(cfg.time_dim), rng=rng, dtype=np.float64)
        self.layers = [Linear(cfg.hidden, cfg.hidden, std=1.0 / math.sqrt(cfg.hidden), rng=rng, dtype=np.float64)
                       for _ in range(cfg.n_hidden)]
        self.out = Linear(cfg.hidden, cfg.data_dim, std=1e-3, rng=rng, dtype=np.float64)

    def forward(self, x, t):
        """x (N, d) Tensor or array, t (N,) integer times in [0, T] -> predicted noise (N, d)."""
        h = F.silu(self.inp(x) + self.time(Tensor(self.time_table[t])))     # (N, hidden)
        for layer in self.layers:
            h = h + F.silu(layer(h))                                          # (N, hidden)
        return self.out(h)                                                    # (N, d)


class DDPM(Module):
    """Schedule + eps-network; loss(x0, rng) is Algorithm 1, sample() Algorithm 2, ddim_sample() DDIM."""

    def __init__(self, config=None, seed=0):
        cfg = DDPMConfig() if config is None else config
        if not isinstance(cfg, DDPMConfig):
            raise TypeError(f"config must be a DDPMConfig, got {type(cfg).__name__}")
        self.config = cfg
        sched = make_schedule(cfg.T, cfg.schedule, cfg.beta_1, cfg.beta_T)
        self.beta, self.alpha, self.alpha_bar = sched["beta"], sched["alpha"], sched["alpha_bar"]
        self.net = EpsMLP(cfg, np.random.default_rng(seed))

    def _check_x(self, x, what="x0"):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(f"{what} must have shape (N, {self.config.data_dim}), got {x.shape}")
        return x

    def q_sample(self, x0, t, eps):
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps  (the closed form of q(x_t | x_0))."""
        ab = self.alpha_bar[t][:, None]                                       # (N, 1)
        return np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * eps

    def q_step(self, x_prev, t, eps):
        """x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps  (one step of q(x_t | x_{t-1}))."""
        beta = self.beta[t][:, None] if np.ndim(t) else self.beta[t]
        return np.sqrt(1.0 - beta) * x_prev + np.sqrt(beta) * eps

    def loss(self, x0, rng):
        """Algorithm 1: mean squared error of the noise prediction, t ~ U{1..T}, eps ~ N(0, I)."""
        x0 = self._check_x(x0)
        t = rng.integers(1, self.config.T + 1, size=len(x0))                 # (N,)
        eps = rng.normal(size=x0.shape)                                       # (N, d)
        err = self.net(Tensor(self.q_sample(x0, t, eps)), t) - Tensor(eps)
        return (err * err).mean()

    def _eps(self, x, t):
        return self.net(Tensor(x), np.full(len(x), t)).data                  # (N, d)

    def sample(self, n, rng, trace=None):
        """Algorithm 2: n samples by T ancestral steps from x_T ~ N(0, I). trace (list) gets every x_t."""
        x = rng.normal(size=(n, self.config.data_dim))                        # x_T
        with no_grad():
            for t in range(self.config.T, 0, -1):
                z = rng.normal(size=x.shape) if t > 1 else 0.0
                eps = self._eps(x, t)
                x = (x - self.beta[t] / np.sqrt(1.0 - self.alpha_bar[t]) * eps) / np.sqrt(self.alpha[t])
                x = x + np.sqrt(self.beta[t]) * z                             # sigma_t^2 = beta_t
                if trace is not None:
                    trace.append(x)
        return x

    def ddim_sample(self, n, steps, rng, eta=0.0, clip_x0=None):
        """DDIM: n samples in `steps` network calls on evenly spaced times T = tau_S > ... > tau_1 >= 1.

        The predicted x_0 divides by sqrt(alpha_bar_t), which is ~5e-4 at t = T of the cosine schedule: the
        noise prediction's error is then amplified ~100x on a coarse grid. clip_x0 = c clips x_0 to [-c, c]
        (as DDPM's image code clips to [-1, 1]); the linear T = 1000 schedule works without it."""
        if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= self.config.T:
            raise ValueError(f"steps must be an integer in [1, T={self.config.T}], got {steps!r}")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        taus = np.unique(np.linspace(1, self.config.T, steps).round().astype(int))[::-1]   # descending
        x = rng.normal(size=(n, self.config.data_dim))
        with no_grad():
            for i, t in enumerate(taus):
                prev = taus[i + 1] if i + 1 < len(taus) else 0                # alpha_bar_0 = 1: the clean data
                ab, ab_prev = self.alpha_bar[t], self.alpha_bar[prev]
                eps = self._eps(x, t)
                x0_hat = (x - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)          # predicted x_0
                if clip_x0 is not None:
                    x0_hat = np.clip(x0_hat, -clip_x0, clip_x0)
                    eps = (x - np.sqrt(ab) * x0_hat) / np.sqrt(1.0 - ab)      # the noise consistent with it
                sigma = eta * np.sqrt((1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev))
                x = np.sqrt(ab_prev) * x0_hat + np.sqrt(max(1.0 - ab_prev - sigma ** 2, 0.0)) * eps
                if sigma > 0:
                    x = x + sigma * rng.normal(size=x.shape)
        return x


def train_ddpm(model, sample_data, iters, rng, batch_size=256, lr=2e-3, log=None, log_every=500):
    """Adam on Algorithm 1 for `iters` steps, data from sample_data(n, rng); returns the list of losses."""
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for it in range(iters):
        loss = model.loss(sample_data(batch_size, rng), rng)
        opt.zero_grad()
        loss.backward()
        opt.set_lr(lr * 0.5 * (1.0 + math.cos(math.pi * it / iters)))        # cosine decay to 0
        opt.step()
        losses.append(float(loss.data))
        if log is not None and (it + 1) % log_every == 0:
            log(f"step {it + 1}/{iters}  loss {np.mean(losses[-log_every:]):.4f}")
    return losses
