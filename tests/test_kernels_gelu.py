"""GELU's Numba twin beyond tests/test_kernels.py: the float32 tanh form (computed in float32) stays within a few
float32 ulp of the float64 twin everywhere, the backward is the derivative of the forward, the parallel path
equals the serial one, and a mismatched dy is a clear error."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")
from tinyllm.kernels import gelu as G  # noqa: E402
from tinyllm.kernels._rows import PARALLEL_MIN_ELEMENTS  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)


def grid32():
    """A dense float32 grid over [-12, 12] (both tails and the bend) plus far tails, huge values and signed zeros."""
    far = [-30.0, -1e4, 1e4, -3e4, 3e4, 0.0, -0.0, np.finfo(np.float32).tiny]
    return np.concatenate([np.linspace(-12, 12, 48001), far]).astype(np.float32)


def test_float32_tanh_form_within_a_few_ulp_of_float64_twin():
    x = grid32()
    dy = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    for got, want in [(G.gelu_forward_numba(x), G.gelu_forward_numpy(x)),
                      (G.gelu_backward_numba(x, dy), G.gelu_backward_numpy(x, dy))]:
        assert got.dtype == np.float32 and want.dtype == np.float32
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))  # elementwise, not relative to the max
        bound = 4 * EPS32 * np.maximum(np.abs(want.astype(np.float64)), 1.0)
        assert np.all(err <= bound), (x[np.argmax(err / bound)], got[np.argmax(err / bound)])


@settings(max_examples=30)
@given(x=st.lists(st.floats(-8.0, 8.0), min_size=1, max_size=20), approximate=st.booleans())
def test_backward_is_derivative_of_forward(x, approximate):
    x = np.array(x)  # float64, so a central difference is accurate to ~1e-10
    h = 1e-5
    fd = (G.gelu_forward_numba(x + h, approximate) - G.gelu_forward_numba(x - h, approximate)) / (2 * h)
    np.testing.assert_allclose(G.gelu_backward_numba(x, np.ones_like(x), approximate), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_path_equals_serial(dtype):
    n = PARALLEL_MIN_ELEMENTS + 7  # big enough to take the parallel path when Numba has 2+ threads
    x = (np.random.default_rng(1).standard_normal(n) * 4).astype(dtype)
    dy = np.ones_like(x)
    half = n // 2  # elementwise kernel: two serial halves give the same bits as one parallel call
    y = G.gelu_forward_numba(x)
    dx = G.gelu_backward_numba(x, dy)
    np.testing.assert_array_equal(y, np.concatenate([G.gelu_forward_numba(x[:half]), G.gelu_forward_numba(x[half:])]))
    np.testing.assert_array_equal(dx, np.concatenate([G.gelu_backward_numba(x[:half], dy[:half]),
                                                      G.gelu_backward_numba(x[half:], dy[half:])]))


def test_mixed_dtypes_and_shapes_follow_x():
    x = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 3, 4)[:, ::2]  # non-contiguous (2, 2, 4)
    dy = np.ones(x.shape, np.float64)
    dx = G.gelu_backward_numba(x, dy)
    assert dx.shape == x.shape and dx.dtype == np.float32
    np.testing.assert_allclose(dx, G.gelu_backward_numpy(x, dy), rtol=4 * EPS32, atol=4 * EPS32)
    assert G.gelu_forward_numba(np.array(1.5, np.float32)).shape == ()


def test_mismatched_dy_is_an_error_naming_dy():
    with pytest.raises(ValueError, match="dy must have the shape of x"):
        G.gelu_backward_numba(np.zeros((3, 4), np.float32), np.zeros((4, 3), np.float32))
