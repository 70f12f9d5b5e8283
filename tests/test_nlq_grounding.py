"""Value grounding: copied keyword values take the index's spelling; unknown values and text clauses stay as they are."""
import copy

from hypothesis import given
from hypothesis import strategies as st

from tinyllm.nlq import grounding

TABLE = grounding.known_values()


def test_known_values_come_from_the_verified_examples():
    assert TABLE[("articles", "category_names")]["robotics"] == "Robotics"
    assert TABLE[("articles", "categories")]["cs.ro"] == "cs.RO"
    assert ("articles", "title") not in TABLE          # text fields are matched, never grounded


def test_ground_fixes_case_in_term_terms_and_value_forms():
    body = {"query": {"bool": {"filter": [{"term": {"category_names": "robotics"}},
                                          {"terms": {"categories": ["CS.ro", "cs.CL"]}},
                                          {"term": {"category_names": {"value": "ROBOTICS"}}},
                                          {"match": {"title": "robotics"}}]}}}
    out = grounding.ground("articles", copy.deepcopy(body), TABLE)
    f = out["query"]["bool"]["filter"]
    assert f[0] == {"term": {"category_names": "Robotics"}}
    assert f[1] == {"terms": {"categories": ["cs.RO", "cs.CL"]}}
    assert f[2] == {"term": {"category_names": {"value": "Robotics"}}}
    assert f[3] == {"match": {"title": "robotics"}}


@given(st.text(min_size=1, max_size=30))
def test_values_with_no_case_insensitive_match_are_left_alone(value):
    known = TABLE[("articles", "author")]
    body = {"query": {"term": {"author": value}}}
    out = grounding.ground("articles", copy.deepcopy(body), TABLE)
    expected = value if value in known.values() else known.get(value.lower(), value)
    assert out["query"]["term"]["author"] == expected
