"""The shapes the template teacher learned in round 3: each is drawn, grounded in the index's real values, and
executes; plus the values sample that reaches every month of the articles."""
import collections
import json
import re

import pytest

from tinyllm.nlq import grammar_gutenberg as GG
from tinyllm.nlq.distill import verify
from tinyllm.nlq.ir import Unsupported, parse_dsl
from tinyllm.nlq.teacher import TemplateTeacher
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.values import load_values


@pytest.fixture(scope="module")
def es():
    return shared_backend()


@pytest.fixture(scope="module")
def made(es):
    values = {i: load_values(es, i, seed=0) for i in ("articles", "gutenberg")}
    return values, list(TemplateTeacher(values, seed=12).generate(2500))


def test_round3_kinds_are_drawn_and_execute(es, made):
    _, exs = made
    templates = " ".join(e.extra["template"] for e in exs)
    for kind in ("abstract_words_and", "author_surname", "authors_surname", "co_authors", "co_category_names",
                 "not_category_name", "book_short"):
        assert kind in templates, kind
    new = [e for e in exs if any(k in e.extra["template"] for k in ("surname", "co_", "abstract_words_and",
                                                                   "not_category_name"))]
    results = collections.Counter(verify(es, e)[0] for e in new[:40])
    assert results[None] >= 0.9 * sum(results.values()), results


def test_surnames_name_every_author_who_has_them(made):
    values, exs = made
    groups = GG.surnames(values["gutenberg"])
    assert sorted(a for g in groups.values() for a in g) == sorted(values["gutenberg"].values("author"))
    shared = 0
    for e in exs:
        if "surname" in e.extra["template"]:
            clause = json.dumps(e.query, ensure_ascii=False)
            names = [a for g in groups.values() for a in g if json.dumps(a, ensure_ascii=False) in clause]
            assert names and any(a.split()[-1] in e.question for a in names), e.question
        for c in _clauses(e.query.get("query", {})):
            many = c.get("terms", {}).get("author", [])
            if many and "authors_surname" in e.extra["template"] and groups.get(many[0].split()[-1]) == many:
                shared += 1                                      # a shared surname: every author who has it
                assert many[0].split()[-1] in e.question and len(many) > 1
    assert shared


def _clauses(q):
    if "bool" in q:
        for occ in ("must", "filter", "must_not", "should"):
            for c in q["bool"].get(occ, []):
                yield from _clauses(c)
    elif q:
        yield q


def test_books_named_any_way_filter_by_their_id(made):
    values, exs = made
    books = values["gutenberg"].extra["books"]
    for e in exs:
        for c in e.query.get("query", {}).get("bool", {}).get("filter", []):
            if "book_id" in c.get("term", {}) and "book id" not in e.question.lower() and "book #" not in e.question:
                b = c["term"]["book_id"]
                if not re.search(rf"\b{b}\b", e.question):
                    assert any(n in e.question for n in GG.book_names(books[b]["title"])), e.question


def test_relative_windows_copy_their_number(made):
    _, exs = made
    copied = [ir for ir in map(_ir, exs) if "=2026-07-01||-" in ir]
    assert copied
    for ir in copied:
        assert ir[ir.index("=2026-07-01||-") + 1].startswith("@")     # the number is the question's own word


def _ir(e):
    try:
        return parse_dsl(e.query, e.question)
    except Unsupported:                                   # nested bool bodies (two co-authors) stay outside the IR
        return []


def test_dense_histograms_keep_empty_buckets_sparse_ones_drop_them(made):
    _, exs = made
    hist = [e for e in exs if e.intent == "time_buckets"]
    assert hist
    for e in hist:
        spec = next(iter(e.query["aggs"].values()))["date_histogram"]
        sparse = e.index == "gutenberg" or any(not k.startswith(("category", "date"))
                                               for k in e.extra["template"].split(":")[1].split("+") if k)
        assert ("min_doc_count" in spec) == sparse, e.question


def test_values_sample_reaches_every_month(es):
    v = load_values(es, "articles", seed=0)
    body = {"size": 0, "aggs": {"m": {"date_histogram": {"field": "publication_date", "calendar_interval": "month",
                                                         "min_doc_count": 1}}}}
    months = {b["key_as_string"][:7] for b in es.search("articles", body)["aggregations"]["m"]["buckets"]}
    assert {d["publication_date"][:7] for d in v.docs} == months
