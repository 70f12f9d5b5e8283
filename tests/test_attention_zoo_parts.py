"""The zoo's parts one by one: position codes (permutation equivariance without any, RoPE's relative property,
ALiBi), score functions (the 1/sqrt(D) variance argument, gradients), linear attention's three forms, local
attention's two forms, the encoder's padding mask, BERT masking."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyllm.functional as F
from tinyllm import no_grad
from tinyllm.autograd.tensor import Tensor
from tinyllm.gradcheck import gradcheck
from tinyllm.models.encoder import BertConfig, MaskedLM
from tinyllm.models.linear_attention import (
    LinearState, feature_map, linear_attention, linear_attention_quadratic, linear_attention_step)
from tinyllm.models.local_attention import local_attention_banded, local_attention_masked, window_mask
from tinyllm.models.positions import POSITIONS, RoPE, alibi_slopes, ALiBi, sinusoid_table
from tinyllm.models.scores import SCORES, build_score

SMALL = dict(n_layer=2, n_head=2, n_embd=8, block_size=12, vocab_size=7, dtype="float64")


def rand(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


# ---- position codes ----------------------------------------------------------------------------------------------
@given(st.sampled_from(SCORES), st.sampled_from(["softmax", "linear", "local"]), st.integers(0, 2**16))
def test_without_positions_bidirectional_self_attention_is_permutation_equivariant(score, kind, seed):
    """Encoder(x[perm]) == Encoder(x)[perm] for every permutation when pos='none' (location scores excepted:
    they are a position code of their own)."""
    if score == "location" or (kind == "linear" and score != "scaled_dot"):
        score = "scaled_dot"
    model = MaskedLM(BertConfig(**SMALL, pos="none", score=score, attention=kind, window=12), seed=seed % 3)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 7, size=(2, 9))
    perm = rng.permutation(9)
    with no_grad():
        a, b = model(idx).data, model(idx[:, perm]).data
    np.testing.assert_allclose(b, a[:, perm], rtol=1e-10, atol=1e-12)


def test_with_a_position_code_order_matters():
    perm = np.array([1, 0, 2, 3, 4, 5])                   # not a reversal: bidirectional ALiBi is symmetric
    for pos in [p for p in POSITIONS if p != "none"]:
        model = MaskedLM(BertConfig(**SMALL, pos=pos), seed=0)
        idx = np.array([[1, 2, 3, 4, 5, 6]])
        with no_grad():
            a, b = model(idx).data, model(idx[:, perm]).data
        assert not np.allclose(b, a[:, perm]), pos


@given(st.integers(0, 40), st.integers(0, 40), st.integers(-20, 20), st.integers(0, 2**16))
def test_rope_scores_depend_only_on_the_offset(t, s, shift, seed):
    """<R_t q, R_s k> == <R_(t+c) q, R_(s+c) k> for any shift c: only s - t matters."""
    rope = RoPE(head_dim=8, max_len=100, dtype=np.float64)
    q, k = rand(seed, 1, 8), rand(seed + 1, 1, 8)
    c = max(shift, -min(t, s))

    def score(tq, tk):
        return (rope.rotate(q, tq) @ rope.rotate(k, tk).T).item()
    assert score(t, s) == pytest.approx(score(t + c, s + c), rel=1e-9, abs=1e-12)


def test_rope_is_a_rotation_and_identity_at_position_zero():
    rope = RoPE(head_dim=6, max_len=20, dtype=np.float64)
    x = rand(0, 20, 6)
    rotated = rope.rotate(x[None], 0)[0]                 # row t rotated by position t
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(x, axis=-1))
    np.testing.assert_allclose(rotated[0], x[0])
    with pytest.raises(ValueError, match="even head dimension"):
        RoPE(head_dim=5, max_len=4, dtype=np.float64)
    assert gradcheck(lambda xt: rope.rotate(xt, 3), rand(1, 2, 5, 6))


def test_alibi_bias_is_linear_in_distance_with_geometric_slopes():
    np.testing.assert_allclose(alibi_slopes(4), [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8])
    bias = ALiBi(4, np.float64).bias(3, 5)               # queries at positions 2, 3, 4 of 5 keys
    np.testing.assert_allclose(bias[0, 2], -0.25 * np.array([4, 3, 2, 1, 0]))
    assert ALiBi(2, np.float64).bias(4, 4, causal=False)[0, 0, 3] == -0.0625 * 3   # H=2: slopes 2^-4, 2^-8


def test_sinusoid_table_matches_the_formula():
    pe = sinusoid_table(50, 6)
    t, i = 17, 1
    assert pe[t, 2 * i] == pytest.approx(np.sin(t / 10000 ** (2 * i / 6)))
    assert pe[t, 2 * i + 1] == pytest.approx(np.cos(t / 10000 ** (2 * i / 6)))


# ---- score functions ---------------------------------------------------------------------------------------------
def test_variance_argument_for_one_over_sqrt_d():
    """With unit-variance q and k, var(q . k) ~ D; scaled by 1/sqrt(D) it stays ~1 for every D, and the softmax
    of unscaled scores saturates (its largest weight approaches 1) as D grows."""
    rng = np.random.default_rng(0)
    peak = {}
    for D in (4, 64, 512):
        q, k = rng.normal(size=(2000, D)), rng.normal(size=(2000, D))
        dots = np.sum(q * k, axis=1)
        assert dots.var() == pytest.approx(D, rel=0.15)
        assert (dots / np.sqrt(D)).var() == pytest.approx(1.0, rel=0.15)
        s = rng.normal(size=(200, D)) @ rng.normal(size=(D, 16))           # 200 queries x 16 keys, unscaled
        peak[D] = (F.softmax(Tensor(s)).data.max(-1).mean(), F.softmax(Tensor(s / np.sqrt(D))).data.max(-1).mean())
    assert peak[512][0] > 0.9 > peak[4][0]
    assert all(0.2 < scaled < 0.6 for _, scaled in peak.values())


@pytest.mark.parametrize("name", SCORES)
def test_every_score_maps_queries_and_keys_to_a_score_matrix_with_correct_gradients(name):
    score = build_score(name, n_head=2, head_dim=4, max_len=6, rng=np.random.default_rng(0), dtype=np.float64)
    q, k = rand(1, 3, 2, 5, 4), rand(2, 3, 2, 6, 4)
    assert score(Tensor(q), Tensor(k)).shape == (3, 2, 5, 6)
    assert gradcheck(lambda a, b: score(a, b), q, k)


def test_cosine_score_ignores_the_norms_and_dot_scores_scale():
    cos = build_score("cosine", n_head=1, head_dim=3, max_len=4, rng=None, dtype=np.float64)
    q, k = rand(0, 1, 1, 2, 3), rand(1, 1, 1, 4, 3)
    np.testing.assert_allclose(cos(Tensor(5 * q), Tensor(3 * k)).data, cos(Tensor(q), Tensor(k)).data, rtol=1e-5)
    dot, scaled = (build_score(n, n_head=1, head_dim=4, max_len=4, rng=None, dtype=np.float64)
                   for n in ("dot", "scaled_dot"))
    q, k = rand(2, 1, 1, 2, 4), rand(3, 1, 1, 3, 4)
    np.testing.assert_allclose(dot(Tensor(q), Tensor(k)).data / 2, scaled(Tensor(q), Tensor(k)).data)
    with pytest.raises(ValueError, match="score must be one of"):
        build_score("bilinear", n_head=1, head_dim=4, max_len=4, rng=None, dtype=np.float64)


# ---- linear attention ----------------------------------------------------------------------------------------------
@given(st.integers(1, 9), st.booleans(), st.integers(0, 2**16))
def test_linear_attention_forms_agree(T, causal, seed):
    q, k, v = rand(seed, 2, 2, T, 3), rand(seed + 1, 2, 2, T, 3), rand(seed + 2, 2, 2, T, 4)
    key_mask = None if causal else (np.arange(T) < max(1, T - 2))[None, None, None, :]
    ref = linear_attention_quadratic(Tensor(q), Tensor(k), Tensor(v), causal, key_mask).data
    fast = linear_attention(Tensor(q), Tensor(k), Tensor(v), causal, key_mask).data
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)
    if causal:
        state = LinearState(2, 2, 3, 4, np.float64)
        steps = np.concatenate([linear_attention_step(state, q[..., i:i + 1, :], k[..., i:i + 1, :],
                                                      v[..., i:i + 1, :]) for i in range(T)], axis=2)
        np.testing.assert_allclose(steps, ref, rtol=1e-10, atol=1e-12)


def test_linear_attention_gradients_and_feature_map():
    x = np.linspace(-3, 3, 13) + 0.01                       # away from the kink at 0
    np.testing.assert_allclose(feature_map(x), np.where(x > 0, x + 1, np.exp(x)))
    np.testing.assert_allclose(feature_map(Tensor(x)).data, feature_map(x))
    q, k, v = rand(0, 1, 2, 5, 3), rand(1, 1, 2, 5, 3), rand(2, 1, 2, 5, 2)
    assert gradcheck(lambda a, b, c: linear_attention(a, b, c, causal=True), q, k, v)
    assert gradcheck(lambda a, b, c: linear_attention(a, b, c, causal=False), q, k, v)


# ---- local attention -----------------------------------------------------------------------------------------------
@given(st.integers(1, 10), st.integers(1, 12), st.booleans(), st.integers(0, 2**16))
def test_banded_local_attention_equals_the_masked_reference(T, window, with_bias, seed):
    q, k, v = (Tensor(rand(seed + i, 2, 2, T, 4)) for i in range(3))
    bias = ALiBi(2, np.float64).bias(T, T) if with_bias else None
    ref = local_attention_masked(q, k, v, window, 0.5, bias).data
    from tinyllm.models.local_attention import banded_bias
    band = None if bias is None else banded_bias(bias, min(window, T))
    np.testing.assert_allclose(local_attention_banded(q, k, v, window, 0.5, band).data, ref, rtol=1e-10,
                               atol=1e-12)


def test_window_mask_and_local_gradients():
    m = window_mask(4, 4, 2)
    np.testing.assert_array_equal(m, [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(window_mask(1, 4, 2), [[0, 0, 1, 1]])     # one query, newest position
    assert window_mask(3, 3, 2, causal=False)[0].tolist() == [True, True, False]
    with pytest.raises(ValueError, match="window"):
        window_mask(3, 3, 0)
    q, k, v = rand(0, 1, 1, 6, 2), rand(1, 1, 1, 6, 2), rand(2, 1, 1, 6, 2)
    assert gradcheck(lambda a, b, c: local_attention_banded(a, b, c, 3, 0.7), q, k, v)


# ---- encoder and masked LM -----------------------------------------------------------------------------------------
@given(st.sampled_from(POSITIONS), st.sampled_from(["softmax", "linear", "local"]), st.integers(1, 8),
       st.integers(0, 2**16))
def test_encoder_padding_never_influences_real_positions(pos, kind, n_real, seed):
    model = MaskedLM(BertConfig(**SMALL, pos=pos, attention=kind, window=3), seed=seed % 3)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 7, size=(2, 9))
    pad_mask = np.arange(9)[None, :].repeat(2, 0) < n_real
    other = np.where(pad_mask, idx, rng.integers(0, 7, size=idx.shape))
    with no_grad():
        a, b = model(idx, pad_mask).data, model(other, pad_mask).data
    np.testing.assert_allclose(a[:, :n_real], b[:, :n_real], rtol=1e-10, atol=1e-12)


def test_bert_masking_follows_the_80_10_10_recipe_and_skips_padding():
    model = MaskedLM(BertConfig(**{**SMALL, "vocab_size": 50}), seed=0)
    x = np.random.default_rng(0).integers(0, 50, size=(200, 12))
    pad = np.ones_like(x, dtype=bool)
    pad[:, 10:] = False
    inputs, targets = model.corrupt(x, pad, rng=np.random.default_rng(1))
    picked = targets >= 0
    assert not picked[:, 10:].any()
    assert picked[:, :10].mean() == pytest.approx(0.15, abs=0.02)
    assert (inputs[picked] == model.mask_id).mean() == pytest.approx(0.8, abs=0.05)
    np.testing.assert_array_equal(inputs[~picked], x[~picked])
    np.testing.assert_array_equal(targets[picked], x[picked])
    loss = model.loss((x[:4], x[:4]))
    loss.backward()
    assert np.isfinite(loss.item()) and model.encoder.wte.weight.grad is not None
    with pytest.raises(ValueError, match="pad_mask"):
        model(x[:2], pad[:2].astype(int))


# ---- initialisation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tie, pos", [(True, "rope"), (False, "learned")])
def test_fan_in_init_follows_pytorch_layer_defaults(tie, pos):
    """init='fan_in': every Linear ~ U(+-1/sqrt(in)) (std bound/sqrt(3)), a tied wte is the head Linear(C, V),
    untied tables ~ N(0, 1), norm gains stay 1; the default init is GPT-2's N(0, 0.02^2)."""
    from tinyllm.models.zoo import ZooConfig, ZooGPT
    from tinyllm.nn.layers import Linear
    cfg = dict(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=50, tie_embeddings=tie, pos=pos, bias=True)
    model = ZooGPT(ZooConfig(**cfg, init="fan_in"), seed=5)
    linears = [m for _, m in model.named_modules() if isinstance(m, Linear)]
    assert linears
    for m in linears:
        bound = m.in_features ** -0.5
        w = m.weight.data
        assert np.abs(w).max() <= bound and (m.bias is None or np.abs(m.bias.data).max() <= bound)
        assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound / np.sqrt(3)
    wte = model.wte.weight.data
    if tie:
        assert np.abs(wte).max() <= 64 ** -0.5 and abs(wte.std() - 64 ** -0.5 / np.sqrt(3)) < 0.01
    else:
        assert abs(wte.std() - 1.0) < 0.05 and abs(model.pos.weight.data.std() - 1.0) < 0.05
    assert all(np.all(p.data == 1) for n, p in model.named_parameters() if n.endswith("ln_1.weight"))
    default = ZooGPT(ZooConfig(**cfg), seed=5)
    assert abs(default.blocks[0].attn.qkv.weight.data.std() - 0.02) < 0.002


def test_unknown_init_is_rejected_with_its_name():
    from tinyllm.models.zoo import ZooConfig
    with pytest.raises(ValueError, match="init"):
        ZooConfig(init="xavier")


@pytest.mark.parametrize("name, extra", [("diffusion", dict(tie_embeddings=False, bias=True)),
                                         ("diffusion", dict(tie_embeddings=True)), ("bert", {}), ("seq2seq", {})])
def test_every_zoo_family_model_honours_init_fan_in(name, extra):
    """The config field is inherited by the encoder, diffusion and seq2seq models: none may silently ignore it.
    Every Linear lands in U(+-1/sqrt(in)), and the table that doubles as the output layer gets fan_in = C."""
    from tinyllm.models import build_model
    from tinyllm.models.seq2seq import EncoderDecoder, Seq2SeqConfig
    from tinyllm.nn.layers import Linear
    cfg = dict(n_layer=1, n_head=2, n_embd=64, block_size=16, vocab_size=40, pos="rope", **extra)

    def make(**fields):
        return EncoderDecoder(Seq2SeqConfig(**fields), seed=3) if name == "seq2seq" else build_model(name, fields, seed=3)
    model = make(**cfg, init="fan_in")
    for _, m in model.named_modules():
        if isinstance(m, Linear):
            bound = m.in_features ** -0.5
            assert np.abs(m.weight.data).max() <= bound
            assert abs(m.weight.data.std() - bound / np.sqrt(3)) < 0.15 * bound / np.sqrt(3)
    wte = model.encoder.wte.weight.data
    as_output = extra.get("tie_embeddings", True)
    expected = 64 ** -0.5 / np.sqrt(3) if as_output else 1.0
    assert abs(wte.std() - expected) < 0.1 * expected
    default = make(**cfg)
    assert abs(default.encoder.wte.weight.data.std() - 0.02) < 0.002
