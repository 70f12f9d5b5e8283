"""Numba matmul and fused attention equal their NumPy twins (masks, causal with Tq != Tk, fully masked rows,
non-contiguous and extreme inputs); the shared exp helper; the parallel paths; importing without compiling."""
import importlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_kernels import DTYPES, RTOL, close, make

pytest.importorskip("numba")
A = importlib.import_module("tinyllm.kernels.attention")
M = importlib.import_module("tinyllm.kernels.matmul")
rows = importlib.import_module("tinyllm.kernels._rows")


@settings(max_examples=20)
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), mkn=st.tuples(*[st.integers(0, 7)] * 3),
       dtype=DTYPES, seed=st.integers(0, 2**16), weight_2d=st.booleans(), transposed=st.booleans())
def test_matmul_twins_agree(lead, mkn, dtype, seed, weight_2d, transposed):
    m, k, n = mkn
    a = make(seed, lead + (m, k), dtype)
    b = make(seed + 1, (n, k) if weight_2d else lead + (n, k), dtype)
    b = np.swapaxes(b, -1, -2) if transposed else np.ascontiguousarray(np.swapaxes(b, -1, -2))  # (.., K, N)
    close(M.matmul_numba(a, b), M.matmul_numpy(a, b), scale=9.0 * max(k, 1), rtol=RTOL[np.dtype(dtype)] * 10)


def test_matmul_reference_loops_and_errors():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    np.testing.assert_allclose(M.matmul_naive_numba(a, b), a @ b, rtol=1e-12)
    np.testing.assert_allclose(M.matmul_loops_numba(a, b), a @ b, rtol=1e-12)
    with pytest.raises(ValueError, match="inner dims"):
        M.matmul_numba(np.ones((2, 3, 4)), np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match="needs"):
        M.matmul_naive_numba(a, a)


def _masks(draw_shape, lead, Tq, Tk, seed):
    if draw_shape is None:
        return None
    full = lead + (Tq, Tk)
    shape = tuple(1 if keep else d for d, keep in zip(full[-len(draw_shape):], draw_shape))
    mask = np.random.default_rng(seed).random(shape) < 0.7
    if mask.ndim >= 2 and mask.shape[-2] > 1:
        mask[..., 0, :] = False  # a fully masked query row
    return mask


@settings(max_examples=25)
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), Tq=st.integers(1, 9), Tk=st.integers(1, 9),
       D=st.integers(1, 5), Dv=st.integers(1, 4), dtype=DTYPES, seed=st.integers(0, 2**16),
       causal=st.booleans(), extreme=st.booleans(), contiguous=st.booleans(),
       mask_bcast=st.none() | st.lists(st.booleans(), min_size=1, max_size=4))
def test_attention_twins_agree(lead, Tq, Tk, D, Dv, dtype, seed, causal, extreme, contiguous, mask_bcast):
    q = make(seed, lead + (Tq, D), dtype, contiguous=contiguous) * (30 if extreme else 1)
    k = make(seed + 1, lead + (Tk, D), dtype, contiguous=contiguous) * (30 if extreme else 1)
    v = make(seed + 2, lead + (Tk, Dv), dtype, extreme, contiguous)
    mask = _masks(mask_bcast, lead, Tq, Tk, seed)
    out, lse = A.attention_forward_numpy(q, k, v, mask, causal)
    out2, lse2 = A.attention_forward_numba(q, k, v, mask, causal)
    # scores reach ~1e4 when extreme; BLAS may sum them in another order, so near-ties shift by ~1e-12 relative.
    # The kernel computes in the inputs' dtype and the twin in float64: in float32 each score is off by ~D ulps of
    # max|S|, and every probability (so every output and gradient) by that much relative to its scale.
    rtol = max(RTOL[np.dtype(dtype)], 1e-9 if extreme else 0.0)
    if dtype == np.float32:
        s_max = float(np.abs(np.matmul(q.astype(np.float64), np.swapaxes(k, -1, -2))).max(initial=0.0)) / np.sqrt(D)
        rtol = max(rtol, 4 * (D + 1) * float(np.finfo(np.float32).eps) * (1.0 + s_max))
    vmax = float(np.abs(v).max(initial=1.0))
    close(out2, out, scale=vmax, rtol=rtol)
    np.testing.assert_array_equal(np.isneginf(lse2), np.isneginf(lse))  # the same rows are fully masked
    close(np.where(np.isneginf(lse2), 0, lse2), np.where(np.isneginf(lse), 0, lse), scale=1.0, rtol=max(rtol, 1e-12))
    dout = make(seed + 3, out.shape, dtype, contiguous=contiguous)
    grads = A.attention_backward_numpy(q, k, v, out, lse, dout, mask, causal)
    grads2 = A.attention_backward_numba(q, k, v, out, lse, dout, mask, causal)
    scales = [float(np.abs(g).max(initial=1.0)) for g in grads]
    if dtype == np.float32:  # dS = P * (dP - delta) cancels, so its float32 error is relative to |dP|, not to |dS|
        big = [float(np.abs(a).max(initial=0.0)) for a in (q, k, dout, v)]
        dp_max = Dv * big[2] * big[3] / np.sqrt(D)
        scales = [max(scales[0], dp_max * Tk * big[1]), max(scales[1], dp_max * Tq * big[0]), scales[2]]
    for g2, g, sc in zip(grads2, grads, scales):
        close(g2, g, scale=sc, rtol=rtol * 10)


def test_attention_causal_alignment_and_errors():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    out, lse = A.attention_forward_numba(q, k, v, causal=True)
    # bottom-right alignment: the last query sees every key, the first one sees keys 0..Tk-Tq
    full, _ = A.attention_forward_numpy(q[:, -1:], k, v)
    np.testing.assert_allclose(out[:, -1:], full, rtol=1e-12)
    first, _ = A.attention_forward_numpy(q[:, :1], k[:, :3], v[:, :3])
    np.testing.assert_allclose(out[:, :1], first, rtol=1e-12)
    out, lse = A.attention_forward_numba(k, q, v[:, :3], causal=True)  # Tq > Tk: the first rows see nothing
    assert np.isneginf(lse[:, :2]).all() and (out[:, :2] == 0).all()
    with pytest.raises(ValueError, match="mask"):
        A.attention_forward_numba(q, k, v, mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="dout"):
        A.attention_backward_numba(q, k, v, out[:, :1], lse, out[:, :1])


def test_attention_unsupported_cases_fall_back_to_the_twin():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((1, 5, 4)), rng.standard_normal((1, 5, 2))
    out, lse = A.attention_forward_numba(q, k, v)  # broadcast k, v: the twin's semantics
    ref_out, ref_lse = A.attention_forward_numpy(q, k, v)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(lse, ref_lse)


def test_exp_nonpos_matches_numpy_exp():
    from numba import njit

    from tinyllm.kernels._exp import exp_nonpos

    @njit
    def apply(t, out):
        for i in range(t.size):
            out[i] = exp_nonpos(t[i])
        return out

    rng = np.random.default_rng(3)
    for dtype, lo, rtol in ((np.float32, -87.0, 2.5e-7), (np.float64, -708.0, 5e-16)):
        t = np.concatenate([-rng.exponential(20.0, 5000), rng.uniform(lo, 0, 5000), [0.0, -0.0, lo + 1e-3, lo]])
        t = t.astype(dtype)
        ok = t >= lo  # exp(lo) itself is a normal number: computed, not flushed (the scan's softplus needs it)
        out = apply(t, np.empty_like(t))
        np.testing.assert_allclose(out[ok], np.exp(t[ok].astype(np.float64)), rtol=rtol, atol=0)
        assert (out[~ok] <= np.exp(np.float64(lo))).all()  # below the normal range: flushed to 0
        special = apply(np.array([-np.inf, np.nan, -1e30], dtype=dtype), np.empty(3, dtype=dtype))
        assert special[0] == 0 and np.isnan(special[1]) and special[2] == 0


def test_parallel_paths_agree_with_the_twins(monkeypatch):
    """Force every kernel's multi-threaded variant (normally only for big inputs) and compare with the twins."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread here")
    monkeypatch.setattr(rows, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(importlib.import_module("tinyllm.kernels.gelu"), "_PARALLEL_MIN", 0)
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        S, C, L, G = (importlib.import_module(f"tinyllm.kernels.{n}")
                      for n in ("softmax", "cross_entropy", "layernorm", "gelu"))
        x, dy = make(0, (7, 5, 6), np.float32), make(1, (7, 5, 6), np.float32)
        for name in ("softmax", "log_softmax"):
            y = getattr(S, f"{name}_forward_numpy")(x)
            close(getattr(S, f"{name}_forward_numba")(x), y)
            close(getattr(S, f"{name}_backward_numba")(y, dy), getattr(S, f"{name}_backward_numpy")(y, dy), 3.0)
        t = np.arange(7) % 6
        lo, lse = C.cross_entropy_forward_numpy(x[:, 0], t)
        close(C.cross_entropy_forward_numba(x[:, 0], t)[0], lo, 10.0)
        want = C.cross_entropy_backward_numpy(x[:, 0], t, lse, 0.5)
        close(C.cross_entropy_backward_numba(x[:, 0], t, lse, 0.5), want)
        w = make(2, (6,), np.float32)
        for got, want in zip(L.layernorm_forward_numba(x, w, w), L.layernorm_forward_numpy(x, w, w)):
            close(got, want, 3.0)
        y, mean, rstd = L.layernorm_forward_numpy(x, w, w)
        grads = L.layernorm_backward_numpy(dy, x, w, mean, rstd)
        for got, want in zip(L.layernorm_backward_numba(dy, x, w, mean, rstd), grads):
            close(got, want, 30.0)
        close(G.gelu_forward_numba(x), G.gelu_forward_numpy(x), 3.0)
        close(G.gelu_backward_numba(x, dy), G.gelu_backward_numpy(x, dy), 3.0)
        q = make(3, (2, 3, 40, 8), np.float32)
        out, lse = A.attention_forward_numpy(q, q, q, causal=True)
        close(A.attention_forward_numba(q, q, q, causal=True)[0], out, 3.0)
        for got, want in zip(A.attention_backward_numba(q, q, q, out, lse, q, causal=True),
                             A.attention_backward_numpy(q, q, q, out, lse, q, causal=True)):
            close(got, want, 30.0)
        b = make(4, (2, 3, 8, 40), np.float32)
        close(M.matmul_numba(q, b), M.matmul_numpy(q, b), 100.0, rtol=1e-5)
    finally:
        numba.set_num_threads(old)


@settings(max_examples=25)
@given(mkn=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40)), dtype=DTYPES,
       seed=st.integers(0, 2**16), layout=st.sampled_from(["a @ b", "a @ w.T", "x.T @ g"]), threads=st.integers(2, 3))
def test_threaded_2d_matmul_equals_the_twin(mkn, dtype, seed, layout, threads):
    """The row-slab and summed-axis-slab products (normally only for big 2-D products on 2+ threads) equal
    np.matmul for every layout a Linear layer's forward and backward produce, any shape, 2 or 3 slabs."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2 or not M.HAVE_SCIPY:
        pytest.skip("Numba has one thread here, or no BLAS")
    threads = min(threads, numba.config.NUMBA_NUM_THREADS)
    m, k, n = mkn
    a, b = make(seed, (m, k), dtype), make(seed + 1, (k, n), dtype)
    if layout == "a @ w.T":  # da = g @ w.T: b is a transposed view
        b = np.ascontiguousarray(b.T).T
    elif layout == "x.T @ g":  # dw = x.T @ g: a is a transposed view, split along the summed axis
        a = np.ascontiguousarray(a.T).T
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(M, "_PARALLEL_MIN_MACS", 0)  # split even tiny products
            got = M.matmul_numba(a, b)
    finally:
        numba.set_num_threads(old)
    assert got.shape == (m, n) and got.dtype == a.dtype
    close(got, M.matmul_numpy(a, b), scale=9.0 * k, rtol=RTOL[np.dtype(dtype)] * 10)


def test_import_is_lazy_and_works_without_numba():
    """Importing tinyllm.kernels compiles nothing; with Numba missing the NumPy backend still imports and runs."""
    lazy = ("import tinyllm.kernels, importlib; m = importlib.import_module('tinyllm.kernels.softmax');"
            "assert not m._softmax_rows.signatures and not m._softmax_rows.overloads, 'compiled at import'")
    subprocess.run([sys.executable, "-c", lazy], check=True)
    no_numba = ("import sys; sys.modules['numba'] = None; import numpy as np; from tinyllm import kernels;"
                "assert kernels.backend == 'numpy', kernels.backend;"
                "print(kernels.softmax_forward(np.zeros((2, 3))).sum())")
    done = subprocess.run([sys.executable, "-c", no_numba], capture_output=True, text=True,
                          env={"TINYLLM_KERNELS": "numba", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout) - 2.0) < 1e-12
