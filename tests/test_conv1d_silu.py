"""Mamba's fused causal conv1d + SiLU: Numba kernel == NumPy twin (forward and backward), == the composed
F.silu(F.conv1d(...)) ops, gradients by finite differences, causality, and clear errors."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import tinyllm.functional as F
from tinyllm.autograd.tensor import Tensor
from tinyllm.gradcheck import gradcheck
from tinyllm.kernels import conv1d as K
from tinyllm.models.mamba import CausalConvSiLU

shapes = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 6), st.integers(1, 5))  # Bt, T, C, K


def make(Bt, T, C, Kt, seed=0, dtype=np.float64, strided=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(Bt, T, 2 * C if strided else C)) * 2
    x = x[..., :C] if strided else x                     # a slice of in_proj's output, as in the Mamba block
    return x.astype(dtype), rng.normal(size=(C, Kt)).astype(dtype), rng.normal(size=C).astype(dtype)


@given(shapes, st.integers(0, 2 ** 16), st.booleans())
@example((1, 1, 1, 1), 0, False)
@example((2, 3, 4, 5), 1, True)                          # T < K: the whole window is padding at first
def test_numba_equals_numpy(shape, seed, strided):
    x, w, b = make(*shape, seed=seed, strided=strided)
    np.testing.assert_allclose(K.conv1d_silu_forward_numba(x, w, b), K.conv1d_silu_forward_numpy(x, w, b),
                               rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(seed + 1).normal(size=x.shape)
    for name, a, c in zip(("dx", "dw", "db"), K.conv1d_silu_backward_numpy(x, w, b, dy),
                          K.conv1d_silu_backward_numba(x, w, b, dy)):
        assert c.shape == a.shape, name
        np.testing.assert_allclose(c, a, rtol=1e-11, atol=1e-12, err_msg=name)


def test_float32_stays_float32():
    x, w, b = make(2, 7, 5, 4, dtype=np.float32)
    y = K.conv1d_silu_forward_numba(x, w, b)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, K.conv1d_silu_forward_numpy(x.astype(np.float64), w, b), rtol=1e-5, atol=1e-6)
    assert all(g.dtype == np.float32 for g in K.conv1d_silu_backward_numba(x, w, b, np.ones_like(y)))


def test_fused_node_equals_composed_ops_and_passes_gradcheck():
    x, w, b = (Tensor(a, requires_grad=True) for a in make(2, 6, 3, 4, seed=5))
    fused = CausalConvSiLU.apply(x, w, b)
    composed = F.silu(F.conv1d(x, w, b))
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-12)
    grads = []
    for out in (fused, composed):
        for t in (x, w, b):
            t.grad = None
        (out * out).sum().backward()
        grads.append([t.grad.copy() for t in (x, w, b)])
    for a, c in zip(*grads):
        np.testing.assert_allclose(a, c, rtol=1e-11, atol=1e-12)
    assert gradcheck(lambda x, w, b: CausalConvSiLU.apply(x, w, b), x.data, w.data, b.data)


@settings(max_examples=10)
@given(shapes, st.integers(0, 100))
def test_causal(shape, s):
    """Changing inputs at times > s leaves outputs at times <= s unchanged."""
    x, w, b = make(*shape)
    s = s % x.shape[1]
    x2 = x.copy()
    x2[:, s + 1:] += 1.0
    y, y2 = K.conv1d_silu_forward_numba(x, w, b), K.conv1d_silu_forward_numba(x2, w, b)
    np.testing.assert_array_equal(y[:, :s + 1], y2[:, :s + 1])


def test_bad_inputs_name_the_argument():
    x, w, b = make(2, 5, 3, 4)
    with pytest.raises(ValueError, match="x must be"):
        K.conv1d_silu_forward_numba(x[0], w, b)
    with pytest.raises(ValueError, match="w must be"):
        K.conv1d_silu_forward_numpy(x, w.T, b)
    with pytest.raises(ValueError, match="b must have shape"):
        K.conv1d_silu_backward_numba(x, w, b[:2], x)
