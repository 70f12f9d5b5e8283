"""GPT: parameter count, causality, KV cache == full recompute, fused == naive attention, gradients, overfitting,
state_dict round trip, config validation and the model registry."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm import no_grad
from tinyllm.models import MODELS, build_model
from tinyllm.models.gpt import GPT, GPTConfig

SMALL = dict(n_layer=2, n_head=2, n_embd=8, block_size=12, vocab_size=7, dtype="float64")


def small(seed=0, **overrides):
    return GPT(GPTConfig(**{**SMALL, **overrides}), seed=seed)


def logits(model, idx, cache=None, lean=True):
    """Forward under no_grad (the plain-array path) or, with lean=False, through Tensors with grad recording."""
    if not lean:
        return model(np.asarray(idx), cache).data
    with no_grad():
        return model(np.asarray(idx), cache).data


def test_baby_config_parameter_count_matches_hand_count():
    V, T, C, L = 65, 64, 128, 4
    per_block = C + 3 * C * C + C * C + C + 4 * C * C + 4 * C * C   # ln_1, qkv, proj, ln_2, fc, proj (no bias)
    expected = V * C + T * C + L * per_block + C                       # wte (tied head), wpe, blocks, ln_f
    assert expected == 804_096
    assert GPT(GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, bias=False,
                         tie_embeddings=True)).num_parameters() == expected
    untied = GPT(GPTConfig(n_layer=1, n_embd=8, n_head=2, vocab_size=5, bias=True, tie_embeddings=False))
    names = dict(untied.named_parameters())
    assert "lm_head.weight" in names and "blocks.0.attn.qkv.bias" in names and "ln_f.bias" in names


def test_gpt2_init_scales_residual_projections():
    m = GPT(GPTConfig(n_layer=8, n_embd=64, n_head=4), seed=0)
    assert abs(m.blocks[0].attn.qkv.weight.data.std() - 0.02) < 0.002
    assert abs(m.blocks[0].mlp.proj.weight.data.std() - 0.02 / np.sqrt(16)) < 0.0005
    assert abs(m.blocks[3].attn.proj.weight.data.std() - 0.02 / np.sqrt(16)) < 0.0005
    assert np.all(m.ln_f.weight.data == 1.0)


@given(st.integers(1, 11), st.integers(0, 2**16), st.sampled_from(["fused", "naive"]))
def test_changing_future_tokens_never_changes_past_logits(s, seed, impl):
    model = small(attn_impl=impl)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 7, size=(2, 12))
    other = idx.copy()
    other[:, s:] = rng.integers(0, 7, size=(2, 12 - s))
    a, b = logits(model, idx), logits(model, other)
    np.testing.assert_array_equal(a[:, :s], b[:, :s])


@given(st.lists(st.integers(1, 4), min_size=1, max_size=5), st.integers(0, 2**16),
       st.sampled_from(["fused", "naive"]), st.booleans())
def test_kv_cache_decoding_equals_full_recompute(chunks, seed, impl, lean):
    model = small(seed=seed % 5, attn_impl=impl)
    rng = np.random.default_rng(seed)
    T = min(sum(chunks), 12)
    idx = rng.integers(0, 7, size=(2, T))
    full = logits(model, idx)
    cache, pieces, start = model.new_cache(2), [], 0
    for n in chunks:
        if start >= T:
            break
        pieces.append(logits(model, idx[:, start:start + n], cache, lean))
        start += n
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=0, atol=1e-5)
    assert cache.pos == T


@given(st.integers(0, 2**16), st.integers(1, 6), st.integers(1, 4))
def test_cache_reorder_and_repeat_equal_recomputing_the_chosen_rows(seed, t0, width):
    """Beam search's cache moves: repeat() copies a one-row prompt to `width` rows, reorder() picks rows (repeats
    allowed, only filled positions copied); the next step's logits equal a full forward of the chosen sequences."""
    model = small(seed=seed % 5)
    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, 7, size=(1, t0))
    cache = model.new_cache(1)
    logits(model, prompt, cache)
    cache = cache.repeat(width)
    seqs = np.repeat(prompt, width, axis=0)
    for _ in range(3):
        rows = rng.integers(0, width, size=width)
        cache.reorder(rows)
        nxt = rng.integers(0, 7, size=(width, 1))
        seqs = np.concatenate([seqs[rows], nxt], axis=1)
        step = logits(model, nxt, cache)[:, -1]
        np.testing.assert_allclose(step, logits(model, seqs)[:, -1], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="one-row"):
        cache.repeat(2) if width > 1 else model.new_cache(2).repeat(2)


@given(st.integers(0, 2**16), st.booleans(), st.booleans())
def test_plain_array_path_equals_tensor_path(seed, bias, tied):
    model = small(seed=seed % 7, bias=bias, tie_embeddings=tied)
    for p in model.parameters():                          # biases and gains away from their 0 / 1 init
        p.data += 0.1 * np.random.default_rng(seed).standard_normal(p.shape)
    idx = np.random.default_rng(seed).integers(0, 7, size=(3, 10))
    np.testing.assert_allclose(logits(model, idx), logits(model, idx, lean=False), rtol=1e-12, atol=1e-12)
    with no_grad():
        lean_loss = float(model.loss((idx, idx)).data)
    assert abs(lean_loss - float(model.loss((idx, idx)).data)) < 1e-12


def test_full_cache_is_rebuilt_from_the_last_keep_tokens():
    model = small()
    idx = np.random.default_rng(0).integers(0, 7, size=(1, 15))
    cache = model.new_cache(1, keep=5)
    logits(model, idx[:, :12], cache)                     # window full
    got = logits(model, idx[:, 12:14], cache)             # rebuild: last 5 cached + 2 new
    np.testing.assert_allclose(got, logits(model, idx[:, 7:14])[:, -2:], atol=1e-10)
    assert cache.pos == 7
    got = logits(model, idx[:, 14:15], cache)             # then plain cached steps again
    np.testing.assert_allclose(got, logits(model, idx[:, 7:15])[:, -1:], atol=1e-10)


@given(st.integers(0, 2**16), st.booleans())
def test_fused_attention_equals_naive_path_forward_and_backward(seed, bias):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 7, size=(2, 9))
    y = rng.integers(0, 7, size=(2, 9))
    grads = []
    for impl in ("fused", "naive"):
        model = small(seed=3, attn_impl=impl, bias=bias)
        loss = model.loss((x, y))
        loss.backward()
        grads.append((float(loss.data), [p.grad for p in model.parameters()]))
    assert abs(grads[0][0] - grads[1][0]) < 1e-12
    for g_fused, g_naive in zip(grads[0][1], grads[1][1]):
        np.testing.assert_allclose(g_fused, g_naive, rtol=1e-9, atol=1e-12)


def test_loss_gradient_matches_finite_differences():
    from test_nn import directional_check
    model = small(seed=1, bias=True, tie_embeddings=False)
    rng = np.random.default_rng(2)
    batch = (rng.integers(0, 7, size=(2, 6)), rng.integers(0, 7, size=(2, 6)))
    directional_check(lambda: model.loss(batch), model.parameters())


def test_loss_is_mean_cross_entropy_of_forward_logits():
    model = small()
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 7, size=(3, 5)), rng.integers(0, 7, size=(3, 5))
    z = logits(model, x)
    lse = np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1)) + z.max(-1)
    expected = np.mean(lse - np.take_along_axis(z, y[..., None], -1)[..., 0])
    assert abs(float(model.loss((x, y)).data) - expected) < 1e-12


def test_tiny_model_overfits_one_batch():
    from tinyllm.training.optim import Adam
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=11), seed=0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 11, size=(2, 8))
    y = rng.integers(0, 11, size=(2, 8))
    opt = Adam(model.parameters(), lr=3e-2)
    first = None
    for _ in range(60):
        loss = model.loss((x, y))
        first = first or float(loss.data)
        model.zero_grad()
        loss.backward()
        opt.step()
    assert first > 2.0 and float(loss.data) < 0.05


def test_dropout_is_seeded_and_off_in_eval():
    x = np.random.default_rng(0).integers(0, 7, size=(2, 6))
    a, b = small(dropout=0.3), small(dropout=0.3)
    with no_grad():
        ya, yb = a(x).data, b(x).data
        assert np.array_equal(ya, yb)                     # same seed, same masks
        assert not np.array_equal(ya, a(x).data)          # a fresh mask each call
        a.eval()
        assert np.array_equal(a(x).data, small()(x).data)  # eval == the dropout-free model


def test_state_dict_round_trip_reproduces_logits():
    src, dst = small(seed=1), small(seed=2)
    x = np.random.default_rng(0).integers(0, 7, size=(1, 5))
    assert "lm_head.weight" not in src.state_dict()        # tied: stored once, as wte.weight
    dst.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(logits(src, x), logits(dst, x))
    bad = src.state_dict()
    bad["wpe.weight"] = bad["wpe.weight"][:3]
    with pytest.raises(ValueError, match="wpe.weight"):
        dst.load_state_dict(bad)


@pytest.mark.parametrize("field, value", [
    ("n_layer", 0), ("n_head", 3), ("n_embd", -8), ("block_size", 1.5), ("vocab_size", True),
    ("dropout", 1.0), ("bias", "no"), ("attn_impl", "flash"), ("dtype", "float16")])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field if field != "n_head" else "n_embd"):
        GPTConfig(**{field: value})


def test_forward_rejects_bad_ids_and_long_sequences():
    model = small()
    with pytest.raises(ValueError, match=r"\[0, 7\)"):
        model(np.array([[0, 7]]))
    with pytest.raises(ValueError, match="shape"):
        model(np.array([1, 2]))
    with pytest.raises(ValueError, match="block_size"):
        model(np.zeros((1, 13), dtype=np.int64))
    with pytest.raises(ValueError, match="batch"):
        model(np.zeros((2, 1), dtype=np.int64), model.new_cache(1))
    with pytest.raises(ValueError, match="seed"):
        GPT(GPTConfig(), seed=-1)
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT({"n_layer": 2})
    with pytest.raises(ValueError, match="same shape"):
        model.loss((np.zeros((1, 3), dtype=np.int64), np.zeros((1, 4), dtype=np.int64)))


def test_registry_builds_models_and_rejects_unknown_names_and_fields():
    assert MODELS["gpt"] == (GPTConfig, GPT)
    m = build_model("gpt", SMALL, seed=4)
    assert isinstance(m, GPT) and m.config.n_embd == 8
    np.testing.assert_array_equal(m.wte.weight.data, small(seed=4).wte.weight.data)
    with pytest.raises(ValueError, match="did you mean 'gpt'"):
        build_model("gtp", {})
    with pytest.raises(ValueError, match="did you mean 'n_layer'"):
        build_model("gpt", {"n_layers": 2})
