"""Data parallelism on one machine: split a batch into shards, run each shard's forward and backward on its own
thread, then average the shards' gradients (an "all-reduce" in a distributed trainer).

Why: splitting every op over threads (fork-join, ~67 parallel regions a step) leaves the op dispatch, the backward
sweep and every small op on one core, and pays each region's start-up. With one shard per thread the whole step
is parallel: NumPy's BLAS and the Numba kernels (compiled `nogil=True`) release the GIL, so one thread's Python
bookkeeping overlaps the other's arithmetic. Each worker runs its kernels on one thread (Numba's thread count is
per thread). On the baby GPT at 2 threads the step is ~13% faster than op-level threads (README, gpt section).

The gradient is exact: for a loss that is the mean over all B*T tokens, the full batch's gradient is the mean of
the shards' gradients weighted by their number of rows, so g = sum_i (B_i / B) g_i. The shards' gradients are
summed in a fixed order, so a run is reproducible whatever the threads' timing.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tinyllm.kernels import num_threads, set_num_threads


def _one_kernel_thread():
    if num_threads() > 1:       # in this worker only: its kernels run serially, the workers are the parallelism
        set_num_threads(1)


def shard_refusal(model):
    """None when `model` may train data-parallel, else why not (the Trainer's auto mode asks this too)."""
    if not getattr(model, "data_parallel_ok", False):
        return (f"{type(model).__name__} cannot train data-parallel: its loss is not a mean over all B*T tokens or "
                f"it draws random numbers (a shared generator would make runs irreproducible)")
    dropout = getattr(getattr(model, "config", None), "dropout", 0.0)
    if dropout:
        return (f"data parallelism needs dropout=0: the shards would share one dropout generator and runs would "
                f"not be reproducible (got dropout={dropout})")
    return None


def check_shardable(model, workers):
    """Raise ValueError unless `model` may train data-parallel on `workers` threads (why, in the message)."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"data_parallel must be an integer >= 1, got {workers!r}")
    why = shard_refusal(model) if workers > 1 else None
    if why:
        raise ValueError(f"data_parallel={workers}: {why}; use data_parallel=1")


class DataParallel:
    """`backward(batch, scale)` adds scale * d(mean loss of batch)/d(param) into every param's `.grad`, computed
    by `workers` threads on row shards of the batch; returns the batch's mean loss."""

    def __init__(self, model, params, workers):
        check_shardable(model, workers)
        self.model, self.params, self.workers = model, list(params), workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="tinyllm-shard", initializer=_one_kernel_thread)

    def _shard(self, batch):
        """(float loss, {param: gradient}) of one shard, on a worker thread."""
        loss = self.model.loss(batch)
        grads = {}
        loss.backward(into=grads)
        return float(loss.data), grads

    def backward(self, batch, scale=1.0):
        x, y = batch                                                   # (B, T), (B, T)
        B = len(x)
        bounds = np.linspace(0, B, min(self.workers, B) + 1).astype(int)
        shards = [(x[a:b], y[a:b]) for a, b in zip(bounds, bounds[1:])]
        results = [f.result() for f in [self.pool.submit(self._shard, s) for s in shards]]
        weights = [len(s[0]) / B for s in shards]                      # B_i / B
        for p in self.params:
            g = None
            for w, (_, grads) in zip(weights, results):               # fixed order: reproducible sums
                if p in grads:
                    term = grads[p] * np.asarray(w * scale, dtype=grads[p].dtype)
                    g = term if g is None else g + term
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
        return sum(w * loss for w, (loss, _) in zip(weights, results))

    def close(self):
        self.pool.shutdown(wait=True)
