"""negations.py: a query excludes what the question negates and requires what it names plainly."""
from hypothesis import given, settings, strategies as st

from tinyllm.nlq.negations import clause_values, consistent

from test_nlq_copy_rules import ListModel

AUTHORS = ["Jane Austen", "Charles Dickens", "Bram Stoker", "Mark Twain", "Emily Brontë", "Jules Verne"]
NEGATIONS = ["except {}'s", "but not by {}", "excluding {}", "without {}", "not written by {}"]


def plain(field, value):
    return [value]


def body(keep, drop):
    return {"query": {"bool": {"filter": [{"term": {"author": keep}}], "must_not": [{"term": {"author": drop}}]}}}


def test_clause_values_reads_a_bool_a_lone_query_and_terms():
    b = {"query": {"bool": {"filter": [{"terms": {"author": ["A", "B"]}}], "must_not": {"match": {"title":
         {"query": "survey"}}}, "should": [{"range": {"publication_date": {"gte": "2025"}}}]}}}
    assert clause_values(b) == [("filter", "author", "A"), ("filter", "author", "B"), ("must_not", "title", "survey")]
    assert clause_values({"query": {"term": {"categories": "cs.CL"}}}) == [("must", "categories", "cs.CL")]
    assert clause_values({"query": {"match_all": {}}}) == [] and clause_values({"size": 0}) == []


@settings(deadline=None, max_examples=60)
@given(pair=st.lists(st.sampled_from(AUTHORS), min_size=2, max_size=2, unique=True),
       form=st.sampled_from(NEGATIONS), lead=st.sampled_from(["passages by {} {}", "{} passages {}"]))
def test_the_negated_author_is_the_excluded_one(pair, form, lead):
    keep, drop = pair
    q = lead.format(keep, form.format(drop))
    assert consistent(body(keep, drop), q, plain)
    assert not consistent(body(drop, keep), q, plain)           # swapped: excludes the plain one, requires the other


def test_a_negation_reaches_the_first_value_and_those_joined_to_it_only():
    two = {"query": {"bool": {"must_not": [{"terms": {"categories": ["cs.CV", "cs.RO"]}}]}}}
    assert consistent(two, "papers not in cs.CV or cs.RO", plain)
    assert consistent(two, "papers excluding cs.CV, cs.RO", plain)
    q = "titles that do not mention multimodal tagged cs.CV"        # the negation ends at "multimodal"
    assert consistent({"query": {"bool": {"filter": [{"term": {"categories": "cs.CV"}}],
                                          "must_not": [{"match": {"title": "multimodal"}}]}}}, q, plain)
    assert consistent(body("Ke Chen", "Xiao Wang"), "-Xiao Wang Ke Chen publications", plain)


def test_values_the_question_does_not_name_are_not_judged_and_repeats_are_left_alone():
    q = "robotics papers but not about grasping"
    assert consistent({"query": {"bool": {"filter": [{"term": {"categories": "cs.RO"}}],
                                          "must_not": [{"match": {"abstract": "grasping"}}]}}}, q, plain)
    assert not consistent({"query": {"bool": {"must": [{"match": {"abstract": "grasping"}}]}}}, q, plain)
    q = "cs.CV papers not in cs.RO, also in cs.RO's sister field"          # cs.RO named twice: not judged as required
    assert consistent({"query": {"term": {"categories": "cs.RO"}}}, q, plain)
    assert not consistent({"query": {"bool": {"must_not": [{"term": {"categories": "cs.CV"}}]}}}, q, plain)


def test_a_translation_on_the_wrong_side_of_a_negation_gives_way_to_a_candidate_that_is_not():
    from tinyllm.nlq.translator import Translator
    q = "Count the passages of Dracula except Jane Austen's"
    right, wrong = body("Bram Stoker", "Jane Austen"), body("Jane Austen", "Bram Stoker")
    assert Translator(ListModel(wrong, [wrong, right])).translate(q, "gutenberg") == right
    assert Translator(ListModel(wrong, [wrong])).translate(q, "gutenberg") == wrong      # none better: kept
    assert Translator(ListModel(right)).translate(q, "gutenberg") == right              # consistent: no search


def test_a_book_is_named_by_its_titles_from_a_raw_or_a_summarised_search_response():
    from tinyllm.nlq.translator import names_of
    hit = {"_id": "x", "_source": {"title": "Frankenstein; Or, The Modern Prometheus"}}
    raw = names_of("gutenberg", "book_id", 84, lambda index, body: {"hits": {"hits": [hit]}})
    summary = names_of("gutenberg", "book_id", 84, lambda index, body: {"total": {"value": 1}, "hits": [hit]})
    assert raw == summary and "Frankenstein" in raw
    assert names_of("gutenberg", "book_id", 84, lambda index, body: {"hits": []}) == []
