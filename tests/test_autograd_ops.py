"""Every differentiable Tensor op against central differences (float64), over Hypothesis-generated shapes.

Shapes include broadcasting, size-1 and empty dims; inputs stay away from kinks (relu/abs at 0, log/sqrt at 0,
division by ~0) where a finite difference means nothing.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from tinyllm import Tensor
from tinyllm.gradcheck import gradcheck

seeds = st.integers(0, 2**32 - 1)
shapes = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
nonempty = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=4)


def normal(seed, shape):
    return np.random.default_rng(seed).normal(size=shape)


def away_from_zero(seed, shape, margin=0.3):
    """Values with |x| >= margin: no kink within reach of the finite difference."""
    x = normal(seed, shape)
    return np.sign(x + (x == 0)) * (margin + np.abs(x))


def positive(seed, shape):
    return 0.5 + np.abs(normal(seed, shape))


BINARY = {
    "add": (lambda a, b: a + b, normal),
    "sub": (lambda a, b: a - b, normal),
    "mul": (lambda a, b: a * b, normal),
    "div": (lambda a, b: a / b, away_from_zero),
    "pow": (lambda a, b: a ** b, positive),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds)
def test_binary_ops_broadcast(name, shapes, seed):
    f, values = BINARY[name]
    a, b = values(seed, shapes.input_shapes[0]), values(seed + 1, shapes.input_shapes[1])
    assert gradcheck(f, a, b)


@given(shape=shapes, seed=seeds, scalar=st.floats(-3, 3))
def test_ops_with_python_scalars_and_reflected(shape, seed, scalar):
    x = positive(seed, shape)
    assert gradcheck(lambda t: (scalar - t) * 2.0 + 1.0 / t + t ** 1.5 + 2.0 ** t - (-t) / 3.0, x)


UNARY = {
    "exp": (lambda t: t.exp(), normal),
    "log": (lambda t: t.log(), positive),
    "sqrt": (lambda t: t.sqrt(), positive),
    "tanh": (lambda t: t.tanh(), normal),
    "sigmoid": (lambda t: t.sigmoid(), normal),
    "relu": (lambda t: t.relu(), away_from_zero),
    "abs": (lambda t: t.abs(), away_from_zero),
    "neg": (lambda t: -t, normal),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_ops(name, shape, seed):
    f, values = UNARY[name]
    assert gradcheck(f, values(seed, shape))


@st.composite
def shape_and_axis(draw, base=shapes):
    shape = draw(base)
    if not shape:
        return shape, None
    return shape, draw(st.none() | st.integers(-len(shape), len(shape) - 1)
                       | st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple))


@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_sum_and_mean(sa, keepdims, seed):
    shape, axis = sa
    x = normal(seed, shape)
    assert gradcheck(lambda t: t.sum(axis=axis, keepdims=keepdims), x)
    if x.size:
        assert gradcheck(lambda t: t.mean(axis=axis, keepdims=keepdims), x)
        np.testing.assert_allclose(Tensor(x).mean(axis=axis, keepdims=keepdims).data,
                                   np.mean(x, axis=axis, keepdims=keepdims))


@given(sa=shape_and_axis(nonempty), keepdims=st.booleans(), seed=seeds)
def test_max_min_and_var(sa, keepdims, seed):
    shape, axis = sa
    x = normal(seed, shape)  # continuous values: ties have probability 0
    assert gradcheck(lambda t: t.max(axis=axis, keepdims=keepdims), x)
    np.testing.assert_allclose(Tensor(x).max(axis=axis, keepdims=keepdims).data, np.max(x, axis, keepdims=keepdims))
    assert gradcheck(lambda t: t.min(axis=axis, keepdims=keepdims), x)
    np.testing.assert_allclose(Tensor(x).min(axis=axis, keepdims=keepdims).data, np.min(x, axis, keepdims=keepdims))
    assert gradcheck(lambda t: t.var(axis=axis, keepdims=keepdims), x)
    np.testing.assert_allclose(Tensor(x).var(axis=axis, keepdims=keepdims).data,
                               np.var(x, axis=axis, keepdims=keepdims), atol=1e-12)


def test_max_ties_share_the_gradient():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@given(shape=nonempty, seed=seeds, data=st.data())
def test_reshape_and_transpose(shape, seed, data):
    x = normal(seed, shape)
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    assert gradcheck(lambda t: t.transpose(*axes) * np.arange(x.size).reshape(np.transpose(x, axes).shape), x)
    assert gradcheck(lambda t: t.reshape(-1) * np.arange(x.size), x)
    assert gradcheck(lambda t: t.T.reshape(x.size, 1).swapaxes(0, 1) * np.arange(x.size), x)


@given(shape=nonempty, seed=seeds, data=st.data())
def test_getitem_slices_ints_arrays_and_masks(shape, seed, data):
    x = normal(seed, shape)
    n = shape[0]
    i = data.draw(st.integers(-n, n - 1))
    start, stop = sorted(data.draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
    ids = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=6)), dtype=np.int64)  # repeats allowed
    mask = np.random.default_rng(seed).random(shape) < 0.5
    for index in (i, slice(start, stop), (Ellipsis, 0), ids, mask, (slice(None), None)):
        y = x[index]
        w = np.arange(y.size, dtype=np.float64).reshape(y.shape)  # weight outputs so gradients differ per slot
        assert gradcheck(lambda t: t[index] * w, x)


def test_getitem_repeated_indices_accumulate():
    x = Tensor(np.zeros(4), requires_grad=True)
    x[np.array([1, 1, 3, 1])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 3, 0, 1])


@given(shapes=pairs, seed=seeds)
def test_matmul_operator(shapes, seed):
    """Build (..., M, K) @ (..., K, N) from two broadcast-compatible batch shapes."""
    ba, bb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    M, K, N = rng.integers(0, 4, size=3)
    a, b = normal(seed, ba + (M, K)), normal(seed + 1, bb + (K, N))
    assert gradcheck(lambda s, t: s @ t, a, b)
    np.testing.assert_allclose((Tensor(a) @ Tensor(b)).data, a @ b, atol=1e-12)


@given(batch=array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), seed=seeds)
def test_matmul_vectors_and_numpy_operands(batch, seed):
    a, v = normal(seed, batch + (3, 4)), normal(seed + 1, (4,))
    assert gradcheck(lambda s, t: s @ t, a, v)  # (..., M, K) @ (K,)
    assert gradcheck(lambda s, t: t @ s, np.swapaxes(a, -1, -2), v)  # (K,) @ (..., K, M)
    assert gradcheck(lambda s: a @ s, normal(seed + 2, (4, 2)))  # ndarray @ Tensor -> __rmatmul__
    assert gradcheck(lambda s, t: s @ t, v, v + 1)  # (K,) @ (K,) -> ()
    for x, y in ((a, v), (v, np.swapaxes(a, -1, -2)), (v, v)):
        np.testing.assert_allclose((Tensor(x) @ Tensor(y)).data, np.matmul(x, y), atol=1e-12)


def test_matmul_weight_gradient_sums_over_batch():
    """(B, T, C) @ (C, C'): the weight's gradient is the sum over B and T, computed as one 2-D product."""
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 3, 4)), Tensor(rng.normal(size=(4, 5)), requires_grad=True)
    g = rng.normal(size=(2, 3, 5))
    (Tensor(x) @ w).backward(g)
    np.testing.assert_allclose(w.grad, np.einsum("btc,btd->cd", x, g), atol=1e-12)


@given(shape=shapes, seed=seeds)
def test_astype_roundtrip(shape, seed):
    x = normal(seed, shape)
    assert gradcheck(lambda t: t.astype(np.float32).astype(np.float64) * 0 + t * 2, x)
    t = Tensor(x.astype(np.float32), requires_grad=True)
    t.astype(np.float64).sum().backward()
    assert t.grad.dtype == np.float32


def test_linear_layer_matmul_is_one_2d_product_each_way(monkeypatch):
    """(B, T, C) @ (C, C'): the forward and each gradient are a single 2-D product (one BLAS call), not B of them."""
    from tinyllm import kernels
    calls = []
    real = kernels.matmul

    def counting(a, b):
        calls.append((a.ndim, b.ndim))
        return real(a, b)

    monkeypatch.setattr(kernels, "matmul", counting)
    x = Tensor(np.ones((2, 3, 4)), requires_grad=True)
    w = Tensor(np.ones((4, 5)), requires_grad=True)
    y = x @ w
    assert calls == [(2, 2)]
    y.sum().backward()
    assert calls == [(2, 2)] * 3  # forward, dx, dw


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3), (3, 0)), ((2, 2, 0), (0, 3)), ((0, 4), (4, 2)), ((1, 0, 4), (4, 0))])
def test_matmul_with_zero_sized_dims(a_shape, b_shape):
    """Regression: reshape(-1, 0) is ambiguous in NumPy, so (N, 0) views are built with explicit sizes."""
    a, b = Tensor(np.ones(a_shape), requires_grad=True), Tensor(np.ones(b_shape), requires_grad=True)
    y = a @ b
    assert y.shape == np.matmul(np.ones(a_shape), np.ones(b_shape)).shape
    y.sum().backward()
    assert a.grad.shape == a_shape and b.grad.shape == b_shape and not a.grad.any() and not b.grad.any()
