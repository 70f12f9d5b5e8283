"""Optimizers against hand-computed updates, schedules at their endpoints, global-norm clipping bounds."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyllm.training.optim import SGD, Adam, AdamW, clip_grad_norm, decay_groups
from tinyllm.training.schedule import lr_at


def param(data, grad=None):
    data = np.array(data, dtype=np.float64)
    return SimpleNamespace(data=data, grad=None if grad is None else np.array(grad, dtype=np.float64))


# ---- SGD ----
def test_sgd_plain_step():
    p = param([1.0, -2.0], [0.5, 0.25])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [1.0 - 0.05, -2.0 - 0.025])


def test_sgd_momentum_two_steps_by_hand():
    p = param([1.0], [2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()                      # b1 = g = 2;  w = 1 - 0.1*2 = 0.8
    p.grad = np.array([1.0])
    opt.step()                      # b2 = 0.9*2 + 1 = 2.8;  w = 0.8 - 0.28 = 0.52
    np.testing.assert_allclose(p.data, [0.52])
    np.testing.assert_allclose(opt.state[0]["momentum"], [2.8])


def test_sgd_nesterov_by_hand():
    p = param([1.0], [2.0])
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    opt.step()                      # b = 2;  d = 2 + 0.5*2 = 3;  w = 1 - 0.3 = 0.7
    np.testing.assert_allclose(p.data, [0.7])


# ---- Adam / AdamW ----
def test_adam_first_step_is_lr_times_sign():
    # bias correction makes m_hat = g, v_hat = g^2, so the first step is lr * g / (|g| + eps) ~ lr * sign(g)
    p = param([0.0, 0.0, 0.0], [3.0, -0.01, 1e-3])
    Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-12).step()
    np.testing.assert_allclose(p.data, [-0.1, 0.1, -0.1], rtol=1e-8)


def test_adam_two_steps_match_algorithm_1():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    g1, g2 = np.array([0.5, -1.5]), np.array([-0.25, 2.0])
    p = param([1.0, 2.0], g1)
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    opt.step()
    p.grad = g2.copy()
    opt.step()
    w, m, v = np.array([1.0, 2.0]), 0.0, 0.0
    for t, g in enumerate([g1, g2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(p.data, w, rtol=1e-12)


def test_adamw_decay_is_decoupled_and_adam_decay_is_not():
    # zero gradient: AdamW still shrinks w by lr*wd*w; Adam's L2 term goes through the adaptive scaling instead
    pw, pa = param([2.0], [0.0]), param([2.0], [0.0])
    AdamW([pw], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(pw.data, [2.0 * (1 - 0.1 * 0.5)])
    Adam([pa], lr=0.1, weight_decay=0.5, eps=1e-12).step()
    np.testing.assert_allclose(pa.data, [2.0 - 0.1], rtol=1e-9)  # first Adam step ~ lr * sign(wd * w)


def test_param_groups_and_none_grads():
    a, b, c = param([1.0], [1.0]), param([1.0], [1.0]), param([5.0])
    AdamW([{"params": [a], "weight_decay": 0.5}, {"params": [b, c], "weight_decay": 0.0}], lr=0.1).step()
    assert a.data[0] < b.data[0] < 1.0       # same grad, extra decay on a
    assert c.data[0] == 5.0                    # no grad: untouched


def test_state_dict_roundtrip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 2)) for _ in range(4)]
    p1 = param(np.ones((3, 2)))
    o1 = AdamW([p1], lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)
    for g in grads[:2]:
        p1.grad = g.copy()
        o1.step()
    state = o1.state_dict()
    p2 = param(p1.data.copy())
    o2 = AdamW([p2], lr=0.5)  # different lr: load_state_dict restores the group options too
    o2.load_state_dict(state)
    for g in grads[2:]:
        p1.grad, p2.grad = g.copy(), g.copy()
        o1.step()
        o2.step()
    np.testing.assert_array_equal(p1.data, p2.data)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(lr=-1.0), "lr"), (dict(betas=(0.9, 1.0)), "betas[1]"), (dict(eps=0.0), "eps"),
    (dict(weight_decay=float("nan")), "weight_decay")])
def test_bad_hyperparameters_are_named(kwargs, needle):
    with pytest.raises(ValueError, match=re_escape(needle)):
        AdamW([param([1.0])], **kwargs)


def re_escape(s):
    import re
    return re.escape(s)


def test_bad_params_rejected():
    with pytest.raises(ValueError, match="params is empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match=".data and .grad"):
        SGD([np.zeros(3)], lr=0.1)
    p = param([1.0])
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([param([1.0])], lr=0.1, nesterov=True)


def test_decay_groups_rule():
    class Embedding:
        def __init__(self):
            self.weight = param(np.ones((5, 3)))

    class Model:
        def __init__(self):
            self.emb = Embedding()
            self.w = param(np.ones((3, 3)))
            self.gain = param(np.ones(3))
            self.head = self.emb.weight  # tied: same object

        def named_modules(self):
            return [("emb", self.emb)]

        def named_parameters(self):
            return [("emb.weight", self.emb.weight), ("w", self.w), ("gain", self.gain), ("head", self.head)]

    m = Model()
    decay, no_decay = decay_groups(m, 0.1)
    assert [id(p) for p in decay["params"]] == [id(m.w)] and decay["weight_decay"] == 0.1
    assert [id(p) for p in no_decay["params"]] == [id(m.emb.weight), id(m.gain)]
    decay, no_decay = decay_groups(m, 0.1, decay_embeddings=True)
    assert [id(p) for p in decay["params"]] == [id(m.emb.weight), id(m.w)]


# ---- clipping ----
grads_strategy = st.lists(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                                     elements=st.floats(-1e3, 1e3)), min_size=1, max_size=4)


@given(grads_strategy, st.floats(1e-3, 1e3))
def test_clip_bounds_global_norm_and_keeps_direction(grads, max_norm):
    params = [param(np.zeros_like(g), g) for g in grads]
    before = [g.copy() for g in grads]
    total = clip_grad_norm(params, max_norm)
    expected = math.sqrt(sum(float((g ** 2).sum()) for g in before))
    assert total == pytest.approx(expected, rel=1e-9, abs=1e-12)
    after = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
    assert after <= max_norm * (1 + 1e-9)
    scale = 1.0 if expected <= max_norm else max_norm / (expected + 1e-6)
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad, g * scale, rtol=1e-9, atol=1e-300)


def test_clip_float32_does_not_overflow_and_nan_is_reported_untouched():
    p = param([0.0, 0.0])
    p.grad = np.array([1e30, 1e30], dtype=np.float32)
    assert clip_grad_norm([p], 1.0) == pytest.approx(math.sqrt(2) * 1e30, rel=1e-6)
    assert np.linalg.norm(p.grad.astype(np.float64)) <= 1.0 + 1e-6
    q = param([0.0, 0.0], [np.nan, 1.0])
    assert math.isnan(clip_grad_norm([q], 1.0)) and q.grad[1] == 1.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([q], 0.0)


# ---- schedules ----
@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_schedule_endpoints_and_monotone(schedule):
    kw = dict(schedule=schedule, lr=1e-3, min_lr=1e-4, warmup_iters=100, decay_iters=2000)
    lrs = [lr_at(s, **kw) for s in range(2100)]
    assert lrs[0] > 0 and lrs[100] == 1e-3 and lrs[2000] == 1e-4 and lrs[2099] == 1e-4
    assert all(a < b for a, b in zip(lrs[:100], lrs[1:101]))          # warmup strictly increasing
    assert all(a > b for a, b in zip(lrs[100:2000], lrs[101:2001]))   # decay strictly decreasing
    assert lr_at(1050, **kw) == pytest.approx(5.5e-4)                 # midpoint: halfway for both shapes


@given(st.integers(0, 10_000), st.integers(0, 500), st.integers(1, 5000))
def test_schedules_stay_in_range(step, warmup, span):
    for schedule in ("cosine", "linear", "constant"):
        lr = lr_at(step, schedule=schedule, lr=0.5, min_lr=0.01, warmup_iters=warmup, decay_iters=warmup + span)
        assert 0 < lr <= 0.5
        if step >= warmup:
            assert lr >= 0.01


def test_schedule_errors_name_the_argument():
    with pytest.raises(ValueError, match="decay_iters"):
        lr_at(5, lr=1.0, warmup_iters=10, decay_iters=10)
    with pytest.raises(ValueError, match="min_lr"):
        lr_at(5, lr=1.0, min_lr=2.0, decay_iters=10)
    with pytest.raises(ValueError, match="schedule"):
        lr_at(5, schedule="step", lr=1.0)
    with pytest.raises(ValueError, match="step"):
        lr_at(-1, lr=1.0)
    assert lr_at(10**6, schedule="constant", lr=0.3, warmup_iters=2) == 0.3


# ---- the fused Adam kernel equals its NumPy twin ----
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
                  elements=st.floats(-10, 10, width=32)),
       st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.999), st.floats(0.5, 0.9999),
       st.floats(0.5, 1.0), st.booleans())
def test_fused_adam_update_matches_numpy(g32, dtype, b1, b2, shrink, transposed):
    from tinyllm.training.adam_kernel import adam_update_numba, adam_update_numpy
    rng = np.random.default_rng(g32.size)
    g = g32.astype(dtype)
    w, m, v = (rng.normal(size=g.shape).astype(dtype) for _ in range(3))
    v = np.abs(v)
    if transposed:  # non-contiguous arrays take the reference path inside the twin
        g, w, m, v = (a.T for a in (g, w, m, v))
    ref = [a.copy() for a in (w, m, v)]
    adam_update_numpy(ref[0], g, ref[1], ref[2], b1, b2, 1e-3, 1e-8, shrink)
    adam_update_numba(w, g, m, v, b1, b2, 1e-3, 1e-8, shrink)
    for got, want in zip((w, m, v), ref):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == np.float32 else 1e-13, atol=1e-30)
