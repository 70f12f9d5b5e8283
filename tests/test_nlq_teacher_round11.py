"""Round-11 and round-12 wordings of the template teacher, and the split of small number ranges into words.

Remarks that ask for nothing ("please", "(all of them)") are never copied; a book's title word is a `match` on
the title; a passage range said "3-7" copies both bounds, and read "in reading order" is sorted and sized to
the range; an author's newest paper said with a possessive is that author's single newest one."""
import collections
import random
import re

import pytest
from hypothesis import given, strategies as st

from tinyllm.nlq import templates as T
from tinyllm.nlq.distill import verify
from tinyllm.nlq.ir import Unsupported, parse_dsl, words
from tinyllm.nlq.teacher import TemplateTeacher
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.values import load_values


@pytest.fixture(scope="module")
def made():
    es = shared_backend()
    values = {i: load_values(es, i, seed=0) for i in ("articles", "gutenberg")}
    return es, list(TemplateTeacher(values, seed=41).generate(4000))


def _ir(ex):
    try:
        return parse_dsl(ex.query, ex.question)
    except Unsupported:
        return None


@given(st.integers(0, 999), st.integers(0, 99999))
def test_a_range_of_small_numbers_is_three_words(a, b):
    got = [w for w, _, _ in words(f"passages {a}-{b} of Emma")]
    assert got == ["passages", str(a), "-", str(b), "of", "Emma"]


@pytest.mark.parametrize("kept", ["2024-03-15", "2020-2023", "covid-19", "3-D", "gpt-4o", "1-shot", "x-1-2"])
def test_dates_and_hyphenated_words_stay_whole(kept):
    assert [w for w, _, _ in words(f"on {kept} now")] == ["on", kept, "now"]


@given(st.sampled_from(["title", "abstract", "author", "authors", "content"]),
       st.from_regex(r"[A-Za-z][a-z0-9]{0,6}(?:-[a-z0-9]{1,4})?", fullmatch=True), st.integers(0, 23), st.integers(0, 59))
def test_a_field_prefix_comes_off_its_value_but_a_time_stays_whole(field, value, h, m):
    assert [w for w, _, _ in words(f"{field}:{value} at {h}:{m:02d}")] == [field, ":", value, "at", f"{h}:{m:02d}"]


def test_terse_field_value_questions_copy_their_values(made):
    """'title:insights' is the title word 'insights': its IR copies it instead of needing a rare literal."""
    terse = [e for e in made[1] if re.search(r"\b(title|abstract):[a-z]", e.question)]
    assert terse
    for e in terse:
        ws, ir = [w for w, _, _ in words(e.question)], _ir(e)
        said = {m.group(1) for m in re.finditer(r"\b(?:title|abstract):([a-z][\w-]*)", e.question)}
        assert ir is not None and all(f"@{ws.index(v)}" in ir for v in said), (e.question, ir)


def test_both_bounds_of_a_said_range_are_copied():
    q = "Dracula passages 10-20"
    body = {"query": {"bool": {"filter": [{"term": {"title.keyword": "Dracula"}},
                                          {"range": {"passage": {"gte": 10, "lte": 20}}}]}}}
    ws = [w for w, _, _ in words(q)]
    copied = [ws[int(t[1:])] for t in parse_dsl(body, q) if t.startswith("@")]
    assert "10" in copied and "20" in copied


@given(st.integers(0, 2**32 - 1), st.sampled_from(["articles", "gutenberg"]),
       st.sampled_from(["papers by Hao Li", "how many passages from Emma?", "count the cs.CV papers"]))
def test_with_scope_adds_at_most_one_known_remark(seed, index, question):
    out = T.with_scope(random.Random(seed), index, question)
    if out == question:
        return
    core = question.rstrip("?")
    assert out.startswith(core + " ") and out.endswith("?") == question.endswith("?")
    assert out[len(core) + 1:].rstrip("?") in T.SCOPE_PHRASES[index] + T.ASIDES


def test_asides_are_never_copied(made):
    _, exs = made
    seen = 0
    for ex in exs:
        said = next((a for a in T.ASIDES if ex.question.rstrip("?").endswith(" " + a)), None)
        ir = _ir(ex)
        if said is None or ir is None:
            continue
        seen += 1
        start = len(ex.question.rstrip("?")) - len(said)
        ws = words(ex.question)
        for t in ir:
            if t.startswith("@"):
                assert ws[int(t[1:])][1] < start, (ex.question, ex.query)
    assert seen > 40


def test_gutenberg_title_words_match_the_title(made):
    es, exs = made
    got = [e for e in exs if e.index == "gutenberg" and "title_word" in e.extra["template"]]
    assert len(got) > 10
    for e in got:
        w = re.search(r"'match': \{'title': '([^']+)'", str(e.query)).group(1)
        assert re.search(rf"\b{re.escape(w)}\b", e.question), e.question
    results = collections.Counter(verify(es, e)[0] for e in got[:20])
    assert results[None] >= 0.9 * sum(results.values()), results


def test_a_range_in_reading_order_is_sorted_and_sized_to_it(made):
    _, exs = made
    ranged = []
    for e in exs:
        if e.intent == "passage_range" and e.compare == "topk":
            filters = e.query["query"].get("bool", {}).get("filter", [])
            r = next((f["range"]["passage"] for f in filters if "range" in f), {})
            ranged += [(e, r)] if {"gte", "lte"} <= set(r) else []
    assert len(ranged) > 3
    for e, r in ranged:
        assert e.query["size"] == r["lte"] - r["gte"] + 1 and e.query["sort"] == [{"passage": {"order": "asc"}}]


def test_possessive_newest_is_that_authors_single_newest(made):
    _, exs = made
    forms = [re.escape(f).replace(r"\{a\}", "(?P<a>.+)").replace(r"\{one\}", r"\w+")
             for f in T.POSSESSIVE_NEWEST + T.POSSESSIVE_OLDEST]
    pos = []
    for e in exs:
        if e.extra["template"] == "topk_date:author":
            m = next((m for m in (re.fullmatch(f, e.question, re.I) for f in forms) if m), None)
            pos += [(e, m)] if m else []
    assert len(pos) >= 2
    for e, m in pos:
        assert e.query["query"]["term"]["author"] == m.group("a") and e.query["size"] == 1, e.question
        newest = any(re.fullmatch(f, e.question, re.I) for f in forms[:len(T.POSSESSIVE_NEWEST)])
        assert e.query["sort"][0]["publication_date"]["order"] == ("desc" if newest else "asc"), e.question


def test_round12_prolific_and_counts_of_are_aggregations(made):
    _, exs = made
    prolific = [e for e in exs if "prolific" in e.question]
    counts = [e for e in exs if re.search(r"\bcounts\b|\btotals\b", e.question) and e.intent == "time_buckets"]
    assert len(prolific) >= 3 and len(counts) >= 3
    for e in prolific:
        (agg,) = e.query["aggs"].values()
        assert agg["terms"]["field"] in ("author", "authors"), e.question
    for e in counts:
        assert "date_histogram" in str(e.query["aggs"]) and "counts" not in str(e.query.get("query")), e.question


def test_round12_books_that_came_out_list_titles_by_date(made):
    _, exs = made
    forms = tuple(f.split(" {")[0].lower() for f in T.BOOKS_CAME_OUT_FORMS)
    came = [e for e in exs if e.intent == "group_by" and e.question.lower().startswith(forms)]
    assert len(came) >= 2
    for e in came:
        (agg,) = e.query["aggs"].values()
        assert agg["terms"]["field"] == "title.keyword", e.question
        assert "publication_date" in str(e.query["query"]), e.question
