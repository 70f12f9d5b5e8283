"""int8 KV cache: the per-vector error bound |x_hat - x| <= scale/2, exact codes range, the buffer's indexing
contract, decoding with the quantised cache close to full recomputation, beam reorder, and the memory saved."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.models.kv_quant import Int8Buffer, Int8KVCache, dequantize, quantize, with_int8_cache
from tinyllm.sampling.generate import generate


@given(st.integers(1, 4), st.integers(1, 40), st.floats(1e-6, 1e6), st.integers(0, 2**16))
def test_error_bound_half_a_step(rows, D, magnitude, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, D)) * magnitude
    x[0, 0] = 0.0 if D > 1 else x[0, 0]
    codes, scale = quantize(x)
    assert codes.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (rows, 1)
    assert np.all(np.abs(codes.astype(int)) <= 127)
    err = np.abs(dequantize(codes, scale, np.float64) - x)
    assert np.all(err <= scale.astype(np.float64) / 2 * (1 + 1e-12))
    np.testing.assert_allclose(scale[:, 0], np.abs(x).max(axis=1) / 127, rtol=1e-6)


def test_zero_vectors_and_extremes():
    codes, scale = quantize(np.array([[0.0, 0.0], [-3.0, 3.0]]))
    assert np.all(codes[0] == 0) and scale[0, 0] == 0
    assert list(codes[1]) == [-127, 127]


def test_buffer_indexing_contract():
    buf = Int8Buffer((2, 1, 3, 5, 4), np.float64)
    x = np.random.default_rng(0).normal(size=(1, 3, 2, 4))
    buf[1, :, :, 2:4] = x
    got = buf[1, :, :, :4]
    assert got.shape == (1, 3, 4, 4) and got.dtype == np.float64
    assert np.all(got[:, :, :2] == 0)
    assert np.all(np.abs(got[:, :, 2:4] - x) <= buf.scale[1, :, :, 2:4] / 2 * (1 + 1e-12))
    with pytest.raises(IndexError, match="last axis"):
        buf[0, 0, 0, 0, 1:]
    with pytest.raises(IndexError, match="Ellipsis"):
        buf[..., 0]


def _gpt():
    return GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=11), seed=3)


def test_incremental_decoding_close_to_full_recompute():
    model = _gpt()
    idx = np.random.default_rng(1).integers(0, 11, size=(2, 12))
    full = model(idx).data
    cache = with_int8_cache(model).new_cache(2)
    assert isinstance(cache, Int8KVCache)
    steps = [model(idx[:, :4], cache).data] + [model(idx[:, t:t + 1], cache).data for t in range(4, 12)]
    err = np.abs(np.concatenate(steps, axis=1) - full).max()
    assert err < 0.02 * np.abs(full).max() and err > 0       # close, and really quantised (not a float copy)


def test_generation_and_beam_reorder_work_with_the_int8_cache():
    model = _gpt()
    out = generate(with_int8_cache(model), [1, 2, 3], 20)            # past block_size: exercises the rebuild
    assert len(out) == 20 and all(0 <= t < 11 for t in out)
    cache = with_int8_cache(model).new_cache(3)
    model(np.array([[1, 2], [3, 4], [5, 6]]), cache)
    before = cache.k[0, :, :, :2]
    cache.reorder([2, 2, 0])
    np.testing.assert_array_equal(cache.k[0, :, :, :2], before[[2, 2, 0]])
    with pytest.raises(ValueError, match="row indices"):
        cache.reorder([0])


def test_memory_saving():
    c = GPTConfig(n_layer=2, n_head=4, n_embd=128, block_size=64)
    model = GPT(c, seed=0)
    full, q = model.new_cache(1), with_int8_cache(model).new_cache(1)
    full_bytes = full.k.nbytes + full.v.nbytes
    D = c.n_embd // c.n_head
    assert q.nbytes / full_bytes == pytest.approx((D + 4) / (4 * D))


def test_wrapper_rejects_models_without_cache():
    with pytest.raises(TypeError, match="new_cache"):
        with_int8_cache(object())
