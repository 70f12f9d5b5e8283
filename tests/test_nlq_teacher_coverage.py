"""Teacher coverage: query shapes ignore values and clause order; a case is covered only by a matching shape."""
from tinyllm.nlq.evaluate import Case
from tinyllm.nlq.ir import parse_dsl
from tinyllm.nlq.teacher_coverage import coverage, shape


def test_shape_ignores_values_and_clause_order():
    q1 = "papers by Heng Ji in cs.CL"
    a = {"query": {"bool": {"filter": [{"term": {"authors": "Heng Ji"}}, {"term": {"categories": "cs.CL"}}]}}}
    b = {"query": {"bool": {"filter": [{"term": {"categories": "cs.CL"}}, {"term": {"authors": "Heng Ji"}}]}}}
    assert shape(parse_dsl(a, q1)) == shape(parse_dsl(b, q1))
    c = {"query": {"bool": {"filter": [{"term": {"authors": "Ji"}}, {"term": {"categories": "cs.CL"}}]}}}
    assert shape(parse_dsl(c, q1)) == shape(parse_dsl(a, q1))
    d = {"query": {"term": {"authors": "Heng Ji"}}, "size": 0, "track_total_hits": True}
    assert shape(parse_dsl(d, q1)) != shape(parse_dsl(a, q1))


def test_coverage_counts_shapes_and_values():
    examples = [{"index": "articles", "question": f"papers by Author{i} Name{i}",
                 "query": {"query": {"term": {"author": f"Author{i} Name{i}"}}}} for i in range(3)]
    cases = [Case("1", "articles", "papers by Heng Ji", {"query": {"term": {"author": "Heng Ji"}}}, "set"),
             Case("2", "articles", "count papers by Heng Ji", {"size": 0, "track_total_hits": True,
                                                                 "query": {"term": {"author": "Heng Ji"}}}, "count")]
    table = coverage(cases, examples)
    assert table["set"]["both"] == 1 and table["count"]["shape"] == 0
    assert table["count"]["values"] == 0             # its size 0 is a literal these examples never used
    assert table["all"]["n"] == 2 and table["all"]["both"] == 1


def test_a_bare_match_all_is_the_same_shape_as_no_query():
    q = "how many papers in total"
    bare = {"size": 0, "track_total_hits": True}
    explicit = dict(bare, query={"match_all": {}})
    assert shape(parse_dsl(explicit, q)) == shape(parse_dsl(bare, q))
    inside = {"query": {"bool": {"must": [{"match_all": {}}], "filter": [{"term": {"categories": "cs.CL"}}]}}}
    assert shape(parse_dsl(inside, q)) != shape(parse_dsl({"query": {"term": {"categories": "cs.CL"}}}, q))


def test_missed_cases_are_listed_with_the_reason():
    examples = [{"index": "articles", "question": f"papers by Author{i} Name{i}",
                 "query": {"query": {"term": {"author": f"Author{i} Name{i}"}}}} for i in range(3)]
    cases = [Case("1", "articles", "papers by Heng Ji", {"query": {"term": {"author": "Heng Ji"}}}, "set"),
             Case("2", "articles", "robotics papers", {"query": {"term": {"categories": "cs.RO"}}}, "set")]
    missed = []
    coverage(cases, examples, missed)
    assert [(c.id, ok) for c, ok, _ in missed] == [("2", False)]
    assert "cs.RO" in missed[0][2]                       # the literal no example ever wrote
