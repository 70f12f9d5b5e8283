"""Numerical properties of the functional API: invariances, -inf masks, extreme logits, and bad-input errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import tinyllm.functional as F
from tinyllm import Tensor, kernels
from tinyllm.autograd import backward as backward_module
from tinyllm.autograd.function import check_grad

seeds = st.integers(0, 2**32 - 1)
rows = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
BACKENDS = pytest.mark.parametrize("backend", ["numpy", "numba"])


def normal(seed, shape, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=shape)


@BACKENDS
@given(shape=rows, seed=seeds, dtype=st.sampled_from([np.float32, np.float64]), scale=st.sampled_from([1.0, 1e4]))
def test_softmax_rows_sum_to_one_and_ignore_shifts(backend, shape, seed, dtype, scale):
    previous = kernels.use(backend)
    try:
        # multiples of 1/8 plus integer shifts: every sum below is exact in float32, so only softmax can differ
        x = (np.round(normal(seed, shape, scale) * 8) / 8).astype(dtype)
        shift = np.round(normal(seed + 1, shape[:-1] + (1,), scale)).astype(dtype)
        y = F.softmax(x).data
        assert y.dtype == dtype and np.all(np.isfinite(y)) and np.all(y >= 0)
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(F.softmax(x + shift).data, y, atol=1e-6 if dtype == np.float32 else 1e-12)
    finally:
        kernels.use(previous)


@BACKENDS
def test_fully_masked_rows_give_zero_not_nan(backend):
    previous = kernels.use(backend)
    try:
        x = Tensor(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), requires_grad=True)
        mask = np.array([[True, False, True], [False, False, False]])
        p = F.softmax(F.masked_fill(x, ~mask, -np.inf))
        np.testing.assert_array_equal(p.data[1], 0.0)
        assert p.data[0, 1] == 0.0
        (p * np.arange(3.0)).sum().backward()
        assert np.all(np.isfinite(x.grad)) and np.all(x.grad[1] == 0) and x.grad[0, 1] == 0
        assert np.all(np.isneginf(F.log_softmax(F.masked_fill(x, ~mask, -np.inf)).data[1]))
        assert np.isneginf(F.logsumexp(np.full((2, 3), -np.inf)).data).all()

        q = Tensor(np.random.default_rng(0).normal(size=(2, 3, 4)), requires_grad=True)
        attend = np.array([[True, True, False], [False, False, False], [True, False, False]])
        out = F.scaled_dot_product_attention(q, q, q, mask=attend)
        np.testing.assert_array_equal(out.data[:, 1], 0.0)  # query 1 may attend to nothing
        out.sum().backward()
        assert np.all(np.isfinite(q.grad))
    finally:
        kernels.use(previous)


@BACKENDS
@given(N=st.integers(1, 6), V=st.integers(2, 9), seed=seeds, dtype=st.sampled_from([np.float32, np.float64]))
def test_cross_entropy_is_stable_for_logits_of_magnitude_1e4(backend, N, V, seed, dtype):
    previous = kernels.use(backend)
    try:
        logits = normal(seed, (N, V), 1e4).astype(dtype)
        t = np.random.default_rng(seed).integers(0, V, N)
        x = Tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, t)
        loss.backward()
        x64 = logits.astype(np.float64)
        m = x64.max(axis=1)
        lse = m + np.log(np.exp(x64 - m[:, None]).sum(axis=1))
        expected = np.mean(lse - x64[np.arange(N), t])
        assert loss.dtype == dtype and np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
        np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
        np.testing.assert_allclose(x.grad.sum(axis=1), 0.0, atol=1e-6)  # softmax - onehot sums to 0 per row
    finally:
        kernels.use(previous)


def test_untaken_where_branches_give_zero_gradient_not_nan():
    """At x = 0 the sqrt/log/division branches have infinite derivatives, but where() did not take them."""
    x = Tensor(np.array([0.0, 0.0, 4.0, -1.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # the forward of the untaken branch may warn
        y = (F.where(x.data > 0, x.sqrt(), 0.0) + F.where(x.data > 0, x.log(), 0.0)
             + F.where(x.data > 0, 1.0 / x, 0.0) + F.where(x.data > 0, x ** 1.5, 0.0))
        y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 0.25 + 0.25 - 1 / 16 + 1.5 * 2.0, 0.0])
    big = Tensor(np.array([1.0, 1e4]), requires_grad=True)
    with np.errstate(over="ignore"):
        F.where(big.data < 10, (big * 1.0).exp(), 0.0).sum().backward()  # exp(1e4) = inf, not taken
    np.testing.assert_allclose(big.grad, [np.e, 0.0])


def test_cross_entropy_ignore_index_and_all_ignored():
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3)), requires_grad=True)
    t = np.array([0, -100, 2, -100])
    full = F.cross_entropy(x.data[[0, 2]], t[[0, 2]]).item()
    np.testing.assert_allclose(F.cross_entropy(x, t, ignore_index=-100).item(), full)
    loss = F.cross_entropy(x, np.full(4, 7), ignore_index=7)
    loss.backward()
    assert loss.item() == 0.0 and np.all(x.grad == 0)


def test_cross_entropy_accepts_batched_logits():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(2, 3, 5)), rng.integers(0, 5, (2, 3))
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), F.cross_entropy(x.reshape(6, 5), t.reshape(6)).item())


@given(shape=rows, seed=seeds, p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
def test_dropout_scales_survivors_and_zeroes_the_rest(shape, seed, p):
    x = Tensor(1.0 + np.abs(normal(seed, shape)), requires_grad=True)
    y = F.dropout(x, p, training=True, rng=np.random.default_rng(seed))
    kept = y.data != 0
    if p < 1:
        np.testing.assert_allclose(y.data[kept], x.data[kept] / (1 - p))
    else:
        assert not kept.any()
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / (1 - p) if p < 1 else 0.0)
    again = F.dropout(x, p, training=True, rng=np.random.default_rng(seed)).data
    np.testing.assert_array_equal(again, y.data)  # same generator state, same mask
    assert F.dropout(x, p, training=False) is x


def test_dropout_keeps_about_1_minus_p():
    y = F.dropout(np.ones(20000, dtype=np.float32), 0.25, rng=np.random.default_rng(0))
    assert y.dtype == np.float32
    assert abs(np.mean(y.data != 0) - 0.75) < 0.02  # 8 standard deviations of the binomial


def test_bad_input_errors_name_the_argument():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="targets shape"):
        F.cross_entropy(x, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="targets must be an integer"):
        F.cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.zeros(4, dtype=int), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\)"):
        F.embedding(np.array([0, 4]), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="ids must be an integer"):
        F.embedding(np.array([0.0]), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        F.masked_fill(x, np.zeros((4, 3)), 0.0)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        F.scaled_dot_product_attention(x, x, x, mask=np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"q \(4, 3\), k \(4, 2\)"):
        F.scaled_dot_product_attention(x, np.zeros((4, 2)), x)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.layer_norm(x, np.ones(4), None)
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\]"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match=r"conv1d.*3 channels.*C=2"):
        F.conv1d(np.zeros((5, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"matmul needs.*\(4, 3\) @ \(4, 3\)"):
        F.matmul(x, x)
    with pytest.raises(ValueError, match="Concat"):
        F.concat([np.zeros((2, 3)), np.zeros((2, 4))], axis=0)
    for bad_axis in (lambda: F.softmax(x, axis=3), lambda: F.logsumexp(x, axis=-3), lambda: F.cumsum(x, axis=2),
                     lambda: Tensor(x).mean(axis=2), lambda: Tensor(x).max(axis=(0, 5))):
        with pytest.raises(ValueError, match="axis .* out of bounds"):
            bad_axis()


@BACKENDS
def test_float32_in_float32_out_everywhere(backend, monkeypatch):
    """No op silently upcasts: float32 inputs give float32 outputs, and every backward returns float32 gradients."""
    previous = kernels.use(backend)
    upcasts = []

    def recording_check(fn, x, g):
        if g.dtype != x.dtype:
            upcasts.append(type(fn).__name__)
        return check_grad(fn, x, g)

    monkeypatch.setattr(backward_module, "check_grad", recording_check)
    try:
        rng = np.random.default_rng(0)
        x = Tensor(rng.normal(size=(2, 3, 4)).astype(np.float32), requires_grad=True)
        w = Tensor(rng.normal(size=(4, 4)).astype(np.float32), requires_grad=True)
        c = Tensor(rng.normal(size=(4,)).astype(np.float32), requires_grad=True)
        k = Tensor(rng.normal(size=(4, 2)).astype(np.float32), requires_grad=True)
        ids = rng.integers(0, 4, (2, 3))
        outs = [x @ w, F.softmax(x, axis=1), F.log_softmax(x), F.logsumexp(x), F.layer_norm(x, c, c), F.rms_norm(x, c),
                F.gelu(x), F.gelu(x, approximate=False), F.silu(x), F.softplus(x), F.cumsum(x, 1), F.conv1d(x, k, c),
                F.embedding(ids, w), F.where(x.data > 0, x, 0.5), F.masked_fill(x, x.data > 0, -np.inf),
                F.dropout(x, 0.5, rng=rng), F.scaled_dot_product_attention(x, x, x, causal=True),
                F.cross_entropy(x, ids), x.var(axis=-1), x.max(axis=0), (x * 0.5 + 1) / 3 - 2 ** x, (x.abs() + 1).sqrt(),
                F.concat([x, np.ones((2, 3, 4))], axis=0), F.stack([x, x]), x[0, ids[0] % 3]]
        for y in outs:
            assert y.dtype == np.float32, y
            with np.errstate(invalid="ignore"):
                (F.where(np.isfinite(y.data), y, 0.0) * 1.0).sum().backward()
        assert upcasts == [] and all(p.grad.dtype == np.float32 for p in (x, w, c, k))
    finally:
        kernels.use(previous)
