"""A masked (absorbing-state) discrete diffusion language model (MDLM: Sahoo et al. 2024; Shi et al. 2024).

    forward process   q(x_t | x_0): each token independently becomes [MASK] with probability t, t in [0, 1]
    denoiser          p_theta(x_0 | x_t): a *bidirectional* transformer (encoder.py, RoPE) reads the partly
                      masked sequence and predicts every original token; [MASK] is never predicted
    loss (NELBO)      E_t E_q [ (1/t) * sum over masked l of -log p_theta(x_0^l | x_t) ] / T   (nats per token)
                      an upper bound on -log p(x_0) / T, so it is comparable with an AR model's val loss
    sampler           start from all [MASK]; at each of S steps run the denoiser, pick some masked positions,
                      draw their tokens from p_theta(x_0 | x_t) and freeze them; a complete sequence exists
                      whenever the denoiser runs (its argmax fills every gap)

The 1/t weight is the continuous-time ELBO weight -alpha_t' / (1 - alpha_t) for the linear schedule alpha_t = 1 - t
(the probability a token is still clean). t is drawn stratified over the batch (row b gets t in the b-th of B
equal slices of [eps, 1]) to cut the estimator's variance; eps = 1e-3 keeps the 1/t weight finite.
The same bound has a lower-variance form (estimator="count", the default; Ou et al. 2024, Nie et al. 2025):
given k masked tokens the masked set is uniform, and integral_0^1 (1/t) P(k masked | t) dt = 1/k, so
    NELBO / T = E_{k ~ U{1..T}} [ (1/k) sum over the k masked l of -log p_theta(x_0^l | x_t) ]
a mean cross-entropy over the masked tokens, never a weight above 1 (the t form weighs a lone mask at small t by
up to 1/(eps T)). It is the exact t in [0, 1] integral: the t form with eps = 1e-3 is lower by about eps * nll.
Why RoPE: with learned absolute positions this denoiser stays at the unigram plateau (NELBO ~3.26: it learns to
ignore context), measured in PyTorch on this data; relative positions make the context usable from the start.
Omissions: no semi-autoregressive training, no remasking samplers (ReMDM), no caching across sampling steps.
"""
import math
from dataclasses import dataclass

import numpy as np

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor, no_grad
from tinyllm.models.encoder import Encoder
from tinyllm.models.zoo import ZooConfig, fan_in_init
from tinyllm.nn.layers import Linear
from tinyllm.nn.module import Module

ORDERS = ("random", "confidence")
ESTIMATORS = ("count", "time")


@dataclass
class DiffusionConfig(ZooConfig):
    """ZooConfig for the bidirectional denoiser (default position code: RoPE) plus the diffusion settings."""
    pos: str = "rope"
    abs_pos: bool = False          # also add a learned absolute position table to the RoPE model (encoder.py)
    estimator: str = "count"       # NELBO estimator: count (k masks ~ U{1..T}, weight 1/k) | time (t, weight 1/t)
    t_eps: float = 1e-3            # t ~ U[t_eps, 1]: keeps the ELBO weight 1/t finite (estimator="time")
    sample_steps: int = 64         # default number of denoiser calls S per block when sampling
    sample_order: str = "random"   # which masked positions a step unmasks: random (the true reverse) | confidence

    def __post_init__(self):
        super().__post_init__()
        name = type(self).__name__
        if not 0.0 < self.t_eps < 1.0:
            raise ValueError(f"{name}.t_eps must be in (0, 1), got {self.t_eps!r}")
        if self.abs_pos and self.pos == "learned":
            raise ValueError(f"{name}.abs_pos adds a learned table to a relative code; pos='learned' has one already")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"{name}.estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.sample_steps < 1:
            raise ValueError(f"{name}.sample_steps must be >= 1, got {self.sample_steps}")
        if self.sample_order not in ORDERS:
            raise ValueError(f"{name}.sample_order must be one of {ORDERS}, got {self.sample_order!r}")
        if self.attention == "local" or self.mlp == "moe":
            raise ValueError(f"{name}: the diffusion denoiser supports attention='softmax'/'linear' and mlp='dense'")


def stratified_t(B, rng, eps):
    """(B,) times, one per equal slice of [0, 1) (a random offset shared by the batch), mapped to [eps, 1]."""
    u = (rng.random() + np.arange(B)) / B                                     # (B,) one per stratum
    return eps + (1.0 - eps) * u


def stratified_k(B, T, rng):
    """(B,) mask counts in {1..T}: k = floor(u T) + 1 with u stratified over the batch as in stratified_t."""
    u = (rng.random() + np.arange(B)) / B                                     # (B,) one per stratum
    return np.minimum(np.floor(u * T).astype(np.int64) + 1, T)


class MaskedDiffusionLM(Module):
    """Encoder + output layer (tied or own) over [MASK]-corrupted text; loss(batch) is the NELBO in nats per token."""
    autoregressive = False         # tells `tinyllm sample` to call generate() instead of next-token decoding

    def __init__(self, config=None, seed=0):
        cfg = DiffusionConfig() if config is None else config
        if not isinstance(cfg, DiffusionConfig):
            raise TypeError(f"config must be a DiffusionConfig, got {type(cfg).__name__}")
        self.config = cfg
        self.mask_id = cfg.vocab_size                                         # the extra embedding row
        self.dropout_rng = np.random.default_rng([seed, 1])
        self.noise_rng = np.random.default_rng([seed, 2])                     # t and the masks while training
        self.encoder = Encoder(cfg, np.random.default_rng(seed), self.dropout_rng, n_extra=1)
        self.lm_head = None if cfg.tie_embeddings else Linear(cfg.n_embd, cfg.vocab_size, bias=False,
                                                              rng=np.random.default_rng([seed, 3]), dtype=cfg.dtype)
        if cfg.init == "fan_in":
            fan_in_init(self, np.random.default_rng([seed, 4]),
                        output_embedding=self.encoder.wte if self.lm_head is None else None)

    def _check_ids(self, idx, what="idx", allow_mask=False):
        idx = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
        limit = self.config.vocab_size + (1 if allow_mask else 0)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"{what} must be an integer array of shape (B, T), got {idx.dtype} {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= limit):
            raise ValueError(f"{what} must hold token ids in [0, {limit}), got min {idx.min()} and max {idx.max()}")
        if idx.shape[1] > self.config.block_size:
            raise ValueError(f"sequence length {idx.shape[1]} exceeds block_size {self.config.block_size}")
        return idx

    def _hidden(self, idx):
        return self.encoder(idx)                                              # (B*T, C)

    def _head(self, h):
        """(N, C) -> (N, V): the tied embedding without the [MASK] row (never predicted), or lm_head if untied."""
        if self.lm_head is not None:
            return self.lm_head(h)
        return h @ self.encoder.wte.weight[:self.config.vocab_size].T

    def forward(self, idx):
        """x_t (B, T) (mask_id = vocab_size allowed) -> logits of p_theta(x_0 | x_t), (B, T, V)."""
        idx = self._check_ids(idx, allow_mask=True)
        B, T = idx.shape
        return self._head(self._hidden(idx)).reshape(B, T, self.config.vocab_size)

    # ---- forward process and loss -------------------------------------------------------------------------

    def corrupt(self, x0, t, rng):
        """q(x_t | x_0): each token -> [MASK] with probability t (per row). Returns (x_t, masked (B, T) bool)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)                   # (B, 1)
        masked = rng.random(x0.shape) < t                                     # (B, T)
        return np.where(masked, self.mask_id, x0), masked

    def corrupt_count(self, x0, k, rng):
        """Mask exactly k[b] positions of row b, chosen uniformly. Returns (x_t, masked (B, T) bool)."""
        k = np.asarray(k, dtype=np.int64).reshape(-1, 1)                     # (B, 1)
        ranks = rng.random(x0.shape).argsort(axis=1).argsort(axis=1)          # (B, T) a random permutation per row
        masked = ranks < k
        return np.where(masked, self.mask_id, x0), masked

    def _weighted_nll(self, x0, xt, masked, weight):
        """sum over masked l of weight[row] * -log p_theta(x_0^l | x_t), per row: (B, 1) Tensor."""
        B, T = x0.shape
        rows, cols = np.nonzero(masked)                                       # (M,), (M,) masked positions
        h = self._hidden(xt)                                                  # (B*T, C)
        flat = rows * T + cols
        logp = F.log_softmax(self._head(h[flat]))                             # (M, V)
        nll = -logp[np.arange(len(flat)), x0[rows, cols]]                     # (M,) -log p(x_0^l | x_t)
        onehot = np.zeros((B, len(flat)), dtype=logp.dtype)                   # (B, M): sums each row's terms
        onehot[rows, np.arange(len(flat))] = np.asarray(weight, dtype=np.float64)[rows]
        return Tensor(onehot) @ nll.reshape(-1, 1)                            # (B, 1)

    def nelbo_terms(self, x0, t, rng):
        """Per-row NELBO estimates (B, 1) Tensor at the given times t (B,): (1/t) sum_masked -log p / T."""
        xt, masked = self.corrupt(x0, t, rng)
        return self._weighted_nll(x0, xt, masked, 1.0 / (np.asarray(t, dtype=np.float64) * x0.shape[1]))

    def nelbo_terms_count(self, x0, k, rng):
        """Per-row NELBO estimates (B, 1) Tensor with k[b] masked tokens in row b: (1/k) sum_masked -log p."""
        xt, masked = self.corrupt_count(x0, k, rng)
        return self._weighted_nll(x0, xt, masked, 1.0 / np.asarray(k, dtype=np.float64))

    def loss(self, batch):
        """NELBO in nats per token of batch = (x, y) or (x,) (y is ignored: the text is its own target).
        In eval mode t (or k) and the masks come from a seed fixed by the batch, so val losses are repeatable."""
        x0 = self._check_ids(batch[0], "x")
        if self.training:
            rng = self.noise_rng
        else:
            rng = np.random.default_rng([int(v) for v in x0[:, 0]] + [x0.shape[0], x0.shape[1]])
        B, T = x0.shape
        if self.config.estimator == "count":
            return self.nelbo_terms_count(x0, stratified_k(B, T, rng), rng).mean()
        return self.nelbo_terms(x0, stratified_t(B, rng, self.config.t_eps), rng).mean()

    # ---- reverse process: sampling and infilling ----------------------------------------------------------

    def unmask(self, x, steps=None, tokens_per_step=None, temperature=1.0, order=None, rng=None, trace=None):
        """Fill every [MASK] of x (B, T) by iterative unmasking; tokens that are not [MASK] never change.

        Each step runs the denoiser once and freezes k masked positions per row: k = tokens_per_step if given,
        else ceil(masked / steps left), so `steps` calls fill everything. `order` random picks the positions
        uniformly (the exact reverse of the absorbing process); confidence picks the most probable ones.
        temperature 0 takes the argmax. trace, if a list, receives a copy of x after every step.
        """
        x = self._check_ids(np.array(x, dtype=np.int64), "x", allow_mask=True)
        steps = self.config.sample_steps if steps is None else steps
        order = self.config.sample_order if order is None else order
        if tokens_per_step is None and (not isinstance(steps, (int, np.integer)) or steps < 1):
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if tokens_per_step is not None and (not isinstance(tokens_per_step, (int, np.integer)) or tokens_per_step < 1):
            raise ValueError(f"tokens_per_step must be a positive integer, got {tokens_per_step!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        rng = np.random.default_rng(0) if rng is None else rng
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                step = 0
                while (x == self.mask_id).any():
                    logits = self.forward(x).data.astype(np.float64)          # (B, T, V)
                    left = max(steps - step, 1)
                    for b in range(x.shape[0]):
                        self._unmask_row(x[b], logits[b], left, tokens_per_step, temperature, order, rng)
                    step += 1
                    if trace is not None:
                        trace.append(x.copy())
        finally:
            self.train(was_training)
        return x

    def _unmask_row(self, row, logits, steps_left, tokens_per_step, temperature, order, rng):
        """Freeze k of row's masked positions (in place), drawing their tokens from softmax(logits / temperature)."""
        where = np.flatnonzero(row == self.mask_id)                           # masked positions of this row
        if len(where) == 0:
            return
        k = tokens_per_step if tokens_per_step is not None else math.ceil(len(where) / steps_left)
        k = min(k, len(where))
        z = logits[where]                                                     # (m, V)
        if temperature == 0:
            tokens = z.argmax(axis=-1)
        else:
            z = z / temperature
            z = z - z.max(axis=-1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=-1, keepdims=True)
            u = rng.random((len(where), 1))
            tokens = np.minimum((p.cumsum(axis=-1) < u).sum(axis=-1), p.shape[1] - 1)   # inverse-CDF draw
        if order == "random":
            pick = rng.permutation(len(where))[:k]
        else:                                                                 # most confident first
            z = logits[where]
            zmax = z.max(axis=-1)
            log_pmax = -np.log(np.exp(z - zmax[:, None]).sum(axis=-1))       # log max_v p(v): max z - logsumexp z
            pick = np.argsort(-log_pmax, kind="stable")[:k]
        row[where[pick]] = tokens[pick]

    def infill(self, template, **kwargs):
        """template (T,) or (B, T) ids with mask_id in the gaps -> the same array with every gap filled."""
        template = np.asarray(template, dtype=np.int64)
        filled = self.unmask(template.reshape(-1, template.shape[-1]) if template.ndim == 1 else template, **kwargs)
        return filled[0] if template.ndim == 1 else filled

    def generate(self, prompt_ids, max_new_tokens, num_samples=1, **kwargs):
        """Continue prompt_ids (list of ints) by max_new_tokens: (num_samples, max_new_tokens) new ids.

        The new tokens are appended as [MASK] and unmasked with the prompt as fixed context. Beyond block_size
        it works block by block: each block of up to block_size/2 new tokens sees the preceding block_size/2.
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        bs = self.config.block_size
        if kwargs.get("rng") is None:                                         # one stream across the blocks
            kwargs["rng"] = np.random.default_rng(0)
        ids = np.tile(np.asarray(list(prompt_ids), dtype=np.int64), (num_samples, 1))   # (B, T0)
        start = ids.shape[1]
        while ids.shape[1] - start < max_new_tokens:
            remaining = max_new_tokens - (ids.shape[1] - start)
            if ids.shape[1] + remaining <= bs:                                # everything fits in one window
                context, n_new = ids, remaining
            else:
                n_ctx = min(ids.shape[1], bs // 2)
                context, n_new = ids[:, ids.shape[1] - n_ctx:], min(remaining, bs - n_ctx)
            x = np.concatenate([context, np.full((num_samples, n_new), self.mask_id)], axis=1)
            ids = np.concatenate([ids, self.unmask(x, **kwargs)[:, context.shape[1]:]], axis=1)
        return ids[:, start:]

    def generate_texts(self, tokenizer, prompt, max_new_tokens, cfg=None, num_samples=1, steps=None):
        """Strings continuing `prompt` (the sampler CLI's entry point): temperature and seed come from cfg."""
        temperature = 1.0 if cfg is None else cfg.temperature
        rng = np.random.default_rng(None if cfg is None else cfg.seed)
        new = self.generate(tokenizer.encode(prompt), max_new_tokens, num_samples, steps=steps,
                            temperature=temperature, rng=rng)
        return [tokenizer.decode([int(i) for i in row]) for row in new]
