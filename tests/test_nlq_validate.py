"""The safety gate: never crashes, rejects every dangerous construct with its JSON path, accepts (and the engine
runs) every body from a generator of valid queries over the real mappings."""
import json
from functools import lru_cache

import pytest
from hypothesis import example, given, strategies as st

from tinyllm.nlq import schema
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.validate import MAX_DEPTH, MAX_SIZE, QueryRejected, validate


@pytest.fixture(scope="session")
def es():
    return shared_backend()


# ---- a generator of valid bodies over the real mappings -------------------------------------------------------
TYPES = {i: schema.field_types(i) for i in schema.INDEXES}
WORDS = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1,
                 max_size=3).map(" ".join)
KEYWORD_VALUES = st.sampled_from(["Yi Wang", "cs.CV", "cs.CL", "Jane Austen", "Emma", "Computation and Language",
                                  "2503.11849", "Charles Dickens", "x"])
DATES = st.sampled_from(["now", "now-1y/d", "now-30d", "2025-03-18", "2026-01-01||+1M/M", "1850-01-01", "now/M"])


@lru_cache(maxsize=None)
def fields(index, *kinds, indexed=True):
    out = [f for f, t in TYPES[index].items() if schema.NUMERIC_TYPES.count(t) and "numeric" in kinds
           or t in kinds]
    return tuple(f for f in out if not indexed or schema.searchable(index, f))


def exact_value(draw, index, field):
    t = TYPES[index][field]
    if t == "keyword":
        return draw(KEYWORD_VALUES)
    if t == "date":
        return draw(DATES)
    return draw(st.integers(0, 70_000))


@st.composite
def leaf_query(draw, index):
    text, exact = fields(index, "text"), fields(index, "keyword", "date", "numeric")
    kind = draw(st.sampled_from(["match", "match_phrase", "multi_match", "term", "terms", "range", "exists",
                                 "prefix", "fuzzy", "wildcard", "ids", "match_all", "match_none"]))
    if kind == "match":
        opts = {"query": draw(WORDS)}
        if draw(st.booleans()):
            opts["operator"] = draw(st.sampled_from(["and", "or"]))
        if draw(st.booleans()):
            opts["fuzziness"] = draw(st.sampled_from(["AUTO", "1", 0]))
        return {"match": {draw(st.sampled_from(text)): opts}}
    if kind == "match_phrase":
        return {"match_phrase": {draw(st.sampled_from(text)): {"query": draw(WORDS), "slop": draw(st.integers(0, 3))}}}
    if kind == "multi_match":
        return {"multi_match": {"query": draw(WORDS), "fields": draw(st.lists(st.sampled_from(text), min_size=1,
                                                                              max_size=2, unique=True))}}
    if kind in ("term", "terms"):
        f = draw(st.sampled_from(exact))
        if kind == "term":
            return {"term": {f: exact_value(draw, index, f)}}
        return {"terms": {f: [exact_value(draw, index, f) for _ in range(draw(st.integers(1, 3)))]}}
    if kind == "range":
        f = draw(st.sampled_from(fields(index, "date", "numeric")))
        lo, hi = draw(st.sampled_from([("gte", "lt"), ("gt", "lte"), ("gte", None), (None, "lte")]))
        return {"range": {f: {b: exact_value(draw, index, f) for b in (lo, hi) if b}}}
    if kind == "exists":
        return {"exists": {"field": draw(st.sampled_from(list(TYPES[index])))}}
    if kind in ("prefix", "fuzzy"):
        return {kind: {draw(st.sampled_from(fields(index, "keyword", "text"))): draw(WORDS).strip()}}
    if kind == "wildcard":
        return {"wildcard": {draw(st.sampled_from(fields(index, "keyword"))): draw(WORDS).strip() + "*"}}
    if kind == "ids":
        return {"ids": {"values": draw(st.lists(st.sampled_from(["2503.11849", "11-3", "x"]), min_size=1, max_size=3))}}
    return {kind: {}}


def query(index):
    def bools(children):
        occur = st.sampled_from(["must", "filter", "should", "must_not"])
        return st.dictionaries(occur, st.lists(children, min_size=1, max_size=3), min_size=1).map(
            lambda d: {"bool": d})
    return st.recursive(leaf_query(index), bools, max_leaves=6)


@st.composite
def agg(draw, index, depth=0):
    exact = fields(index, "keyword", "date", "numeric", indexed=False)
    kinds = ["date_histogram", "histogram", "range", "cardinality", "min", "max", "avg", "sum", "stats",
             "value_count", "top_hits", "filter"]
    kind = draw(st.sampled_from(kinds + ["terms"] if depth == 0 else kinds))
    if kind == "terms":
        spec = {"terms": {"field": draw(st.sampled_from(exact)), "size": draw(st.integers(1, 100))}}
    elif kind == "date_histogram":
        spec = {kind: {"field": "publication_date", "calendar_interval": draw(st.sampled_from(["month", "year"])),
                       "min_doc_count": 1}}
    elif kind in ("histogram", "avg", "sum", "stats"):
        numeric = fields(index, "numeric") or ["publication_date"]
        if index == "articles":     # articles has no numeric field: use an always-valid metric instead
            spec = {"max": {"field": "publication_date"}}
        else:
            spec = {kind: {"field": draw(st.sampled_from(numeric))}}
            if kind == "histogram":
                spec[kind]["interval"] = draw(st.integers(1, 5000))
    elif kind == "range":
        f = draw(st.sampled_from(fields(index, "date", "numeric")))
        spec = {"range": {"field": f, "ranges": [{"to": exact_value(draw, index, f)},
                                                 {"from": exact_value(draw, index, f)}]}}
    elif kind in ("cardinality", "value_count", "min", "max"):
        pool = exact if kind in ("cardinality", "value_count") else fields(index, "date", "numeric")
        spec = {kind: {"field": draw(st.sampled_from(pool))}}
    elif kind == "top_hits":
        spec = {"top_hits": {"size": draw(st.integers(1, 10)), "sort": [{"publication_date": "desc"}]}}
    else:
        spec = {"filter": draw(leaf_query(index))}
    if next(iter(spec)) in ("terms", "date_histogram", "histogram", "range", "filter") and depth == 0 \
            and draw(st.booleans()):
        spec["aggs"] = {"inner": draw(agg(index, depth=1))}
    return spec


@st.composite
def valid_body(draw):
    index = draw(st.sampled_from(schema.INDEXES))
    body = {}
    if draw(st.booleans()):
        body["query"] = draw(query(index))
    if draw(st.booleans()):
        body["aggs"] = {draw(st.sampled_from(["a", "by author", "x_1"])): draw(agg(index))}
    size = draw(st.one_of(st.integers(0, 12), st.just(MAX_SIZE)))
    body["size"] = size
    if draw(st.booleans()):
        body["from"] = draw(st.integers(0, 200))
    if draw(st.booleans()):
        f = draw(st.sampled_from(fields(index, "keyword", "date", "numeric", indexed=False) + ("_score",)))
        body["sort"] = [{f: draw(st.sampled_from(["asc", "desc"]))}]
    if draw(st.booleans()):
        body["_source"] = draw(st.one_of(st.just(False), st.lists(st.sampled_from(list(TYPES[index])), max_size=3)))
    if draw(st.booleans()):
        body["track_total_hits"] = True
    if draw(st.booleans()):
        body["highlight"] = {"fields": {draw(st.sampled_from(fields(index, "text"))): {}}}
    return index, body


@given(valid_body())
def test_valid_bodies_are_accepted_and_run(es, index_body):
    index, body = index_body
    out = validate(index, body)
    assert validate(index, out) == out                      # normalising is idempotent
    resp = es.search(index, out)                            # ApiError here would fail the test
    assert "hits" in resp


EVERY_OPTION = [   # (index, body): each accepted option at least once; the engine must run all of them
    ("articles", {"query": {"match": {"abstract": {
        "query": "graph neural", "operator": "AND", "fuzziness": "AUTO:3,6", "minimum_should_match": "75%", "boost": 2,
        "prefix_length": 1, "max_expansions": 10, "zero_terms_query": "all", "lenient": True}}}}),
    ("articles", {"query": {"match_phrase": {"title": {"query": "large language", "slop": 2, "boost": 1.5}}}}),
    ("articles", {"query": {"multi_match": {"query": "robot arm", "fields": ["title^3", "abstract"], "type": "phrase",
                                            "slop": 1, "tie_breaker": 0.3}}}),
    ("articles", {"query": {"multi_match": {"query": "robot", "fields": ["title"], "type": "most_fields",
                                            "fuzziness": 1, "operator": "or", "minimum_should_match": 1}}}),
    ("articles", {"query": {"term": {"author": {"value": "yi wang", "case_insensitive": True, "boost": 1}}}}),
    ("articles", {"query": {"terms": {"categories": ["cs.CV", "cs.RO"], "boost": 1.0}}}),
    ("articles", {"query": {"range": {"publication_date": {"gte": "2025-06", "lt": "2025-07", "format": "yyyy-MM",
                                                            "time_zone": "Europe/Berlin"}}}}),
    ("articles", {"query": {"range": {"publication_date": {"gt": "2026-01-01||-1M/M", "lte": "now/d"}}}}),
    ("gutenberg", {"query": {"range": {"passage": {"gte": 10, "lte": 20.5, "boost": 2}}}}),
    ("articles", {"query": {"bool": {"should": [{"match": {"title": "vision"}}, {"match": {"title": "language"}}],
                                     "minimum_should_match": 1, "must_not": {"exists": {"field": "url"}},
                                     "boost": 1.2}}}),
    ("articles", {"query": {"prefix": {"title.keyword": {"value": "Towards", "case_insensitive": True}}}}),
    ("articles", {"query": {"fuzzy": {"author": {"value": "Yi Wagn", "fuzziness": "AUTO", "prefix_length": 0,
                                                 "max_expansions": 20, "transpositions": True}}}}),
    ("articles", {"query": {"wildcard": {"categories": {"value": "cs.C?", "case_insensitive": False}}}}),
    ("gutenberg", {"query": {"ids": {"values": ["11-1", "11-2"]}}, "_source": {"includes": ["title"],
                                                                               "excludes": ["content"]}}),
    ("gutenberg", {"query": {"match_all": {"boost": 1}}, "sort": ["book_id", {"passage": {"order": "desc",
                   "missing": "_last", "mode": "min"}}, "_score"], "from": 20, "size": 5, "timeout": "5s",
                   "track_total_hits": 100}),
    ("gutenberg", {"query": {"match": {"content": "whale"}}, "highlight": {
        "fields": [{"content": {"fragment_size": 80, "number_of_fragments": 2}}], "pre_tags": ["<b>"],
        "post_tags": ["</b>"], "require_field_match": True, "order": "score", "no_match_size": 0, "type": "plain"}}),
    ("articles", {"size": 0, "aggs": {"c": {"terms": {"field": "categories", "size": 5, "min_doc_count": 2,
                                                      "order": {"_key": "asc"}}}}}),
    ("articles", {"size": 0, "aggs": {"m": {"date_histogram": {"field": "publication_date", "fixed_interval": "7d",
                                                               "format": "yyyy-MM-dd", "min_doc_count": 1,
                                                               "time_zone": "+02:00", "order": {"_count": "desc"}}}}}),
    ("gutenberg", {"size": 0, "aggs": {"h": {"histogram": {"field": "passage", "interval": 50, "min_doc_count": 0,
                                                           "order": [{"_key": "desc"}]}}}}),
    ("articles", {"size": 0, "aggs": {"r": {"range": {"field": "publication_date", "format": "yyyy", "keyed": True,
                                                      "ranges": [{"to": "2026", "key": "old"}, {"from": "2026"}]}}}}),
    ("gutenberg", {"size": 0, "aggs": {"r": {"range": {"field": "publication_date",
                                                       "ranges": [{"from": "1800-01-01", "to": "1900-01-01"}]},
                                             "aggs": {"n": {"cardinality": {"field": "author",
                                                                            "precision_threshold": 100}}}}}}),
    ("gutenberg", {"size": 0, "aggregations": {
        "f": {"filter": {"term": {"author": "Jane Austen"}}, "aggs": {
            "s": {"stats": {"field": "passage"}}}},
        "v": {"value_count": {"field": "title.keyword"}}, "a": {"avg": {"field": "book_id"}},
        "t": {"sum": {"field": "passage"}}, "lo": {"min": {"field": "publication_date"}}}}),
    ("articles", {"size": 0, "aggs": {"by": {"terms": {"field": "author", "size": 3}, "aggs": {
        "latest": {"top_hits": {"size": 2, "from": 0, "sort": [{"publication_date": "desc"}],
                                "_source": ["title", "publication_date"]}}}}}}),
]


@pytest.mark.parametrize("index, body", EVERY_OPTION)
def test_every_option_is_accepted_and_runs(es, index, body):
    out = validate(index, body)
    assert "aggs" not in body or out["aggs"].keys() == body["aggs"].keys()
    resp = es.search(index, out)
    assert resp["hits"]["total"]["value"] >= 0


def test_lecture_examples():
    """The lecture's own example aggregation is fine; its defective ones are caught."""
    validate("articles", {"size": 0, "aggs": {"articles_by_author": {"terms": {"field": "author"}}}})
    with pytest.raises(QueryRejected, match=r"\$\.query\.match\.content: unknown field"):
        validate("articles", {"query": {"match": {"content": "lincoln"}}})
    with pytest.raises(QueryRejected, match=r"\$\.query\.size"):
        validate("articles", {"query": {"size": 0, "aggs": {}}})


# ---- dangerous constructs are rejected, with their path ------------------------------------------------------
DANGEROUS = {   # name -> (bad clause to put inside a bool list, the path suffix the rejection must name)
    "script": ({"script": {"script": {"source": "doc['x'].value > 1"}}}, ".script"),
    "script_score": ({"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}}, ".script_score"),
    "term on text": ({"term": {"title": "neural"}}, ".term.title"),
    "unknown field": ({"match": {"contents": "whale"}}, ".match.contents"),
    "unknown clause": ({"frobnicate": {"title": "x"}}, ".frobnicate"),
    "query_string": ({"query_string": {"query": "title:x OR 1"}}, ".query_string"),
    "regexp": ({"regexp": {"author": ".*"}}, ".regexp"),
    "leading wildcard": ({"wildcard": {"author": "*son"}}, ".wildcard.author"),
    "script in options": ({"match": {"title": {"query": "x", "script": "1"}}}, ".match.title.script"),
}


@given(st.data(), st.sampled_from(sorted(DANGEROUS)), st.sampled_from(["must", "filter", "should", "must_not"]))
def test_dangerous_clause_is_rejected_with_its_path(data, name, occur):
    index = "articles"
    good = data.draw(st.lists(leaf_query(index), max_size=3))
    pos = data.draw(st.integers(0, len(good)))
    bad, suffix = DANGEROUS[name]
    clauses = good[:pos] + [bad] + good[pos:]
    with pytest.raises(QueryRejected) as info:
        validate(index, {"query": {"bool": {occur: clauses}}})
    assert info.value.path == f"$.query.bool.{occur}[{pos}]{suffix}", str(info.value)


@given(valid_body(), st.sampled_from(["script_fields", "runtime_mappings", "script", "knn", "id", "params",
                                      "suggest", "post_filter", "stored_fields", "collapse"]))
def test_dangerous_top_level_key_is_rejected(index_body, key):
    index, body = index_body
    with pytest.raises(QueryRejected) as info:
        validate(index, {**body, key: {"x": {"script": {"source": "1"}}}})
    assert info.value.path == f"$.{key}"


@given(valid_body(), st.integers(MAX_SIZE + 1, 10**9))
def test_size_over_limit_is_rejected(index_body, size):
    index, body = index_body
    with pytest.raises(QueryRejected, match=r"^\$\.size: "):
        validate(index, {**body, "size": size})


@given(st.text(min_size=0, max_size=12).filter(lambda s: s not in schema.INDEXES))
def test_unknown_index_is_rejected(index):
    with pytest.raises(QueryRejected, match="^index: "):
        validate(index, {"query": {"match_all": {}}})
    with pytest.raises(QueryRejected, match="^index: "):
        validate(index, {"query": {"match_all": {}}}, mappings={index: {"mappings": {"properties": {}}}})


@given(st.integers(MAX_DEPTH, 3 * MAX_DEPTH))
def test_deep_nesting_is_rejected(depth):
    q = {"match_all": {}}
    for _ in range(depth):
        q = {"bool": {"must": [q]}}
    with pytest.raises(QueryRejected, match="nested deeper"):
        validate("gutenberg", {"query": q})


def test_aggregation_limits():
    with pytest.raises(QueryRejected, match=r"\$\.aggs\.a\.terms\.size"):
        validate("articles", {"aggs": {"a": {"terms": {"field": "author", "size": 10_000}}}})
    with pytest.raises(QueryRejected, match=r"\$\.aggs\.a\.terms\.field: terms needs"):
        validate("articles", {"aggs": {"a": {"terms": {"field": "abstract"}}}})
    with pytest.raises(QueryRejected, match=r"fixed_interval"):
        validate("articles", {"aggs": {"a": {"date_histogram": {"field": "publication_date", "fixed_interval": "1m"}}}})
    nested = {"terms": {"field": "author", "size": 100},
              "aggs": {"b": {"terms": {"field": "categories", "size": 100},
                             "aggs": {"c": {"terms": {"field": "authors", "size": 100}}}}}}
    with pytest.raises(QueryRejected, match=r"\$\.aggs\.a\.aggs\.b\.aggs\.c\.terms: up to 1000000 buckets"):
        validate("articles", {"aggs": {"a": nested}})
    with pytest.raises(QueryRejected, match=r"\$\.aggs\.a\.aggs: a max aggregation cannot have sub-aggregations"):
        validate("articles", {"aggs": {"a": {"max": {"field": "publication_date"}, "aggs": {}}}})


def test_value_checks():
    with pytest.raises(QueryRejected, match=r"gte: '2025' is not a date"):
        validate("articles", {"query": {"range": {"publication_date": {"gte": "2025"}}}})
    validate("articles", {"query": {"range": {"publication_date": {"gte": "2025", "format": "yyyy"}}}})
    with pytest.raises(QueryRejected, match="not a date"):
        validate("articles", {"query": {"range": {"publication_date": {"gte": "2025-02-30"}}}})
    with pytest.raises(QueryRejected, match=r"book_id: must be an integer"):
        validate("gutenberg", {"query": {"term": {"book_id": "eleven"}}})
    with pytest.raises(QueryRejected, match=r"\$\.query\.range\.passage: range needs"):
        validate("gutenberg", {"query": {"range": {"passage": {"gt": 1, "gte": 2}}}})
    with pytest.raises(QueryRejected, match=r"\$\.sort\[0\]\.title: sort needs"):
        validate("articles", {"sort": [{"title": "asc"}]})
    with pytest.raises(QueryRejected, match=r"\$\.from: from \+ size"):
        validate("articles", {"from": 9_995, "size": 10})


# ---- arbitrary JSON never crashes the gate ---------------------------------------------------------------------
VOCAB = ["query", "bool", "must", "filter", "should", "must_not", "term", "terms", "match", "range", "aggs", "size",
         "from", "sort", "field", "title", "author", "publication_date", "gte", "script", "fields", "_source",
         "highlight", "multi_match", "exists", "book_id", "terms", "date_histogram", "top_hits", "order", "value"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(VOCAB))
JSONISH = st.recursive(SCALARS, lambda c: st.one_of(
    st.lists(c, max_size=4), st.dictionaries(st.one_of(st.sampled_from(VOCAB), st.text(max_size=6)), c, max_size=4)),
    max_leaves=25)


@given(st.one_of(st.sampled_from(schema.INDEXES), st.text(max_size=8)), JSONISH)
@example("articles", {"query": {"bool": {"must": {"term": {"author": float("nan")}}}}})
@example("articles", {"query": {"range": {"publication_date": {"gte": 5}}}})
@example("articles", {"sort": [{"title.keyword": {"order": "up"}}], "_source": {"includes": [1]}})
def test_arbitrary_input_only_raises_query_rejected(index, body):
    try:
        out = validate(index, body)
    except QueryRejected as e:
        assert e.path.startswith(("$", "index")) and e.reason
    else:
        json.dumps(out, allow_nan=False)                     # anything accepted is plain, finite JSON
