"""Hyphenated compounds are searched as phrases; every other clause passes through unchanged."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyllm.nlq.compounds import is_compound, phrase_compounds
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.translator import Translator
from tinyllm.nlq.validate import validate

part = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=8)
compound = st.lists(part, min_size=2, max_size=4).map("-".join)
plain = st.lists(part, min_size=1, max_size=3).map(" ".join)
TEXT_FIELDS = {"articles": ["title", "abstract"], "gutenberg": ["content", "title"]}


@pytest.fixture(scope="module")
def backend():
    return shared_backend()


@given(compound, plain)
def test_is_compound_only_for_one_hyphenated_word(c, p):
    assert is_compound(c) and is_compound(f" {c} ")
    assert not is_compound(p)
    assert not is_compound(f"{c} {p}") and not is_compound(f"-{c}") and not is_compound(f"{c}-")


@given(st.sampled_from(sorted(TEXT_FIELDS)), st.data(), compound)
def test_a_compound_match_becomes_a_valid_phrase_of_the_same_words(index, data, c):
    field = data.draw(st.sampled_from(TEXT_FIELDS[index]))
    op = data.draw(st.sampled_from([{}, {"operator": "and"}, {"operator": "or"}]))
    body = validate(index, {"query": {"bool": {"must": [{"match": {field: {"query": c, **op}}}],
                                                "filter": [{"range": {"publication_date": {"gte": "1900-01-01"}}}]}}})
    out = phrase_compounds(body)
    assert out["query"]["bool"]["must"] == [{"match_phrase": {field: {"query": c}}}]
    assert out["query"]["bool"]["filter"] == body["query"]["bool"]["filter"]
    assert validate(index, out) == out              # still passes the safety gate, already normalised


@given(st.sampled_from(sorted(TEXT_FIELDS)), compound)
def test_a_compound_multi_match_becomes_a_phrase_multi_match(index, c):
    fields = TEXT_FIELDS[index]
    out = phrase_compounds(validate(index, {"query": {"multi_match": {"query": c, "fields": fields}}}))
    assert out == {"query": {"multi_match": {"query": c, "fields": fields, "type": "phrase"}}}
    assert validate(index, out) == out


@given(plain, compound)
def test_words_fuzzy_clauses_and_keyword_values_are_left_alone(p, c):
    for q in ({"match": {"title": {"query": p}}},
              {"match": {"title": {"query": f"{c} {p}"}}},                   # a bag of words by choice
              {"match": {"title": {"query": c, "fuzziness": "AUTO"}}},       # a phrase cannot be fuzzy
              {"multi_match": {"query": c, "fields": ["title"], "fuzziness": 1}},
              {"term": {"categories": c}}):
        body = validate("articles", {"query": q})
        assert phrase_compounds(body) == body


def test_the_phrase_keeps_the_compound_meaning_on_the_engine(backend):
    """On the real index, match "gpt-4" ORs "gpt" and "4"; the phrase finds a subset, with both in order."""
    match = backend.search("articles", {"query": {"match": {"abstract": "gpt-4"}}, "size": 0,
                                        "track_total_hits": True})["hits"]["total"]["value"]
    body = phrase_compounds(validate("articles", {"query": {"match": {"abstract": "gpt-4"}}, "size": 50}))
    hits = backend.search("articles", body)["hits"]["hits"]
    assert 0 < len(hits) < match
    assert all("gpt-4" in h["_source"]["abstract"].lower().replace("gpt 4", "gpt-4") for h in hits)


def test_the_translator_writes_compounds_as_phrases():
    t = Translator.load()
    body = t.translate("anything about chain-of-thought", "articles")
    assert "chain-of-thought" in str(body) and '"match"' not in str(body).replace("'", '"')
