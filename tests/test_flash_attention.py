"""Flash-style tiled attention: both twins equal the reference (kernels/attention.py's NumPy path) forward and
backward over random shapes, tiles that do not divide T, Tq != Tk, causal and boolean masks; gradcheck through
the autograd node; the tiled path's extra memory grows like T while the reference's grows like T^2."""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyllm.functional as F
from tinyllm.autograd.flash import flash_attention
from tinyllm.autograd.tensor import Tensor
from tinyllm.gradcheck import gradcheck
from tinyllm.kernels import attention as ref
from tinyllm.kernels import flash_attention as fa

TWINS = ["numpy", "numba"]


def _inputs(seed, lead, Tq, Tk, D, Dv, dtype):
    rng = np.random.default_rng(seed)
    q, k = (rng.normal(size=lead + (T, D)).astype(dtype) for T in (Tq, Tk))
    v = rng.normal(size=lead + (Tk, Dv)).astype(dtype)
    return rng, q, k, v


@given(st.sampled_from(TWINS), st.integers(1, 2), st.integers(1, 13), st.integers(1, 13), st.integers(1, 5),
       st.integers(1, 6), st.integers(1, 6), st.sampled_from(["none", "causal", "mask", "both"]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**16))
def test_flash_equals_reference_forward_and_backward(twin, B, Tq, Tk, D, bq, bk, masking, dtype, seed):
    rng, q, k, v = _inputs(seed, (B, 2), Tq, Tk, D, 3, dtype)
    causal = masking in ("causal", "both")
    mask = rng.random((B, 1, Tq, Tk)) < 0.7 if masking in ("mask", "both") else None
    out, lse = ref.attention_forward_numpy(q, k, v, mask, causal)
    dout = rng.normal(size=out.shape).astype(dtype)
    grads = ref.attention_backward_numpy(q, k, v, out, lse, dout, mask, causal)
    fwd = getattr(fa, f"flash_attention_forward_{twin}")
    bwd = getattr(fa, f"flash_attention_backward_{twin}")
    f_out, f_lse = fwd(q, k, v, mask, causal, None, bq, bk)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert f_out.dtype == dtype and f_out.shape == out.shape
    np.testing.assert_allclose(f_out, out, rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.isneginf(f_lse), np.isneginf(lse))     # the same rows see nothing
    seen = ~np.isneginf(lse)
    np.testing.assert_allclose(f_lse[seen], lse[seen], rtol=1e-12, atol=1e-12)
    for g, r in zip(bwd(q, k, v, out, lse, dout, mask, causal, None, bq, bk), grads):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


def test_fully_masked_rows_give_zero_and_no_nan():
    _, q, k, v = _inputs(0, (1,), 6, 3, 4, 2, np.float64)
    for twin in TWINS:   # causal with Tq > Tk: the first three queries see no key at all
        out, lse = getattr(fa, f"flash_attention_forward_{twin}")(q, k, v, None, True, None, 2, 2)
        assert np.all(out[:, :3] == 0) and np.all(np.isneginf(lse[:, :3])) and np.all(np.isfinite(out))


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_through_autograd_node(causal):
    _, q, k, v = _inputs(1, (2,), 5, 7, 3, 2, np.float64)
    mask = np.random.default_rng(2).random((5, 7)) < 0.8
    assert gradcheck(lambda a, b, c: flash_attention(a, b, c, mask=mask, causal=causal, block_q=2, block_k=3),
                     q, k, v)


def test_autograd_node_equals_fused_sdpa_with_broadcast_kv():
    _, q, k, v = _inputs(3, (2, 3), 9, 9, 4, 4, np.float64)
    k, v = k[:1, :1], v[:1, :1]                    # k, v shared across batch and heads: grads sum back
    results = []
    for fn in (lambda a, b, c: flash_attention(a, b, c, causal=True, block_q=4, block_k=2),
               lambda a, b, c: F.scaled_dot_product_attention(a, b, c, causal=True)):
        ts = [Tensor(x, requires_grad=True) for x in (q, k, v)]
        y = fn(*ts)
        (y * y).sum().backward()
        results.append([y.data] + [t.grad for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _peak_bytes(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_extra_memory_linear_for_tiled_quadratic_for_reference():
    """The NumPy twins' allocations are traced exactly: doubling T doubles the tiled path's peak (O(T)) and
    quadruples the reference's (O(T^2)), whose peak also exceeds one T x T float64 matrix."""
    peaks = {}
    for T in (256, 512):
        _, q, k, v = _inputs(0, (1,), T, T, 8, 8, np.float32)
        peaks[T] = (_peak_bytes(lambda: fa.flash_attention_forward_numpy(q, k, v, causal=True)),
                    _peak_bytes(lambda: ref.attention_forward_numpy(q, k, v, causal=True)))
    assert peaks[512][1] > 512 * 512 * 8 and peaks[512][1] / peaks[256][1] > 3.5
    assert peaks[512][0] / peaks[256][0] < 2.5 and peaks[512][0] < peaks[512][1] / 10


def test_bad_arguments_are_named():
    _, q, k, v = _inputs(0, (1,), 4, 4, 2, 2, np.float64)
    with pytest.raises(ValueError, match="block_k"):
        flash_attention(q, k, v, block_k=0)
    with pytest.raises(ValueError, match="block_q"):
        fa.flash_attention_forward_numba(q, k, v, block_q=2.5)
    with pytest.raises(ValueError, match="need q"):
        flash_attention(q, k[..., :1], v)
    with pytest.raises(TypeError, match="mask"):
        flash_attention(q, k, v, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="mask of shape"):
        fa.flash_attention_forward_numba(q, k, v, mask=np.ones((3, 4), dtype=bool))


def test_empty_and_non_contiguous_inputs():
    _, q, k, v = _inputs(4, (2,), 6, 5, 3, 3, np.float32)
    qt = np.ascontiguousarray(np.swapaxes(q, -1, -2)).swapaxes(-1, -2)    # same values, non-contiguous view
    want = ref.attention_forward_numpy(q, k, v, None, True)[0]
    np.testing.assert_allclose(fa.flash_attention_forward_numba(qt, k, v, None, True, None, 4, 2)[0], want,
                               rtol=1e-6, atol=1e-6)
    for twin in TWINS:   # no keys at all: every row sees nothing
        out, lse = getattr(fa, f"flash_attention_forward_{twin}")(q, k[:, :0], v[:, :0])
        assert out.shape == (2, 6, 3) and np.all(out == 0) and np.all(np.isneginf(lse))


def test_parallel_path_agrees_with_the_twin(monkeypatch):
    """Force the multi-threaded variant (normally only for big inputs) and compare with the NumPy twin."""
    import numba

    from tinyllm.kernels import _rows
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread here")
    monkeypatch.setattr(_rows, "PARALLEL_MIN_ELEMENTS", 0)
    old = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        rng, q, k, v = _inputs(5, (3,), 9, 11, 4, 2, np.float64)
        out, lse = fa.flash_attention_forward_numpy(q, k, v, None, True, None, 4, 3)
        got = fa.flash_attention_forward_numba(q, k, v, None, True, None, 4, 3)
        np.testing.assert_allclose(got[0], out, rtol=1e-12, atol=1e-12)
        dout = rng.normal(size=out.shape)
        for g, r in zip(fa.flash_attention_backward_numba(q, k, v, out, lse, dout, None, True, None, 4, 3),
                        fa.flash_attention_backward_numpy(q, k, v, out, lse, dout, None, True, None, 4, 3)):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    finally:
        numba.set_num_threads(old)


def test_gpt_with_flash_attention_equals_fused():
    """GPTConfig(attn_impl="tiled"): same logits and parameter gradients as the default fused kernel."""
    from tinyllm.models.gpt import GPT, GPTConfig
    idx = np.random.default_rng(6).integers(0, 13, size=(2, 9))
    runs = []
    for impl in ("fused", "tiled"):
        model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=16, vocab_size=13, attn_impl=impl,
                              dtype="float64"), seed=1)
        logits = model(idx)
        (logits * logits).sum().backward()
        runs.append([logits.data] + [p.grad for _, p in sorted(model.named_parameters())])
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_attention_costs_script_runs(tmp_path):
    """scripts/attention_costs.py end to end at tiny lengths (its numbers are not checked, only that it reports)."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "scripts" / "attention_costs.py"
    done = subprocess.run([sys.executable, str(script), "--lengths=16,32", "--repeats=1", "--skip-4096",
                           "--budget-mib=0.01"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "32   naive    skipped" in done.stdout and "flash (Numba tiles)" in done.stdout
    assert "KV cache int8" in done.stdout and "greedy decoding of 200 tokens" in done.stdout
