"""n-gram models: normalisation, fast path == readable path, hand-computed Kneser-Ney, update == refit, save/load."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.ngram import MODELS, NGramConfig, load, make_model
from tinyllm.ngram.counts import count_ngrams, lookup
from tinyllm.ngram.kneser_ney import estimate_discounts
from tinyllm.sampling.logits import SamplingConfig

SMOOTHED = ["addk", "backoff", "kn", "mkn", "infini"]
texts = st.text(alphabet="abcd \n", min_size=1, max_size=60)


def brute_counts(ids, k):
    out = {}
    for i in range(len(ids) - k + 1):
        key = tuple(ids[i:i + k])
        out[key] = out.get(key, 0) + 1
    return out


@given(text=texts, order=st.integers(1, 5))
def test_trie_counts_equal_brute_force(text, order):
    ids = [ord(c) for c in text]
    trie = count_ngrams(np.array(ids), order, 256)
    for k in range(1, order + 1):
        E = lookup(trie, np.array(ids))[k]                  # id of each k-gram ending at t
        got = {}
        for t in range(k - 1, len(ids)):
            got[tuple(ids[t - k + 1:t + 1])] = int(trie.level(k).count[E[t]])
        assert got == brute_counts(ids, k)
        assert len(trie.level(k)) == len(got)


@given(text=texts, order=st.integers(1, 5), method=st.sampled_from(SMOOTHED),
       context=st.lists(st.integers(0, 255), max_size=8))
def test_smoothed_distributions_sum_to_one_and_are_positive(text, order, method, context):
    model = make_model(method, order=order, vocab="bytes").fit(text)
    p = model.prob(np.array(context, np.int64))
    assert p.shape == (256,)
    assert abs(p.sum() - 1.0) < 1e-9
    assert p.min() > 0


@given(text=texts, method=st.sampled_from(sorted(MODELS)), order=st.integers(1, 5))
def test_fast_score_equals_readable_distribution(text, method, order):
    model = make_model(method, order=order, vocab="chars").fit(text)
    ids = model.vocab.encode(text[::-1] + text)
    fast, slow = model.score(ids), model.score_reference(ids)
    assert np.array_equal(np.isinf(fast), np.isinf(slow))
    finite = np.isfinite(slow)
    np.testing.assert_allclose(fast[finite], slow[finite], rtol=1e-10, atol=1e-12)
    for t in range(min(len(ids), 8)):                       # prob() of a (possibly short) prefix agrees too
        np.testing.assert_allclose(model.prob(ids[:t])[ids[t]], np.exp(slow[t]), rtol=1e-10, atol=1e-300)


@given(a=texts, b=texts, c=texts, method=st.sampled_from(sorted(MODELS)), order=st.integers(1, 5))
def test_update_equals_refit(a, b, c, method, order):
    whole = make_model(method, order=order, vocab="bytes").fit(a + b + c)
    parts = make_model(method, order=order, vocab="bytes").fit(a).update(b).update(c)
    if method == "naive":
        assert parts.counts == whole.counts
    else:
        for lw, lp in zip(whole.trie.levels, parts.trie.levels):
            for name in ("keys", "count", "suffix"):
                assert np.array_equal(getattr(lw, name), getattr(lp, name)), name
    ids = whole.vocab.encode(b + a)
    np.testing.assert_array_equal(parts.score(ids), whole.score(ids))


def test_kneser_ney_by_hand():
    # text "abacab", chars vocabulary {a, b, c}, order 2, one fixed discount D = 0.5.
    # bigram counts: ab 2, ba 1, ac 1, ca 1. Continuation counts N1+(. w): a <- {b, c} = 2, b <- {a} = 1,
    # c <- {a} = 1, total 4; every unigram is discounted: gamma(root) = 3 * 0.5 = 1.5.
    #   p1(a) = (2 - 0.5 + 1.5 * 1/3) / 4 = 0.5      p1(b) = p1(c) = (1 - 0.5 + 1.5 * 1/3) / 4 = 0.25
    # context 'a': children ab (2), ac (1), total 3, gamma = 2 * 0.5 = 1
    #   p(b|a) = (1.5 + 1 * 0.25) / 3 = 7/12    p(c|a) = (0.5 + 0.25) / 3 = 1/4    p(a|a) = (1 * 0.5) / 3 = 1/6
    # context 'c': child ca (1), total 1, gamma 0.5
    #   p(a|c) = (0.5 + 0.5 * 0.5) / 1 = 3/4    p(b|c) = p(c|c) = 0.5 * 0.25 = 1/8
    kn = make_model("kn", order=2, discounts=(0.5,)).fit("abacab")
    np.testing.assert_allclose(kn.prob(""), [0.5, 0.25, 0.25], rtol=1e-12)
    np.testing.assert_allclose(kn.prob("a"), [1 / 6, 7 / 12, 1 / 4], rtol=1e-12)
    np.testing.assert_allclose(kn.prob("c"), [3 / 4, 1 / 8, 1 / 8], rtol=1e-12)
    np.testing.assert_allclose(kn.score("ab"), np.log([0.5, 7 / 12]), rtol=1e-12)


def test_modified_kneser_ney_by_hand():
    # same text. Bigram count-of-counts n1 = 3 (ba, ac, ca), n2 = 1 (ab), n3 = n4 = 0:
    #   Y = 3 / (3 + 2) = 0.6, D1 = 1 - 2 * 0.6 * 1/3 = 0.6, D2 = 2 - 3 * 0.6 * 0/1 = 2, D3+ = 3 * Y = 1.8 (n3 = 0)
    # unigram continuation counts a 2, b 1, c 1: n1 = 2, n2 = 1, Y = 0.5, D1 = 1 - 2 * 0.5 * 1/2 = 0.5, D2 = 2
    #   gamma(root) = D2 + 2 * D1 = 3, total 4: p1(a) = (0 + 3/3)/4 = 1/4, p1(b) = p1(c) = (0.5 + 1)/4 = 3/8
    # context 'a': ab (2, D2 = 2 -> 0), ac (1, D1 = 0.6 -> 0.4), total 3, gamma = 2 + 0.6 = 2.6
    #   p(a|a) = 2.6 * 1/4 / 3 = 0.65/3    p(b|a) = 2.6 * 3/8 / 3 = 0.975/3    p(c|a) = (0.4 + 0.975) / 3
    assert estimate_discounts(np.array([1, 1, 1, 2]), modified=True) == pytest.approx((0.6, 2.0, 1.8))
    mkn = make_model("mkn", order=2).fit("abacab")
    assert mkn.discounts[1] == pytest.approx((0.6, 2.0, 1.8))
    assert mkn.discounts[0] == pytest.approx((0.5, 2.0, 1.5))
    np.testing.assert_allclose(mkn.prob(""), [1 / 4, 3 / 8, 3 / 8], rtol=1e-12)
    np.testing.assert_allclose(mkn.prob("a"), [0.65 / 3, 0.975 / 3, 1.375 / 3], rtol=1e-12)


def test_discounts_are_clipped_into_a_safe_range():
    for a in (np.array([5, 5]), np.array([1]), np.array([2, 2, 1])):
        for modified in (False, True):
            D = estimate_discounts(a, modified)
            assert all(0.05 <= d <= r for r, d in zip((1, 2, 3), D))


def test_naive_model_on_unseen_context_and_unseen_token():
    model = make_model("naive", order=3, vocab="chars").fit("abcabd")
    # seen context "ab" -> c once, d once: maximum likelihood, no smoothing
    np.testing.assert_allclose(model.prob("ab"), [0, 0, 0.5, 0.5])
    # context "dd" never occurred: no counts at all, documented fallback is the uniform distribution
    np.testing.assert_allclose(model.prob("dd"), [0.25] * 4)
    # a seen context followed by a token it never preceded has probability 0: log-prob -inf, loss infinite
    assert model.log_prob("ab")[0] == -math.inf
    r = model.evaluate("abab")
    assert r["nats_per_token"] == math.inf
    # contexts of "cabdd" at t = 2, 3, 4: "ca" and "ab" were seen, "bd" never was
    assert model.unseen_context_share(model.vocab.encode("cabdd")) == pytest.approx(1 / 3)


@given(text=texts, order=st.integers(1, 4))
def test_naive_counts_equal_trie_counts(text, order):
    naive = make_model("naive", order=order, vocab="bytes").fit(text)
    trie = count_ngrams(np.frombuffer(text.encode(), np.uint8).astype(np.int64), order, 256)
    ids = list(text.encode())
    for ctx, inner in naive.counts.items():
        if len(ctx) == order - 1:                            # full-length contexts are counted by both
            k = order
            E = lookup(trie, np.array(list(ctx) + [0]))
            h = E[k - 1][-2] if k > 1 else 0
            sl = slice(*np.searchsorted(trie.level(k).keys, [h * 256, (h + 1) * 256]))
            got = dict(zip((trie.level(k).keys[sl] % 256).tolist(), trie.level(k).count[sl].tolist()))
            assert got == inner                              # the same k-gram occurrences, counted two ways
    assert sum(sum(d.values()) for d in naive.counts.values()) == len(ids)


@pytest.mark.parametrize("method", sorted(MODELS))
def test_save_load_identity(method, tmp_path):
    text = "to be or not to be, that is the question\n" * 3
    model = make_model(method, order=4, vocab="chars").fit(text)
    path = tmp_path / f"m-{method}"
    model.save(str(path))
    again = load(str(path))
    assert again.config == model.config and again.vocab.chars == model.vocab.chars
    ids = model.vocab.encode("not the question to be")
    np.testing.assert_array_equal(again.score(ids), model.score(ids))
    np.testing.assert_array_equal(again.prob("to b"), model.prob("to b"))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]           # no temp file left behind


def test_load_rejects_other_versions_and_missing_files(tmp_path):
    path = tmp_path / "m.json"
    make_model("naive", order=2).fit("abc").save(str(path))
    meta = json.loads(path.read_text())
    meta["version"] = 99
    path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="version 99.*HINT"):
        load(str(path))
    with pytest.raises(FileNotFoundError, match="no n-gram model file"):
        load(str(tmp_path / "missing.npz"))
    (tmp_path / "junk").write_text("not json")
    with pytest.raises(ValueError, match="not a readable"):
        load(str(tmp_path / "junk"))


@pytest.mark.parametrize("method", ["naive", "mkn", "infini"])
def test_generation_is_seeded(method):
    model = make_model(method, order=3, vocab="chars").fit("the cat sat on the mat; the dog sat on the log\n" * 2)
    a = model.generate("the ", 40, SamplingConfig(seed=7))
    b = model.generate("the ", 40, SamplingConfig(seed=7))
    assert a == b and len(a) == 40
    others = {model.generate("the ", 40, SamplingConfig(seed=s)) for s in range(5)}
    assert len(others) > 1
    greedy = model.generate("the ", 5, SamplingConfig(temperature=0))
    ctx = list(model.vocab.encode("the "))
    for ch in greedy:                                       # greedy = argmax of the model's own distribution
        assert model.vocab.chars[int(np.argmax(model.prob(np.array(ctx))))] == ch
        ctx.append(model.vocab.index[ch])


def test_top_k_one_is_greedy():
    model = make_model("kn", order=3, vocab="chars").fit("abcabcabd")
    assert model.generate("ab", 10, SamplingConfig(top_k=1, seed=3)) == \
        model.generate("ab", 10, SamplingConfig(temperature=0))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="order"):
        NGramConfig(order=0)
    with pytest.raises(ValueError, match="method"):
        make_model("bogus")
    with pytest.raises(ValueError, match="discounts"):
        NGramConfig(method="mkn", discounts=(0.5,))
    with pytest.raises(ValueError, match="alpha"):
        NGramConfig(alpha=0)
    with pytest.raises(TypeError, match="data must be"):
        make_model("kn").fit(123)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_model("mkn").prob("a")
    model = make_model("mkn", order=2, vocab="chars").fit("abc")
    with pytest.raises(ValueError, match="'z' is not in"):
        model.evaluate("az")
    with pytest.raises(ValueError, match="n \\(tokens to generate\\)"):
        model.generate("a", -1)
    with pytest.raises(ValueError, match="context ids must lie in \\[0, 3\\)"):
        model.prob(np.array([0, 7]))
    with pytest.raises(ValueError, match="config.method"):
        MODELS["kn"](NGramConfig(method="mkn"))
