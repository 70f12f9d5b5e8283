"""Parity with PyTorch: is a gap between tinyllm and a PyTorch run in the engine, or in the recipe?

    python scripts/parity_torch.py --check                       # float64: step-0 loss and grads, then 50 steps
    python scripts/parity_torch.py --check --pos=learned         # the same for the learned-position GPT
    python scripts/parity_torch.py --train=torch --pos=rope      # 2000 steps of the torch twin (float32)
    python scripts/parity_torch.py --train=tinyllm --pos=rope    # the same run in tinyllm
    python scripts/parity_torch.py --train=torch --steps=500 --variant=gelu=erf,decay_emb=1

A "twin" is the tinyllm model written in PyTorch: the same equations, the same weight layout (Linear stores W as
(in, out)), so tinyllm's initial weights copy over one to one. Both then see the very same batches (tinyllm's
seeded get_batch) and the same schedule (tinyllm's lr_at); the twin steps with torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_. In float64 the two must agree to rounding: any divergence names a bug, found by
comparing each parameter's gradient. --variant changes one thing in the twin at a time (see VARIANTS), to find
which recipe difference moves the val loss. PyTorch is an optional peer: tinyllm itself never imports it.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")          # before NumPy loads: one thread, robust timings
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

# one change at a time to the twin (or to the evaluation); the defaults reproduce tinyllm exactly
VARIANTS = {
    "gelu": "tanh",        # tanh (tinyllm, GPT-2) | erf (exact GELU, nn.GELU()'s default)
    "decay_emb": 0,        # 1: also decay the (tied) token and position embeddings (nanoGPT: every ndim >= 2)
    "decay_all": 0,        # 1: decay every parameter, norm gains too (AdamW(model.parameters()) as is)
    "eps": 1e-8,           # Adam eps
    "rope_base": 10000.0,  # RoPE theta base
    "rope_pairs": "half",  # half: channel pairs (i, i + D/2) (tinyllm) | interleaved: pairs (2i, 2i + 1)
    "ln_eps": 1e-5,        # LayerNorm eps
    "init": "gpt2",        # gpt2 (tinyllm) | torch: PyTorch's layer defaults, U(+-1/sqrt(fan_in)), no GPT-2 init
    "init_std": 0.02,      # std of every weight matrix and embedding (residual projections: / sqrt(2 n_layer))
    "resid_scale": 1,      # 0: residual projections get init_std too (no GPT-2 shrink)
    "clip": 1.0,           # global-norm clip (0 = off)
    "tie": 1,              # 0: a separate output matrix lm_head (C, V), drawn N(0, init_std^2)
    "bias": 0,             # 1: biases (zeros) in every Linear and LayerNorm
    "wpe": 0,              # 1: also add a learned position table (block_size, C) to the embeddings (with RoPE)
}


def tinyllm_model(pos, dtype, seed, **sizes):
    """The tinyllm model under test (baby sizes unless `sizes` says otherwise): GPT for learned positions,
    ZooGPT for every other position code."""
    from tinyllm.models.gpt import GPT, GPTConfig
    from tinyllm.models.zoo import ZooConfig, ZooGPT
    base = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, bias=False, dtype=dtype) | sizes
    if pos == "learned":
        return GPT(GPTConfig(**base), seed=seed)
    return ZooGPT(ZooConfig(**base, pos=pos), seed=seed)


def make_twin(model, variant):
    """A torch module computing what `model` computes, holding copies of its weights (same names and shapes)."""
    import torch

    cfg = model.config
    pos = getattr(cfg, "pos", "learned")
    if pos not in ("learned", "rope", "none"):
        raise ValueError(f"the twin implements pos learned | rope | none, got {pos!r}")

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            named = [(n, p) for n, p in model.named_parameters()]
            self.names = [n for n, _ in named]
            self.params = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(p.data)) for _, p in named])
            self.index = {n: i for i, n in enumerate(self.names)}
            self._add_extras()
            D = cfg.n_embd // cfg.n_head
            if pos == "rope":
                theta = variant["rope_base"] ** (-np.arange(0, D, 2) / D)          # (D/2,)
                angle = np.arange(cfg.block_size)[:, None] * theta                  # (T, D/2)
                if variant["rope_pairs"] == "half":
                    angle = np.concatenate([angle, angle], axis=1)                  # pair (i, i + D/2)
                else:
                    angle = np.repeat(angle, 2, axis=1)                             # pair (2i, 2i + 1)
                dt = self.params[0].dtype
                self.cos = torch.tensor(np.cos(angle), dtype=dt)
                self.sin = torch.tensor(np.sin(angle), dtype=dt)

        def _add_extras(self):
            """The parameters a variant adds to tinyllm's set (untied head, biases, a position table)."""
            g = np.random.default_rng(12345)
            C, V, dt = cfg.n_embd, cfg.vocab_size, named_dtype
            extra = {}
            if not variant["tie"]:
                extra["lm_head.weight"] = g.standard_normal((C, V)) * variant["init_std"]
            if variant["wpe"] and pos != "learned":
                extra["wpe.weight"] = g.standard_normal((cfg.block_size, C)) * variant["init_std"]
            if variant["bias"]:
                sizes = {"ln_1": C, "attn.qkv": 3 * C, "attn.proj": C, "ln_2": C, "mlp.fc": 4 * C, "mlp.proj": C}
                for i in range(cfg.n_layer):
                    extra.update({f"blocks.{i}.{k}.bias": np.zeros(n) for k, n in sizes.items()})
                extra["ln_f.bias"] = np.zeros(C)
            for name, value in extra.items():
                self.index[name] = len(self.names)
                self.names.append(name)
                self.params.append(torch.nn.Parameter(torch.tensor(value, dtype=dt)))

        def p(self, name):
            return self.params[self.index[name]]

        def b(self, name):
            """The bias `name`, or None when this twin has no biases."""
            return self.params[self.index[name]] if name in self.index else None

        def rotate(self, x):                                                        # (B, H, T, D)
            T = x.shape[-2]
            if variant["rope_pairs"] == "half":
                h = x.shape[-1] // 2
                rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
            else:
                rot = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
            return x * self.cos[:T] + rot * self.sin[:T]

        def forward(self, idx):                                                     # (B, T) -> (B, T, V)
            F = torch.nn.functional
            B, T = idx.shape
            C, H = cfg.n_embd, cfg.n_head
            x = self.p("wte.weight")[idx]                                           # (B, T, C)
            if "wpe.weight" in self.index:
                x = x + self.p("wpe.weight")[:T]

            def ln(t, name):
                return F.layer_norm(t, (C,), self.p(name + ".weight"), self.b(name + ".bias"), variant["ln_eps"])

            def lin(t, name):
                y = t @ self.p(name + ".weight")
                return y if self.b(name + ".bias") is None else y + self.b(name + ".bias")

            for i in range(cfg.n_layer):
                b = f"blocks.{i}."
                qkv = lin(ln(x, b + "ln_1"), b + "attn.qkv")                       # (B, T, 3C)
                q, k, v = (t.reshape(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=-1))
                if pos == "rope":
                    q, k = self.rotate(q), self.rotate(k)
                s = (q @ k.transpose(-1, -2)) / math.sqrt(C // H)                   # (B, H, T, T)
                s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
                y = torch.softmax(s, dim=-1) @ v                                    # (B, H, T, D)
                x = x + lin(y.transpose(1, 2).reshape(B, T, C), b + "attn.proj")
                h = F.gelu(lin(ln(x, b + "ln_2"), b + "mlp.fc"), approximate="tanh" if variant["gelu"] == "tanh"
                           else "none")
                x = x + lin(h, b + "mlp.proj")
            head = self.p("lm_head.weight") if "lm_head.weight" in self.index else self.p("wte.weight").T
            return ln(x, "ln_f") @ head                                             # (B, T, V)

        def loss(self, x, y):
            logits = self.forward(torch.as_tensor(x))
            return F_ce(logits.reshape(-1, logits.shape[-1]), torch.as_tensor(y).reshape(-1))

    F_ce = torch.nn.functional.cross_entropy
    named_dtype = torch.tensor(next(iter(model.named_parameters()))[1].data).dtype
    twin = Twin()
    _reinit(twin, cfg, variant, model)
    return twin


def _reinit(twin, cfg, variant, model):
    """Redraw the twin's weights when a variant changes the init (otherwise they stay tinyllm's copy)."""
    import torch
    if variant["init_std"] == 0.02 and variant["resid_scale"] == 1 and variant["init"] == "gpt2":
        return
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in zip(twin.names, twin.params):
            if p.ndim < 2:
                continue
            if variant["init"] == "torch":      # nn.Linear's default; the tied wte is the head Linear(C, V)
                bound = 1 / math.sqrt(cfg.n_embd if name == "wte.weight" else p.shape[0])
                if name == "wpe.weight":        # nn.Embedding's default
                    p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
                else:
                    p.copy_((torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1) * bound)
                continue
            std = variant["init_std"]
            if variant["resid_scale"] and name.endswith("proj.weight"):
                std /= math.sqrt(2 * cfg.n_layer)
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)


def twin_optimizer(twin, lr, wd, betas, variant):
    """torch AdamW with tinyllm's decay rule (matrices, not embeddings) or nanoGPT's (every ndim >= 2)."""
    import torch
    emb = ("wte.weight", "wpe.weight")
    decay = [p for n, p in zip(twin.names, twin.params)
             if variant["decay_all"] or (p.ndim >= 2 and (variant["decay_emb"] or n not in emb))]
    rest = [p for p in twin.params if all(p is not q for q in decay)]
    groups = [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=variant["eps"])


def batches(n, seed, B=12, T=64):
    """The train ids, n training batches drawn as tinyllm's Trainer draws them, and the fixed val batches."""
    from tinyllm.datasets.batches import get_batch
    from tinyllm.datasets.tokens import default_dataset, load_prepared
    train_ids, val_ids, _, _ = load_prepared(default_dataset("tinyshakespeare", "chars"), mmap=False)
    rng = np.random.default_rng(seed)
    return [get_batch(train_ids, B, T, rng) for _ in range(n)], val_ids


def recipe(steps, out_dir=""):
    """tinyllm's baby TrainConfig (the preset) for `steps` steps, saving nothing."""
    from tinyllm.config import merge_preset
    from tinyllm.training.presets import PRESETS
    from tinyllm.training.trainer import TrainConfig
    values = {k: v for k, v in PRESETS["baby"].items() if k != "model"}
    cfg = merge_preset(TrainConfig(), values)
    return dataclasses.replace(cfg, max_iters=steps, out_dir=out_dir)


def check(args, print_fn=print):
    """Step-0 loss and every gradient, then `args.steps` optimizer steps compared step by step (float64: the two
    must agree to ~1e-12; float32: to float32 rounding, ~1e-5 relative, which then grows as training amplifies it)."""
    model = tinyllm_model(args.pos, args.dtype, args.seed)
    train_b, _ = batches(args.steps, args.seed)
    return compare(model, train_b, recipe(args.steps), args.tol, print_fn)


def compare(model, train_b, cfg, tol=1e-8, print_fn=print):
    """Run tinyllm's Trainer and the torch twin side by side on the batches `train_b` (one per step) under the
    recipe `cfg`; returns {"step0_loss_diff", "step0_grad_rel" (worst max-relative gradient error), "steps"}."""
    import torch
    from tinyllm.training.schedule import lr_at
    from tinyllm.training.trainer import Trainer
    variant = dict(VARIANTS)
    twin = make_twin(model, variant)
    feed = iter(train_b)
    trainer = Trainer(model, cfg, lambda rng: next(feed), print_fn=lambda *a: None)

    # step 0: loss and gradients, before any update
    x, y = train_b[0]
    loss = model.loss((x, y))
    loss.backward()
    t_loss = twin.loss(x, y)
    t_loss.backward()
    print_fn(f"step 0 loss: tinyllm {float(loss.data):.15f}  torch {t_loss.item():.15f}  "
             f"|diff| {abs(float(loss.data) - t_loss.item()):.2e}")
    worst = 0.0
    for (name, p), tp in zip(model.named_parameters(), twin.params):
        rel = float(np.abs(p.grad - tp.grad.numpy()).max() / (np.abs(tp.grad.numpy()).max() + 1e-30))
        worst = max(worst, rel)
        if rel > tol:
            print_fn(f"  GRADIENT MISMATCH {name}: max rel diff {rel:.2e}")
    print_fn(f"step 0 gradients: worst max-rel diff over {len(twin.params)} parameters {worst:.2e}")
    report = {"step0_loss_diff": abs(float(loss.data) - t_loss.item()), "step0_grad_rel": worst, "steps": []}

    opt = twin_optimizer(twin, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), variant)
    for step in range(len(train_b)):
        loss_a, _, _ = trainer.train_step()                  # zero_grad, loss, backward, clip, AdamW
        for group in opt.param_groups:
            group["lr"] = lr_at(step, schedule=cfg.schedule, lr=cfg.lr, min_lr=cfg.min_lr,
                                warmup_iters=cfg.warmup_iters, decay_iters=cfg.lr_decay_iters)
        opt.zero_grad()
        loss_b = twin.loss(*train_b[step])
        loss_b.backward()
        torch.nn.utils.clip_grad_norm_(twin.params, cfg.grad_clip)
        opt.step()
        dparam = max(float(np.abs(p.data - tp.detach().numpy()).max())
                     for (_, p), tp in zip(model.named_parameters(), twin.params))
        report["steps"].append({"step": step, "loss_tinyllm": loss_a, "loss_torch": loss_b.item(),
                                "max_param_diff": dparam})
        if step % 10 == 0 or step == len(train_b) - 1:
            print_fn(f"step {step:3d}: loss tinyllm {loss_a:.12f} torch {loss_b.item():.12f} "
                     f"|diff| {abs(loss_a - loss_b.item()):.2e}  max|param diff| {dparam:.2e}")
    return report


def evaluate_torch(twin, val):
    import torch
    with torch.no_grad():
        return float(np.mean([twin.loss(x, y).item() for x, y in val]))


def train(args, print_fn=print):
    """Train the torch twin or tinyllm for args.steps (float32) from the same init and batches; eval as tinyllm."""
    import resource
    from tinyllm.datasets.batches import eval_batches
    from tinyllm.training.schedule import lr_at
    from tinyllm.training.trainer import Trainer
    variant = dict(VARIANTS)
    for item in filter(None, args.variant.split(",")):
        key, _, value = item.partition("=")
        if key not in VARIANTS:
            raise SystemExit(f"--variant: unknown key {key!r}; choose from {sorted(VARIANTS)}")
        variant[key] = type(VARIANTS[key])(value)
    cfg = recipe(args.steps)
    cfg = dataclasses.replace(cfg, lr_decay_iters=args.decay_iters or args.steps, grad_clip=variant["clip"])
    model = tinyllm_model(args.pos, "float32", args.seed)
    train_b, val_ids = batches(args.steps, args.seed)
    val = eval_batches(val_ids, 12, 64, args.eval_iters, seed=args.seed)
    curve, t0, c0 = [], time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    if args.train == "tinyllm":
        if args.variant:
            raise SystemExit("--variant changes the torch twin only")
        feed = iter(train_b)
        trainer = Trainer(model, cfg, lambda rng: next(feed), print_fn=lambda *a: None)
        for step in range(args.steps + 1):
            if step % args.eval_interval == 0 or step == args.steps:
                trainer.val_batches = val
                curve.append((step, trainer.evaluate()))
                print_fn(f"step {step}: val {curve[-1][1]:.4f}  ({time.perf_counter() - t0:.0f} s)")
            if step < args.steps:
                trainer.train_step()
    else:
        import torch
        torch.set_num_threads(1)
        twin = make_twin(model, variant)
        opt = twin_optimizer(twin, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), variant)
        for step in range(args.steps + 1):
            if step % args.eval_interval == 0 or step == args.steps:
                curve.append((step, evaluate_torch(twin, val)))
                print_fn(f"step {step}: val {curve[-1][1]:.4f}  ({time.perf_counter() - t0:.0f} s)")
            if step == args.steps:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, schedule=cfg.schedule, lr=cfg.lr, min_lr=cfg.min_lr,
                                    warmup_iters=cfg.warmup_iters, decay_iters=cfg.lr_decay_iters)
            opt.zero_grad()
            twin.loss(*train_b[step]).backward()
            if variant["clip"] > 0:
                torch.nn.utils.clip_grad_norm_(twin.params, variant["clip"])
            opt.step()
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - c0
    return {"impl": args.train, "pos": args.pos, "seed": args.seed, "steps": args.steps,
            "variant": {k: v for k, v in variant.items() if v != VARIANTS[k]}, "curve": curve,
            "final_val": curve[-1][1], "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(cpu, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="float64 gradient and step-by-step parity")
    ap.add_argument("--train", choices=("torch", "tinyllm"), help="train one implementation (float32)")
    ap.add_argument("--pos", default="rope", choices=("rope", "learned", "none"))
    ap.add_argument("--steps", type=int, default=None, help="default 50 for --check, 2000 for --train")
    ap.add_argument("--decay_iters", type=int, default=0, help="cosine length (default: --steps)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--eval_iters", type=int, default=100)
    ap.add_argument("--eval_interval", type=int, default=250)
    ap.add_argument("--variant", default="", help="comma-separated key=value changes to the twin: " +
                    ", ".join(f"{k} (default {v})" for k, v in VARIANTS.items()))
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"), help="of --check")
    ap.add_argument("--tol", type=float, default=1e-8, help="gradient mismatch to report (max relative)")
    ap.add_argument("--out", default="", help="write the result as JSON here (atomically)")
    args = ap.parse_args(argv)
    if args.check == bool(args.train):
        ap.error("choose one of --check or --train")
    args.steps = args.steps or (50 if args.check else 2000)
    result = check(args) if args.check else train(args)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, args.out)
    if not args.check:
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    return result


if __name__ == "__main__":
    main()
