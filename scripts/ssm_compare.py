"""Mamba and S4D against the baby GPT on tiny Shakespeare (char level, ~0.8M parameters, the 2000-step recipe),
then the generation cost per token as the context grows. Training goes through `tinyllm train` itself.

    python scripts/ssm_compare.py train --model=mamba           # one run -> out/compare_mamba/log.jsonl
    python scripts/ssm_compare.py train --model=gpt --max_iters=200
    python scripts/ssm_compare.py report                        # val loss / tokens/s table from the three logs
    python scripts/ssm_compare.py generate --threads=1          # ms per generated token vs context length
    python scripts/ssm_compare.py steptime --threads=1          # training step time of the three, interleaved

The three runs can go in parallel (one process each). Wall times depend on the machine's load: compare models
measured at the same time, and prefer --threads=1 numbers.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

PRESET = {"gpt": "baby", "mamba": "mamba_baby", "s4d": "s4d_baby"}


def out_dir(model):
    return Path("out") / f"compare_{model}"


def train(args):
    from tinyllm.training.cli import run
    argv = [f"--model={args.model}", f"--preset={PRESET[args.model]}", f"--out_dir={out_dir(args.model)}",
            f"--max_iters={args.max_iters}", f"--lr_decay_iters={args.max_iters}",
            f"--eval_interval={args.eval_interval}",
            f"--eval_iters={args.eval_iters}", "--sample_tokens=200"]
    print("tinyllm train " + " ".join(argv), flush=True)
    run(argv, print_fn=lambda *a, **k: print(*a, **k, flush=True))


def read_log(model):
    path = out_dir(model) / "log.jsonl"
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def report(args):
    rows, steps = {}, set()
    for model in PRESET:
        log = read_log(model)
        if not log:
            print(f"{model}: no log in {out_dir(model)} (run `train --model={model}` first)")
            continue
        evals = {r["step"]: r["val_loss"] for r in log if r["event"] == "eval"}
        train_recs = [r for r in log if r["event"] == "train"]
        steps |= set(evals)
        rows[model] = (evals, statistics.median(r["ms_per_step"] for r in train_recs) if train_recs else float("nan"),
                       statistics.median(r["tokens_per_s"] for r in train_recs) if train_recs else float("nan"))
    shown = sorted(steps)
    print("| model | params | " + " | ".join(f"val @{s}" for s in shown) + " | median ms/step | tokens/s |")
    print("|---|---|" + "---|" * len(shown) + "---|---|")
    for model, (evals, ms, tps) in rows.items():
        manifest = json.loads((out_dir(model) / "latest" / "manifest.json").read_text(encoding="utf-8"))
        n = manifest["model"]["num_parameters"]
        vals = " | ".join(f"{evals[s]:.4f}" if s in evals else "-" for s in shown)
        print(f"| {model} | {n:,} | {vals} | {ms:.1f} | {tps:,.0f} |")
    if "gpt" in rows:
        for model in ("mamba", "s4d"):
            if model in rows:
                print(f"{model}: step time {rows[model][1] / rows['gpt'][1]:.2f}x the GPT's")


def _time_per_token(fn, repeats):
    """Fastest of `repeats` calls to fn(), in seconds, after one warm-up call. The minimum, not the median: on a
    shared CPU a call that gets descheduled takes 10-30 ms longer, which says nothing about the model."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def generate(args):
    """ms per new token (best of --repeats) at context n: Mamba/S4D recurrent step, GPT with KV cache, and GPT
    recomputing the whole context."""
    import numpy as np

    from tinyllm import kernels
    from tinyllm.autograd.tensor import no_grad
    from tinyllm.models import build_model
    if args.threads:
        kernels.set_num_threads(args.threads)
    print(f"kernels={kernels.backend} threads={kernels.num_threads()}; untrained weights (cost does not depend on "
          f"them); GPT built with block_size={max(args.contexts)} so attention can see the whole context")
    rng = np.random.default_rng(0)
    models = {"mamba step": build_model("mamba"), "s4d step": build_model("s4d"),
              "gpt KV cache": build_model("gpt", {"block_size": max(args.contexts)}),
              "gpt no cache": build_model("gpt", {"block_size": max(args.contexts)})}
    print("| model | " + " | ".join(f"ctx {n}" for n in args.contexts) + " |   (ms per token)")
    print("|---|" + "---|" * len(args.contexts))
    with no_grad():
        for name, model in models.items():
            model.eval()
            cells = []
            for n in args.contexts:
                ids = rng.integers(0, 65, (1, n))
                if name.endswith("no cache"):
                    sec = _time_per_token(lambda: model(ids), args.repeats)
                else:
                    cache = model.new_cache(1)
                    model(ids[:, :-1], cache)                           # prefill n-1 tokens, then time one token

                    def one(cache=cache, model=model, ids=ids):
                        model(ids[:, -1:], cache)
                        cache.pos -= 1                                  # the KV cache stays at n-1 tokens
                    sec = _time_per_token(one, args.repeats)
                cells.append(f"{sec * 1e3:.2f}")
                print(f"  {name} ctx {n}: {sec * 1e3:.2f} ms", file=sys.stderr, flush=True)
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def steptime(args):
    """Median ms of full training steps (batch, loss, backward, clip, AdamW), models interleaved in one process."""
    import numpy as np

    from tinyllm import kernels
    from tinyllm.models import build_model
    from tinyllm.training.optim import clip_grad_norm
    from tinyllm.training.trainer import TrainConfig, build_optimizer
    kernels.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    models = {name: build_model(name) for name in PRESET}
    opts = {name: build_optimizer(m, TrainConfig()) for name, m in models.items()}
    times = {name: [] for name in models}
    cpu = {name: [] for name in models}                               # CPU seconds: less sensitive to the load
    print(f"kernels={kernels.backend} threads={kernels.num_threads()}; B=12, T=64; {args.steps} steps each, "
          f"interleaved so every model sees the same load", flush=True)
    for i in range(args.steps + 1):
        x = rng.integers(0, 65, (12, 64))
        y = rng.integers(0, 65, (12, 64))
        for name, model in models.items():
            t0, c0 = time.perf_counter(), time.process_time()
            opts[name].zero_grad()
            model.loss((x, y)).backward()
            clip_grad_norm(opts[name].params(), 1.0)
            opts[name].step()
            if i:                                                      # step 0 warms up (Numba compiles)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    gpt, gpt_cpu = statistics.median(times["gpt"]), statistics.median(cpu["gpt"])
    print("| model | median wall ms/step | vs GPT | median CPU ms/step | vs GPT |\n|---|---|---|---|---|")
    for name, ts in times.items():
        c = statistics.median(cpu[name])
        print(f"| {name} | {statistics.median(ts) * 1e3:.1f} | {statistics.median(ts) / gpt:.2f}x | {c * 1e3:.1f} | "
              f"{c / gpt_cpu:.2f}x |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--model", choices=sorted(PRESET), required=True)
    t.add_argument("--max_iters", type=int, default=2000)
    t.add_argument("--eval_interval", type=int, default=250)
    t.add_argument("--eval_iters", type=int, default=100)
    sub.add_parser("report")
    st = sub.add_parser("steptime")
    st.add_argument("--threads", type=int, default=1)
    st.add_argument("--steps", type=int, default=20)
    g = sub.add_parser("generate")
    g.add_argument("--threads", type=int, default=1)
    g.add_argument("--repeats", type=int, default=20)
    g.add_argument("--contexts", type=int, nargs="+", default=[16, 64, 256, 1024])
    args = p.parse_args()
    print(f"ssm_compare {args.cmd}: pid {os.getpid()}", flush=True)
    {"train": train, "report": report, "generate": generate, "steptime": steptime}[args.cmd](args)


if __name__ == "__main__":
    main()
