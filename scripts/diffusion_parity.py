"""Check the masked diffusion LM's NELBO and gradients against an independent PyTorch twin (torch optional).

    python scripts/diffusion_parity.py                       # float64, a small config
    python scripts/diffusion_parity.py --n_layer=4 --n_head=4 --n_embd=128 --T=64 --B=12

The twin rebuilds the denoiser (pre-LN bidirectional transformer, RoPE on q/k, tanh GELU, tied head without the
[MASK] row) in PyTorch from tinyllm's weights, feeds it the same x_t, masks and t, and computes
(1/t) * sum_masked -log p(x_0 | x_t) / T averaged over rows. It prints the loss difference and the largest
relative gradient difference per parameter. A mismatch would point at a loss or gradient bug in tinyllm.
"""
import argparse
import os
for _var in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

from tinyllm.models.diffusion_text import DiffusionConfig, MaskedDiffusionLM, stratified_t

try:
    import torch
except ImportError:                                                           # torch is a peer, never required
    torch = None


def twin_nelbo(params, cfg, xt, x0, masked, t):
    """PyTorch NELBO of the same model; params maps tinyllm names to leaf tensors (float64)."""
    B, T = xt.shape
    C, H = cfg.n_embd, cfg.n_head
    D = C // H
    theta = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)      # (D/2,)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * theta             # (T, D/2)
    angle = torch.cat([angle, angle], dim=1)                                  # (T, D)
    cos, sin = angle.cos(), angle.sin()

    def rope(x):                                                              # (B, H, T, D)
        rotated = torch.cat([-x[..., D // 2:], x[..., :D // 2]], dim=-1)
        return x * cos + rotated * sin

    def ln(x, w):
        return torch.nn.functional.layer_norm(x, (C,), weight=w, eps=1e-5)

    wte = params["encoder.wte.weight"]
    x = wte[torch.as_tensor(xt)]                                              # (B, T, C)
    for i in range(cfg.n_layer):
        p = lambda n: params[f"encoder.blocks.{i}.{n}"]                      # noqa: E731
        qkv = ln(x, p("ln_1.weight")) @ p("attn.qkv.weight")                  # (B, T, 3C)
        q, k, v = qkv.reshape(B, T, 3, H, D).permute(2, 0, 3, 1, 4)          # (B, H, T, D) each
        q, k = rope(q), rope(k)
        att = torch.softmax(q @ k.transpose(-1, -2) / D ** 0.5, dim=-1)       # (B, H, T, T): no causal mask
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p("attn.proj.weight")
        hmid = torch.nn.functional.gelu(ln(x, p("ln_2.weight")) @ p("mlp.fc.weight"), approximate="tanh")
        x = x + hmid @ p("mlp.proj.weight")
    head = params["lm_head.weight"] if "lm_head.weight" in params else wte[:cfg.vocab_size].T   # (C, V)
    logits = ln(x, params["encoder.ln_f.weight"]) @ head                     # (B, T, V)
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, torch.as_tensor(x0)[..., None])[..., 0]           # (B, T)
    per_row = (nll * torch.as_tensor(masked, dtype=torch.float64)).sum(1) / torch.as_tensor(t) / T
    return per_row.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("n_layer", 2), ("n_head", 2), ("n_embd", 32), ("T", 16), ("B", 6), ("V", 13),
                          ("seed", 0)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--untied", action="store_true", help="a separate output layer instead of the tied embedding")
    ap.add_argument("--dtype", default="float64", help="tinyllm's dtype (float32 = the training path; the twin "
                    "always runs in float64 on the same weights)")
    args = ap.parse_args()
    if torch is None:
        raise SystemExit("PyTorch is not installed: this parity check needs it as a peer")
    torch.set_num_threads(1)
    cfg = DiffusionConfig(n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.T,
                          vocab_size=args.V, bias=False, dtype=args.dtype,
                          tie_embeddings=not args.untied)
    model = MaskedDiffusionLM(cfg, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    x0 = rng.integers(0, args.V, size=(args.B, args.T))
    t = stratified_t(args.B, rng, cfg.t_eps)
    state = rng.bit_generator.state                                           # same masks for both models
    loss = model.nelbo_terms(x0, t, rng).mean()
    model.zero_grad()
    loss.backward()
    rng.bit_generator.state = state
    xt, masked = model.corrupt(x0, t, rng)

    params = {n: torch.tensor(p.data.astype(np.float64), requires_grad=True) for n, p in model.named_parameters()}
    twin = twin_nelbo(params, cfg, xt, x0, masked, t)
    twin.backward()
    ours, theirs = float(loss.data), twin.item()
    print(f"NELBO tinyllm {ours:.12f}  torch {theirs:.12f}  diff {abs(ours - theirs):.2e}")
    worst = 0.0
    for name, p in model.named_parameters():
        g, gt = p.grad, params[name].grad.numpy()
        rel = np.abs(g - gt).max() / max(np.abs(gt).max(), 1e-30)
        worst = max(worst, rel)
        print(f"  {name:32s} max|grad| {np.abs(gt).max():.3e}  rel diff {rel:.2e}")
    tol = 1e-8 if args.dtype == "float64" else 1e-3
    verdict = "OK" if worst < tol else "MISMATCH"
    print(f"worst relative gradient difference {worst:.2e} ({verdict} at tolerance {tol:g})")


if __name__ == "__main__":
    main()
