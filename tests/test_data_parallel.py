"""Data-parallel training (training/data_parallel.py): shards on threads give the full batch's loss and gradient,
runs are reproducible, and models that cannot be sharded are refused with a reason."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.models import build_model
from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.nlq.nlq_model import MaskedGPT
from tinyllm.training.data_parallel import DataParallel
from tinyllm.training.trainer import TrainConfig, Trainer, data_parallel_workers


def _gpt(seed, dtype="float64", dropout=0.0):
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=13, dropout=dropout, dtype=dtype)
    return GPT(cfg, seed=seed)


def _model(kind, seed):
    """A tiny float64 model of each kind that allows data parallelism."""
    small = dict(n_layer=1, vocab_size=13, dtype="float64")
    if kind == "gpt":
        return _gpt(seed)
    if kind == "gpt_zoo":
        return build_model(kind, dict(small, n_head=2, n_embd=16, block_size=8, pos="rope"), seed=seed)
    if kind == "mamba":
        return build_model(kind, dict(small, d_model=16, block_size=8), seed=seed)
    return build_model(kind, dict(small, d_model=16, block_size=8), seed=seed)


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["gpt", "gpt_zoo", "mamba", "s4d"]), seed=st.integers(0, 999), B=st.integers(1, 7),
       workers=st.integers(2, 4), scale=st.sampled_from([1.0, 0.25]))
def test_shards_give_the_full_batch_loss_and_gradient(kind, seed, B, workers, scale):
    model = _model(kind, seed)
    assert model.data_parallel_ok
    r = np.random.default_rng(seed)
    x, y = r.integers(0, 13, (B, 8)), r.integers(0, 13, (B, 8))
    params = list(model.parameters())
    model.zero_grad()
    loss = model.loss((x, y))
    (loss * scale).backward()
    full = [p.grad.copy() for p in params]
    model.zero_grad()
    dp = DataParallel(model, params, workers)
    try:
        got = dp.backward((x, y), scale=scale)
    finally:
        dp.close()
    assert got == pytest.approx(float(loss.data), rel=1e-12)
    for p, g in zip(params, full):
        np.testing.assert_allclose(p.grad, g, rtol=1e-9, atol=1e-13)


def test_backward_into_a_dict_leaves_grad_alone():
    model = _gpt(0)
    x = np.zeros((2, 8), dtype=np.int64)
    grads = {}
    model.loss((x, x)).backward(into=grads)
    assert all(p.grad is None for p in model.parameters())
    assert set(grads) == set(model.parameters())


def _run(data_parallel, steps=4):
    model = _gpt(3, dtype="float32")
    cfg = TrainConfig(batch_size=4, block_size=8, max_iters=steps, warmup_iters=1, lr_decay_iters=steps,
                      eval_interval=steps, eval_iters=1, log_interval=steps, out_dir="", sample_tokens=0,
                      data_parallel=data_parallel)
    data = np.random.default_rng(0).integers(0, 13, 500)

    def get_batch(rng):
        i = rng.integers(0, len(data) - 9, 4)
        return np.stack([data[j:j + 8] for j in i]), np.stack([data[j + 1:j + 9] for j in i])

    trainer = Trainer(model, cfg, get_batch, print_fn=lambda *a: None)
    losses = [trainer.train_step()[0] for _ in range(steps)]
    return losses, trainer


def test_data_parallel_runs_are_reproducible_and_track_the_serial_run():
    a, t = _run(2)
    b, _ = _run(2)
    serial, _ = _run(1)
    assert t.shards == 2 and a == b                       # bit for bit, whatever the threads' timing
    np.testing.assert_allclose(a, serial, rtol=1e-4)      # float32 sums in another order


def test_models_that_cannot_be_sharded_are_refused_by_name():
    moe = build_model("gpt_zoo", dict(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=11, mlp="moe"))
    with pytest.raises(ValueError, match="ZooGPT cannot train data-parallel"):
        DataParallel(moe, [], 2)
    with pytest.raises(ValueError, match="MaskedGPT cannot train data-parallel"):
        DataParallel(MaskedGPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=11)), [], 2)
    with pytest.raises(ValueError, match="needs dropout=0"):
        DataParallel(_gpt(0, dropout=0.1), [], 2)
    with pytest.raises(ValueError, match="data_parallel must be an integer >= 0"):
        TrainConfig(data_parallel=-1)
    cfg = TrainConfig(batch_size=4, data_parallel=0)
    assert data_parallel_workers(_gpt(0, dropout=0.1), cfg) == 1     # auto falls back to one shard
