"""The evaluation harness: each compare kind on hand-made response pairs, report arithmetic, one end-to-end run."""
import json

import pytest
from hypothesis import given, strategies as st

from tinyllm.nlq.baseline import translate as baseline
from tinyllm.nlq.evaluate import Case, Report, compare, evaluate, execute, load_cases
from tinyllm.nlq.testing import shared_backend


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def hits(ids, total=None, sorts=None):
    rows = [{"_id": i} if sorts is None else {"_id": i, "sort": s} for i, s in zip(ids, sorts or ids)]
    return {"hits": {"total": {"value": len(ids) if total is None else total, "relation": "eq"}, "hits": rows}}


IDS = st.lists(st.text(alphabet="abc0123456789-", min_size=1, max_size=6), unique=True, max_size=20)


@given(IDS, st.randoms())
def test_set_ignores_order(ids, rnd):
    shuffled = list(ids)
    rnd.shuffle(shuffled)
    assert compare("set", hits(ids), hits(shuffled))


@given(IDS.filter(bool), st.data())
def test_set_notices_a_missing_or_extra_id(ids, data):
    drop = data.draw(st.integers(0, len(ids) - 1))
    fewer = ids[:drop] + ids[drop + 1:]
    assert not compare("set", hits(ids), hits(fewer))
    assert not compare("set", hits(fewer), hits(ids + ["zzz-extra"]))


def test_count():
    assert compare("count", hits([], total=42), hits(["a"], total=42))
    assert not compare("count", hits([], total=42), hits([], total=41))


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=15), st.integers(1, 15), st.data())
def test_topk_compares_sort_values_of_the_first_k(values, k, data):
    gold_vals = sorted(values, reverse=True)
    gold = hits([f"g{i}" for i in range(len(values))], sorts=[[v] for v in gold_vals])
    # other documents with the same sort values (ties) are an equally right answer; what follows k is ignored
    extra = data.draw(st.lists(st.integers(0, 10**12), max_size=3))
    pred_vals = gold_vals[:k] + (extra if len(gold_vals) >= k else [])   # a shorter gold list ends the answer
    pred = hits([f"p{i}" for i in range(len(pred_vals))], sorts=[[v] for v in pred_vals])
    assert compare("topk", gold, pred, {"size": k, "sort": [{"d": "desc"}]}, {})
    wrong = [[v + 1] for v in gold_vals[:k]]
    assert not compare("topk", gold, hits([f"w{i}" for i in range(len(wrong))], sorts=wrong),
                           {"size": k, "sort": [{"d": "desc"}]}, {})


def test_topk_without_sort_values_is_an_error():
    with pytest.raises(ValueError, match="sorted gold"):
        compare("topk", hits(["a"]), hits(["a"]), {"size": 1}, {})
    assert not compare("topk", hits(["a"], sorts=[[1]]), hits(["a"]), {"size": 1}, {})   # unsorted prediction


def terms_resp(name, buckets):
    return {"aggregations": {name: {"buckets": [{"key": k, "doc_count": c} for k, c in buckets]}}}


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(1, 100), min_size=1, max_size=8), st.randoms())
def test_aggs_ignore_name_and_bucket_order(counts, rnd):
    buckets = list(counts.items())
    shuffled = list(buckets)
    rnd.shuffle(shuffled)
    gold_body, pred_body = {"aggs": {"by_author": {}}}, {"aggs": {"authors": {}}}
    assert compare("aggs", terms_resp("by_author", buckets), terms_resp("authors", shuffled), gold_body, pred_body)
    k, c = buckets[0]
    changed = [(k, c + 1)] + buckets[1:]
    other_body = {"aggs": {"a": {}}}
    assert not compare("aggs", terms_resp("by_author", buckets), terms_resp("a", changed), gold_body, other_body)


def test_aggs_values_and_first_aggregation():
    g = {"aggregations": {"n": {"value": 10.0}, "m": {"value": 3}}}
    p = {"aggregations": {"zzz": {"value": 10.0 + 1e-12}}}
    assert compare("aggs", g, p, {"aggs": {"n": {}, "m": {}}}, {"aggs": {"zzz": {}}})
    assert not compare("aggs", g, p, {"aggs": {"m": {}, "n": {}}}, {"aggs": {"zzz": {}}})   # first = as written
    stats = {"count": 3, "min": 1.0, "max": 5.0, "avg": 3.0, "sum": 9.0}
    assert compare("aggs", {"aggregations": {"s": stats}}, {"aggregations": {"t": dict(stats)}})
    assert not compare("aggs", {"aggregations": {"s": stats}}, {"aggregations": {"t": {**stats, "max": 6.0}}})
    assert not compare("aggs", {"aggregations": {"s": stats}}, {"hits": {}})                 # no aggregation


def test_compare_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        compare("relevance", hits([]), hits([]))


def test_report_numbers():
    r = Report(results=[
        {"id": "1", "compare": "set", "intent": "a", "valid": True, "correct": True, "error": None},
        {"id": "2", "compare": "set", "intent": "b", "valid": True, "correct": False, "error": None},
        {"id": "3", "compare": "count", "intent": "a", "valid": False, "correct": False, "error": "rejected"},
        {"id": "4", "compare": "aggs", "intent": None, "valid": True, "correct": True, "error": None}],
        latencies_ms=[1.0, 2.0, 3.0, 4.0])
    assert (r.n, r.accuracy, r.validity) == (4, 0.5, 0.75)
    assert r.breakdown("compare") == {"aggs": (1, 1), "count": (0, 1), "set": (1, 2)}
    assert r.breakdown("intent") == {"a": (1, 2), "b": (0, 1)}
    assert r.latency_ms(50) == pytest.approx(2.5) and r.latency_ms(95) == pytest.approx(3.85)
    d = r.to_dict()
    assert d["per_compare"]["set"] == {"correct": 1, "total": 2} and json.dumps(d)
    assert "50.0%" in r.format() and "invalid predictions: 1 rejected" in r.format()


def write_cases(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


CASES = [
    {"id": "t1", "index": "gutenberg", "question": "passages of Alice's Adventures in Wonderland",
     "gold": {"query": {"term": {"book_id": 11}}}, "compare": "set", "intent": "lookup"},
    {"id": "t2", "index": "articles", "question": "how many cs.CL papers",
     "gold": {"size": 0, "track_total_hits": True, "query": {"term": {"categories": "cs.CL"}}}, "compare": "count"},
    {"id": "t3", "index": "articles", "question": "the 3 newest papers",
     "gold": {"size": 3, "sort": [{"publication_date": "desc"}]}, "compare": "topk", "intent": "topk"},
    {"id": "t4", "index": "gutenberg", "question": "passages per author",
     "gold": {"size": 0, "aggs": {"a": {"terms": {"field": "author", "size": 50}}}}, "compare": "aggs"},
    {"id": "t5", "index": "gutenberg", "question": "whale hunting",
     "gold": {"query": {"match": {"content": {"query": "whale harpoon", "operator": "and"}}}}, "compare": "set"},
]


def test_evaluate_end_to_end(es, tmp_path):
    cases = load_cases(write_cases(tmp_path / "c.jsonl", CASES))
    oracle = {c.question: c.gold for c in cases}
    report = evaluate(es, cases, lambda index, question: oracle[question])
    assert (report.accuracy, report.validity, report.n) == (1.0, 1.0, 5)
    base = evaluate(es, cases, baseline)
    assert base.validity == 1.0 and base.accuracy < 1.0
    assert base.breakdown("compare")["count"] == (0, 1)          # a keyword search cannot count cs.CL papers

    def broken(index, question):
        if "whale" in question:
            raise RuntimeError("model crashed")
        return {"query": {"script": {"script": "1"}}}
    bad = evaluate(es, cases, broken)
    assert (bad.validity, bad.accuracy) == (0.0, 0.0)
    assert any("crashed" in r["error"] for r in bad.results) and any("scripts" in r["error"] for r in bad.results)


def test_gold_failures_are_reported_not_scored(es):
    cases = [Case("g1", "articles", "q", {"query": {"term": {"title": "x"}}}, "set"),
             Case("g2", "articles", "q", {"query": {"term": {"author": "Yi Wang"}}}, "set")]
    report = evaluate(es, cases, lambda index, question: {"query": {"term": {"author": "Yi Wang"}}})
    assert report.n == 1 and report.accuracy == 1.0 and report.gold_errors[0][0] == "g1"


def test_set_execution_fetches_every_match(es):
    resp = execute(es, "gutenberg", {"query": {"match_all": {}}, "size": 3}, "set")
    ids = {h["_id"] for h in resp["hits"]["hits"]}
    assert len(ids) == resp["hits"]["total"]["value"] == 12_345            # beyond one 10,000-hit page


@pytest.mark.parametrize("change, message", [
    ({"compare": "relevance"}, "compare must be one of"), ({"index": "x"}, "index must be one of"),
    ({"gold": "{}"}, "'gold' must be a dict"), ({"compare": "topk"}, "needs an explicit sort"),
    ({"compare": "aggs"}, "needs an aggregation")])
def test_load_cases_errors(tmp_path, change, message):
    path = write_cases(tmp_path / "bad.jsonl", [{**CASES[0], **change}])
    with pytest.raises(ValueError, match=f"bad.jsonl:1: .*{message}"):
        load_cases(path)
    with pytest.raises(ValueError, match="duplicate id"):
        load_cases(write_cases(tmp_path / "dup.jsonl", [CASES[0], CASES[0]]))
