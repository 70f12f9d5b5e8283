"""An IsoFLOP sweep: for each compute budget C, GPTs of several shapes each trained on D = C / (6N-ish) tokens.

    plan(cfg)                   -> run specs: for budget C, the shapes LxC' whose N is nearest the expected N*(C),
                                   and D = C / (train FLOPs per token), rounded to whole steps of B·T tokens
    run_sweep(specs, path, fn)  -> trains what results.jsonl does not hold yet, appending each result atomically
    train_gpt(spec)             -> the default train function: the shared Trainer on tiny Shakespeare (chars)

Resumable: a run's id names its budget, shape and a hash of the training settings, so a killed sweep started
again skips every finished run, and a sweep with other settings never mixes its results in. Failed runs are not
recorded, so they are retried.
"""
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path

from tinyllm.scaling.executors import SerialExecutor
from tinyllm.scaling.flops import gpt_flops_per_token, gpt_params


GRID_FIELDS = ("budgets", "shapes", "sizes_per_budget", "n_star_guess", "min_iters")   # which runs, not how


@dataclasses.dataclass
class SweepConfig:
    """The grid: budgets x shapes, and the training recipe every run shares."""
    budgets: tuple[float, ...] = (6e9, 1.34e10, 3e10, 6.7e10, 1.5e11)   # training FLOPs per run, C (x2.24 apart)
    shapes: tuple[str, ...] = ("1x4", "1x6", "1x8", "2x8", "1x16", "2x16", "2x24", "2x32", "2x48")   # L x width
    sizes_per_budget: int = 6      # shapes per budget: those whose N is nearest N_guess(C) (0 = every shape)
    n_star_guess: float = 3000.0   # the N* expected at C = 1e11 FLOPs; N_guess(C) = n_star_guess·(C/1e11)^0.5
    head_dim: int = 8              # n_head = n_embd // head_dim (one head when n_embd < head_dim)
    batch_size: int = 8            # B
    block_size: int = 64           # T
    vocab_size: int = 65           # of the data's tokenizer (tiny Shakespeare, chars)
    lr: float = 1.2e-2             # peak lr at width lr_width (cosine to lr/10 over the run, 10% warmup)
    lr_width: int = 16             # lr ∝ 1/width, equal to `lr` at this width (µP's rule for Adam); 0 = one lr
    min_iters: int = 30            # drop (budget, shape) pairs that would get fewer steps: too few to learn
    eval_iters: int = 20           # validation batches for the final loss
    seed: int = 1337
    data: str = ""                 # prepared dir or text file ("" = tiny Shakespeare)

    def __post_init__(self):
        if not self.budgets or any(not (isinstance(c, (int, float)) and c > 0) for c in self.budgets):
            raise ValueError(f"budgets must be positive numbers, got {self.budgets!r}")
        for s in self.shapes:
            parse_shape(s, self.head_dim)
        if isinstance(self.sizes_per_budget, bool) or not isinstance(self.sizes_per_budget, int) \
                or self.sizes_per_budget < 0:
            raise ValueError(f"sizes_per_budget must be an integer >= 0 (0 = every shape), got {self.sizes_per_budget!r}")
        if not (isinstance(self.n_star_guess, (int, float)) and self.n_star_guess > 0):
            raise ValueError(f"n_star_guess must be a positive number, got {self.n_star_guess!r}")
        if isinstance(self.lr_width, bool) or not isinstance(self.lr_width, int) or self.lr_width < 0:
            raise ValueError(f"lr_width must be an integer >= 0 (0 = the same lr at every width), got {self.lr_width!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("head_dim", "batch_size", "block_size", "vocab_size", "min_iters", "eval_iters"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int) \
                    or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")

    def key(self):
        """A short hash of every setting that changes a run's result (not the grid itself)."""
        recipe = {k: v for k, v in dataclasses.asdict(self).items() if k not in GRID_FIELDS}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:8]


def parse_shape(shape, head_dim):
    """'2x64' -> (2, 64); the width must be a multiple of head_dim, or below it (then the model has one head)."""
    try:
        n_layer, n_embd = (int(p) for p in str(shape).lower().split("x"))
    except ValueError:
        raise ValueError(f"shape must look like 'LAYERSxWIDTH' (e.g. '2x64'), got {shape!r}") from None
    if n_layer < 1 or n_embd < 1 or (n_embd > head_dim and n_embd % head_dim):
        raise ValueError(f"shape {shape!r}: layers and width must be >= 1 and width a multiple of head_dim "
                         f"({head_dim}) or below it")
    return n_layer, n_embd


def run_lr(cfg, width):
    """The peak lr of a model this wide: lr · lr_width / width (Adam's best lr falls as 1/width), or lr if 0."""
    return cfg.lr * cfg.lr_width / width if cfg.lr_width else cfg.lr


def expected_optimum(cfg, C):
    """N_guess(C) = n_star_guess · (C / 1e11)^0.5: where each budget's shapes are centred (Chinchilla's a = 0.5)."""
    return cfg.n_star_guess * (C / 1e11) ** 0.5


def shapes_for_budget(cfg, C):
    """The sizes_per_budget shapes (of those getting >= min_iters steps) nearest N_guess(C) in log N, by N.

    A window of consecutive sizes centred on the guess, so each budget's parabola has points on both sides of
    its vertex; at the ends of the ladder the window slides inwards rather than shrinking. With an even count the
    extra size goes above the guess: a larger model gets fewer steps, so it is the cheaper one to add.
    """
    ladder = []
    for shape in cfg.shapes:
        L, width = parse_shape(shape, cfg.head_dim)
        per_token = gpt_flops_per_token(L, width, cfg.vocab_size, cfg.block_size).train
        if C / per_token / (cfg.batch_size * cfg.block_size) >= cfg.min_iters - 0.5:
            ladder.append((gpt_params(L, width, cfg.vocab_size, cfg.block_size).non_embedding, shape))
    ladder.sort()
    k = cfg.sizes_per_budget
    if k == 0 or len(ladder) <= k:
        return [shape for _, shape in ladder]
    log_guess = math.log(expected_optimum(cfg, C))
    centre = min(range(len(ladder)), key=lambda i: abs(math.log(ladder[i][0]) - log_guess))
    lo = min(max(0, centre - (k - 1) // 2), len(ladder) - k)
    return [shape for _, shape in ladder[lo:lo + k]]


def plan(cfg):
    """The run specs (JSON-able dicts) of the grid, smallest budget first, then smallest model."""
    specs = []
    tokens_per_step = cfg.batch_size * cfg.block_size
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in GRID_FIELDS}
    for C in sorted(cfg.budgets):
        for shape in shapes_for_budget(cfg, C):
            L, width = parse_shape(shape, cfg.head_dim)
            params = gpt_params(L, width, cfg.vocab_size, cfg.block_size)
            per_token = gpt_flops_per_token(L, width, cfg.vocab_size, cfg.block_size).train
            iters = int(round(C / per_token / tokens_per_step))
            D = iters * tokens_per_step
            specs.append({"id": f"C{C:.3g}-{L}x{width}-{cfg.key()}", "C": float(C), "n_layer": L, "n_embd": width,
                          "n_head": max(1, width // cfg.head_dim), "N": params.non_embedding, "N_total": params.total,
                          "D": D, "C_actual": per_token * D, "iters": iters, "lr": run_lr(cfg, width),
                          "recipe": dict(recipe)})
    return specs


def load_results(path):
    """The records in a results JSONL (a missing file is an empty sweep); a corrupt line is an error naming it."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i} is not valid JSON ({e}); fix or delete that line") from None
    return records


def append_result(path, record):
    """Append one JSON line atomically: the whole file is rewritten to a temp file, then os.replace'd."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(old + json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_sweep(specs, results_path, train_fn="tinyllm.scaling.sweep:train_gpt", executor=None, print_fn=print):
    """Train every spec whose id is not in results_path yet; returns all records for these specs."""
    done = {r["id"]: r for r in load_results(results_path) if "id" in r}
    # longest first (by steps), so the last runs to finish are short ones and no worker idles through a long one
    todo = sorted((s for s in specs if s["id"] not in done), key=lambda s: -s.get("iters", 0))
    print_fn(f"sweep: {len(specs)} runs, {len(specs) - len(todo)} already in {results_path}, {len(todo)} to train")
    executor = SerialExecutor() if executor is None else executor
    t0 = time.perf_counter()
    for n, (spec, result) in enumerate(executor.map_unordered(train_fn, todo), 1):
        if "error" in result:
            print_fn(f"  [{n}/{len(todo)}] {spec['id']} FAILED (will be retried next time):\n{result['error']}")
            continue
        record = {**spec, **result}
        append_result(results_path, record)
        done[spec["id"]] = record
        print_fn(f"  [{n}/{len(todo)}] {spec['id']}: N={spec['N']:,} D={spec['D']:,} loss {result['loss']:.4f} "
                 f"({result.get('seconds', math.nan):.0f} s; sweep {time.perf_counter() - t0:.0f} s)")
    return [done[s["id"]] for s in specs if s["id"] in done]


_DATA = {}


def train_gpt(spec):
    """Train spec's GPT with the shared Trainer for spec['iters'] steps; returns the final val loss and timing."""
    from tinyllm.datasets.batches import eval_batches, get_batch
    from tinyllm.models import build_model
    from tinyllm.training.cli import load_data
    from tinyllm.training.trainer import TrainConfig, Trainer
    r = spec["recipe"]
    if r["data"] not in _DATA:
        probe = TrainConfig(data=r["data"], out_dir="")
        _DATA[r["data"]] = load_data(probe, print_fn=lambda *a, **k: None)
    train_ids, val_ids, tokenizer, _ = _DATA[r["data"]]
    if tokenizer.vocab_size != r["vocab_size"]:
        raise ValueError(f"recipe vocab_size={r['vocab_size']} but the data's tokenizer has {tokenizer.vocab_size}")
    iters, lr = spec["iters"], spec.get("lr", r["lr"])
    cfg = TrainConfig(batch_size=r["batch_size"], block_size=r["block_size"], max_iters=iters, lr=lr,
                      min_lr=lr / 10, warmup_iters=max(1, iters // 10), lr_decay_iters=iters,
                      eval_interval=iters, eval_iters=r["eval_iters"], log_interval=max(1, iters // 4),
                      seed=r["seed"], out_dir="", sample_tokens=0)
    model = build_model("gpt", {"n_layer": spec["n_layer"], "n_head": spec["n_head"], "n_embd": spec["n_embd"],
                                "block_size": r["block_size"], "vocab_size": r["vocab_size"]}, seed=r["seed"])
    trainer = Trainer(model, cfg, lambda rng: get_batch(train_ids, cfg.batch_size, cfg.block_size, rng),
                      eval_batches(val_ids, cfg.batch_size, cfg.block_size, cfg.eval_iters, seed=cfg.seed),
                      print_fn=lambda *a, **k: None)
    t0, cpu0 = time.perf_counter(), time.process_time()
    trainer.run()
    evals = [h for h in trainer.history if h["event"] == "eval"]
    return {"loss": evals[-1]["val_loss"], "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(time.process_time() - cpu0, 2),
            "train_loss": [h["loss"] for h in trainer.history if h["event"] == "train"][-1]}
