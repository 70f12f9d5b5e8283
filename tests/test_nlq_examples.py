"""The example store (dedup, JSONL round trips, the engine index), retrieval, and execution-verified distillation."""
import gzip
import json
import os
import pathlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.nlq.distill import Distiller, main as distill_main
from tinyllm.nlq.examples import Example, ExampleStore
from tinyllm.nlq.retrieve import EngineRetriever, Retriever, hashed_counts
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.validate import validate

SHIPPED = pathlib.Path(__file__).resolve().parents[1] / "data" / "nlq_examples.jsonl.gz"


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def ex(question, index="articles", query=None, intent="author_lookup", **kw):
    return Example(question=question, index=index, query=query or {"query": {"term": {"author": "Hao Li"}}},
                   intent=intent, **kw)


STORE = ExampleStore([
    ex("papers by Hao Li"), ex("how many robotics papers?", query={"size": 0, "track_total_hits": True,
                                                                  "query": {"term": {"categories": "cs.RO"}}},
                               intent="count", compare="count"),
    ex("the newest five papers", query={"size": 5, "sort": [{"publication_date": {"order": "desc"}}]},
       intent="topk_date", compare="topk"),
    ex("passages by Lewis Carroll", index="gutenberg", query={"query": {"term": {"author": "Lewis Carroll"}}}),
    ex("how many passages does Dracula have?", index="gutenberg", intent="metric", compare="aggs",
       query={"size": 0, "query": {"term": {"title.keyword": "Dracula"}},
              "aggs": {"m": {"max": {"field": "passage"}}}}),
    ex("papers from last month", intent="date_relative", extra={"now": "2026-07-01"},
       query={"query": {"range": {"publication_date": {"gte": "2026-07-01||-1M/M", "lt": "2026-07-01||/M"}}}}),
])


RETRIEVER = Retriever(STORE)


def test_example_rejects_bad_fields():
    with pytest.raises(ValueError, match="question"):
        ex("   ")
    with pytest.raises(ValueError, match="compare"):
        ex("papers", compare="exact")
    with pytest.raises(ValueError, match="query"):
        Example(question="q", index="articles", query="term author", intent="x")
    with pytest.raises(ValueError, match="unknown field"):
        Example.from_json({"question": "q", "index": "articles", "query": {}, "intent": "x", "sql": 1})


def test_store_dedups_on_normalised_question():
    store = ExampleStore([ex("Papers by Hao Li?")])
    assert not store.add(ex("papers   by hao li"))
    assert store.add(ex("papers by Hao Li", index="gutenberg"))    # same words, other index: a different example
    assert len(store) == 2


@pytest.mark.parametrize("name", ["ex.jsonl", "ex.jsonl.gz"])
def test_jsonl_round_trip_is_exact_and_atomic(tmp_path, name):
    path = tmp_path / name
    assert STORE.export_jsonl(path) == len(STORE)
    back = ExampleStore.import_jsonl(path)
    assert [e.to_json() for e in back] == [e.to_json() for e in STORE]
    assert sorted(os.listdir(tmp_path)) == [name]                   # no temp file left behind
    first = path.read_bytes()
    back.export_jsonl(path)
    assert path.read_bytes() == first                              # deterministic bytes (gzip mtime fixed)


def test_import_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(STORE.examples[0].to_json())
    path.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        ExampleStore.import_jsonl(path)
    with pytest.raises(OSError, match="missing.jsonl"):
        ExampleStore.import_jsonl(tmp_path / "missing.jsonl")


def test_engine_index_round_trip_is_idempotent(es):
    name = "nlq_examples_test"
    try:
        STORE.save_to_engine(es, name)
        STORE.save_to_engine(es, name)                              # same ids: nothing duplicated
        assert es.client.count(index=name)["count"] == len(STORE)
        back = ExampleStore.load_from_engine(es, name, page=4)      # forces search_after paging
        assert sorted(json.dumps(e.to_json(), sort_keys=True) for e in back) == \
            sorted(json.dumps(e.to_json(), sort_keys=True) for e in STORE)
    finally:
        es.client.indices.delete(index=name, ignore_unavailable=True)


def test_hashed_counts_batch_equals_one_by_one():
    texts = ["abc", "papers by Hao Li", "x", "Ünïcode passages — Brontë", ""]
    indptr, ids, tf = hashed_counts(texts)
    for i, t in enumerate(texts):
        _, ids1, tf1 = hashed_counts([t])
        assert np.array_equal(ids[indptr[i]:indptr[i + 1]], ids1) and np.allclose(tf[indptr[i]:indptr[i + 1]], tf1)


@given(st.integers(0, len(STORE) - 1), st.sampled_from(["upper", "spaces", "same"]))
def test_retrieval_returns_the_exact_duplicate_first(i, how):
    r = RETRIEVER
    q = STORE.examples[i].question
    q = {"upper": q.upper(), "spaces": "  " + q.replace(" ", "   ") + " ", "same": q}[how]
    best = r.similar(q, k=3)
    assert best[0][1] is STORE.examples[i]
    assert best[0][0] == pytest.approx(1.0, abs=1e-5)
    assert [s for s, _ in best] == sorted([s for s, _ in best], reverse=True)


@given(st.text(min_size=0, max_size=60))
def test_inverted_index_scores_equal_the_dense_reference(question):
    assert np.allclose(RETRIEVER.scores(question), RETRIEVER.scores_dense(question), atol=1e-6)


def test_retrieval_is_deterministic_and_filters_by_index():
    a, b = Retriever(STORE), Retriever(list(STORE))
    q = "how many passages are there in Dracula"
    assert [(s, e.question) for s, e in a.similar(q, 4)] == [(s, e.question) for s, e in b.similar(q, 4)]
    assert a.similar(q, 1)[0][1].question == "how many passages does Dracula have?"
    assert all(e.index == "articles" for _, e in a.similar(q, 10, index="articles"))
    with pytest.raises(ValueError, match="k must be"):
        a.similar(q, 0)


def test_knn_path_sends_a_knn_query_to_capable_engines():
    r = Retriever(STORE)
    calls = []

    class FakeClient:
        def search(self, **kw):
            calls.append(kw)
            return {"hits": {"hits": [{"_score": 0.9, "_source": {"index": "gutenberg",
                                                                  "question": "passages by Lewis Carroll"}}]}}

    class FakeBackend:
        capabilities = {"knn": True}
        client = FakeClient()

    got = EngineRetriever(FakeBackend(), r).similar("Lewis Carroll passages", k=2, index="gutenberg")
    assert got[0][1].question == "passages by Lewis Carroll"
    knn = calls[0]["knn"]
    assert knn["k"] == 2 and knn["filter"] == {"term": {"index": "gutenberg"}} and len(knn["query_vector"]) == 256
    assert np.isclose(np.linalg.norm(knn["query_vector"]), 1.0)


def test_distiller_counts_every_rejection_reason(es):
    d = Distiller(es, held_out={STORE.examples[0].key()})
    offers = [
        STORE.examples[0],                                                           # held out
        STORE.examples[1],                                                           # kept
        ex("how many robotics papers?"),                                             # duplicate question
        ex("papers by the nobody", query={"query": {"term": {"author": "Nobody Atall"}}}),  # empty
        ex("titles by term", query={"query": {"term": {"title": "mamba"}}}),         # term on text: rejected
        ex("papers from 2019", query={"query": {"range": {"publication_date": {"gte": "2019-01-01",
                                                                                 "lt": "2020-01-01"}}}},
           extra={"expect_empty": True}),                                            # expected empty: kept
        ex("expected empty but not", extra={"expect_empty": True}),                  # unexpected results
    ]
    kept = [d.offer(e) for e in offers]
    assert kept == [False, True, False, False, False, True, False]
    assert dict(d.rejected) == {"held_out_testset": 1, "duplicate_question": 1, "empty_result": 1,
                                "rejected_by_validator": 1, "unexpected_results": 1}
    assert "rejected rejected_by_validator: 1" in d.report()


def test_a_kept_example_stores_the_query_as_the_translator_would_search_it(es):
    """Normalised by the safety gate, and a hyphenated compound made a phrase (compounds.py), as translations are."""
    e = ex("language model papers about gpt-4", query={"query": {"match": {"abstract": "gpt-4"}}})
    assert Distiller(es).offer(e)
    assert e.query == {"query": {"match_phrase": {"abstract": {"query": "gpt-4"}}}}


def test_distill_command_end_to_end(es, tmp_path, capsys):
    out = tmp_path / "ex.jsonl.gz"
    assert distill_main(["--n=12", f"--out={out}", "--seed=0", "--quiet"], backend=es) == 0
    text = capsys.readouterr().out
    assert "kept:" in text and "candidates: 12" in text
    store = ExampleStore.import_jsonl(out)
    assert 9 <= len(store) <= 12
    assert distill_main(["--n=0", f"--out={out}"], backend=es) == 2


def test_shipped_examples_are_valid_and_sized():
    store = ExampleStore.import_jsonl(SHIPPED)
    assert 5000 <= len(store) <= 100_000
    assert SHIPPED.stat().st_size < 5_000_000
    for e in store.examples[::50]:                                  # a sample through the safety gate
        assert validate(e.index, e.query) == e.query, e.question
    with gzip.open(SHIPPED, "rt", encoding="utf-8") as f:
        assert sum(1 for _ in f) == len(store)                      # no duplicates on disk
