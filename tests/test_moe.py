"""Mixture of experts: routing follows top-k and never exceeds capacity, the output is the gate-weighted sum of the
chosen experts, the balancing loss is 1 when uniform and E when collapsed, gradients, utilisation, config."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.autograd.tensor import Tensor
from tinyllm.gradcheck import gradcheck
from tinyllm.models.moe import MoE
from tinyllm.models.zoo import ZooConfig, ZooGPT


def moe(E=4, k=1, cf=1.25, C=6, seed=0):
    return MoE(C, n_expert=E, top_k=k, hidden=5, capacity_factor=cf, rng=np.random.default_rng(seed),
               dtype=np.float64)


@given(st.integers(1, 6), st.integers(1, 3), st.floats(0.1, 3.0), st.integers(1, 40), st.integers(0, 2**16))
def test_routing_respects_top_k_and_capacity(E, k, cf, N, seed):
    k = min(k, E)
    layer = moe(E, k, cf)
    probs = np.random.default_rng(seed).dirichlet(np.ones(E), size=N)       # (N, E)
    rows_per_expert, dropped, choice = layer.route(probs)
    cap = math.ceil(cf * N * k / E)
    assert all(r.size <= cap for r in rows_per_expert)
    for e, rows in enumerate(rows_per_expert):
        assert len(set(rows.tolist())) == rows.size                            # a token visits an expert once
        assert np.all(np.any(choice[rows] == e, axis=1))                        # ... and only one it chose
    routed = sum(r.size for r in rows_per_expert)
    assert routed + dropped == N * k                                            # every slot processed or dropped
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(np.sort(choice, axis=1), np.sort(top, axis=1))


def test_output_is_the_gate_weighted_sum_of_chosen_experts():
    layer = moe(E=3, k=2, cf=10.0)                                              # capacity never binds
    x = np.random.default_rng(1).normal(size=(7, 6))
    y = layer(Tensor(x)).data
    logits = x @ layer.router.weight.data
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = np.zeros_like(x)
    for i in range(7):
        for e in np.argsort(-p[i], kind="stable")[:2]:
            want[i] += p[i, e] * layer.experts[e](Tensor(x[i:i + 1])).data[0]
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-12)
    assert layer.dropped == 0 and layer.counts.sum() == 14


def test_tokens_over_capacity_get_zero_output():
    layer = moe(E=2, k=1, cf=0.5)                                               # capacity ceil(0.5 * 8 / 2) = 2
    layer.router.weight.data[:] = 0.0
    layer.router.weight.data[0, 0] = 5.0                                        # everyone prefers expert 0
    x = np.abs(np.random.default_rng(2).normal(size=(8, 6))) + 0.5              # feature 0 > 0: expert 0 wins
    y = layer(Tensor(x)).data
    assert layer.counts.tolist() == [2, 0] and layer.dropped == 6
    assert np.count_nonzero(np.abs(y).sum(1)) == 2
    np.testing.assert_array_equal(y[2:], 0.0)                                   # first come, first served


def test_balancing_loss_is_one_when_uniform_and_E_when_collapsed():
    layer = moe(E=4)
    layer.router.weight.data[:] = 0.0                                           # uniform probabilities
    x = np.random.default_rng(3).normal(size=(16, 6))
    layer(Tensor(x))
    assert layer.aux_loss.item() == pytest.approx(1.0)     # P uniform: E * sum_e f_e / E = 1 whatever f is
    layer.router.weight.data[0, 0] = 1e3
    layer(Tensor(np.abs(x) + 1.0))
    assert layer.aux_loss.item() == pytest.approx(4.0, rel=1e-6)
    assert layer.utilisation() == [1.0, 0.0, 0.0, 0.0] and layer.dropped == 16 - 5   # capacity ceil(1.25*16/4)


def test_gradients_through_experts_gates_and_balancing_loss():
    layer = moe(E=3, k=2, cf=10.0)
    x = np.random.default_rng(4).normal(size=(5, 6))
    assert gradcheck(lambda t: layer(t), x)
    assert gradcheck(lambda t: (layer(t) * layer(t)).sum() + layer.aux_loss * 0.3, x)
    layer(Tensor(x)).sum().backward()
    assert layer.router.weight.grad is not None and np.any(layer.router.weight.grad != 0)


def test_moe_model_trains_logs_utilisation_and_matches_dense_parameter_count():
    base = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=11)
    dense, sparse = ZooGPT(ZooConfig(**base)), ZooGPT(ZooConfig(**base, mlp="moe", n_expert=4))
    assert sparse.num_parameters() - dense.num_parameters() == 16 * 4           # only the router is extra
    idx = np.random.default_rng(0).integers(0, 11, size=(3, 8))
    loss = sparse.loss((idx, idx))
    loss.backward()
    (util,) = sparse.expert_utilisation()
    assert len(util) == 4 and sum(util) == pytest.approx(1.0, abs=1e-3)
    assert sparse.aux_loss() is not None and dense.aux_loss() is None


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="top_k"):
        MoE(8, n_expert=2, top_k=3)
    with pytest.raises(ValueError, match="capacity_factor"):
        MoE(8, capacity_factor=0)
    with pytest.raises(ValueError, match="n_expert"):
        MoE(8, n_expert=0)
