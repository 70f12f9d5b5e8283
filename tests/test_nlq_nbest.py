"""N-best decoding under the grammar (nbest.py) and the execution check that falls back on it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.nlq import schema
from tinyllm.nlq.compiler import compile_ir
from tinyllm.nlq.constrained import decode
from tinyllm.nlq.nbest import (execution_check, is_empty, nbest, negated, stated_exclusion, stated_filter,
                               without_exclusions)
from tinyllm.nlq.validate import validate

from test_nlq_constrained import QUESTIONS, VOCAB


@pytest.fixture(scope="module")
def tiny():
    return GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=96, vocab_size=len(VOCAB)), seed=5)


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 2**31 - 1), q=st.sampled_from(QUESTIONS), index=st.sampled_from(schema.INDEXES),
       width=st.integers(1, 4))
def test_beams_are_valid_distinct_sorted_and_width_one_is_greedy(tiny, seed, q, index, width):
    rng = np.random.default_rng(seed)
    for p in tiny.parameters():                      # sharp random weights, so beams really disagree
        p.data[...] = rng.normal(0, 0.5, p.data.shape).astype(p.data.dtype)
    try:
        greedy = decode(tiny, VOCAB, q, index)
    except ValueError:                               # ran out of context: nothing to compare with
        return
    assert nbest(tiny, VOCAB, q, index, 1)[0][1] == greedy
    beams = nbest(tiny, VOCAB, q, index, width)
    scores = [s for s, _ in beams]
    assert 1 <= len(beams) <= width and scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert len({tuple(t) for _, t in beams}) == len(beams)
    for _, tokens in beams:
        validate(index, compile_ir(tokens, q, index))           # every candidate passes the safety gate


def test_bad_width_is_refused_by_name(tiny):
    with pytest.raises(ValueError, match="width"):
        nbest(tiny, VOCAB, QUESTIONS[0], "articles", 0)


def _response(n):
    return {"hits": {"total": {"value": n, "relation": "eq"}, "hits": []}}


def test_execution_check_keeps_a_body_that_finds_something_and_never_decodes_more():
    def candidates():
        raise AssertionError("candidates are only computed when the body finds nothing")
    assert execution_check("articles", {"q": 0}, candidates, lambda index, body: _response(3)) == {"q": 0}


def test_execution_check_takes_the_most_probable_other_candidate_that_finds_something():
    hits = {0: 0, 1: 0, 2: 5, 3: 7}
    search = lambda index, body: _response(hits[body["q"]])        # noqa: E731
    body = {"q": 0}
    assert execution_check("articles", body, lambda: iter([{"q": 0}, {"q": 1}, {"q": 2}, {"q": 3}]), search) == {"q": 2}
    assert execution_check("articles", body, lambda: iter([{"q": 1}]), search) == body      # all empty: unchanged


def test_execution_check_survives_an_engine_failure():
    def search(index, body):
        raise ConnectionError("engine down")
    assert execution_check("articles", {"q": 0}, lambda: iter([{"q": 1}]), search) == {"q": 0}


@given(st.sampled_from(["Jane Austen", "Yann LeCun", "Ada Lovelace"]), st.integers(1990, 2030))
def test_a_single_stated_filter_is_trusted_to_find_nothing(name, year):
    """A person named verbatim or a date range, alone, is the question's own filter: its empty result is kept.
    Anything else (two clauses, text, a name the question does not spell, a range of equal bounds) is not."""
    q = f"papers by {name} from {year}"
    by = {"term": {"authors": name}}
    dated = {"range": {"publication_date": {"gte": f"{year}-01-01", "lt": f"{year + 1}-01-01"}}}
    assert stated_filter("articles", {"query": by}, q) and stated_filter("articles", {"query": dated}, q)
    assert stated_filter("articles", {"query": {"bool": {"filter": [by]}}, "size": 3}, q)
    assert stated_filter("articles", {"query": {"terms": {"authors": [name]}}}, q)
    assert not stated_filter("articles", {"query": {"bool": {"filter": [by, dated]}}}, q)
    assert not stated_filter("articles", {"query": {"term": {"authors": name + "son"}}}, q)
    assert not stated_filter("articles", {"query": {"term": {"categories": "cs.CL"}}}, q + " in cs.CL")
    assert not stated_filter("articles", {"query": {"match": {"title": name}}}, q)
    assert not stated_filter("articles", {"query": {"bool": {"must_not": [by]}}}, q)
    day = {"range": {"publication_date": {"gte": f"{year}-05-10", "lte": f"{year}-05-10"}}}
    assert not stated_filter("articles", {"query": day}, q)


NEGATIONS = ["not from {x}", "but not in {x}", "excluding {x}", "outside {x}", "not co-authored by {x}",
             "that do not mention {x}", "without the word {x}", "other than {x}'s", "which aren't by {x}", "-{x}"]


@given(st.sampled_from(NEGATIONS), st.sampled_from(["Emma", "Rui Wang", "cs.CV", "love", "The Phantom of the Opera"]),
       st.sampled_from(["", "passages about the sea ", "papers on robotics "]))
def test_a_value_named_after_a_negation_word_is_negated_and_one_named_elsewhere_is_not(form, name, before):
    q = before + form.format(x=name) + " in 2024"
    assert negated(name, q)
    assert not negated(name, before + f"{name} and not in 2024")         # named before the negation
    assert not negated(name, f"not in 2024, from the works of {name}")      # four words after it


def test_a_stated_exclusion_is_trusted_to_empty_the_search_only_when_every_excluded_value_is_negated():
    """'the opera ghost but not from The Phantom of the Opera' finds nothing because the phrase is only in that
    book: no results is the answer. An exclusion the question does not negate (the model read 'on machine
    learning' as one) is a misreading, and so is a body whose exclusions are not plain term/match clauses."""
    phrase, book = {"match_phrase": {"content": {"query": "opera ghost"}}}, {"term": {"book_id": 175}}
    body = {"query": {"bool": {"must": [phrase], "must_not": [book]}}}
    titles = lambda field, value: ["The Phantom of the Opera", "Phantom of the Opera"] if value == 175 else [value]  # noqa: E731
    assert stated_exclusion(body, "the opera ghost but not from The Phantom of the Opera", titles)
    assert stated_exclusion(body, "the opera ghost, excluding Phantom of the Opera", titles)
    assert not stated_exclusion(body, "the opera ghost in The Phantom of the Opera, not in 1900", titles)
    assert not stated_exclusion({"query": {"bool": {"must": [phrase]}}}, "not from The Phantom of the Opera", titles)
    ml = {"query": {"bool": {"filter": [{"term": {"author": "Ada Li"}}],
                             "must_not": [{"term": {"category_names": "Machine Learning"}},
                                          {"term": {"categories": "cs.GT"}}]}}}
    q = "papers outside cs.GT by Ada Li on machine learning"
    assert not stated_exclusion(ml, q, titles)
    ml["query"]["bool"]["must_not"].pop(0)
    assert stated_exclusion(ml, q, titles)
    assert without_exclusions(ml) == {"query": {"bool": {"filter": [{"term": {"author": "Ada Li"}}]}}}
    assert without_exclusions(body) == {"query": {"bool": {"must": [phrase]}}}
    assert not stated_exclusion({"query": {"bool": {"must_not": [{"range": {"publication_date": {"gte": "2024"}}}]}}},
                                "not after 2024", titles)


def test_execution_check_keeps_an_empty_body_when_told_to():
    search = lambda index, body: _response({0: 0, 1: 4}[body["q"]])        # noqa: E731
    assert execution_check("articles", {"q": 0}, lambda: iter([{"q": 1}]), search, lambda: True) == {"q": 0}
    assert execution_check("articles", {"q": 0}, lambda: iter([{"q": 1}]), search, lambda: False) == {"q": 1}


def test_is_empty_reads_raw_and_summarised_responses():
    assert is_empty(_response(0)) and not is_empty(_response(2))
    assert is_empty({"total": {"value": 0}, "hits": []}) and not is_empty({"total": {"value": 1}, "hits": []})


def test_the_model_translates_with_the_best_beam_or_greedily_at_width_one(tiny):
    from tinyllm.nlq.nlq_model import NLQModel
    rng = np.random.default_rng(11)
    for p in tiny.parameters():
        p.data[...] = rng.normal(0, 0.5, p.data.shape).astype(p.data.dtype)
    q, index = QUESTIONS[0], "articles"
    assert NLQModel(tiny, VOCAB, width=1).translate_ir(q, index) == decode(tiny, VOCAB, q, index)
    model = NLQModel(tiny, VOCAB, width=3)
    assert model.translate_ir(q, index) == nbest(tiny, VOCAB, q, index, 3)[0][1]
    assert model.candidates(q, index, 3)[0] == compile_ir(model.translate_ir(q, index), q, index)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="width"):
            NLQModel(tiny, VOCAB, width=bad)
