"""Masked diffusion LM: forward-process marginals, an unbiased loss, the sampler's invariants, determinism, gradients."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.autograd.tensor import Tensor
from tinyllm.gradcheck import gradcheck
from tinyllm.models import build_model
import itertools
from math import comb

from tinyllm.models.diffusion_text import DiffusionConfig, MaskedDiffusionLM, stratified_k, stratified_t

V, T = 11, 16


def tiny(seed=0, **kw):
    cfg = dict(n_layer=1, n_head=2, n_embd=16, block_size=T, vocab_size=V, dtype="float64")
    cfg.update(kw)
    return build_model("diffusion", cfg, seed=seed)


MODEL = tiny()


@given(t=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_mask_rate_equals_t_in_expectation(t, seed):
    x0 = np.zeros((64, T), dtype=np.int64)
    xt, masked = MODEL.corrupt(x0, np.full(64, t), np.random.default_rng(seed))
    assert np.array_equal(masked, xt == MODEL.mask_id)
    n = masked.size
    assert abs(masked.mean() - t) < 5 * np.sqrt(t * (1 - t) / n)          # 5 sigma of a Bernoulli mean


@given(B=st.integers(1, 64), seed=st.integers(0, 2**31 - 1))
def test_stratified_t_has_one_time_per_stratum(B, seed):
    t = stratified_t(B, np.random.default_rng(seed), 1e-3)
    u = (t - 1e-3) / (1 - 1e-3)
    assert np.array_equal(np.floor(u * B).astype(int), np.arange(B))        # row b lies in the b-th slice


def test_loss_is_unbiased_across_t():
    """With a context-free denoiser (fixed logits per position) the 1/t weighting makes E[loss | t] the same for
    every t: the mean -log p of all tokens. A wrong weight (1, or 1/t^2) would make it depend on t."""
    rng = np.random.default_rng(0)
    x0 = rng.integers(0, V, size=(1, T))
    logits = rng.normal(size=(T, V))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    target = -logp[np.arange(T), x0[0]].mean()

    model = tiny()
    model._hidden = lambda idx: Tensor(np.tile(np.eye(T), (idx.shape[0], 1)))   # (B*T, T) position one-hot
    model._head = lambda h: h @ Tensor(logits)                                    # (N, T) -> (N, V)
    for t in (0.1, 0.5, 0.9):
        draws = [float(model.nelbo_terms(x0, np.array([t]), rng).data.sum()) for _ in range(1500)]
        se = np.std(draws) / np.sqrt(len(draws))
        assert abs(np.mean(draws) - target) < 5 * se, (t, np.mean(draws), target)


@given(B=st.integers(1, 64), L=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_stratified_k_has_one_count_per_stratum(B, L, seed):
    k = stratified_k(B, L, np.random.default_rng(seed))
    assert k.shape == (B,) and k.min() >= 1 and k.max() <= L
    assert np.all(np.diff(k) >= 0)                                          # strata are ordered
    if B >= L:                                                              # every count's slice is hit
        assert set(k.tolist()) == set(range(1, L + 1))


@given(k=st.integers(1, T), seed=st.integers(0, 2**31 - 1))
def test_corrupt_count_masks_exactly_k_uniformly(k, seed):
    x0 = np.zeros((400, T), dtype=np.int64)
    xt, masked = MODEL.corrupt_count(x0, np.full(400, k), np.random.default_rng(seed))
    assert np.array_equal(masked, xt == MODEL.mask_id) and np.all(masked.sum(1) == k)
    rate, p = masked.mean(0), k / T                                         # each position masked w.p. k/T
    assert np.all(np.abs(rate - p) < 5 * np.sqrt(p * (1 - p) / 400) + 1e-12)


def exact_nelbo(model, x0):
    """The continuous-time NELBO / T of one short row, exactly: every mask set S, weighted 1/(k C(T, k)), k = |S|."""
    L = len(x0)
    sets = [S for k in range(1, L + 1) for S in itertools.combinations(range(L), k)]
    xt = np.tile(x0, (len(sets), 1))
    for row, S in enumerate(sets):
        xt[row, list(S)] = model.mask_id
    logits = model(xt).data                                                 # (|sets|, L, V)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.tile(x0, (len(sets), 1))[..., None], -1)[..., 0]   # (|sets|, L)
    return sum(nll[row, list(S)].sum() / (len(S) * comb(L, len(S))) for row, S in enumerate(sets)) / L


def test_count_and_time_estimators_are_unbiased_for_the_same_bound():
    """integral_0^1 (1/t) P(k masked | t) dt = 1/k: both estimators average to the exact NELBO of a real
    (context-using) denoiser, computed by enumerating every mask set of a 5-token row. Wrong weights tried on
    the way (1/k^1.1; 1, 1/t^1.25 or a missing 1/T for the t form) all fail it; 1/t^2 blows up the sample std
    instead, which test_loss_is_unbiased_across_t catches at fixed t."""
    model = tiny(seed=6)
    model.eval()
    x0 = np.random.default_rng(9).integers(0, V, size=5)
    exact = exact_nelbo(model, x0)
    n, rng = 4000, np.random.default_rng(1)
    rows = np.tile(x0, (n, 1))
    for name, terms in (("count", model.nelbo_terms_count(rows, stratified_k(n, 5, rng), rng)),
                        ("time", model.nelbo_terms(rows, stratified_t(n, rng, 1e-3), rng))):
        draws = terms.data.ravel()
        bias = 1e-3 * 5 if name == "time" else 0.0                          # t < eps is left out of the t form
        assert abs(draws.mean() - exact) < 5 * draws.std() / np.sqrt(n) + bias, (name, draws.mean(), exact)


def test_count_estimator_has_lower_variance_than_time():
    """The reason it is the default: no 1/t weights (up to 1/(eps T)) on rows with one or two masks."""
    model = tiny(seed=6)
    model.eval()
    rows = np.tile(np.random.default_rng(9).integers(0, V, size=T), (2000, 1))
    rng = np.random.default_rng(2)
    count = model.nelbo_terms_count(rows, rng.integers(1, T + 1, size=2000), rng).data.std()
    time = model.nelbo_terms(rows, rng.uniform(1e-3, 1, size=2000), rng).data.std()
    assert count < 0.8 * time, (count, time)


def test_loss_at_init_is_near_log_V_and_eval_is_repeatable():
    x = np.random.default_rng(1).integers(0, V, size=(8, T))
    m = tiny(seed=3)
    m.eval()
    a, b = float(m.loss((x, x)).data), float(m.loss((x,)).data)
    assert a == b
    assert abs(a - np.log(V)) < 0.5


@given(seed=st.integers(0, 1000), steps=st.integers(1, 20), n_fixed=st.integers(0, T))
def test_sampler_never_changes_unmasked_tokens_and_ends_without_masks(seed, steps, n_fixed):
    rng = np.random.default_rng(seed)
    x = np.full((2, T), MODEL.mask_id)
    keep = rng.permutation(T)[:n_fixed]
    x[:, keep] = rng.integers(0, V, size=(2, n_fixed))
    trace = []
    out = MODEL.unmask(x, steps=steps, rng=rng, trace=trace)
    assert not (out == MODEL.mask_id).any()
    assert np.array_equal(out[:, keep], x[:, keep])
    for before, after in zip([x] + trace[:-1], trace):                      # once unmasked, frozen forever
        was = before != MODEL.mask_id
        assert np.array_equal(after[was], before[was])
    assert len(trace) <= steps


@pytest.mark.parametrize("k", [1, 3, T])
def test_tokens_per_step_sets_the_number_of_denoiser_calls(k):
    trace = []
    MODEL.unmask(np.full((1, T), MODEL.mask_id), tokens_per_step=k, order="confidence", trace=trace)
    assert len(trace) == -(-T // k)
    counts = [int((s != MODEL.mask_id).sum()) for s in trace]
    assert counts == [min(T, k * (i + 1)) for i in range(len(trace))]


def test_sampling_is_deterministic_given_the_seed():
    a = MODEL.generate([1, 2], 40, num_samples=2, steps=5, rng=np.random.default_rng(7))
    b = MODEL.generate([1, 2], 40, num_samples=2, steps=5, rng=np.random.default_rng(7))
    c = MODEL.generate([1, 2], 40, num_samples=2, steps=5, rng=np.random.default_rng(8))
    assert a.shape == (2, 40) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < V


def test_infill_keeps_the_template():
    template = np.array([1, 2, 3] + [MODEL.mask_id] * 5 + [4, 5], dtype=np.int64)
    out = MODEL.infill(template, steps=3, temperature=0)
    assert out.shape == template.shape and np.array_equal(out[[0, 1, 2, 8, 9]], [1, 2, 3, 4, 5])
    assert not (out == MODEL.mask_id).any()


def test_denoiser_is_bidirectional():
    """Changing a late token changes the logits at an early position (a causal model could not)."""
    x = np.random.default_rng(2).integers(0, V, size=(1, T))
    y = x.copy()
    y[0, -1] = (y[0, -1] + 1) % V
    assert not np.allclose(MODEL(x).data[0, 0], MODEL(y).data[0, 0])


def test_nelbo_gradients_match_finite_differences():
    m = tiny(seed=5)
    x0 = np.random.default_rng(4).integers(0, V, size=(2, T))
    t = np.array([0.3, 0.7])
    w = m.encoder.wte.weight

    def f(weight):                                                          # the NELBO as a function of wte
        m.encoder.wte.weight = weight
        try:
            return m.nelbo_terms(x0, t, np.random.default_rng(0)).sum()
        finally:
            m.encoder.wte.weight = w

    assert gradcheck(f, w.data.copy(), n_directions=2)


def test_untied_output_layer_is_used_when_asked():
    """tie_embeddings=False gives the denoiser its own (C, V) output layer, and the logits come from it."""
    tied, untied = tiny(seed=1), tiny(seed=1, tie_embeddings=False)
    assert untied.num_parameters() == tied.num_parameters() + 16 * V
    x = np.random.default_rng(3).integers(0, V, size=(1, T))
    before = untied(x).data.copy()
    untied.lm_head.weight.data *= 2.0
    assert np.allclose(untied(x).data, 2.0 * before)


def test_abs_pos_adds_a_used_learned_table_to_rope():
    plain, both = tiny(seed=1), tiny(seed=1, abs_pos=True)
    assert both.config.pos == "rope" and both.num_parameters() == plain.num_parameters() + T * 16
    x = np.random.default_rng(3).integers(0, V, size=(1, T))
    before = both(x).data.copy()
    both.encoder.wpe.weight.data[T // 2] += np.linspace(-1, 1, 16)          # not a constant: LayerNorm removes those
    assert not np.allclose(both(x).data, before)
    with pytest.raises(ValueError, match="abs_pos"):
        DiffusionConfig(abs_pos=True, pos="learned")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="t_eps"):
        DiffusionConfig(t_eps=0.0)
    with pytest.raises(ValueError, match="estimator"):
        DiffusionConfig(estimator="t")
    with pytest.raises(ValueError, match="sample_order"):
        DiffusionConfig(sample_order="left_to_right")
    with pytest.raises(ValueError, match="steps"):
        MODEL.unmask(np.full((1, 4), MODEL.mask_id), steps=0)
    with pytest.raises(ValueError, match="tokens_per_step"):
        MODEL.unmask(np.full((1, 4), MODEL.mask_id), tokens_per_step=0)
    with pytest.raises(ValueError, match="token ids"):
        MODEL.loss((np.full((1, 4), V),))                                   # [MASK] is not a training token
    with pytest.raises(TypeError, match="DiffusionConfig"):
        MaskedDiffusionLM(config=object())


def test_sample_cli_dispatches_to_the_diffusion_sampler(tmp_path, capsys):
    from tinyllm.sampling.cli import main
    from tinyllm.tokenizers import CharTokenizer
    from tinyllm.training.checkpoint import save_checkpoint
    tok = CharTokenizer.train("abcdefgh \n")
    cfg = DiffusionConfig(n_layer=1, n_head=2, n_embd=8, block_size=16, vocab_size=tok.vocab_size)
    ckpt = str(save_checkpoint(tmp_path / "ckpt", model=MaskedDiffusionLM(cfg, seed=3), model_name="diffusion",
                               model_config=cfg, tokenizer=tok))
    args = ["--ckpt", ckpt, "--prompt=ab", "--max_new_tokens=30", "--seed=4"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("ab") and len(first) == 2 + 30 + 1
    assert main(args + ["--beam=2"]) == 2 and "autoregressive" in capsys.readouterr().err


def test_tinyllm_train_runs_the_diffusion_model(tmp_path):
    from tinyllm.training.checkpoint import load_checkpoint
    from tinyllm.training.cli import run
    printed = []
    trainer = run(["--model=diffusion", "--max_iters=3", "--eval_interval=3", "--eval_iters=1", "--log_interval=1",
                   "--preset=diffusion_tiny", f"--out_dir={tmp_path}"], print_fn=lambda *a, **k: printed.append(a))
    assert trainer.step == 3 and np.isfinite(trainer.best_val_loss)
    samples = [a[0] for a in printed if a and str(a[0]).startswith("sample:\n")]
    assert samples and len(samples[0]) > len("sample:\n"), "the end-of-run sample goes through the diffusion sampler"
    ckpt = load_checkpoint(tmp_path / "latest")
    assert isinstance(ckpt.model, MaskedDiffusionLM) and ckpt.model.config.pos == "rope"
