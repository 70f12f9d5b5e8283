"""MaskedGPT.loss projects only the target rows: same loss and gradients as the full head with ignore_index."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinyllm.functional as F
from tinyllm.models.gpt import GPTConfig
from tinyllm.nlq.nlq_model import MaskedGPT


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 999), B=st.integers(1, 4), T=st.integers(2, 9))
def test_masked_loss_equals_full_head_with_ignore_index(seed, B, T):
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=16, vocab_size=11, dtype="float64")
    model = MaskedGPT(cfg, seed=seed)
    r = np.random.default_rng(seed)
    x = r.integers(0, 11, (B, T))
    y = np.where(r.random((B, T)) < 0.5, -1, r.integers(0, 11, (B, T)))
    y[0, -1] = 3                                            # at least one target
    grads = []
    for loss_fn in (lambda: F.cross_entropy(model._logits2d(x), y.reshape(-1), ignore_index=-1),
                    lambda: model.loss((x, y))):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        grads.append((float(loss.data), [p.grad.copy() for p in model.parameters()]))
    (l0, g0), (l1, g1) = grads
    assert l1 == pytest.approx(l0, rel=1e-12)
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_a_batch_without_targets_is_refused():
    model = MaskedGPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=16, vocab_size=11), seed=0)
    with pytest.raises(ValueError, match="no target"):
        model.loss((np.zeros((2, 3), dtype=np.int64), np.full((2, 3), -1)))
