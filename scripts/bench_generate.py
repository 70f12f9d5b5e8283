"""Benchmark: generating 500 tokens (batch 1) from the baby GPT, with the KV cache vs recomputing the context,
and against the same model (same weights, same cache policy) in PyTorch when torch is importable.

    python scripts/bench_generate.py                  # 1 thread (the robust comparison on a shared machine)
    python scripts/bench_generate.py --threads=2 --tokens=500 --rounds=5 --ckpt=out/baby/best

Runs are interleaved round by round and timed both by the wall clock and by process CPU time, and the ratios are
medians of per-round ratios: on a busy shared machine absolute numbers are noise, ratios much less so.
Weights do not change the speed, so a freshly initialised model is used unless --ckpt is given.
"""
import argparse
import os
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ckpt", default=None, help="optional checkpoint directory (default: baby config, seed 0)")
    p.add_argument("--no_torch", action="store_true", help="skip the PyTorch peer")
    return p.parse_args()


ARGS = parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)  # before numpy / numba / torch start their thread pools

import numpy as np  # noqa: E402

from tinyllm import kernels, no_grad  # noqa: E402
from tinyllm.models.gpt import GPT, GPTConfig  # noqa: E402
from tinyllm.sampling.generate import generate  # noqa: E402
from tinyllm.sampling.logits import SamplingConfig  # noqa: E402


def interleaved_rates(runs, rounds, n_tokens):
    """Time every run once per round, interleaved, so a burst of load on the shared host hits all of them alike.

    Returns {name: (wall tokens/s per round, CPU tokens/s per round)}. CPU time (time.process_time) leaves out the
    time the process waited for a core, which is what makes 1-thread numbers comparable on a busy machine.
    """
    out = {name: ([], []) for name in runs}
    for r in range(rounds):
        for name, fn in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            out[name][0].append(n_tokens / wall)
            out[name][1].append(n_tokens / max(cpu, 1e-9))
            print(f"  round {r + 1}/{rounds}  {name:<20} {out[name][0][-1]:7.0f} tokens/s wall, "
                  f"{out[name][1][-1]:7.0f} per CPU-second", flush=True)
    return out


def torch_peer(model, threads):
    """The same GPT written in PyTorch, sharing the weights, with a preallocated KV cache and the same rebuild
    policy as tinyllm (keep the last block_size // 2 tokens when the window is full). None without torch."""
    try:
        import torch
        import torch.nn.functional as TF
    except ImportError:
        return None
    torch.set_num_threads(threads)
    cfg = model.config
    H, C, Tmax = cfg.n_head, cfg.n_embd, cfg.block_size
    D = C // H
    W = {n: torch.from_numpy(p.data.copy()) for n, p in model.named_parameters()}

    def ln(x, name):
        return TF.layer_norm(x, (C,), W[name + ".weight"], W.get(name + ".bias"))

    def forward(idx, cache):
        """idx (1, T) LongTensor -> logits of the last position; appends to cache = [k, v, pos, ids]."""
        k_buf, v_buf, pos = cache[0], cache[1], cache[2]
        T = idx.shape[1]
        x = W["wte.weight"][idx[0]] + W["wpe.weight"][pos:pos + T]               # (T, C)
        for i in range(cfg.n_layer):
            p = f"blocks.{i}."
            qkv = (ln(x, p + "ln_1") @ W[p + "attn.qkv.weight"]).view(T, 3, H, D).permute(1, 2, 0, 3)
            k_buf[i, :, pos:pos + T] = qkv[1]
            v_buf[i, :, pos:pos + T] = qkv[2]
            k, v = k_buf[i, :, :pos + T], v_buf[i, :, :pos + T]
            mask = torch.ones(T, pos + T, dtype=torch.bool).tril(diagonal=pos) if T > 1 else None
            y = TF.scaled_dot_product_attention(qkv[0], k, v, attn_mask=mask)  # (H, T, D)
            x = x + y.transpose(0, 1).reshape(T, C) @ W[p + "attn.proj.weight"]
            x = x + TF.gelu(ln(x, p + "ln_2") @ W[p + "mlp.fc.weight"], approximate="tanh") @ W[p + "mlp.proj.weight"]
        cache[2] = pos + T
        return ln(x[-1:], "ln_f") @ W["wte.weight"].T                              # (1, V)

    def generate_torch(n_tokens, use_cache, seed=0):
        gen = torch.Generator().manual_seed(seed)
        ids = [0]
        with torch.no_grad():
            cache = [torch.zeros(cfg.n_layer, H, Tmax, D), torch.zeros(cfg.n_layer, H, Tmax, D), 0]
            logits = forward(torch.tensor([ids]), cache) if use_cache else None
            for _ in range(n_tokens):
                if not use_cache:
                    cache[2] = 0
                    logits = forward(torch.tensor([ids[-Tmax:]]), cache)
                probs = torch.softmax(logits[0].double(), dim=-1)
                ids.append(int(torch.multinomial(probs, 1, generator=gen)))
                if use_cache:
                    if cache[2] + 1 > Tmax:                                          # rebuild from the last half
                        keep = ids[-(Tmax // 2) - 1:-1]
                        cache[2] = 0
                        forward(torch.tensor([keep]), cache)
                    logits = forward(torch.tensor([ids[-1:]]), cache)
        return ids[1:]

    def last_logits(ids):
        with torch.no_grad():
            cache = [torch.zeros(cfg.n_layer, H, Tmax, D), torch.zeros(cfg.n_layer, H, Tmax, D), 0]
            return forward(torch.tensor([ids]), cache).numpy()[0]

    return generate_torch, last_logits


def main():
    if ARGS.threads >= 1:
        kernels.set_num_threads(ARGS.threads)
    if ARGS.ckpt:
        from tinyllm.training.checkpoint import load_checkpoint
        model = load_checkpoint(ARGS.ckpt).model
    else:
        model = GPT(GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65), seed=0).eval()
    c, n = model.config, ARGS.tokens
    print(f"bench_generate: {n} new tokens, batch 1, temperature 1, {ARGS.threads} thread(s), kernels="
          f"{kernels.backend}, model L{c.n_layer} H{c.n_head} C{c.n_embd} T{c.block_size} V{c.vocab_size} "
          f"({model.num_parameters():,} params)", flush=True)
    cfg = SamplingConfig(temperature=1.0, seed=0)
    generate(model, [0], 70, cfg)                       # warm-up: Numba compilation, caches, both cache paths
    generate(model, [0], 5, cfg, use_cache=False)

    # correctness first: cached logits equal the full recompute over the same window
    ids = generate(model, [0], c.block_size - 1, cfg)
    with no_grad():
        full = model(np.array([[0] + ids])).data[0]
        cache = model.new_cache(1)
        steps = np.concatenate([model(np.array([[t]]), cache).data[0] for t in [0] + ids])
    print(f"  KV cache vs full recompute logits: max |diff| = {np.abs(full - steps).max():.1e}")

    runs = {"tinyllm, KV cache": lambda: generate(model, [0], n, cfg),
            "tinyllm, recompute": lambda: generate(model, [0], n, cfg, use_cache=False)}
    peer = None if ARGS.no_torch else torch_peer(model, ARGS.threads)
    if peer is None:
        print("  (PyTorch not importable or --no_torch: no peer column)")
    else:
        gen_torch, last_logits = peer
        diff = np.abs(last_logits([0] + ids) - full[-1]).max()
        print(f"  tinyllm vs PyTorch last logits: max |diff| = {diff:.1e}")
        runs["PyTorch, KV cache"] = lambda: gen_torch(n, True)
        runs["PyTorch, recompute"] = lambda: gen_torch(n, False)
    res = interleaved_rates(runs, ARGS.rounds, n)

    print(f"\n| run ({ARGS.threads} thread(s), median of {ARGS.rounds} interleaved rounds) | tokens/s (wall) "
          f"| tokens per CPU-second |")
    print("|---|---|---|")
    for name, (wall, cpu) in res.items():
        print(f"| {name} | {np.median(wall):.0f} | {np.median(cpu):.0f} |")

    def ratio(a, b):  # median over rounds of the per-round ratio, wall and CPU
        return [float(np.median(np.array(res[a][i]) / np.array(res[b][i]))) for i in (0, 1)]

    pairs = [("tinyllm, KV cache", "tinyllm, recompute", "KV cache speed-up over recompute (tinyllm)", 2.0)]
    if peer is not None:
        pairs += [("tinyllm, KV cache", "PyTorch, KV cache", "tinyllm / PyTorch, both with KV cache", 1.0),
                  ("tinyllm, recompute", "PyTorch, recompute", "tinyllm / PyTorch, both recomputing", None)]
    print()
    for a, b, label, target in pairs:
        wall, cpu = ratio(a, b)
        goal = f"  (target >= {target:g}x)" if target else ""
        print(f"{label}: {wall:.2f}x wall, {cpu:.2f}x CPU{goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
