"""Parameter and FLOP counts: the hand formulas equal the real model's parameters and the matmuls it runs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyllm.kernels as kernels
from tinyllm.models import build_model
from tinyllm.scaling.flops import gpt_flops_per_token, gpt_params, matmul_params, training_flops

shapes = st.tuples(st.integers(1, 3), st.sampled_from([(1, 8), (2, 8), (2, 16), (4, 32)]),
                   st.integers(2, 40), st.integers(1, 24), st.booleans(), st.booleans())


@settings(max_examples=15)
@given(shapes)
def test_param_count_equals_model(shape):
    L, (H, C), V, T, bias, tie = shape
    model = build_model("gpt", {"n_layer": L, "n_head": H, "n_embd": C, "vocab_size": V, "block_size": T,
                                "bias": bias, "tie_embeddings": tie})
    count = gpt_params(L, C, V, T, bias=bias, tie_embeddings=tie)
    assert count.total == model.num_parameters()
    assert count.embedding + count.non_embedding == count.total
    # the matmul weights are the non-embedding ones minus the O(C) norms and biases
    norms_and_biases = (13 * L + 2) * C if bias else (2 * L + 1) * C
    assert count.non_embedding - matmul_params(L, C) == norms_and_biases


def test_baby_gpt_is_804096_parameters():
    assert gpt_params(4, 128, 65, 64).total == 804_096  # the number GPTConfig's docstring states


def _count_matmul_flops(monkeypatch):
    """Patch kernels.matmul (what every autograd matmul calls) to add up 2·M·K·N per call."""
    total = {"flops": 0}
    real = kernels.matmul

    def counting(a, b):
        out = real(a, b)
        K = a.shape[-1]
        total["flops"] += 2 * K * int(np.prod(out.shape))  # each output element is K multiply-adds
        return out
    monkeypatch.setattr(kernels, "matmul", counting)
    return total


@pytest.mark.parametrize("L,H,C,V,T,B", [(1, 2, 16, 11, 8, 2), (2, 4, 32, 29, 16, 3)])
def test_flops_equal_the_matmuls_the_engine_runs(monkeypatch, L, H, C, V, T, B):
    model = build_model("gpt", {"n_layer": L, "n_head": H, "n_embd": C, "vocab_size": V, "block_size": T,
                                "attn_impl": "naive", "dtype": "float64"})
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (B, T))
    y = rng.integers(0, V, (B, T))
    total = _count_matmul_flops(monkeypatch)
    loss = model.loss((x, y))
    forward = total["flops"]
    loss.backward()
    want = gpt_flops_per_token(L, C, V, T)
    assert forward == want.forward * B * T
    assert total["flops"] == want.train * B * T  # backward is exactly 2x the forward's matmuls


def test_six_n_is_the_large_model_limit():
    big = gpt_flops_per_token(96, 12288, 50257, 2048)  # GPT-3 175B: attention and logits small next to 12·C
    assert abs(big.train / big.six_n - 1) < 0.05
    small = gpt_flops_per_token(2, 64, 65, 64)        # ...and not small at all in a laptop model
    assert small.train / small.six_n > 1.2


def test_training_flops_and_bad_input():
    assert training_flops(2, 32, 10, 8, 1000) == gpt_flops_per_token(2, 32, 10, 8).train * 1000
    with pytest.raises(ValueError, match="n_embd"):
        gpt_params(1, 0, 10, 8)
    with pytest.raises(ValueError, match="tokens"):
        training_flops(1, 8, 10, 8, -5)
