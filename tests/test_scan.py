"""The selective scan: Numba kernel == sequential NumPy reference == a closed form, gradients by finite differences,
chunked checkpoints, continuation from a state, and clear errors."""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import tinyllm.functional as F
from tinyllm import kernels
from tinyllm.autograd.scan import selective_scan
from tinyllm.gradcheck import gradcheck
from tinyllm.kernels import scan as S


def make(Bt, L, D, N, seed=0, dtype=np.float64):
    """Inputs in Mamba's regime: delta = softplus(.) > 0, A = -exp(.) < 0."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(Bt, L, D))
    delta = np.log1p(np.exp(rng.normal(size=(Bt, L, D))))
    A = -np.exp(rng.normal(size=(D, N)))
    B, C = rng.normal(size=(Bt, L, N)), rng.normal(size=(Bt, L, N))
    return [a.astype(dtype) for a in (u, delta, A, B, C)]


def closed_form(u, delta, A, B, C):
    """y_t[d] = sum_{s<=t} sum_n C_t[n] (prod_{r=s+1..t} exp(delta_r[d] A[d,n])) delta_s[d] B_s[n] u_s[d]."""
    Bt, L, D = u.shape
    y = np.zeros((Bt, L, D))
    for t in range(L):
        for s in range(t + 1):
            decay = np.exp(delta[:, s + 1:t + 1, :, None].sum(axis=1) * A)          # (Bt, D, N)
            y[:, t] += np.einsum("bn,bdn,bn->bd", C[:, t], decay, B[:, s]) * (delta[:, s] * u[:, s])
    return y


shapes = st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 5), st.integers(1, 4), st.integers(1, 6))


@given(shapes)
@example((1, 1, 1, 1, 1))
@example((2, 12, 3, 4, 5))          # L not a multiple of chunk
def test_reference_equals_closed_form(shape):
    Bt, L, D, N, chunk = shape
    args = make(Bt, L, D, N)
    y, _, _ = S.selective_scan_forward_numpy(*args, chunk=chunk)
    np.testing.assert_allclose(y, closed_form(*args), rtol=1e-10, atol=1e-12)


@given(shapes, st.integers(0, 2 ** 16), st.booleans(), st.booleans(), st.booleans())
@example((1, 1, 1, 1, 1), 0, False, False, False)
@example((3, 12, 5, 4, 12), 1, True, True, True)      # one chunk exactly, everything fused
def test_numba_equals_numpy_forward_and_backward(shape, seed, softplus, with_D, with_z):
    Bt, L, D, N, chunk = shape
    args = make(Bt, L, D, N, seed)
    rng = np.random.default_rng(seed + 2)
    if softplus:                           # delta is then the raw input: any sign
        args[1] = rng.normal(size=args[1].shape) * 3
    Dskip = rng.normal(size=D) if with_D else None
    z = rng.normal(size=(Bt, L, D)) * 3 if with_z else None
    opts = dict(chunk=chunk, delta_softplus=softplus)
    ref = S.selective_scan_forward_numpy(*args, Dskip, z, **opts)
    fast = S.selective_scan_forward_numba(*args, Dskip, z, **opts)
    for a, b in zip(ref, fast):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    dy = np.random.default_rng(seed + 1).normal(size=ref[0].shape)
    g_ref = S.selective_scan_backward_numpy(*args, Dskip, z, ref[1], dy, **opts)
    g_fast = S.selective_scan_backward_numba(*args, Dskip, z, fast[1], dy, **opts)
    for name, a, b in zip(("du", "ddelta", "dA", "dB", "dC", "dD", "dz"), g_ref, g_fast):
        if a is None:                      # dD, dz only when D, z were given
            assert b is None and not {"dD": with_D, "dz": with_z}[name], name
            continue
        assert b.shape == a.shape, name
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10, err_msg=name)


@given(st.floats(-800, 800) | st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0, 1e300, -1e300]))
@example(-708.0)                          # exp(-708) = 3.3e-308: the flush threshold itself
@example(-730.0)                          # e subnormal
def test_fused_softplus_and_log1p_match_numpy(x):
    """The vectorisable softplus inside the kernel equals NumPy's logaddexp (float64 to 1e-15 relative; like the
    kernels' exp, it flushes results below about exp(-708), the smallest normal float, to 0)."""
    np.testing.assert_allclose(S._softplus(np.float64(x)), np.logaddexp(0.0, x), rtol=2e-15, atol=4e-308)
    e = np.exp(-abs(min(x, 700.0)))
    np.testing.assert_allclose(S._log1p_01(np.float64(e)), np.log1p(e), rtol=2e-15, atol=4e-308)


def test_float32_kernel_stays_float32_and_close():
    args = make(2, 40, 8, 4, dtype=np.float32)
    y32, ck, h = S.selective_scan_forward_numba(*args)
    assert y32.dtype == ck.dtype == h.dtype == np.float32
    y64, _, _ = S.selective_scan_forward_numpy(*[a.astype(np.float64) for a in args])
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    grads = S.selective_scan_backward_numba(*args, None, None, ck, np.ones_like(y32))
    assert all(g.dtype == np.float32 for g in grads if g is not None)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_continuing_from_h0_equals_one_long_scan(backend):
    fwd = kernels.get("selective_scan_forward", backend)
    u, delta, A, B, C = make(2, 13, 3, 4)
    y, _, h = fwd(u, delta, A, B, C, chunk=4)
    y1, _, h1 = fwd(u[:, :5], delta[:, :5], A, B[:, :5], C[:, :5], chunk=4)
    y2, _, h2 = fwd(u[:, 5:], delta[:, 5:], A, B[:, 5:], C[:, 5:], h0=h1, chunk=4)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h2, h, rtol=1e-12, atol=1e-12)


def test_memory_keeps_one_state_per_chunk_not_per_step():
    _, ckpt, _ = S.selective_scan_forward_numba(*make(1, 100, 4, 3), chunk=16)
    assert ckpt.shape == (1, 7, 3, 4)           # ceil(100 / 16) states of (N, D), not 100


@settings(max_examples=10)
@given(shapes, st.integers(0, 2 ** 16))
def test_gradcheck_through_mamba_parameterisation(shape, seed):
    Bt, L, D, N, chunk = shape
    rng = np.random.default_rng(seed)
    u, dt, A_log = rng.normal(size=(Bt, L, D)), rng.normal(size=(Bt, L, D)), rng.normal(size=(D, N))
    B, C, Dskip = rng.normal(size=(Bt, L, N)), rng.normal(size=(Bt, L, N)), rng.normal(size=D)
    assert gradcheck(lambda u, dt, A_log, B, C, Dskip: selective_scan(
        u, F.softplus(dt), -A_log.exp(), B, C, Dskip, chunk=chunk), u, dt, A_log, B, C, Dskip)
    assert gradcheck(lambda u, dt, A_log, B, C: selective_scan(      # softplus fused into the op
        u, dt, -A_log.exp(), B, C, chunk=chunk, delta_softplus=True), u, dt, A_log, B, C)
    z = rng.normal(size=(Bt, L, D))
    assert gradcheck(lambda u, dt, A_log, B, C, Dskip, z: selective_scan(  # skip and gate fused too
        u, dt, -A_log.exp(), B, C, D=Dskip, z=z, chunk=chunk, delta_softplus=True), u, dt, A_log, B, C, Dskip, z)


def test_fused_skip_and_gate_equal_the_composed_ops():
    """(scan + D u) * silu(z) as one node equals the same built from separate Tensor ops, values and gradients."""
    from tinyllm.autograd.tensor import Tensor
    rng = np.random.default_rng(3)
    u, dt, A, B, C = (Tensor(a, requires_grad=True) for a in make(2, 9, 4, 3, seed=3))
    Dskip, z = Tensor(rng.normal(size=4), requires_grad=True), Tensor(rng.normal(size=(2, 9, 4)), requires_grad=True)
    fused = selective_scan(u, dt, A, B, C, D=Dskip, z=z, chunk=4, delta_softplus=True)
    composed = (selective_scan(u, F.softplus(dt), A, B, C, chunk=4) + u * Dskip) * F.silu(z)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-12)
    w = rng.normal(size=fused.shape)
    grads = []
    for out in (fused, composed):
        for t in (u, dt, A, B, C, Dskip, z):
            t.grad = None
        (out * w).sum().backward()
        grads.append([t.grad.copy() for t in (u, dt, A, B, C, Dskip, z)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_numba_falls_back_outside_the_stable_regime():
    u, delta, A, B, C = make(2, 6, 3, 2)
    A[0, 0] = 0.3                                # Ā > 1: the polynomial exp does not apply
    ref = S.selective_scan_forward_numpy(u, delta, A, B, C)
    np.testing.assert_allclose(S.selective_scan_forward_numba(u, delta, A, B, C)[0], ref[0], rtol=1e-12)


def test_bad_inputs_name_the_argument():
    u, delta, A, B, C = make(2, 5, 3, 4)
    with pytest.raises(ValueError, match="delta must have u's shape"):
        S.selective_scan_forward_numba(u, delta[:, :4], A, B, C)
    with pytest.raises(ValueError, match="A must be"):
        S.selective_scan_forward_numpy(u, delta, A.T, B, C)
    with pytest.raises(ValueError, match="C must be"):
        S.selective_scan_forward_numba(u, delta, A, B, C[:, :, :2])
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        S.selective_scan_forward_numba(u, delta, A, B, C, chunk=0)
    with pytest.raises(ValueError, match="u must be"):
        S.selective_scan_forward_numpy(u[0], delta, A, B, C)
    with pytest.raises(TypeError, match="share one float dtype"):
        selective_scan(u.astype(np.float32), delta, A, B, C)
    with pytest.raises(ValueError, match="D must be float64 of shape"):
        selective_scan(u, delta, A, B, C, np.ones(7))
    with pytest.raises(ValueError, match="z must be float64 of shape"):
        selective_scan(u, delta, A, B, C, z=np.ones((2, 5, 2)))
    with pytest.raises(ValueError, match="z must have u's shape"):
        S.selective_scan_forward_numba(u, delta, A, B, C, z=np.ones((2, 5, 2)))
