"""Evaluate a masked diffusion LM against an autoregressive GPT: val NELBO, sample quality, time per character.

    python scripts/diffusion_eval.py --ckpt=out/diffusion_baby/best --ar_ckpt=out/baby/best
    python scripts/diffusion_eval.py --ckpt=out/diffusion_baby/best --ar_ckpt=out/baby/best --steps=4,16,64 --n=8

1. val NELBO (nats/char): the mean of the diffusion loss over val windows, averaged over --nelbo_draws draws of
   (t or k, masks) per window, for each of --estimators (two estimators of one bound: their means agree within
   noise); an upper bound on -log p / T, comparable with the AR model's val loss on the same windows.
2. sample quality: the AR model's loss (nats/char) on --n diffusion samples of block_size chars drawn from
   all-[MASK] with S steps, beside the AR loss on its own samples and on real val text (lower = more AR-plausible).
3. time: wall time per generated char for each S vs the AR model's KV-cache decoding of the same number of chars.
Threads: run with NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 on a shared host (1-thread numbers are the robust ones).
"""
import argparse
import time
import os
for _var in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):   # before NumPy/Numba load: small ops stall on 2
    os.environ.setdefault(_var, "1")                        # threads of a shared host (see PERF.md)

import numpy as np

import tinyllm.functional as F
from tinyllm import kernels
from tinyllm.autograd.tensor import no_grad
from tinyllm.datasets.batches import eval_batches
from tinyllm.sampling.generate import generate_batch
from tinyllm.sampling.logits import SamplingConfig
from tinyllm.training.checkpoint import load_checkpoint
from tinyllm.training.cli import load_data
from tinyllm.training.trainer import TrainConfig


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="diffusion checkpoint directory")
    p.add_argument("--ar_ckpt", required=True, help="autoregressive checkpoint directory (same tokenizer)")
    p.add_argument("--steps", default="8,16,32,64",
                   help="comma-separated sampling step counts S (empty: the NELBO only)")
    p.add_argument("--n", type=int, default=8, help="samples per setting")
    p.add_argument("--eval_iters", type=int, default=50, help="val batches for the NELBO")
    p.add_argument("--nelbo_draws", type=int, default=2, help="draws of (t, masks) per val batch")
    p.add_argument("--estimators", default="count,time", help="NELBO estimators to report (same bound; see "
                   "diffusion_text.py): count (k masks, weight 1/k) and/or time (t, weight 1/t)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def ar_loss(model, ids):
    """Mean next-token cross-entropy (nats/token) of the AR model on rows ids (B, T)."""
    model.eval()
    with no_grad():
        logits = model(ids[:, :-1]).data                                      # (B, T-1, V)
        return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).data)


def main():
    args = parse_args()
    print(f"kernels={kernels.backend} threads={kernels.num_threads()}")
    diff, ar = load_checkpoint(args.ckpt), load_checkpoint(args.ar_ckpt)
    dm, am, tok = diff.model, ar.model, diff.tokenizer
    if ar.tokenizer.to_dict() != tok.to_dict():
        raise SystemExit("the two checkpoints use different tokenizers: the losses would not be comparable")
    T = dm.config.block_size
    print(f"diffusion {args.ckpt}: step {diff.step}, {dm.num_parameters():,} params; "
          f"AR {args.ar_ckpt}: step {ar.step}, {am.num_parameters():,} params; T = {T}")

    _, val_ids, _, _ = load_data(TrainConfig(), print)
    batches = eval_batches(val_ids, 12, T, args.eval_iters, seed=1337)
    ar_val = np.mean([ar_loss(am, np.concatenate([b[0], b[1][:, -1:]], axis=1)[:, -T:]) for b in batches])
    dm.train()                                  # training mode: a fresh (t or k, masks) draw on every call
    for estimator in [e for e in args.estimators.split(",") if e]:
        dm.config.estimator = estimator
        dm.noise_rng = np.random.default_rng(args.seed)
        with no_grad():
            draws = [float(dm.loss(b).data) for b in batches for _ in range(args.nelbo_draws)]
        nelbo, se = np.mean(draws), np.std(draws) / np.sqrt(len(draws))
        print(f"\nval NELBO ({estimator} estimator) {nelbo:.4f} +- {se:.4f} (s.e.) nats/char (diffusion, upper "
              f"bound) | AR val loss {ar_val:.4f} | gap {nelbo - ar_val:+.4f}")
    dm.eval()

    steps = [int(s) for s in args.steps.split(",") if s]
    if not steps:                                                             # --steps= : the NELBO only
        return
    real = np.concatenate([b[0] for b in batches])[:args.n]
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    ar_new = generate_batch(am, [[int(real[i, 0])] for i in range(args.n)], T - 1,
                            SamplingConfig(temperature=args.temperature), rng=rng)
    ar_time = (time.perf_counter() - t0) / (args.n * (T - 1))
    ar_samples = np.array([[int(real[i, 0])] + list(row) for i, row in enumerate(ar_new)])
    print(f"\n| sampler | S (denoiser calls) | AR loss on samples | ms per char | vs AR |")
    print("|---|---|---|---|---|")
    print(f"| real val text | - | {ar_loss(am, real):.3f} | - | - |")
    print(f"| AR (KV cache) | {T - 1} | {ar_loss(am, ar_samples):.3f} | {1e3 * ar_time:.2f} | 1.00x |")
    for S in steps:
        for order in ("random", "confidence"):
            t0 = time.perf_counter()
            x = dm.unmask(np.full((args.n, T), dm.mask_id), steps=S, temperature=args.temperature, order=order,
                          rng=np.random.default_rng(args.seed + S))
            per_char = (time.perf_counter() - t0) / (args.n * T)
            print(f"| diffusion ({order} order) | {S} | {ar_loss(am, x):.3f} | {1e3 * per_char:.2f} | "
                  f"{per_char / ar_time:.2f}x |", flush=True)
    print("\nexample (S = last):\n" + tok.decode([int(i) for i in x[0]]))


if __name__ == "__main__":
    main()
