"""The training loop: batches -> loss -> backward -> clip -> AdamW step, with eval, logging, checkpoints, resume.

`Trainer.run()` is one flat loop a learner can read top to bottom. What varies between experiments comes in as
plain values: the model (anything with `loss((x, y))`, `parameters()`, `train()/eval()`), a `get_batch(rng)`
function returning a training batch (x, y), each (B, T) ints, and a fixed list of validation batches.
Events call user functions, minGPT style: `trainer.add_callback("on_eval", fn)`; fn receives the trainer.

    step:  the number of optimizer updates done so far (0 before the first). Eval runs when
           step % eval_interval == 0 and at the end; "latest/" is saved at every eval, "best/" on improvement.
    resume: restores weights, optimizer moments, step, best val loss and the batch RNG, so the run continues
           exactly as if it had never stopped (tested bit for bit).
"""
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import typing
from pathlib import Path

import numpy as np

from tinyllm.kernels.runtime import keep_freed_memory
from tinyllm.training.checkpoint import load_checkpoint, save_checkpoint
from tinyllm.training.data_parallel import DataParallel, check_shardable, shard_refusal
from tinyllm.training.optim import SGD, Adam, AdamW, clip_grad_norm, decay_groups, global_grad_norm
from tinyllm.training.schedule import SCHEDULES, lr_at

OPTIMIZERS = ("adamw", "adam", "sgd")


@dataclasses.dataclass
class TrainConfig:
    """Everything about a training run; the model's own config is nested as `model` (--model.n_layer=6).

    The Trainer reads the fields up to sample_tokens; `tinyllm train` also reads the data and sampling fields.
    The model's block_size is set from block_size and its vocab_size from the tokenizer.
    """
    batch_size: int = 12          # B: sequences per micro-batch
    block_size: int = 64          # T: tokens per sequence (the model's context)
    max_iters: int = 2000         # optimizer steps in the whole run
    lr: float = 1e-3              # peak learning rate, reached at the end of warmup
    min_lr: float = 1e-4          # floor the schedule decays to
    warmup_iters: int = 100       # linear warmup steps
    lr_decay_iters: int = 2000    # step at which the decay reaches min_lr
    schedule: str = "cosine"      # cosine | linear | constant
    optimizer: str = "adamw"      # adamw | adam | sgd
    weight_decay: float = 0.1     # on matrices only (see optim.decay_groups)
    decay_embeddings: bool = False  # also decay embedding tables (nanoGPT's rule)
    beta1: float = 0.9            # Adam beta1 (the momentum for sgd)
    beta2: float = 0.99           # Adam beta2
    grad_clip: float = 1.0        # global-norm clip; 0 turns clipping off
    grad_accum: int = 1           # micro-batches per optimizer step (tokens/step = accum * B * T)
    eval_interval: int = 250      # evaluate (and save latest/) every this many steps
    eval_iters: int = 100         # validation batches averaged per eval (fixed, seeded)
    log_interval: int = 50        # print/log a training line every this many steps
    seed: int = 1337              # seeds model init, batch sampling and the val batches
    out_dir: str = "out/baby"     # where checkpoints and log.jsonl go ("" = save nothing)
    anomaly_check: bool = False   # check every op for NaN/Inf and name the first culprit (slow)
    sample_tokens: int = 300      # tokens sampled at the end of `tinyllm train` (0 = none)
    prompt: str = ""              # text the final sample continues ("" = the first token of the val split)
    temperature: float = 0.8      # of the final sample (0 = greedy)
    data: str = ""                # a UTF-8 text file, or a directory made by `tinyllm prepare` ("" = tiny Shakespeare)
    tokenizer: str = "chars"      # chars | bytes | bpe (used when preparing a text file)
    bpe_vocab_size: int = 512     # vocabulary size when tokenizer=bpe
    resume: bool = False          # continue from out_dir/latest: weights, optimizer, step, batch RNG
    data_parallel: int = 0        # batch shards run on their own threads (0 = auto: one per Numba thread when the
                                  # model allows it, see training/data_parallel.py; 1 = off)
    model: typing.Any = None      # the model's config dataclass (GPTConfig for --model=gpt)

    def __post_init__(self):
        for name in ("batch_size", "block_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("max_iters", "warmup_iters", "lr_decay_iters", "sample_tokens", "data_parallel"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must be <= lr ({self.lr})")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.schedule != "constant" and self.lr_decay_iters <= self.warmup_iters:
            raise ValueError(f"lr_decay_iters ({self.lr_decay_iters}) must be > warmup_iters ({self.warmup_iters})")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    @property
    def tokens_per_step(self):
        return self.grad_accum * self.batch_size * self.block_size


def build_optimizer(model, cfg):
    """The optimizer named by cfg.optimizer over `model`'s parameters, with decay on matrices only."""
    groups = decay_groups(model, cfg.weight_decay, cfg.decay_embeddings)
    if cfg.optimizer == "adamw":
        return AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    if cfg.optimizer == "adam":
        return Adam(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    return SGD(groups, lr=cfg.lr, momentum=cfg.beta1)


def data_parallel_workers(model, cfg):
    """How many batch shards train in parallel: cfg.data_parallel, or with 0 (auto) one per Numba thread when the
    model allows it (a mean-over-tokens loss without dropout), else 1. An explicit value is checked."""
    from tinyllm.kernels import num_threads
    if cfg.data_parallel == 0:
        return max(1, min(num_threads(), cfg.batch_size)) if shard_refusal(model) is None else 1
    check_shardable(model, cfg.data_parallel)
    return cfg.data_parallel


class Trainer:
    """Holds the model, optimizer, batch RNG and progress; `run()` trains until cfg.max_iters."""

    EVENTS = ("on_step_end", "on_log", "on_eval", "on_checkpoint")

    def __init__(self, model, cfg, get_batch, val_batches=(), *, model_name="gpt", model_config=None,
                 tokenizer=None, data_fingerprint=None, print_fn=print):
        if not callable(get_batch):
            raise TypeError("get_batch must be a function rng -> (x, y)")
        self.model, self.cfg, self.get_batch = model, cfg, get_batch
        self.val_batches = list(val_batches)
        self.model_name, self.model_config = model_name, model_config
        self.tokenizer, self.data_fingerprint = tokenizer, data_fingerprint
        self.live_progress = print_fn is print and sys.stdout.isatty()
        self.print = _clear_line_then(print_fn) if self.live_progress else print_fn
        self.optimizer = build_optimizer(model, cfg)
        self.params = self.optimizer.params()
        self.shards = data_parallel_workers(model, cfg)
        self.parallel = DataParallel(model, self.params, self.shards) if self.shards > 1 else None
        keep_freed_memory()  # every step frees and re-allocates the same arrays: reuse them without page faults
        self.rng = np.random.default_rng(cfg.seed)  # draws the training batches; saved in checkpoints
        self.step = 0
        self.best_val_loss = math.inf
        self.history = []  # every logged record (dicts), also appended to out_dir/log.jsonl
        self.callbacks = {event: [] for event in self.EVENTS}
        self._evaluated_at = None  # step of the last eval (so a resumed run does not repeat it)

    def add_callback(self, event, fn):
        if event not in self.callbacks:
            raise ValueError(f"unknown event {event!r}; choose one of {self.EVENTS}")
        self.callbacks[event].append(fn)

    def _trigger(self, event):
        for fn in self.callbacks[event]:
            fn(self)

    # ---- one optimizer step ----------------------------------------------------------------------------
    def train_step(self):
        """Accumulate gradients over grad_accum micro-batches, clip, step; returns (mean loss, grad norm, lr)."""
        cfg = self.cfg
        lr = lr_at(self.step, schedule=cfg.schedule, lr=cfg.lr, min_lr=cfg.min_lr,
                   warmup_iters=cfg.warmup_iters, decay_iters=cfg.lr_decay_iters)
        self.optimizer.set_lr(lr)
        self.optimizer.zero_grad()
        total = 0.0
        for _ in range(cfg.grad_accum):
            x, y = self.get_batch(self.rng)                      # (B, T), (B, T)
            if self.parallel is not None:                        # shards on threads, their grads averaged
                total += self.parallel.backward((x, y), scale=1.0 / cfg.grad_accum)
                continue
            loss = self.model.loss((x, y))                       # scalar: mean NLL over B*T tokens
            total += float(loss.data)
            if cfg.grad_accum > 1:
                loss = loss * (1.0 / cfg.grad_accum)             # so the summed grads are the mean's grads
            loss.backward()
        loss_value = total / cfg.grad_accum
        if cfg.grad_clip > 0:
            grad_norm = clip_grad_norm(self.params, cfg.grad_clip)
        else:
            grad_norm = global_grad_norm(self.params)
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            raise FloatingPointError(
                f"step {self.step}: loss {loss_value} / grad norm {grad_norm} is not finite. Rerun with "
                f"--anomaly_check=true to name the first op that produced NaN/Inf, or lower lr ({lr:.3g}).")
        self.optimizer.step()
        self.step += 1
        return loss_value, grad_norm, lr

    # ---- evaluation --------------------------------------------------------------------------------------
    def evaluate(self):
        """Mean loss over the fixed validation batches, without building a graph, in eval mode."""
        from tinyllm.autograd.tensor import no_grad
        if not self.val_batches:
            return math.nan
        self.model.eval()
        with no_grad():
            losses = [float(self.model.loss(batch).data) for batch in self.val_batches]
        self.model.train()
        return float(np.mean(losses))

    # ---- the loop ----------------------------------------------------------------------------------------
    def run(self):
        """Train from self.step to cfg.max_iters; returns self.history."""
        from tinyllm.autograd import anomaly
        cfg = self.cfg
        self.model.train()
        t_log, steps_since_log, started = time.perf_counter(), 0, time.perf_counter()
        while True:
            if (self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters) and self._evaluated_at != self.step:
                t_eval = time.perf_counter()
                self._eval_and_save()
                t_log += time.perf_counter() - t_eval  # eval time does not count toward ms/step
            if self.step >= cfg.max_iters:
                break
            with anomaly.detect_anomaly() if cfg.anomaly_check else contextlib.nullcontext():
                loss, grad_norm, lr = self.train_step()
            steps_since_log += 1
            self._trigger("on_step_end")
            if self.live_progress:  # an in-place counter between log lines (terminals only)
                sys.stdout.write(f"\r  step {self.step}/{cfg.max_iters} loss {loss:.4f}\033[K")
                sys.stdout.flush()
            if self.step % cfg.log_interval == 0 or self.step == cfg.max_iters:
                now = time.perf_counter()
                ms_per_step = 1000 * (now - t_log) / steps_since_log
                t_log, steps_since_log = now, 0
                self._log_train(loss, lr, grad_norm, ms_per_step, time.perf_counter() - started)
        return self.history

    def _log_train(self, loss, lr, grad_norm, ms_per_step, elapsed):
        cfg = self.cfg
        rec = {"event": "train", "step": self.step, "loss": round(loss, 6), "lr": lr,
               "grad_norm": round(grad_norm, 6), "ms_per_step": round(ms_per_step, 3),
               "tokens_per_s": round(cfg.tokens_per_step * 1000 / ms_per_step, 1), "elapsed_s": round(elapsed, 2)}
        self._record(rec)
        eta = (cfg.max_iters - self.step) * ms_per_step / 1000
        pct = 100 * self.step / max(cfg.max_iters, 1)
        self.print(f"step {self.step:>{len(str(cfg.max_iters))}}/{cfg.max_iters} [{pct:3.0f}%] | loss {loss:.4f} | "
                   f"lr {lr:.2e} | grad norm {grad_norm:.3f} | {ms_per_step:.1f} ms/step | "
                   f"{rec['tokens_per_s'] / 1000:.1f}k tok/s | ETA {_fmt_time(eta)}")
        self._trigger("on_log")

    def _eval_and_save(self):
        t0 = time.perf_counter()
        val = self.evaluate()
        self._evaluated_at = self.step
        improved = val < self.best_val_loss
        if improved:
            self.best_val_loss = val
        rec = {"event": "eval", "step": self.step, "val_loss": round(val, 6),
               "best_val_loss": round(self.best_val_loss, 6), "eval_s": round(time.perf_counter() - t0, 3)}
        self._record(rec)
        self.print(f"eval at step {self.step}: val loss {val:.4f}" + (" (best so far)" if improved else "")
                   + f"  [{rec['eval_s']:.1f} s]")
        self._trigger("on_eval")
        if self.cfg.out_dir:
            self.save("latest")
            if improved:
                self.save("best")

    def _record(self, rec):
        self.history.append(rec)
        if self.cfg.out_dir:
            os.makedirs(self.cfg.out_dir, exist_ok=True)
            with open(Path(self.cfg.out_dir) / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

    # ---- checkpoints -------------------------------------------------------------------------------------
    def save(self, name="latest"):
        """Save the full training state to out_dir/<name> (atomic; see checkpoint.py)."""
        path = save_checkpoint(Path(self.cfg.out_dir) / name, model=self.model, model_name=self.model_name,
                               model_config=self.model_config, tokenizer=self.tokenizer, optimizer=self.optimizer,
                               step=self.step, rng=self.rng, best_val_loss=self.best_val_loss,
                               data_fingerprint=self.data_fingerprint, train_config=self.cfg)
        self._trigger("on_checkpoint")
        return path

    def resume(self, path):
        """Load weights, optimizer state, step, best val loss and batch RNG from checkpoint `path`."""
        ckpt = load_checkpoint(path, build=False)
        saved_fp = ckpt.manifest.get("data_fingerprint")
        if saved_fp and self.data_fingerprint and saved_fp != self.data_fingerprint:
            self.print(f"warning: {path} was trained on different data (fingerprint {saved_fp[:12]} vs "
                       f"{self.data_fingerprint[:12]}); resuming anyway")
        saved_cfg = ckpt.manifest.get("train_config") or {}
        changed = [f"{k} {saved_cfg[k]!r} -> {v!r}" for k, v in dataclasses.asdict(self.cfg).items()
                   if k in saved_cfg and k not in ("resume", "model") and saved_cfg[k] != v]
        if changed:
            self.print(f"note: resuming with settings that differ from the checkpoint's: {', '.join(changed)}")
        self.model.load_state_dict(ckpt.weights)
        if ckpt.manifest.get("model_rng") and hasattr(self.model, "set_rng_state"):
            self.model.set_rng_state(ckpt.manifest["model_rng"])
        if ckpt.optimizer_state is None:
            raise ValueError(f"checkpoint {path} has no optimizer state, so it cannot be resumed exactly")
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        ckpt.restore_rng(self.rng)
        self.step, self.best_val_loss = ckpt.step, ckpt.best_val_loss
        self._evaluated_at = self.step  # the checkpoint was written right after evaluating at this step
        return ckpt


def _clear_line_then(print_fn):
    """print_fn that first erases the in-place progress counter, so log lines never collide with it."""
    def say(*args, **kwargs):
        sys.stdout.write("\r\033[K")
        print_fn(*args, **kwargs)
    return say


def _fmt_time(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
