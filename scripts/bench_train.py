"""Time tinyllm's full training step against the same GPT in PyTorch, measured in the same run.

A step is what `tinyllm train` does per iteration: draw a batch, forward, backward, clip the global grad norm,
AdamW update. Both models are built from the same config (pre-LN, no bias, tied embeddings, tanh-GELU, learned
positions) and trained on tiny Shakespeare characters. Each framework runs in a process of its own (BLAS reads its
thread count at import, and an OpenMP runtime has one wait policy per process); both stay up and their timing
rounds alternate (A B, B A, ...), so a change in the host's load hits both alike, and the ratio is the median of
the per-round ratios. 1-thread numbers are the robust comparison on a shared host.
tinyllm runs as `tinyllm train` sets it up: BLAS on one thread, `threads` Numba threads, OMP_WAIT_POLICY=passive.
PyTorch runs with its own defaults and `threads` intra-op threads. (In one process PyTorch would reuse Numba's
libgomp and its passive policy: on a quiet host its 2-thread step then took ~370 ms instead of ~60.)

    python scripts/bench_train.py                   # baby config (4L/4H/128d, T=64, B=12), 1 and 2 threads
    python scripts/bench_train.py --large           # also 6L/6H/384d, T=256, B=16 (a few steps only)
    python scripts/bench_train.py --profile         # cProfile of tinyllm's step: which ops dominate
    python scripts/bench_train.py --vs=GOMP_SPINCOUNT=10000    # A/B: tinyllm against itself under other settings
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "baby": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, steps=5, rounds=15, warmup=3),
    "large": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=16, steps=1, rounds=7, warmup=1),
}


VS_ENV = {}  # --vs: the extra environment of the "tinyllm*" peer

# ----------------------------------------------------------------------------------------------------- tinyllm
def tinyllm_stepper(c, train_ids, vocab_size):
    from tinyllm.datasets.batches import get_batch
    from tinyllm.models import build_model
    from tinyllm.training.trainer import TrainConfig, Trainer
    # BENCH_DATA_PARALLEL=1 (e.g. through --vs) times op-level threads instead of the default batch shards
    cfg = TrainConfig(batch_size=c["batch_size"], block_size=c["block_size"], out_dir="", max_iters=10**9,
                      warmup_iters=0, lr_decay_iters=10**9,
                      data_parallel=int(os.environ.get("BENCH_DATA_PARALLEL", "0")))
    model = build_model("gpt", dict(n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"],
                                    block_size=c["block_size"], vocab_size=vocab_size), seed=0)
    trainer = Trainer(model, cfg, lambda rng: get_batch(train_ids, cfg.batch_size, cfg.block_size, rng),
                      print_fn=lambda *a: None)
    return trainer.train_step, model.num_parameters()


# ----------------------------------------------------------------------------------------------------- PyTorch
def torch_stepper(c, train_ids, vocab_size):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from tinyllm.datasets.batches import get_batch

    L, H, C, T, V = c["n_layer"], c["n_head"], c["n_embd"], c["block_size"], vocab_size

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
            self.qkv, self.proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            self.fc, self.fc_proj = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)

        def forward(self, x):
            B = x.shape[0]
            q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))   # (B, H, T, D)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.proj(y)
            return x + self.fc_proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
            self.blocks = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C, bias=False)
            for p in self.parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, std=0.02)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for block in self.blocks:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T                               # tied output layer
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    torch.manual_seed(0)
    model = GPT()
    emb = {id(model.wte.weight), id(model.wpe.weight)}
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in emb]
    rest = [p for p in model.parameters() if p.dim() < 2 or id(p) in emb]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)

    def step():
        x, y = get_batch(train_ids, c["batch_size"], T, rng)
        loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    return step, sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------------ worker
def load_ids():
    from tinyllm.datasets.tokens import default_dataset, load_prepared
    train_ids, _, tok, _ = load_prepared(default_dataset("tinyshakespeare", "chars", verbose=False), mmap=False)
    return train_ids, tok.vocab_size


def time_steps(step, n):
    """(wall ms, CPU ms) per step. On a busy shared host the process is often descheduled; its CPU time then
    measures the work done (at 1 thread), while wall time also counts the waiting."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return 1000 * (time.perf_counter() - t0) / n, 1000 * (time.process_time() - c0) / n


def worker(name, threads, who):
    """Serve timing rounds of one framework from this process: `who` is "tinyllm" or "torch". Each gets a process
    of its own, so each runs with its own threading defaults (in one process they would share one OpenMP runtime
    and its wait policy: PyTorch's 2-thread step then stalled at ~370 ms under tinyllm's passive policy).

    Protocol on stdin/stdout, one JSON line each way: after the warm-up it prints {"ready", "params", "kernels"};
    then every "run" line is answered with one round {"ms", "cpu_ms"} (per step, over c["steps"] steps)."""
    c = CONFIGS[name]
    train_ids, V = load_ids()
    if who.startswith("tinyllm"):  # "tinyllm", or "tinyllm*": the same, run under the --vs environment
        from tinyllm import kernels  # sets OMP_WAIT_POLICY=passive (tinyllm's default) unless the user chose one
        step, n_params = tinyllm_stepper(c, train_ids, V)
        backend = kernels.backend
    else:
        import torch
        torch.set_num_threads(threads)
        step, n_params = torch_stepper(c, train_ids, V)
        backend = "torch"
    time_steps(step, c["warmup"])
    print(json.dumps({"ready": True, "params": n_params, "kernels": backend}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        ms, cpu_ms = time_steps(step, c["steps"])
        print(json.dumps({"ms": ms, "cpu_ms": cpu_ms}), flush=True)


class Worker:
    """The parent's handle on one worker process (see worker()): start it, then ask for rounds one at a time."""

    def __init__(self, name, threads, who, env):
        self.who = who
        if who == "tinyllm*":
            env = {**env, **VS_ENV}
        cmd = [sys.executable, __file__, "--worker", name, str(threads), who]
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()
        self.rounds = []

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.who} worker exited (code {self.proc.wait()}) before answering")
        return json.loads(line)

    def round(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        self.rounds.append(self._read())
        return self.rounds[-1]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()

    def summary(self, tokens):
        ms = statistics.median(r["ms"] for r in self.rounds)
        return {"ms": ms, "cpu_ms": statistics.median(r["cpu_ms"] for r in self.rounds), "rounds": self.rounds,
                "tokens_per_s": tokens * 1000 / ms, "params": self.info["params"]}


def bench(name, threads, whos, env):
    """Time the frameworks in `whos` on one config with rounds *interleaved* (A B, B A, A B, ...), so a change in
    the host's load hits them alike; the ratio is the median of the per-round ratios."""
    c = CONFIGS[name]
    print(f"running {name}, {threads} thread(s): {' and '.join(whos)}, each in a process of its own, "
          f"{c['warmup']} warm-up steps, then {c['rounds']} interleaved rounds of {c['steps']} steps", flush=True)
    workers = []
    try:
        for who in whos:
            workers.append(Worker(name, threads, who, env))
        for r in range(c["rounds"]):
            order = workers if r % 2 == 0 else workers[::-1]
            got = {w.who: w.round() for w in order}
            print(f"  [{name}, {threads} thr] round {r + 1}/{c['rounds']}: " + ", ".join(
                f"{who} {g['ms']:.1f} ms wall ({g['cpu_ms']:.1f} CPU)" for who, g in got.items()), flush=True)
    finally:
        for w in workers:
            w.close()
    tokens = c["batch_size"] * c["block_size"]
    out = {"config": name, "threads": threads, "kernels": workers[0].info["kernels"], "tokens_per_step": tokens}
    out.update({w.who: w.summary(tokens) for w in workers})
    if len(workers) == 2:  # per-round ratio torch ms / tinyllm ms (> 1: tinyllm faster)
        out["ratio"] = statistics.median(b["ms"] / a["ms"] for a, b in zip(workers[0].rounds, workers[1].rounds))
    return out


def profile(name):
    import cProfile
    import pstats
    c = CONFIGS[name]
    train_ids, V = load_ids()
    step, _ = tinyllm_stepper(c, train_ids, V)
    time_steps(step, c["warmup"])
    prof = cProfile.Profile(time.process_time)  # CPU time: a busy host's descheduling does not count
    prof.runcall(time_steps, step, 10)  # (wall, CPU) ignored: the profile is the point
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())
    print(f"cProfile of 10 tinyllm steps ({name}), process CPU time: total self time {total:.2f} s; top functions by self time:")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:20]
    for (file, line, func), (cc, nc, tt, ct, _) in rows:
        where = f"{os.path.relpath(file) if file.startswith('/') else file}:{line}({func})"
        print(f"  {100 * tt / total:5.1f}%  {1000 * tt / 10:7.2f} ms/step  {nc // 10:5d} calls/step  {where}")


# ------------------------------------------------------------------------------------------------------ parent
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--large", action="store_true", help="also time the 6L/384d/T256/B16 config")
    ap.add_argument("--configs", default=None, help="comma-separated configs to time (overrides --large)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--profile", action="store_true", help="profile tinyllm's baby step instead of timing")
    ap.add_argument("--worker", nargs=3, metavar=("CONFIG", "THREADS", "WHO"), help=argparse.SUPPRESS)
    ap.add_argument("--no_torch", action="store_true", help="time tinyllm only")
    ap.add_argument("--vs", default="", metavar="KEY=VAL,...",
                    help="instead of PyTorch, time tinyllm against itself run with these extra environment variables "
                         "(e.g. GOMP_SPINCOUNT=30000, or BENCH_DATA_PARALLEL=1 for op-level threads instead of "
                         "batch shards): the tool for tuning a setting")
    args = ap.parse_args()
    # find_spec, not import: importing torch here would start its OpenMP runtime before tinyllm's (see worker)
    have_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if args.vs:
        VS_ENV.update(dict(kv.split("=", 1) for kv in args.vs.split(",")))
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]), args.worker[2])
    if args.profile:
        return profile("baby")
    print(__doc__.split("\n\n")[1])
    if not have_torch:
        print("PyTorch is not importable: timing tinyllm alone (pip install torch==2.13.0 for the peer).")
    results = []
    names = args.configs.split(",") if args.configs else ["baby"] + (["large"] if args.large else [])
    for name in names:
        for threads in [int(t) for t in args.threads.split(",")]:
            # tinyllm's setup (as `tinyllm train` has it): BLAS on 1 thread, `threads` in Numba's pool.
            # PyTorch's: `threads` intra-op threads (torch.set_num_threads; its BLAS is not NumPy's OpenBLAS).
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
            peers = ["tinyllm*"] if args.vs else (["torch"] if have_torch else [])
            results.append(bench(name, threads, ["tinyllm"] + peers, env))
    peer = "tinyllm*" if args.vs else "torch"
    print(f"\n{'config':<7} {'thr':>3} {'tinyllm ms':>11} {'tok/s':>8} {peer + ' ms':>9} {'tok/s':>8} {'ratio':>7}"
          f" {'CPU ms tinyllm/' + peer:>21} {'CPU ratio':>9}")
    for res in results:
        t = res["tinyllm"]
        line = f"{res['config']:<7} {res['threads']:>3} {t['ms']:>11.1f} {t['tokens_per_s']:>8.0f}"
        if len(res) > 5:  # a peer was timed: torch, or tinyllm* (--vs)
            p = res.get("torch") or res["tinyllm*"]
            line += (f" {p['ms']:>9.1f} {p['tokens_per_s']:>8.0f} {res['ratio']:>6.2f}x"
                     f" {t['cpu_ms']:>10.1f} /{p['cpu_ms']:>9.1f} {p['cpu_ms'] / t['cpu_ms']:>8.2f}x")
        print(line)
    print(f"ratio = median over rounds of {peer} ms / tinyllm ms (> 1: tinyllm faster); kernels="
          f"{results[0]['kernels'] if results else '?'}. The CPU ratio uses process CPU time, robust to a busy "
          f"host at 1 thread (at 2 threads it also counts threads spinning while they wait).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
