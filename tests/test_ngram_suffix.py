"""Suffix array and infini-gram: prefix doubling == sorting suffixes, counts == brute force, mixture limits."""
import numpy as np
from hypothesis import given, strategies as st

from tinyllm.ngram import make_model
from tinyllm.ngram.suffix_array import (build_suffix_array, count_occurrences, longest_matches,
                                        longest_matches_reference, next_token_counts, suffix_array_naive)

small_ids = st.lists(st.integers(0, 3), min_size=1, max_size=80)


@given(data=st.lists(st.integers(0, 3), max_size=80))
def test_suffix_array_equals_sorted_suffixes(data):
    assert np.array_equal(build_suffix_array(np.array(data, np.int64)), suffix_array_naive(data))


@given(data=small_ids, pattern=st.lists(st.integers(0, 3), min_size=1, max_size=5))
def test_counts_equal_brute_force_substring_counts(data, pattern):
    sa = build_suffix_array(np.array(data))
    m = len(pattern)
    brute = sum(data[i:i + m] == pattern for i in range(len(data) - m + 1))
    assert count_occurrences(np.array(data), sa, pattern) == brute


@given(data=small_ids, query=st.lists(st.integers(0, 3), min_size=1, max_size=30), max_len=st.integers(1, 10))
def test_longest_matches_equal_brute_force(data, query, max_len):
    d = np.array(data)
    got = longest_matches(d, build_suffix_array(d), np.array(query), max_len)
    want = longest_matches_reference(data, query, max_len)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


@given(data=small_ids, context=st.lists(st.integers(0, 3), max_size=12), max_len=st.integers(1, 10))
def test_next_token_counts_agree_with_longest_matches(data, context, max_len):
    d = np.array(data)
    n, counts = next_token_counts(d, build_suffix_array(d), np.array(context, np.int64), 4, max_len)
    ref_n, ref_c, _ = longest_matches_reference(data, context + [0], max_len)
    assert n == ref_n[-1] and counts.sum() == ref_c[-1]
    h = context[len(context) - n:] if n else []
    for w in range(4):                                       # counts of each follower of the matched suffix
        assert counts[w] == sum(data[i:i + n + 1] == h + [w] for i in range(len(data) - n))


def test_infinigram_mixture_limits():
    text = "the quick brown fox jumps over the lazy dog; the quick brown cat naps\n" * 3
    query = "the quick brown fox naps over the lazy cat"
    mkn = make_model("mkn", order=3).fit(text)
    off = make_model("infini", order=3, lam=0.0).fit(text)
    np.testing.assert_allclose(off.score(query), mkn.score(query), rtol=1e-12)
    on = make_model("infini", order=3, lam=0.5, threshold=4).fit(text)
    n = on.effective_n(query)
    lp_inf, lp_mkn = on.score(query), mkn.score(query)
    # where the match is long the mixture differs; where it is short (< threshold) it is plain mkn
    np.testing.assert_allclose(lp_inf[n < 4], lp_mkn[n < 4], rtol=1e-12)
    assert np.any(np.abs(lp_inf[n >= 4] - lp_mkn[n >= 4]) > 1e-6)
    # "the quick brown fox " was seen whole: the infini-gram predicts its continuation with certainty
    p = on.prob("the quick brown fox")
    assert p[on.vocab.index[" "]] > 0.5 and abs(p.sum() - 1) < 1e-12
