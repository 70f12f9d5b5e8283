"""gpt_zoo: equal to GPT at its defaults, causal and cache-consistent for every score / position / kind, fused ==
naive, gradients on small shapes, config errors, attention maps, training through the CLI registry."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm import no_grad
from tinyllm.gradcheck import gradcheck
from tinyllm.models import MODELS, build_model
from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.models.positions import POSITIONS
from tinyllm.models.scores import SCORES
from tinyllm.models.zoo import ZooConfig, ZooGPT
from tinyllm.models.zoo_attention import KINDS

SMALL = dict(n_layer=2, n_head=2, n_embd=8, block_size=12, vocab_size=7, dtype="float64")
VARIANT = st.tuples(st.sampled_from(SCORES), st.sampled_from(POSITIONS), st.sampled_from(KINDS)).map(
    lambda v: ("scaled_dot",) + v[1:] if v[2] == "linear" else v)     # linear attention has no score function


def zoo(seed=0, **overrides):
    return ZooGPT(ZooConfig(**{**SMALL, "window": 4, **overrides}), seed=seed)


def logits(model, idx, cache=None):
    with no_grad():
        return model(np.asarray(idx), cache).data


def test_defaults_compute_exactly_what_gpt_computes():
    gpt = GPT(GPTConfig(**SMALL), seed=3)
    model = zoo(seed=11)
    state = {("pos.weight" if k == "wpe.weight" else k): v for k, v in gpt.state_dict().items()}
    model.load_state_dict(state)
    idx = np.random.default_rng(0).integers(0, 7, size=(3, 12))
    np.testing.assert_allclose(logits(model, idx), logits(gpt, idx), atol=1e-12)
    batch = (idx, np.roll(idx, -1, axis=1))
    np.testing.assert_allclose(model.loss(batch).item(), gpt.loss(batch).item(), atol=1e-12)


@given(VARIANT, st.integers(1, 11), st.integers(0, 2**16))
def test_changing_future_tokens_never_changes_past_logits(variant, s, seed):
    score, pos, kind = variant
    model = zoo(score=score, pos=pos, attention=kind, seed=seed % 3)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 7, size=(2, 12))
    other = idx.copy()
    other[:, s:] = rng.integers(0, 7, size=(2, 12 - s))
    np.testing.assert_array_equal(logits(model, idx)[:, :s], logits(model, other)[:, :s])


@given(VARIANT, st.lists(st.integers(1, 4), min_size=1, max_size=6), st.integers(0, 2**16))
def test_kv_cache_decoding_equals_full_recompute(variant, chunks, seed):
    """Fed in chunks through the cache (linear attention: its recurrent state) == one full forward; chunks
    longer than block_size in total force a cache rebuild, compared against the cropped recompute."""
    score, pos, kind = variant
    model = zoo(score=score, pos=pos, attention=kind, seed=seed % 3)
    idx = np.random.default_rng(seed).integers(0, 7, size=(2, sum(chunks)))
    cache, start = model.new_cache(2, keep=6), 0
    for n in chunks:
        got = logits(model, idx[:, start:start + n], cache)
        if start + n <= 12:
            want = logits(model, idx[:, :start + n])[:, start:]
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        start += n
    assert cache.pos <= 12


@given(st.sampled_from(["scaled_dot", "dot"]), st.sampled_from(POSITIONS), st.sampled_from(["softmax", "local"]),
       st.integers(0, 2**16))
def test_fused_paths_equal_naive(score, pos, kind, seed):
    """The fused kernel (dot scores) and the banded local form against the spelled-out softmax, with gradients."""
    idx = np.random.default_rng(seed).integers(0, 7, size=(2, 12))
    batch = (idx, np.roll(idx, 1, axis=1))
    results = []
    for impl in ("fused", "tiled", "naive"):
        model = zoo(score=score, pos=pos, attention=kind, attn_impl=impl, seed=seed % 4)
        loss = model.loss(batch)
        loss.backward()
        results.append((loss.item(), {n: p.grad for n, p in model.named_parameters()}))
    (b, gb) = results[-1]                                                   # naive
    for a, ga in results[:-1]:
        assert a == pytest.approx(b, rel=1e-10)
        for name in ga:
            np.testing.assert_allclose(ga[name], gb[name], rtol=1e-7, atol=1e-10, err_msg=name)


GRAD_CASES = ([(score, "rope", "softmax") for score in SCORES] + [(score, "alibi", "local") for score in SCORES]
              + [("scaled_dot", "learned", "linear"), ("scaled_dot", "sinusoidal", "linear")])


@pytest.mark.parametrize("score,pos,kind", GRAD_CASES)
def test_gradients_match_finite_differences(score, pos, kind):
    """d(attention)/d(input stream) by tinyllm.gradcheck; d(loss)/d(each score parameter and W_qkv) along a
    random direction against a central difference of the whole model's loss."""
    model = zoo(score=score, pos=pos, attention=kind, n_layer=1, attn_impl="naive", seed=1)
    attn = model.blocks[0].attn
    x = np.random.default_rng(3).normal(size=(12, 8))
    assert gradcheck(lambda xt: attn(xt, 2, 6, model.pos), x)
    idx = np.random.default_rng(2).integers(0, 7, size=(2, 6))
    score_params = [] if attn.score is None else [p for _, p in attn.score.named_parameters()]
    for p in score_params + [attn.qkv.weight]:
        _check_param_grad(model, p, (idx, np.roll(idx, 1, axis=1)))


def _check_param_grad(model, p, batch, h=1e-6):
    """<dL/dp, v> from backward vs (L(p + h v) - L(p - h v)) / 2h, perturbing p in place."""
    model.zero_grad()
    model.loss(batch).backward()
    v = np.random.default_rng(5).normal(size=p.shape)
    analytic, base = float(np.sum(p.grad * v)), p.data.copy()
    p.data[...] = base + h * v
    plus = model.loss(batch).item()
    p.data[...] = base - h * v
    minus = model.loss(batch).item()
    p.data[...] = base
    assert analytic == pytest.approx((plus - minus) / (2 * h), rel=1e-5, abs=1e-8)


def test_bad_config_values_name_the_field():
    for field, value in [("score", "dotty"), ("pos", "rotary"), ("attention", "flash"), ("mlp", "sparse"),
                         ("window", 0), ("top_k", 9), ("capacity_factor", 0.0), ("aux_loss_weight", -1.0)]:
        with pytest.raises(ValueError, match=field):
            ZooConfig(**{**SMALL, field: value})
    with pytest.raises(ValueError, match="score is unused"):
        ZooConfig(**SMALL, attention="linear", score="cosine")
    with pytest.raises(ValueError, match="even head dimension"):
        ZooConfig(n_embd=6, n_head=2, pos="rope")
    with pytest.raises(ValueError, match="exceeds block_size"):
        zoo()(np.zeros((1, 13), dtype=np.int64))
    with pytest.raises(ValueError, match="token ids"):
        zoo()(np.full((1, 3), 7))


def test_attention_maps_are_causal_distributions():
    maps = zoo(pos="alibi").attention_maps(np.arange(7)[None] % 7)    # (L, B, H, T, T)
    assert maps.shape == (2, 1, 2, 7, 7)
    np.testing.assert_allclose(maps.sum(-1), 1.0)
    assert np.all(np.triu(maps, k=1) == 0)


def test_registered_and_trainable_from_the_registry():
    assert MODELS["gpt_zoo"] == (ZooConfig, ZooGPT)
    model = build_model("gpt_zoo", dict(SMALL, pos="rope", score="general", dtype="float32"), seed=0)
    idx = np.random.default_rng(0).integers(0, 7, size=(4, 12))
    from tinyllm.training.optim import AdamW
    opt = AdamW(model.parameters(), lr=3e-2)
    first = None
    for _ in range(40):        # overfit one batch
        opt.zero_grad()
        loss = model.loss((idx, np.roll(idx, -1, axis=1)))
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


@pytest.mark.parametrize("name", ["gpt", "gpt_zoo"])
def test_attention_maps_script_draws_a_checkpoint(tmp_path, name, capsys):
    """End to end: a gpt or gpt_zoo checkpoint -> PNG (or, without matplotlib, exit status 3 and a hint)."""
    import importlib.util
    import pathlib
    from tinyllm.tokenizers.chars import CharTokenizer
    from tinyllm.training.checkpoint import save_checkpoint
    tok = CharTokenizer.train("abcdefg")
    cfg = GPTConfig(**{**SMALL, "dtype": "float32"}) if name == "gpt" else ZooConfig(**{**SMALL, "pos": "alibi"})
    model = MODELS[name][1](cfg, seed=0)
    save_checkpoint(tmp_path / "ckpt", model=model, model_name=name, model_config=cfg, tokenizer=tok)
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "attention_maps.py"
    spec = importlib.util.spec_from_file_location("attention_maps", path)
    maps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maps)
    out = tmp_path / "maps.png"
    rc = maps.main([f"--ckpt={tmp_path / 'ckpt'}", "--prompt=abcab", f"--out={out}", "--heads=1"])
    try:
        import matplotlib  # noqa: F401
        assert rc == 0 and out.read_bytes()[:4] == b"\x89PNG"
    except ImportError:
        assert rc == 3 and "pip install" in capsys.readouterr().err
    assert maps.main([f"--ckpt={tmp_path / 'ckpt'}", "--layers=5"]) == 2
    assert maps.main([]) == 2
