"""The attention zoo measured: val loss on tiny Shakespeare of each score function, each position code, linear
and local attention, and MoE vs dense, every variant trained for the same CPU-time budget.

    python scripts/attention_zoo.py                                  # everything, 60 CPU-seconds per variant
    python scripts/attention_zoo.py --variants=rope,alibi,none --budget_s=120
    python scripts/attention_zoo.py --demo=variance                  # the 1/sqrt(D) argument, numerically
    python scripts/attention_zoo.py --help

Each variant is the baby GPT (4 layers, 4 heads, 128 channels, context 64, batch 12) with one piece swapped
(baseline: scaled dot-product scores, learned positions, softmax attention, dense MLP). Equal budget: a short
calibration measures the variant's CPU time per step, then it trains for budget_s / (time per step) steps with
the usual warmup + cosine schedule fitted to that many steps. CPU time of this process (1 thread) is the budget,
not wall time, because the machine is shared. Parameter counts differ by a few percent (printed): the score
functions with weights add them, RoPE/ALiBi/none drop the 8k learned positions. MoE uses 4 experts of hidden
size C (the dense MLP's 4C split four ways), so its parameters equal the dense model's plus a router.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")          # before NumPy loads: 1-thread numbers are robust
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from tinyllm.config import ConfigError, help_text, parse_overrides  # noqa: E402

VARIANTS = {   # name -> ZooConfig overrides of the baseline
    "baseline": {},
    "dot": {"score": "dot"}, "general": {"score": "general"}, "cosine": {"score": "cosine"},
    "additive": {"score": "additive"}, "location": {"score": "location"},
    "sinusoidal": {"pos": "sinusoidal"}, "rope": {"pos": "rope"}, "alibi": {"pos": "alibi"}, "none": {"pos": "none"},
    "linear": {"attention": "linear"}, "local16": {"attention": "local", "window": 16},
    "moe": {"mlp": "moe", "n_expert": 4, "top_k": 1},
}
GROUPS = {"baseline": "-", "dot": "score", "general": "score", "cosine": "score", "additive": "score",
          "location": "score", "sinusoidal": "position", "rope": "position", "alibi": "position",
          "none": "position", "linear": "attention", "local16": "attention", "moe": "mlp"}


@dataclasses.dataclass
class ZooRunConfig:
    variants: str = "all"          # comma-separated names from VARIANTS, or "all"
    budget_s: float = 60.0         # CPU seconds of training per variant
    max_iters: int = 2000          # cap on steps (the baby recipe's length)
    calib_steps: int = 8           # steps timed to fit the budget (after 2 warm-up steps)
    eval_iters: int = 50           # validation batches (fixed, seeded)
    batch_size: int = 12
    block_size: int = 64
    seed: int = 1337
    threads: int = 1               # Numba threads
    out: str = "attention_zoo.json"  # results (written atomically); "" = do not write
    demo: str = ""                 # "variance": print the 1/sqrt(D) demonstration and exit


def variance_demo(print_fn=print):
    """var(q . k) grows like D; scaled by 1/sqrt(D) it stays 1; unscaled softmax saturates as D grows."""
    rng = np.random.default_rng(0)
    print_fn("D      var(q.k)  var(q.k/sqrt(D))  max softmax weight (16 keys): unscaled | scaled")
    for D in (4, 16, 64, 256, 1024):
        q, k = rng.normal(size=(4000, D)), rng.normal(size=(4000, D))
        dots = np.sum(q * k, axis=1)
        s = rng.normal(size=(500, D)) @ rng.normal(size=(D, 16))
        peak = []
        for scores in (s, s / np.sqrt(D)):
            p = np.exp(scores - scores.max(1, keepdims=True))
            peak.append((p / p.sum(1, keepdims=True)).max(1).mean())
        print_fn(f"{D:<6} {dots.var():9.1f}  {(dots / np.sqrt(D)).var():16.3f}  {peak[0]:38.3f} | {peak[1]:.3f}")


def run_variant(name, cfg, data, print_fn=print):
    """Calibrate, train for the budget, evaluate: a result dict."""
    from tinyllm.datasets.batches import eval_batches, get_batch
    from tinyllm.models.zoo import ZooConfig, ZooGPT
    from tinyllm.training.presets import PRESETS
    from tinyllm.training.trainer import TrainConfig, Trainer
    train_ids, val_ids, vocab = data
    baby = PRESETS["baby"]
    model_cfg = ZooConfig(**{**baby["model"], "block_size": cfg.block_size, "vocab_size": vocab, **VARIANTS[name]})
    train_keys = ("lr", "min_lr", "beta1", "beta2", "weight_decay", "grad_clip", "warmup_iters")

    def trainer_for(steps):
        model = ZooGPT(model_cfg, seed=cfg.seed)
        tc = TrainConfig(**{k: baby[k] for k in train_keys}, batch_size=cfg.batch_size, block_size=cfg.block_size,
                         max_iters=steps, lr_decay_iters=max(steps, baby["warmup_iters"] + 1),
                         eval_interval=10 ** 9, eval_iters=cfg.eval_iters, log_interval=max(steps // 5, 1),
                         out_dir="", seed=cfg.seed, sample_tokens=0)
        val = eval_batches(val_ids, cfg.batch_size, cfg.block_size, cfg.eval_iters, seed=cfg.seed)
        def quiet(*args, **kwargs):     # the calibration is silent; the in-budget "eval" has no batches (nan)
            if steps > cfg.calib_steps + 2 and not str(args[0]).startswith("eval at"):
                print_fn(*args, **kwargs)
        return Trainer(model, tc, lambda rng: get_batch(train_ids, cfg.batch_size, cfg.block_size, rng), val,
                       model_name="gpt_zoo", print_fn=quiet)

    probe = trainer_for(cfg.calib_steps + 2)
    probe.train_step(), probe.train_step()                          # warm-up: Numba compiles, caches fill
    c0 = time.process_time()
    for _ in range(cfg.calib_steps):
        probe.train_step()
    s_per_step = (time.process_time() - c0) / cfg.calib_steps
    steps = int(min(cfg.max_iters, max(1, cfg.budget_s // s_per_step)))
    n_params = probe.model.num_parameters()
    print_fn(f"[{name}] {n_params:,} parameters, {1000 * s_per_step:.0f} CPU-ms/step -> {steps} steps")
    trainer = trainer_for(steps)
    trainer.val_batches, val_batches = [], trainer.val_batches      # no eval inside the budget
    c0, t0 = time.process_time(), time.perf_counter()
    trainer.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    trainer.val_batches = val_batches
    val = trainer.evaluate()
    result = {"variant": name, "group": GROUPS[name], "overrides": VARIANTS[name], "params": n_params,
              "steps": steps, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "val_loss": round(val, 4),
              "train_loss": next((h["loss"] for h in reversed(trainer.history) if h["event"] == "train"), None)}
    if getattr(model_cfg, "mlp") == "moe":
        result["expert_utilisation"] = trainer.model.expert_utilisation()
    print_fn(f"[{name}] val {val:.4f} after {steps} steps ({cpu:.0f} CPU-s, {wall:.0f} wall-s)"
             + (f"; expert use per layer {result['expert_utilisation']}" if "expert_utilisation" in result else ""))
    return result


def table(results):
    lines = ["| variant | group | params | steps | CPU s | val loss | vs baseline |", "|---|---|---|---|---|---|---|"]
    base = next((r["val_loss"] for r in results if r["variant"] == "baseline"), None)
    for r in sorted(results, key=lambda r: r["val_loss"]):
        delta = "" if base is None else f"{r['val_loss'] - base:+.3f}"
        lines.append(f"| {r['variant']} | {r['group']} | {r['params']:,} | {r['steps']} | {r['cpu_s']:.0f} | "
                     f"{r['val_loss']:.3f} | {delta} |")
    return "\n".join(lines)


def write_json(path, obj):
    """Atomic: a temp file in the same folder, then os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = parse_overrides(ZooRunConfig(), [a for a in argv if a not in ("-h", "--help")])
        names = list(VARIANTS) if cfg.variants == "all" else [v.strip() for v in cfg.variants.split(",") if v]
        unknown = [n for n in names if n not in VARIANTS]
        if unknown:
            raise ConfigError(f"--variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
        if cfg.demo not in ("", "variance"):
            raise ConfigError(f"--demo must be '' or 'variance', got {cfg.demo!r}")
    except ConfigError as e:
        print(f"attention_zoo: {e}", file=sys.stderr)
        return 2
    if "-h" in argv or "--help" in argv:
        print(__doc__.split("\n\n")[0] + "\n\n" + help_text(cfg))
        return 0
    if cfg.demo == "variance":
        variance_demo()
        return 0
    from tinyllm import kernels
    from tinyllm.training.cli import load_data
    kernels.set_num_threads(cfg.threads)
    print(f"attention zoo: {len(names)} variants x {cfg.budget_s:.0f} CPU-s; kernels={kernels.backend} "
          f"threads={kernels.num_threads()} BLAS threads={os.environ.get('OPENBLAS_NUM_THREADS')}")
    from tinyllm.training.trainer import TrainConfig
    train_ids, val_ids, tok, _ = load_data(TrainConfig(out_dir=""))
    results = []
    for i, name in enumerate(names):
        print(f"--- variant {i + 1}/{len(names)}: {name} {VARIANTS[name] or '(baby GPT)'}")
        results.append(run_variant(name, cfg, (train_ids, val_ids, tok.vocab_size)))
        if cfg.out:
            write_json(cfg.out, {"config": dataclasses.asdict(cfg), "results": results})
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
