"""cues.py: a question that says where to look ("in the title") gets a query that looks there, and one that names
a span of dates by both ends gets a range bounded on both sides."""
import json

from hypothesis import given, settings, strategies as st

from tinyllm.nlq import schema
from tinyllm.nlq.cues import (consistent, exact_starts, has_two_sided_range, keeps_words, listed_words, named_fields,
                              names_a_span, phrase_starts, used_fields)

from test_nlq_copy_rules import ListModel

CUED = ["papers with {w} in the title", "papers whose title has {w}", "articles whose abstract mentions {w}",
        "works with {w} in their abstracts", "titles containing {w}", "papers with a title saying {w}",
        "studies whose abstracts include {w}", "count papers without {w} in the title"]
WORDS = st.sampled_from(["mamba", "diffusion", "graph neural networks", "quantum", "llm agents"])


def phrase(field, w):
    return {"query": {"match_phrase": {field: {"query": w}}}}


@settings(max_examples=60)
@given(template=st.sampled_from(CUED), w=WORDS)
def test_a_cued_field_must_be_used_and_the_other_field_does_not_count(template, w):
    q = template.format(w=w)
    (field,) = named_fields(q)
    other = {"title": "abstract", "abstract": "title"}[field]
    assert consistent(phrase(field, w), q) and not consistent(phrase(other, w), q)
    negated = {"query": {"bool": {"must_not": [{"match": {field: {"query": w}}}]}}}
    assert consistent(negated, q)                 # excluding by the field still looks there


def test_showing_titles_is_not_a_cue_and_source_is_not_a_use():
    assert named_fields("the titles of the 5 newest papers") == set()
    assert named_fields("just the titles and dates of cs.CV papers") == set()
    shown = {"_source": ["title"], "query": {"match": {"abstract": {"query": "mamba"}}}}
    assert used_fields(shown) == {"abstract"}


def test_used_fields_reads_subfields_boosts_aggregations_and_multi_match():
    grouped = {"size": 0, "aggs": {"by_title": {"terms": {"field": "title.keyword", "size": 100}}},
               "query": {"multi_match": {"query": "x", "fields": ["abstract^2", "content"]}}}
    assert used_fields(grouped) == {"title", "abstract", "content"}
    assert "title" in named_fields("what titles mentioning whales are there?")   # gutenberg: grouped by title


DATES = st.sampled_from(["June 9, 2026", "2025-04-07", "12 May 2025", "March 2024", "1850", "Sept 3, 2025"])


@settings(max_examples=60)
@given(a=DATES, b=DATES, lead=st.sampled_from(["between {} and {}", "from {} to {}", "from {} through {}"]),
       ops=st.sampled_from([("gte", "lte"), ("gt", "lt"), ("gte", "lt")]))
def test_a_span_named_by_both_ends_needs_both_bounds(a, b, lead, ops):
    q = "papers published " + lead.format(a, b)
    assert names_a_span(q)
    both = {"query": {"bool": {"filter": [{"range": {"publication_date": {ops[0]: "2025-01-01",
                                                                           ops[1]: "2026-01-01"}}}]}}}
    lower, upper = ({"query": {"range": {"publication_date": {op: "2026-06-28"}}}} for op in ops)
    assert has_two_sided_range(both) and consistent(both, q)
    assert not consistent(lower, q) and not consistent(upper, q)
    assert consistent(lower, q.replace(" and ", " or ").replace(" to ", " or ").replace(" through ", " or "))


def test_numbers_that_are_not_dates_do_not_name_a_span():
    assert not names_a_span("passages between 3 and 5 of Dracula")
    assert not names_a_span("the 20 newest papers from cs.CL to read")


@settings(max_examples=60)
@given(ws=st.lists(st.sampled_from(["integrate", "realism", "handling", "anchor-guided", "transfer", "sea"]),
                   min_size=2, max_size=4, unique=True),
       lead=st.sampled_from(["each of", "all of", "both"]), quoted=st.booleans(), drop=st.integers(0, 3))
def test_every_word_of_an_all_of_list_is_kept(ws, lead, quoted, drop):
    shown = [f"'{w}'" if quoted else w for w in ws]
    q = f"papers whose abstract contains {lead} {', '.join(shown[:-1])} and {shown[-1]}"
    assert listed_words(q) == ws
    match = lambda kept: {"query": {"match": {"abstract": {"query": " ".join(kept), "operator": "and"}}}}  # noqa
    assert consistent(match(ws), q)
    assert not consistent(match(ws[:drop % len(ws)] + ws[drop % len(ws) + 1:]), q)


def test_a_listed_word_counts_only_as_a_whole_word_and_authors_are_not_a_list():
    assert not keeps_words({"query": {"match": {"abstract": {"query": "seashore transfers"}}}}, ["sea", "transfer"])
    assert keeps_words({"query": {"match_phrase": {"title": {"query": "Sea Transfer"}}}}, ["sea", "transfer"])
    assert listed_words("papers where Ann Lee and Bo Li are both authors and with cs.CV") == []


@settings(max_examples=60)
@given(cue=st.sampled_from(["containing exactly", "with the exact phrase", "with the exact words"]),
       ws=st.lists(st.sampled_from(["scarlet", "letter", "of", "the", "sub-tasks", "order"]), min_size=2, max_size=4),
       quote=st.sampled_from(["", '"', "'"]), multi=st.booleans())
def test_a_phrase_starts_where_exactly_says(cue, ws, quote, multi):
    text = " ".join(ws)
    q = f"passages {cue} {quote}{text}{quote} in Dickens"
    assert exact_starts(q) == [ws[0]]
    right = ({"query": {"multi_match": {"query": text, "fields": ["content"], "type": "phrase"}}} if multi else
             {"query": {"match_phrase": {"content": {"query": text.capitalize()}}}})
    cut = {"query": {"match_phrase": {"content": " ".join(ws[1:])}}}
    assert phrase_starts(right) == {ws[0]} and consistent(right, q)
    assert consistent(cut, q) == (ws[1] == ws[0])
    assert not consistent({"query": {"match": {"content": {"query": text}}}}, q)     # words, not a phrase


def test_as_an_exact_phrase_in_ends_a_phrase_rather_than_starting_one():
    assert exact_starts("papers on gap metric, as an exact phrase in the abstract") == []


def test_every_distilled_example_honours_its_cues():
    """The invariants the check rests on hold for the teacher's examples (module docstring: the counts)."""
    from tinyllm.nlq.prepare_ir import load_examples
    broken = [ex["question"] for ex in load_examples() if not consistent(ex["query"], ex["question"])]
    assert broken == []


def test_every_hand_written_gold_honours_its_cues():
    """The invariants the check rests on, on the three hand-written sets."""
    for name in ("nlq_testset.jsonl", "nlq_confirm.jsonl", "nlq_confirm2.jsonl"):
        with open(schema.DATA_DIR / name, encoding="utf-8") as f:
            for case in map(json.loads, filter(str.strip, f)):
                assert consistent(case["gold"], case["question"]), case["id"]


def test_a_translation_that_ignores_a_cue_gives_way_to_a_candidate_that_honours_it():
    from tinyllm.nlq.translator import Translator
    q = 'papers whose title has the exact phrase "gaussian splatting"'
    right, wrong = phrase("title", "gaussian splatting"), phrase("abstract", "gaussian splatting")
    assert Translator(ListModel(wrong, [wrong, right])).translate(q, "articles") == right
    assert Translator(ListModel(wrong, [wrong])).translate(q, "articles") == wrong        # none better: kept
    q = "works that appeared between June 9, 2026 and June 28, 2026"
    right = {"query": {"range": {"publication_date": {"gte": "2026-06-09", "lte": "2026-06-28"}}}}
    wrong = {"query": {"range": {"publication_date": {"gte": "2026-06-28"}}}}
    assert Translator(ListModel(wrong, [wrong, right])).translate(q, "articles") == right
