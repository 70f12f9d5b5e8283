"""Every Numba kernel equals its NumPy twin: generated shapes (size-1, empty, non-contiguous), both float dtypes,
extreme values (+-1e4, -inf masks, fully masked rows). Tolerances are a few units in the last place of the
output dtype, scaled by the size of the values, so a real bug cannot hide inside them."""
import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

mods = {name: importlib.import_module(f"tinyllm.kernels.{name}")
        for name in ("softmax", "cross_entropy", "layernorm", "gelu", "matmul", "attention")}
pytest.importorskip("numba")

DTYPES = st.sampled_from([np.float32, np.float64])
# relative tolerance per output dtype: float32 kernels differ from their twins by a couple of ulp at most
RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def make(seed, shape, dtype, extreme=False, contiguous=True, neg_inf=0.0):
    """A random array of `shape`; extreme: values around +-1e4; neg_inf: that fraction of entries set to -inf,
    and (when there are several rows) one whole row; not contiguous: a strided view into a bigger array."""
    rng = np.random.default_rng(seed)
    big = shape[:-1] + (2 * shape[-1],) if shape else shape
    x = rng.standard_normal(big) * (1e4 if extreme else 3.0)
    if neg_inf and x.size:
        x[rng.random(big) < neg_inf] = -np.inf
        if x.ndim >= 2 and x.shape[0] > 1:
            x[0, ...] = -np.inf
    x = x.astype(dtype)
    return x[..., ::2] if not contiguous and shape else np.ascontiguousarray(x[..., :shape[-1]] if shape else x)


def close(actual, expected, scale=1.0, rtol=None):
    """assert_allclose with the output dtype's tolerance, relative to max(|expected|, scale)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual.shape, actual.dtype,
                                                                               expected.shape, expected.dtype)
    rtol = RTOL[expected.dtype] if rtol is None else rtol
    finite = np.abs(expected[np.isfinite(expected)])
    atol = rtol * max(scale, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


rows_shapes = st.lists(st.integers(0, 4), min_size=0, max_size=2).flatmap(
    lambda lead: st.integers(0, 9).map(lambda v: tuple(lead) + (v,)))


@settings(max_examples=25)
@given(shape=rows_shapes, dtype=DTYPES, seed=st.integers(0, 2**16), extreme=st.booleans(),
       contiguous=st.booleans(), neg_inf=st.sampled_from([0.0, 0.3]), name=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_twins_agree(shape, dtype, seed, extreme, contiguous, neg_inf, name):
    S = mods["softmax"]
    x = make(seed, shape, dtype, extreme, contiguous, neg_inf)
    y = getattr(S, f"{name}_forward_numpy")(x)
    close(getattr(S, f"{name}_forward_numba")(x), y, scale=1.0)
    if name == "softmax":
        assert not np.isnan(y).any()  # all -inf rows give 0, not NaN
    dy = make(seed + 1, shape, dtype, contiguous=contiguous)
    y_in = np.where(np.isfinite(y), y, -np.inf).astype(dtype)
    close(getattr(S, f"{name}_backward_numba")(y_in, dy), getattr(S, f"{name}_backward_numpy")(y_in, dy), scale=3.0)


def test_softmax_nan_and_inf_rows_match_the_twin():
    S = mods["softmax"]
    x = np.array([[0.0, np.nan, 1.0], [np.inf, 0.0, 1.0], [-np.inf] * 3, [1.0, 2.0, 3.0]])
    for name in ("softmax", "log_softmax"):
        a, b = getattr(S, f"{name}_forward_numpy")(x), getattr(S, f"{name}_forward_numba")(x)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(b, a, rtol=1e-12)
    assert np.isneginf(S.log_softmax_forward_numba(x)[2]).all()


@settings(max_examples=25)
@given(n=st.integers(0, 6), v=st.integers(1, 9), dtype=DTYPES, seed=st.integers(0, 2**16),
       extreme=st.booleans(), contiguous=st.booleans(), neg_inf=st.sampled_from([0.0, 0.3]),
       eps=st.sampled_from([0.0, 0.1]), scale=st.floats(0.01, 2.0))
def test_cross_entropy_twins_agree(n, v, dtype, seed, extreme, contiguous, neg_inf, eps, scale):
    C = mods["cross_entropy"]
    x = make(seed, (n, v), dtype, extreme, contiguous, neg_inf)
    t = np.random.default_rng(seed).integers(-1, v, size=n)  # -1 = ignored row
    losses, lse = C.cross_entropy_forward_numpy(x, t, -1, eps)
    losses2, lse2 = C.cross_entropy_forward_numba(x, t, -1, eps)
    mag = float(np.abs(x[np.isfinite(x)]).max(initial=1.0))
    close(lse2, lse, scale=mag)
    close(losses2, losses, scale=mag)
    assert (losses[t == -1] == 0).all() and (losses2[t == -1] == 0).all()
    dx = C.cross_entropy_backward_numpy(x, t, lse, scale, -1, eps)
    close(C.cross_entropy_backward_numba(x, t, lse, scale, -1, eps), dx, scale=scale)


def test_cross_entropy_is_stable_at_1e4_and_masked_classes():
    C = mods["cross_entropy"]
    x = np.array([[1e4, -1e4, 0.0], [0.0, -np.inf, 1.0]], dtype=np.float32)
    t = np.array([0, 2])
    for twin in ("numpy", "numba"):
        losses, _ = getattr(C, f"cross_entropy_forward_{twin}")(x, t)
        assert np.isfinite(losses).all() and losses[0] == 0.0  # eps = 0: a -inf class costs nothing
        np.testing.assert_allclose(losses[1], np.log1p(np.exp(-1.0)), rtol=1e-12)


@pytest.mark.parametrize("twin", ["numpy", "numba"])
def test_cross_entropy_bad_input_errors(twin):
    fwd = getattr(mods["cross_entropy"], f"cross_entropy_forward_{twin}")
    x = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="targets must be in"):
        fwd(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="targets must be in"):
        fwd(x, np.array([0, -2, 1]))  # negative targets must not wrap around to the last classes
    with pytest.raises(ValueError, match=r"targets must be \(N,\)"):
        fwd(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="logits must be"):
        fwd(x[0], np.array([0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        fwd(x, np.array([0, 1, 2]), -1, 1.5)


@settings(max_examples=25)
@given(shape=rows_shapes.filter(lambda s: s[-1] > 0), dtype=DTYPES, seed=st.integers(0, 2**16),
       extreme=st.booleans(), contiguous=st.booleans(), affine=st.booleans())
def test_layernorm_twins_agree(shape, dtype, seed, extreme, contiguous, affine):
    L = mods["layernorm"]
    x = make(seed, shape, dtype, extreme, contiguous)
    if extreme and x.ndim >= 2 and x.shape[0]:
        x[0] = 7.0  # a constant row: var = 0, rstd = 1 / sqrt(eps)
    C = shape[-1]
    w, b = (make(seed + i, (C,), dtype) if affine else None for i in (1, 2))
    y, mean, rstd = L.layernorm_forward_numpy(x, w, b)
    y2, mean2, rstd2 = L.layernorm_forward_numba(x, w, b)
    close(y2, y, scale=3.0)
    close(mean2, mean, scale=float(np.abs(x).max(initial=1.0)))
    close(rstd2, rstd)
    dy = make(seed + 3, shape, dtype, contiguous=contiguous)
    dx, dw, db = L.layernorm_backward_numpy(dy, x, w, mean, rstd)
    dx2, dw2, db2 = L.layernorm_backward_numba(dy, x, w, mean, rstd)
    n_rows = max(1, x.size // C)
    close(dx2, dx, scale=float(np.abs(dx).max(initial=1.0)))
    close(db2, db, scale=3.0 * n_rows)
    assert (dw is None) == (dw2 is None)
    if dw is not None:
        close(dw2, dw, scale=3.0 * n_rows)


@pytest.mark.parametrize("twin", ["numpy", "numba"])
def test_layernorm_bad_input_errors(twin):
    fwd = getattr(mods["layernorm"], f"layernorm_forward_{twin}")
    with pytest.raises(ValueError, match="last axis"):
        fwd(np.zeros((3, 0)), None, None)
    if twin == "numba":  # the NumPy twin leaves shape checks of w to broadcasting
        with pytest.raises(ValueError, match="w must have shape"):
            fwd(np.zeros((3, 4)), np.ones(5), None)


@settings(max_examples=20)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple), dtype=DTYPES,
       seed=st.integers(0, 2**16), extreme=st.booleans(), approximate=st.booleans())
def test_gelu_twins_agree(shape, dtype, seed, extreme, approximate):
    G = mods["gelu"]
    x = make(seed, shape, dtype, extreme)
    if x.size:
        x.flat[0] = -30.0  # deep in the tail, where 1 + tanh(u) cancels in the twin (absolute error ~1e-15)
    dy = make(seed + 1, shape, dtype)
    close(G.gelu_forward_numba(x, approximate), G.gelu_forward_numpy(x, approximate), scale=1.0)
    close(G.gelu_backward_numba(x, dy, approximate), G.gelu_backward_numpy(x, dy, approximate), scale=3.0)
