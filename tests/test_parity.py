"""tinyllm against its PyTorch twin (scripts/parity_torch.py) in float64: same loss, same gradients, same steps.

Skipped when PyTorch is not installed (it is an optional peer, never a dependency of tinyllm).
"""
import dataclasses
import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("torch")

_PATH = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "parity_torch.py"
_spec = importlib.util.spec_from_file_location("parity_torch", _PATH)
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

SMALL = dict(n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=65)


def _batches(n, B=3, T=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 65, size=(n, B, T + 1))
    return [(w[:, :-1].copy(), w[:, 1:].copy()) for w in ids]


@pytest.mark.parametrize("pos", ["learned", "rope", "none"])
def test_twin_matches_tinyllm_loss_gradients_and_steps(pos):
    """float64: the step-0 loss and every gradient agree to rounding, and after 6 steps of AdamW + warmup +
    clipping (tinyllm's Trainer vs torch.optim.AdamW) every parameter still agrees."""
    model = parity.tinyllm_model(pos, "float64", seed=3, **SMALL)
    cfg = dataclasses.replace(parity.recipe(6), warmup_iters=2, lr_decay_iters=6, lr=3e-2, grad_clip=0.5)
    report = parity.compare(model, _batches(6), cfg, print_fn=lambda *a: None)
    assert report["step0_loss_diff"] < 1e-12
    assert report["step0_grad_rel"] < 1e-10
    assert report["steps"][-1]["max_param_diff"] < 1e-10
    assert abs(report["steps"][-1]["loss_tinyllm"] - report["steps"][-1]["loss_torch"]) < 1e-10


def test_twin_notices_a_different_model():
    """The comparison can fail: a twin with another RoPE base gives another loss and other gradients."""
    model = parity.tinyllm_model("rope", "float64", seed=3, **SMALL)
    twin = parity.make_twin(model, dict(parity.VARIANTS, rope_base=10.0))
    x, y = _batches(1)[0]
    assert abs(float(model.loss((x, y)).data) - twin.loss(x, y).item()) > 1e-6
