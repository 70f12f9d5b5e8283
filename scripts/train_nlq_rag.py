"""Train the retrieval-augmented NLQ translator (k retrieved examples in the prompt) -> data/nlq_rag_model/.

    python scripts/train_nlq_rag.py                                   # k=1, copies written as words, 3000@3e-3
    python scripts/train_nlq_rag.py --k 2 --style copy --out /tmp/rag # two neighbours, copies as <copy>
    python scripts/train_nlq_rag.py --eval-only                       # IR match, latency, execution accuracy

Same data, split, model and schedule as scripts/train_nlq.py (imported from it), with the prompt of rag.py:
each training example gets k neighbours drawn at random from its `--pool` most similar *other* training
examples of its index (never itself or a copy of its question), so the model learns a neighbour is a hint, not
the answer. Held-out examples and test questions retrieve the top k from the training examples only.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_nlq import (BLOCK_SLACK, add_common_args, evaluate_checkpoint, parse_stages,  # noqa: E402
                       split_examples)
import numpy as np  # noqa: E402

from tinyllm.models.gpt import GPTConfig  # noqa: E402
from tinyllm.nlq.ir import Unsupported, parse_dsl, words  # noqa: E402
from tinyllm.nlq.nlq_model import VOCAB_FILE, MaskedGPT  # noqa: E402
from tinyllm.nlq.prepare_ir import MAX_WORDS, build, canonical_order, load_examples, to_batch  # noqa: E402
from tinyllm.nlq.rag import (Neighbours, RAGConfig, Stored, block_tokens, build_prompt, draw,  # noqa: E402
                             with_rag_tokens, write_rag_files)
from tinyllm.training.checkpoint import save_checkpoint  # noqa: E402
from tinyllm.training.trainer import TrainConfig, Trainer  # noqa: E402


def sayable(examples, vocab):
    """The examples as Stored (canonical IR) that the vocabulary can say: the same filter as prepare_ir.build."""
    out = []
    for ex in examples:
        try:
            ir = canonical_order(parse_dsl(ex["query"], ex["question"]))
        except Unsupported:
            continue
        if len(words(ex["question"])) <= MAX_WORDS and all(t in vocab.stoi for t in ir):
            out.append(Stored(ex["question"], ex["index"], tuple(ir)))
    return out


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=1, help="retrieved examples in the prompt")
    ap.add_argument("--style", default="words", choices=("words", "copy"), help="how a neighbour's copies are written")
    ap.add_argument("--pool", type=int, default=3, help="training draws its k neighbours from this many nearest")
    add_common_args(ap, out="data/nlq_rag_model")
    args = ap.parse_args(argv)
    if args.eval_only:
        return evaluate_checkpoint(args)
    stages = parse_stages(args.stages)
    t0 = time.perf_counter()
    held, kept = split_examples(load_examples(args.examples or None), args.held_out, args.seed)
    vocab = with_rag_tokens(build(kept)[0])
    train, val = sayable(kept, vocab), sayable(held, vocab)
    max_ir = max(len(s.ir) for s in train + val)
    rag = RAGConfig(k=args.k, style=args.style, pool=args.pool, max_ir=max_ir)
    c0 = time.process_time()
    neighbours = Neighbours(train)
    table = neighbours.table(rag.pool)                                          # (N, pool) leave-one-out
    print(f"{len(train)} training examples ({len(val)} held out), vocabulary {len(vocab)}; neighbour table "
          f"{table.shape} in {time.process_time() - c0:.1f} s CPU", flush=True)
    blocks = [vocab.ids(block_tokens(s, rag.style, vocab.stoi)) for s in train]
    irs = [vocab.ids(s.ir) for s in train]

    def room(s, ir, row):         # the longest sequence this example can make: its k longest candidate blocks
        sizes = sorted(len(blocks[j]) for j in row if j >= 0)
        return len(vocab.prompt(s.question, s.index)) + len(ir) + sum(sizes[len(sizes) - rag.k:])

    longest = max(room(s, ir, row) for s, ir, row in zip(train, irs, table))
    block = max(longest, 2 * MAX_WORDS + 2 + max_ir) + BLOCK_SLACK
    cfg = GPTConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.embd, block_size=block,
                    vocab_size=len(vocab))
    model = MaskedGPT(cfg, seed=args.seed)
    n_params = sum(p.data.size for p in model.parameters())
    print(f"model: {args.layers} layers, {args.embd} wide, block {block}: {n_params:,} parameters; {rag}", flush=True)

    def pair(s, ir, rows):
        return build_prompt(vocab, s.question, s.index, [blocks[j] for j in rows], block - len(ir)), ir

    def get_batch(r):
        picks = r.integers(0, len(train), args.batch)
        return to_batch([pair(train[i], irs[i], draw(table[i], rag.k, r)[::-1]) for i in picks], vocab.stoi["<pad>"])

    val_pairs = [pair(s, vocab.ids(s.ir), neighbours.top(s.question, s.index, rag.k)[::-1]) for s in val]
    print(f"mean sequence length (held-out, top {rag.k}): {np.mean([len(p) + len(i) for p, i in val_pairs]):.1f}",
          flush=True)
    val_batches = [to_batch(val_pairs[i:i + 64], vocab.stoi["<pad>"]) for i in range(0, len(val_pairs), 64)]
    step = 0
    for k, (iters, lr) in enumerate(stages, 1):
        print(f"stage {k}/{len(stages)}: {iters} steps, lr {lr:g} -> {lr / 10:g}", flush=True)
        tc = TrainConfig(batch_size=args.batch, block_size=block, max_iters=iters, lr=lr, min_lr=lr / 10,
                         warmup_iters=min(100, iters // 2), lr_decay_iters=iters, eval_interval=max(iters // 6, 1),
                         eval_iters=len(val_batches), log_interval=50, seed=args.seed, out_dir="",
                         sample_tokens=0, weight_decay=0.01, model=cfg)
        trainer = Trainer(model, tc, get_batch, val_batches, model_name="gpt", model_config=cfg)
        trainer.run()
        step += trainer.step
    os.makedirs(args.out, exist_ok=True)
    model.eval()
    save_checkpoint(args.out, model=model, model_name="gpt", model_config=cfg, step=step,
                    train_config={"stages": args.stages, "batch": args.batch, "seed": args.seed,
                                  "held_out": args.held_out, "rag": True})
    tmp = os.path.join(args.out, VOCAB_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(vocab.to_dict(), f)
    os.replace(tmp, os.path.join(args.out, VOCAB_FILE))
    write_rag_files(args.out, rag, train)
    print(f"saved {args.out} after {time.perf_counter() - t0:.0f} s", flush=True)
    return evaluate_checkpoint(args)


if __name__ == "__main__":
    sys.exit(main())
