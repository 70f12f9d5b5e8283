"""Input noise for NLQ training (prepare_ir.WordNoise): copied words and what the IR says about them survive."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.nlq.prepare_ir import SHAPES, WordNoise, build, load_examples


@pytest.fixture(scope="module")
def data():
    """(vocab, training pairs) built from every 50th distilled example."""
    vocab, pairs, _ = build(load_examples()[::50])
    assert len(pairs) > 300
    return vocab, pairs


def _words(vocab, prompt):
    """{@i id: word id} of a prompt (`<index> @0 w0 ... <sep>`, or its echo form)."""
    return {vocab.stoi[f"@{i}"]: w for i, w in enumerate(vocab.split_prompt(prompt)[1])}


def _copied_words(vocab, pair):
    """The word ids the IR copies, in IR order: what a copy means once the prompt is read."""
    prompt, ir = pair
    at = _words(vocab, prompt)
    return [at[t] for t in ir if vocab.itos[t].startswith("@")]


@settings(deadline=None, max_examples=60)
@given(pick=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1),
       p_shape=st.floats(0, 1), p_drop=st.floats(0, 1))
def test_noise_keeps_every_copy_pointing_at_its_word(data, pick, seed, p_shape, p_drop):
    vocab, pairs = data
    if p_shape + p_drop > 1:
        p_shape, p_drop = p_shape / 2, p_drop / 2
    pair = pairs[pick % len(pairs)]
    prompt, ir = WordNoise(vocab, p_shape, p_drop)(pair, np.random.default_rng(seed))
    assert prompt[0] == pair[0][0] and prompt[-1] == pair[0][-1]               # index token and <sep> stay
    assert [vocab.itos[t] for t in prompt[1:-1:2]] == [f"@{i}" for i in range((len(prompt) - 2) // 2)]
    assert len(prompt) <= len(pair[0]) and len(ir) == len(pair[1])
    assert [vocab.itos[t] for t in ir if not vocab.itos[t].startswith("@")] == \
        [vocab.itos[t] for t in pair[1] if not vocab.itos[t].startswith("@")]   # only copy markers change
    assert _copied_words(vocab, (prompt, ir)) == _copied_words(vocab, pair)
    before, after = _words(vocab, pair[0]).values(), _words(vocab, prompt).values()
    assert all(vocab.itos[w] in SHAPES for w in set(after) - set(before))    # a changed word is a shape token


@settings(deadline=None, max_examples=20)
@given(pick=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_zero_noise_is_the_identity_and_full_noise_hits_every_uncopied_word(data, pick, seed):
    vocab, pairs = data
    pair = pairs[pick % len(pairs)]
    rng = np.random.default_rng(seed)
    assert WordNoise(vocab)(pair, rng) == (list(pair[0]), list(pair[1]))
    n_copied = len(set(t for t in pair[1] if vocab.itos[t].startswith("@")))
    dropped, _ = WordNoise(vocab, p_drop=1.0)(pair, rng)
    assert (len(dropped) - 2) // 2 == n_copied
    shaped, ir = WordNoise(vocab, p_shape=1.0)(pair, rng)
    assert ir == list(pair[1]) and len(shaped) == len(pair[0])
    copied = {t for t in pair[1] if vocab.itos[t].startswith("@")}
    assert all(vocab.itos[shaped[k + 1]] in SHAPES for k in range(1, len(shaped) - 1, 2) if shaped[k] not in copied)


def test_bad_probabilities_are_refused_by_name(data):
    vocab, _ = data
    with pytest.raises(ValueError, match="p_shape"):
        WordNoise(vocab, p_shape=1.5)
    with pytest.raises(ValueError, match="p_drop"):
        WordNoise(vocab, p_drop=-0.1)
    with pytest.raises(ValueError, match="at most 1"):
        WordNoise(vocab, p_shape=0.6, p_drop=0.6)



@pytest.fixture(scope="module")
def echo_data():
    """(vocab, training pairs) with echo prompts (the question read twice), from every 50th distilled example."""
    vocab, pairs, _ = build(load_examples()[::50], echo=True)
    return vocab, pairs


@settings(deadline=None, max_examples=20)
@given(pick=st.integers(0, 10**6), seed=st.integers(0, 2**32 - 1))
def test_noise_on_echo_prompts_changes_both_readings_alike(echo_data, pick, seed):
    vocab, pairs = echo_data
    pair = pairs[pick % len(pairs)]
    prompt, ir = WordNoise(vocab, 0.3, 0.3)(pair, np.random.default_rng(seed))
    index_id, ws = vocab.split_prompt(prompt)
    assert prompt == vocab.join_prompt(index_id, ws) and len(ir) == len(pair[1])
    assert _copied_words(vocab, (prompt, ir)) == _copied_words(vocab, pair)
