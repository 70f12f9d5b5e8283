"""Mamba and S4D language models: recurrent step == scan/convolution (float64, 1e-6), causality, gradients, bad
configs, and training / resuming / sampling through the shared tools."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm import no_grad
from tinyllm.gradcheck import gradcheck
from tinyllm.models import MODELS, build_model
from tinyllm.models.mamba import Mamba, MambaConfig
from tinyllm.models.s4d import S4D, CausalFFTConv, S4DConfig, S4DKernel
from tinyllm.sampling.generate import generate
from tinyllm.sampling.logits import SamplingConfig

V = 11
TINY = {"mamba": dict(n_layer=2, d_model=8, d_state=4, d_conv=3, chunk=3, vocab_size=V, dtype="float64"),
        "s4d": dict(n_layer=2, d_model=8, d_state=6, vocab_size=V, dtype="float64")}


def tiny(name, seed=0):
    return build_model(name, TINY[name], seed=seed)


def ids(B, T, seed=0):
    return np.random.default_rng(seed).integers(0, V, (B, T))


@pytest.mark.parametrize("name", ["mamba", "s4d"])
@settings(max_examples=8)
@given(cuts=st.lists(st.integers(1, 6), min_size=1, max_size=4), B=st.integers(1, 2))
def test_recurrent_state_equals_the_parallel_path(name, cuts, B):
    """Feeding the text in pieces (single tokens = the recurrent step) gives the full forward's logits."""
    model = tiny(name)
    T = sum(cuts)
    x = ids(B, T, seed=T)
    full = model(x).data                                        # scan / convolution, with the graph
    with no_grad():
        cache, pieces, t = model.new_cache(B), [], 0
        for n in cuts:
            pieces.append(model(x[:, t:t + n], cache).data)
            t += n
        steps = np.concatenate(pieces, axis=1)
        no_cache = model(x).data                                # the inference path without a cache
    np.testing.assert_allclose(steps, full, rtol=0, atol=1e-6)
    np.testing.assert_allclose(no_cache, full, rtol=0, atol=1e-6)
    assert cache.pos == T


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_state_size_does_not_grow_with_the_text(name):
    model = tiny(name)
    with no_grad():
        cache = model.new_cache(1)
        model(ids(1, 3), cache)
        size = cache.nbytes()
        model(ids(1, 40), cache)
    assert cache.nbytes() == size


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_causal(name):
    """Changing tokens after position s never changes the logits at or before s (up to the FFT's rounding, which
    mixes every position at the 1e-17 level in S4D's convolution)."""
    model = tiny(name)
    x = ids(2, 12)
    y = x.copy()
    y[:, 7:] = (y[:, 7:] + 1) % V
    a, b = model(x).data, model(y).data
    np.testing.assert_allclose(a[:, :7], b[:, :7], rtol=0, atol=1e-12)
    assert np.abs(a[:, 7:] - b[:, 7:]).max() > 1e-6


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_parameter_gradients_match_finite_differences(name):
    """Directional derivative of the loss along a random direction in parameter space."""
    model = tiny(name)
    x, y = ids(2, 7, seed=1), ids(2, 7, seed=2)
    params = model.parameters()
    loss = model.loss((x, y))
    model.zero_grad()
    loss.backward()
    rng = np.random.default_rng(0)
    vs = [rng.normal(size=p.shape) for p in params]
    analytic = sum(float(np.sum(p.grad * v)) for p, v in zip(params, vs))
    base = [p.data.copy() for p in params]

    def loss_at(h):
        for p, b, v in zip(params, base, vs):
            p.data[...] = b + h * v
        with no_grad():
            return float(model.loss((x, y)).data)
    numeric = (loss_at(1e-6) - loss_at(-1e-6)) / 2e-6
    loss_at(0.0)
    assert abs(analytic - numeric) <= 1e-5 * max(1.0, abs(numeric))


def test_s4d_kernel_and_fft_conv_gradcheck():
    rng = np.random.default_rng(0)
    H, N2, L = 3, 4, 9
    params = [rng.normal(size=H) - 3, rng.normal(size=(H, N2)) - 0.5, 3 * rng.normal(size=(H, N2)),
              rng.normal(size=(H, N2)), rng.normal(size=(H, N2))]
    assert gradcheck(lambda *p: S4DKernel.apply(*p, L=L), *params)
    assert gradcheck(lambda u, K: CausalFFTConv.apply(u, K), rng.normal(size=(2, L, H)), rng.normal(size=(H, L)))


def test_s4d_convolution_equals_its_recurrence_and_a_direct_sum():
    model = tiny("s4d")
    layer = model.blocks[0].ssm
    u = np.random.default_rng(3).normal(size=(2, 10, 8))
    conv = layer(u).data                                         # FFT convolution mode
    K = layer.kernel(10).data                                    # (H, L)
    direct = np.stack([sum(K[:, t - s] * u[:, s] for s in range(t + 1)) for t in range(10)], axis=1) + u * layer.D.data
    h = np.zeros((2, 8, 3), dtype=complex)
    rec = np.stack([layer.step(u[:, t], h) for t in range(10)], axis=1)
    np.testing.assert_allclose(conv, direct, atol=1e-10)
    np.testing.assert_allclose(rec, conv, atol=1e-10)


def test_mamba_glossary_shapes_and_default_budget():
    cfg = MambaConfig()
    assert cfg.d_inner == 256 and cfg.rank == 8
    assert 0.7e6 < Mamba(cfg).num_parameters() < 0.9e6           # the baby GPT's budget (804,096)
    assert 0.6e6 < S4D(S4DConfig()).num_parameters() < 0.9e6
    assert MODELS["mamba"] == (MambaConfig, Mamba) and MODELS["s4d"] == (S4DConfig, S4D)


@pytest.mark.parametrize("cls, field, value, match", [
    (MambaConfig, "d_state", 0, "d_state must be a positive integer"),
    (MambaConfig, "dt_rank", -1, "dt_rank must be an integer >= 0"),
    (MambaConfig, "dt_min", 0.5, "dt_min <= dt_max"),
    (MambaConfig, "dtype", "float16", "dtype must be"),
    (S4DConfig, "d_state", 5, "d_state must be even"),
    (S4DConfig, "n_layer", True, "n_layer must be a positive integer"),
])
def test_bad_configs_name_the_field(cls, field, value, match):
    with pytest.raises(ValueError, match=match):
        cls(**{field: value})


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_bad_ids_and_cache_batch_are_rejected(name):
    model = tiny(name)
    with pytest.raises(ValueError, match=r"token ids in \[0, 11\)"):
        model(np.array([[0, V]]))
    with pytest.raises(ValueError, match="x and y must have the same shape"):
        model.loss((ids(1, 4), ids(1, 5)))
    with pytest.raises(ValueError, match="cache was made for batch 2"):
        with no_grad():
            model(ids(1, 3), model.new_cache(2))


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_sampler_with_state_equals_recomputation(name):
    model = tiny(name)
    cfg = SamplingConfig(temperature=0.0)
    prompt = [1, 2, 3]
    assert generate(model, prompt, 12, cfg, use_cache=True) == generate(model, prompt, 12, cfg, use_cache=False)


@pytest.mark.parametrize("name", ["mamba", "s4d"])
def test_train_resume_and_sample_through_the_shared_tools(tmp_path, name):
    from tinyllm.sampling.cli import main as sample_main
    from tinyllm.training.checkpoint import load_checkpoint
    from tinyllm.training.cli import run
    text = tmp_path / "abc.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    common = [f"--model={name}", f"--preset={name}_tiny", f"--data={text}", f"--out_dir={tmp_path / 'run'}",
              "--model.d_model=16", "--block_size=16", "--eval_iters=2", "--sample_tokens=10", "--prompt=the "]
    run(common + ["--max_iters=6", "--eval_interval=3"], print_fn=lambda *a: None)
    ck = load_checkpoint(tmp_path / "run" / "latest")
    assert ck.step == 6 and type(ck.model).__name__ == type(tiny(name)).__name__
    lines = []
    resumed = run(common + ["--max_iters=8", "--eval_interval=4", "--resume"], print_fn=lines.append)
    assert resumed.step == 8 and any("resumed from" in line for line in lines)
    assert sample_main([f"--ckpt={tmp_path / 'run' / 'latest'}", "--max_new_tokens=5", "--prompt=the "]) in (0, None)
