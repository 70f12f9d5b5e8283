"""Train the NLQ translator from data/nlq_examples.jsonl.gz and write the checkpoint to data/nlq_model/.

    python scripts/train_nlq.py [--iters 3000] [--out data/nlq_model] [--layers 3] [--embd 128]

Prints progress (loss, ms/step, ETA) from the tinyllm Trainer, then the held-out IR exact-match rate.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from tinyllm.models.gpt import GPTConfig
from tinyllm.nlq.nlq_model import VOCAB_FILE, MaskedGPT
from tinyllm.nlq.prepare_ir import build, load_examples, to_batch
from tinyllm.training.checkpoint import save_checkpoint
from tinyllm.training.trainer import TrainConfig, Trainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--out", default="data/nlq_model")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    vocab, pairs, skipped = build(load_examples())
    print(f"{len(pairs)} training sequences, vocabulary {len(vocab)}, skipped {dict(skipped)}", flush=True)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(pairs))
    val = [pairs[i] for i in order[:256]]
    train = [pairs[i] for i in order[256:]]
    pad = vocab.stoi["<pad>"]
    block = max(len(p) + len(r) for p, r in pairs)
    cfg = GPTConfig(n_layer=args.layers, n_head=4, n_embd=args.embd, block_size=block, vocab_size=len(vocab))
    model = MaskedGPT(cfg, seed=args.seed)
    n_params = sum(p.data.size for p in model.parameters())
    print(f"model: {args.layers} layers, {args.embd} wide, block {block}: {n_params:,} parameters", flush=True)

    def get_batch(r):
        return to_batch([train[i] for i in r.integers(0, len(train), args.batch)], pad)

    val_batches = [to_batch(val[i:i + 64], pad) for i in range(0, len(val), 64)]
    tc = TrainConfig(batch_size=args.batch, block_size=block, max_iters=args.iters, lr=args.lr, min_lr=args.lr / 10,
                     warmup_iters=min(100, args.iters // 2), lr_decay_iters=args.iters, eval_interval=max(args.iters // 6, 1),
                     eval_iters=len(val_batches), log_interval=50, seed=args.seed, out_dir="", sample_tokens=0,
                     weight_decay=0.01, model=cfg)
    trainer = Trainer(model, tc, get_batch, val_batches, model_name="gpt", model_config=cfg)
    trainer.run()
    os.makedirs(args.out, exist_ok=True)
    model.eval()
    save_checkpoint(args.out, model=model, model_name="gpt", model_config=cfg, step=trainer.step,
                    train_config={"iters": args.iters, "batch": args.batch, "lr": args.lr, "seed": args.seed})
    tmp = os.path.join(args.out, VOCAB_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(vocab.to_dict(), f)
    os.replace(tmp, os.path.join(args.out, VOCAB_FILE))
    print(f"saved {args.out} after {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
