"""Encoder-decoder: the reversal task's format, source padding ignored, decoder causality, cross-attention
gradients, a tiny model learning to reverse, the demo script end to end."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm import no_grad
from tinyllm.models.seq2seq import (
    BOS, EOS, PAD, EncoderDecoder, Seq2SeqConfig, exact_match, reverse_batch)
from tinyllm.models.zoo_attention import MultiHeadAttention
from tinyllm.gradcheck import gradcheck
from tinyllm.training.optim import AdamW

SMALL = dict(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=9, dtype="float64")


def test_reverse_batch_format():
    src, tgt = reverse_batch(np.random.default_rng(0), 50, 4, 1, 5)
    assert src.shape == (50, 5) and tgt.shape == (50, 7)
    for s, t in zip(src, tgt):
        n = int(np.sum(s != PAD))
        assert np.all(s[n:] == PAD) and np.all((s[:n] >= 3) & (s[:n] < 7))
        assert t[0] == BOS and t[n + 1] == EOS and np.all(t[n + 2:] == PAD)
        np.testing.assert_array_equal(t[1:n + 1], s[:n][::-1])
    with pytest.raises(ValueError, match="min_len"):
        reverse_batch(np.random.default_rng(0), 2, 4, 3, 2)


@given(st.integers(1, 5), st.sampled_from(["learned", "rope", "alibi"]), st.integers(0, 2**16))
def test_source_padding_and_future_targets_never_matter(n_real, pos, seed):
    model = EncoderDecoder(Seq2SeqConfig(**SMALL, pos=pos), seed=seed % 3)
    rng = np.random.default_rng(seed)
    src = rng.integers(3, 9, size=(2, 6))
    src[:, n_real:] = PAD
    other_src = src.copy()
    other_src[:, n_real:] = rng.integers(3, 9, size=(2, 6 - n_real))       # garbage where PAD was...
    tgt = rng.integers(3, 9, size=(2, 7))
    other_tgt = tgt.copy()
    other_tgt[:, 4:] = rng.integers(3, 9, size=(2, 3))
    with no_grad():
        a = model(src, tgt).data
        # ...is still ignored when the same mask marks it as padding: swap PAD for junk only in the ids
        memory, pad = model.encode(src)
        memory2 = model.encoder(other_src, pad)
        b = model.decode(tgt, memory2, pad).data.reshape(a.shape)
        c = model(src, other_tgt).data
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a[:, :4], c[:, :4], rtol=1e-10, atol=1e-12)


def test_cross_attention_gradients():
    xattn = MultiHeadAttention(8, 2, causal=False, cross=True, attn_impl="naive", rng=np.random.default_rng(0),
                               dtype=np.float64)
    x, memory = np.random.default_rng(1).normal(size=(6, 8)), np.random.default_rng(2).normal(size=(10, 8))
    mask = np.array([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    assert gradcheck(lambda a, m: xattn(a, 2, 3, key_mask=mask, memory=m), x, memory)
    fused = MultiHeadAttention(8, 2, causal=False, cross=True, rng=np.random.default_rng(0), dtype=np.float64)
    with no_grad():
        np.testing.assert_allclose(fused(x, 2, 3, key_mask=mask, memory=memory).data,
                                   xattn(x, 2, 3, key_mask=mask, memory=memory).data, rtol=1e-10)


def test_a_tiny_model_learns_to_reverse():
    """150 steps of a 1+1-layer, 32-wide model: from chance to most held-out strings exactly reversed (measured
    0.665-0.705 over three seeds; scripts/seq2seq_demo.py trains the full version to 100%)."""
    cfg = Seq2SeqConfig(n_layer=1, n_head=2, n_embd=32, block_size=5, vocab_size=7, pos="rope", dtype="float32")
    model = EncoderDecoder(cfg, seed=0)
    opt = AdamW(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    src, tgt = reverse_batch(np.random.default_rng(123), 200, 4, 1, 3)
    before = exact_match(model, src, tgt)
    for _ in range(150):
        opt.zero_grad()
        model.loss(reverse_batch(rng, 32, 4, 1, 3)).backward()
        opt.step()
    assert before < 0.2 and exact_match(model, src, tgt) >= 0.5


def test_bad_input_is_named():
    model = EncoderDecoder(Seq2SeqConfig(**SMALL))
    with pytest.raises(ValueError, match="src"):
        model(np.zeros((2, 9), dtype=np.int64), np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="tgt_in"):
        model(np.zeros((2, 3), dtype=np.int64), np.full((2, 3), 9))
    with pytest.raises(ValueError, match="linear"):
        EncoderDecoder(Seq2SeqConfig(**SMALL, attention="linear"))


def test_demo_script_runs(capsys):
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "seq2seq_demo.py"
    spec = importlib.util.spec_from_file_location("seq2seq_demo", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.main(["--iters=5", "--n_embd=16", "--eval_examples=20", "--max_len=3"]) == 0
    assert "exact match" in capsys.readouterr().out
    assert demo.main(["--n_layers=2"]) == 2
