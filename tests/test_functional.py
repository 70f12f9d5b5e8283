"""tinyllm.functional: gradients vs finite differences, and every fused op equal to its composed equivalent.

Fused ops run through `tinyllm.kernels`, so their tests are parametrised over both kernel backends.
"""
import contextlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import tinyllm.functional as F
from tinyllm import Tensor, kernels
from tinyllm.gradcheck import gradcheck

seeds = st.integers(0, 2**32 - 1)
rows = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)  # (..., C) with C >= 1
any_shape = array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)


def normal(seed, shape, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=shape)


BACKENDS = pytest.mark.parametrize("backend", ["numpy", "numba"])


@contextlib.contextmanager
def using(backend):
    """Run the block with kernel backend `backend`, then restore the previous one."""
    previous = kernels.use(backend)
    try:
        yield
    finally:
        kernels.use(previous)


def assert_same_forward_and_backward(fused, composed, *inputs, atol=1e-10):
    """Run both on the same float64 inputs with the same upstream gradient; outputs and grads must agree.
    The fused op's gradient is also checked against finite differences on its own."""
    outs, grads = [], []
    for f in (fused, composed):
        ts = [Tensor(x, requires_grad=True) for x in inputs]
        y = f(*ts)
        g = np.random.default_rng(1).normal(size=y.shape)
        y.backward(g)
        outs.append(y.data)
        grads.append([t.grad if t.grad is not None else np.zeros_like(t.data) for t in ts])
    np.testing.assert_allclose(outs[0], outs[1], atol=atol, rtol=1e-8)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-8)
    assert gradcheck(fused, *inputs)


# ---- composed references, written with primitives only ------------------------------------------------------------
def softmax_composed(x, axis=-1):
    e = (x - x.max(axis=axis, keepdims=True)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp_composed(x, axis=-1, keepdims=False):
    m = x.max(axis=axis, keepdims=True).detach()
    out = (x - m).exp().sum(axis=axis, keepdims=True).log() + m
    return out if keepdims else out.reshape(np.squeeze(out.data, axis=axis).shape)


def cross_entropy_composed(x, t, ignore_index=None, label_smoothing=0.0):
    V = x.shape[-1]
    q = (1 - label_smoothing) * np.eye(V)[t] + label_smoothing / V
    losses = -((x - logsumexp_composed(x, keepdims=True)) * q).sum(axis=-1)
    keep = np.ones(t.shape) if ignore_index is None else (t != ignore_index).astype(float)
    return (losses * keep).sum() * (1.0 / max(keep.sum(), 1))


def layer_norm_composed(x, w, b, eps=1e-5):
    return (x - x.mean(axis=-1, keepdims=True)) * (x.var(axis=-1, keepdims=True) + eps) ** -0.5 * w + b


def gelu_tanh_composed(x):
    return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())


def attention_composed(q, k, v, mask=None, causal=False):
    s = q @ k.swapaxes(-1, -2) * (1.0 / math.sqrt(q.shape[-1]))  # (..., Tq, Tk)
    Tq, Tk = s.shape[-2:]
    keep = np.ones((Tq, Tk), bool)
    if causal:
        keep = np.tril(keep, k=Tk - Tq)
    if mask is not None:
        keep = keep & mask
    return F.softmax(F.masked_fill(s, ~np.broadcast_to(keep, s.shape), -np.inf)) @ v


# ---- fused == composed ---------------------------------------------------------------------------------------------
@BACKENDS
@given(shape=rows, seed=seeds, axis=st.integers(-1, 0))
def test_softmax_fused_equals_composed(backend, shape, seed, axis):
    with using(backend):
        assert_same_forward_and_backward(lambda t: F.softmax(t, axis), lambda t: softmax_composed(t, axis),
                                         normal(seed, shape, 3))


@BACKENDS
@given(shape=rows, seed=seeds, axis=st.integers(-1, 0))
def test_log_softmax_and_logsumexp_equal_composed(backend, shape, seed, axis):
    with using(backend):
        x = normal(seed, shape, 3)
        assert_same_forward_and_backward(lambda t: F.log_softmax(t, axis),
                                         lambda t: t - logsumexp_composed(t, axis, keepdims=True), x)
        assert_same_forward_and_backward(lambda t: F.logsumexp(t, axis), lambda t: logsumexp_composed(t, axis), x)


@BACKENDS
@given(shape=array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5), V=st.integers(1, 6), seed=seeds,
       smoothing=st.sampled_from([0.0, 0.1, 1.0]), ignore=st.booleans())
def test_cross_entropy_fused_equals_composed(backend, shape, V, seed, smoothing, ignore):
    with using(backend):
        t = np.random.default_rng(seed).integers(0, V, size=shape)
        ignore_index = int(t.reshape(-1)[0]) if ignore else None
        assert_same_forward_and_backward(
            lambda x: F.cross_entropy(x, t, ignore_index=ignore_index, label_smoothing=smoothing),
            lambda x: cross_entropy_composed(x, t, ignore_index, smoothing), normal(seed, shape + (V,), 2))


@BACKENDS
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), seed=seeds, affine=st.booleans())
def test_layer_norm_fused_equals_composed(backend, shape, seed, affine):
    with using(backend):
        x, C = normal(seed, shape), shape[-1]
        w, b = (normal(seed + 1, C), normal(seed + 2, C)) if affine else (np.ones(C), np.zeros(C))
        assert_same_forward_and_backward(lambda t, s, c: F.layer_norm(t, s, c), layer_norm_composed, x, w, b, atol=1e-8)
        if not affine:
            assert_same_forward_and_backward(lambda t: F.layer_norm(t), lambda t: layer_norm_composed(t, 1.0, 0.0), x,
                                             atol=1e-8)


@BACKENDS
@given(shape=any_shape, seed=seeds)
def test_gelu_fused_equals_composed(backend, shape, seed):
    with using(backend):
        x = normal(seed, shape, 3)
        assert_same_forward_and_backward(F.gelu, gelu_tanh_composed, x)
        exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.reshape(-1)]).reshape(shape)
        np.testing.assert_allclose(F.gelu(x, approximate=False).data, exact, atol=1e-12)
        assert gradcheck(lambda t: F.gelu(t, approximate="none"), x)


@st.composite
def attention_inputs(draw):
    lead = draw(array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    Tq, Tk, D, Dv = (draw(st.integers(1, 5)) for _ in range(4))
    seed = draw(seeds)
    causal = draw(st.booleans())
    if causal:
        Tq = min(Tq, Tk)
    mask = np.random.default_rng(seed).random((Tq, Tk)) < 0.7 if draw(st.booleans()) else None
    return [normal(seed + i, lead + (T, d)) for i, (T, d) in enumerate([(Tq, D), (Tk, D), (Tk, Dv)])], mask, causal


@BACKENDS
@given(args=attention_inputs())
def test_attention_fused_equals_composed(backend, args):
    with using(backend):
        (q, k, v), mask, causal = args
        assert_same_forward_and_backward(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask, causal),
                                         lambda a, b, c: attention_composed(a, b, c, mask, causal), q, k, v)


@BACKENDS
@given(batch=array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), seed=seeds,
       mkn=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)), weight_2d=st.booleans())
def test_matmul_fused_equals_composed(backend, batch, seed, mkn, weight_2d):
    with using(backend):
        M, K, N = mkn
        a, b = normal(seed, batch + (M, K)), normal(seed + 1, ((K, N) if weight_2d else batch + (K, N)))

        def composed(s, t):  # (..., M, K, 1) * (..., 1, K, N) summed over K
            return (s.reshape(s.shape + (1,)) * t.reshape(t.shape[:-2] + (1, K, N))).sum(axis=-2)

        assert_same_forward_and_backward(F.matmul, composed, a, b)


@given(shape=any_shape, V=st.integers(1, 5), C=st.integers(1, 3), seed=seeds)
def test_embedding_equals_one_hot_matmul(shape, V, C, seed):
    ids = np.random.default_rng(seed).integers(0, V, size=shape)
    assert_same_forward_and_backward(lambda w: F.embedding(ids, w), lambda w: np.eye(V)[ids] @ w,
                                     normal(seed, (V, C)))


def conv1d_composed(x, w, b):
    C, K = w.shape
    T = x.shape[-2]
    xp = F.concat([np.zeros(x.shape[:-2] + (K - 1, C)), x], axis=-2)
    return sum(xp[..., k:k + T, :] * w[:, k] for k in range(K)) + b


@given(lead=array_shapes(min_dims=0, max_dims=1, min_side=1, max_side=2), T=st.integers(1, 6),
       C=st.integers(1, 3), K=st.integers(1, 4), seed=seeds)
def test_conv1d_equals_composed_and_is_causal(lead, T, C, K, seed):
    x, w, b = normal(seed, lead + (T, C)), normal(seed + 1, (C, K)), normal(seed + 2, (C,))
    assert_same_forward_and_backward(F.conv1d, conv1d_composed, x, w, b)
    assert gradcheck(F.conv1d, x, w)
    x2 = x.copy()
    x2[..., T - 1, :] += 1.0  # changing the last step must leave every earlier output alone
    np.testing.assert_array_equal(F.conv1d(x2, w, b).data[..., :T - 1, :], F.conv1d(x, w, b).data[..., :T - 1, :])


@given(shape=any_shape, seed=seeds, axis=st.integers(-1, 0))
def test_cumsum(shape, seed, axis):
    x = normal(seed, shape)
    np.testing.assert_allclose(F.cumsum(x, axis).data, np.cumsum(x, axis=axis))
    assert gradcheck(lambda t: F.cumsum(t, axis), x)


# ---- composites: finite differences and plain NumPy formulas -------------------------------------------------------
@given(shape=rows, seed=seeds)
def test_rms_norm(shape, seed):
    x, w = normal(seed, shape), normal(seed + 1, shape[-1:])
    expected = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * w
    np.testing.assert_allclose(F.rms_norm(x, w).data, expected, atol=1e-12)
    assert gradcheck(F.rms_norm, x, w)


@given(shape=any_shape, seed=seeds)
def test_activations(shape, seed):
    x = normal(seed, shape, 3)
    np.testing.assert_allclose(F.silu(x).data, x / (1 + np.exp(-x)), atol=1e-12)
    np.testing.assert_allclose(F.softplus(x).data, np.log1p(np.exp(x)), atol=1e-12)
    for f in (F.silu, F.softplus, F.sigmoid, F.tanh):
        assert gradcheck(f, x)
    assert gradcheck(F.relu, np.sign(x) * (0.3 + np.abs(x)))


@given(shapes=st.lists(array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=3), min_size=1, max_size=3),
       seed=seeds)
def test_concat_and_stack(shapes, seed):
    xs = [normal(seed + i, (s[0], 3)) for i, s in enumerate(shapes)]  # same trailing dim, any length
    assert gradcheck(lambda *ts: F.concat(ts, axis=0) * np.arange(3), *xs)
    same = [normal(seed + i, (2, 3)) for i in range(len(shapes))]
    for axis in (0, 1, -1):
        expected = np.stack(same, axis)
        np.testing.assert_array_equal(F.stack(same, axis).data, expected)
        w = np.arange(expected.size).reshape(expected.shape)
        assert gradcheck(lambda *ts: F.stack(ts, axis=axis) * w, *same)


@given(shape=any_shape, seed=seeds)
def test_where_and_masked_fill(shape, seed):
    a, b = normal(seed, shape), normal(seed + 1, shape)
    cond = np.random.default_rng(seed).random(shape) < 0.5
    np.testing.assert_array_equal(F.where(cond, a, b).data, np.where(cond, a, b))
    assert gradcheck(lambda s, t: F.where(cond, s, t), a, b)
    assert gradcheck(lambda s: F.where(Tensor(cond), s, 0.0), a)  # conditions may be Tensors; constants on one side
    filled = F.masked_fill(a, cond, -np.inf).data
    assert np.all(np.isneginf(filled[cond])) and np.array_equal(filled[~cond], a[~cond])
    assert gradcheck(lambda s: F.masked_fill(s, cond, 0.0), a)


@BACKENDS
def test_empty_batches_flow_through_every_fused_op(backend):
    """Zero rows (an empty batch) give empty outputs and empty gradients, never an error or NaN."""
    with using(backend):
        x = Tensor(np.zeros((0, 4)), requires_grad=True)
        w = Tensor(np.ones(4), requires_grad=True)
        q = Tensor(np.zeros((0, 2, 3, 4)), requires_grad=True)
        outs = [F.softmax(x), F.log_softmax(x), F.layer_norm(x, w, w), F.gelu(x), x @ np.ones((4, 2)),
                F.scaled_dot_product_attention(q, q, q, causal=True)]
        for y in outs:
            assert y.size == 0
            y.sum().backward()
        loss = F.cross_entropy(x, np.zeros(0, dtype=np.int64))
        loss.backward()
        assert loss.item() == 0.0 and x.grad.shape == (0, 4) and q.grad.shape == q.shape
        np.testing.assert_array_equal(w.grad, 0.0)
