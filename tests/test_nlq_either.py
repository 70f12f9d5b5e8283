""""Either A or B" repairs (either.py): a search for one of the two words becomes a should of both."""
import gzip
import json

from hypothesis import given, strategies as st

from tinyllm.nlq import schema
from tinyllm.nlq.either import either_or, pairs
from tinyllm.nlq.validate import validate

WORD = st.sampled_from(["speech", "audio", "whale", "ghost", "diffusion", "graph", "love", "sea"])
FIELD = st.sampled_from([("articles", "title"), ("articles", "abstract"), ("gutenberg", "content")])
CODE = {"term": {"categories": "cs.CL"}}
FILTER = {"articles": CODE, "gutenberg": {"term": {"author": "Herman Melville"}}}


def _match(field, word, op="match"):
    return {op: {field: {"query": word}}}


@given(WORD, WORD, FIELD, st.booleans(), st.sampled_from(["match", "match_phrase"]), st.booleans())
def test_one_of_the_two_words_alone_becomes_a_should_of_both_in_the_question_order(a, b, where, first, op, filtered):
    if a == b:
        return
    index, field = where
    q = f"papers mentioning either {a} or {b} in the {field}"
    said = a if first else b
    bool_ = {"must": [_match(field, said, op)]}
    if filtered:
        bool_["filter"] = [FILTER[index]]
    out = either_or({"query": {"bool": bool_}, "size": 5}, q)
    should = out["query"]["bool"]["should"]
    assert [next(iter(c.values()))[field]["query"] for c in should] == [a, b]
    assert out["query"]["bool"]["minimum_should_match"] == "1" and "must" not in out["query"]["bool"]
    assert out["query"]["bool"].get("filter") == bool_.get("filter") and out["size"] == 5
    assert validate(index, out) == out
    assert either_or({"query": _match(field, said)}, q)["query"]["bool"]["should"][0 if first else 1] == _match(field, said)


@given(WORD, WORD, FIELD)
def test_a_body_that_already_reads_both_words_or_a_question_without_either_is_left_alone(a, b, where):
    if a == b:
        return
    _, field = where
    q = f"either {a} or {b}"
    both = {"query": {"bool": {"must": [_match(field, a), _match(field, b)]}}}
    assert either_or(both, q) == both                                     # "and" is the model's reading: kept
    phrase = {"query": {"match_phrase": {field: {"query": f"{a} {b}"}}}}
    assert either_or(phrase, q) == phrase                                 # the other word is already there
    has_should = {"query": {"bool": {"must": [_match(field, a)], "should": [CODE], "minimum_should_match": "1"}}}
    assert either_or(has_should, q) == has_should
    alone = {"query": _match(field, a)}
    assert either_or(alone, f"{a} or {b}") == alone and either_or(alone, f"either {a} and {b}") == alone
    fuzzy = {"query": {"match": {field: {"query": a, "fuzziness": "AUTO"}}}}
    assert either_or(fuzzy, q) == fuzzy


def test_pairs_are_one_word_each_and_lower_cased():
    assert pairs("Either Speech or audio, and either cs.CL or cs.LG") == [("speech", "audio")]     # a code is not a word
    assert pairs("by either Jane Austen or Charles Dickens") == []


def test_the_teachers_either_searches_come_back_from_either_half():
    """Every distilled 'either A or B' text should, cut to A alone (or B alone), is restored to the teacher's."""
    n = 0
    with gzip.open(schema.DATA_DIR / "nlq_examples.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            occs = e["query"].get("query", {}).get("bool", {})
            should = occs.get("should", [])
            ps = pairs(e["question"])
            if len(should) != 2 or not ps or any(set(c) != {"match"} for c in should):
                continue
            words = [next(iter(c["match"].values()))["query"].lower() for c in should]
            if tuple(words) not in ps:
                continue
            for keep in (0, 1):
                rest = {k: v for k, v in occs.items() if k not in ("should", "minimum_should_match")}
                cut = {**e["query"], "query": {"bool": {**rest, "must": rest.get("must", []) + [should[keep]]}}}
                if rest.get("must"):
                    continue             # the repair takes the clause out of must; the teacher's must stays
                out = either_or(cut, e["question"])
                assert out["query"]["bool"]["should"] == should, e["question"]
                assert {k: v for k, v in out["query"]["bool"].items() if k not in ("should", "minimum_should_match")} \
                    == rest
            n += 1
    assert n > 100
