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


INDEX_TABLE = grounding.index_values()


def test_index_values_cover_authors_the_examples_never_named():
    assert INDEX_TABLE[("articles", "author")]["dayeon ki"] == "Dayeon Ki"
    assert INDEX_TABLE[("gutenberg", "author")]["fyodor dostoyevsky"] == "Fyodor Dostoyevsky"
    assert INDEX_TABLE[("gutenberg", "title.keyword")]["dracula"] == "Dracula"


def test_span_surname_and_sibling_repairs():
    def one(index, field, value, question):
        return grounding.repair(index, field, value, INDEX_TABLE, question)
    assert one("articles", "author", "Dayeon Ki write", "Which papers did Dayeon Ki write?") == ("author", "Dayeon Ki")
    assert one("articles", "authors", "Van Gool", "papers with Luc Van Gool") == ("authors", "Luc Van Gool")
    assert one("gutenberg", "author", "Dostoyevsky", "passages by Dostoyevsky") == ("author", "Fyodor Dostoyevsky")
    assert one("articles", "categories", "Robotics", "Robotics papers") == ("category_names", "Robotics")
    body = {"query": {"term": {"categories": "Robotics"}}}
    assert grounding.ground("articles", body, INDEX_TABLE, "Robotics papers") == {
        "query": {"term": {"category_names": "Robotics"}}}


@given(st.text(min_size=1, max_size=20), st.sampled_from(["author", "authors", "categories", "category_names"]),
       st.sampled_from(["papers by Heng Ji and Yulia Tsvetkov", "Robotics or cs.CL", "x"]))
def test_a_repaired_value_is_the_original_or_a_known_value(value, field, question):
    new_field, new_value = grounding.repair("articles", field, value, INDEX_TABLE, question + " " + value)
    assert new_value == value or new_value in INDEX_TABLE[("articles", new_field)].values()
    assert new_field == field or new_value in INDEX_TABLE[("articles", new_field)].values()


def test_garbled_value_takes_the_one_known_value_the_question_names():
    body = {"query": {"term": {"author": "Henrik Brontë"}}}
    out = grounding.ground("gutenberg", body, INDEX_TABLE, "Henrik Ibsen's play passages")
    assert out == {"query": {"term": {"author": "Henrik Ibsen"}}}


def test_stray_lowercase_values_are_pruned_and_names_kept():
    body = {"query": {"bool": {"filter": [{"term": {"categories": "the index"}}, {"term": {"categories": "cs.CL"}}],
                               "must_not": [{"term": {"authors": "tagged"}}]}}, "size": 0}
    out = grounding.ground("articles", copy.deepcopy(body), INDEX_TABLE, "cs.CL papers in the index, not tagged")
    assert out == {"query": {"bool": {"filter": [{"term": {"categories": "cs.CL"}}]}}, "size": 0}
    alone = grounding.ground("articles", {"query": {"term": {"categories": "the index"}}}, INDEX_TABLE, "the index")
    assert alone == {"query": {"match_all": {}}}
    name = {"query": {"term": {"author": "Nobody Real Zzyzx"}}}        # unknown but capitalised: left as it is
    assert grounding.ground("articles", copy.deepcopy(name), INDEX_TABLE, "papers by Nobody Real Zzyzx") == name


def test_stray_values_of_a_terms_list_are_pruned():
    """"either speech or audio in the title, in cs.CL": the round-15 model wrote `terms categories ["cs.CL", "or"]`."""
    q = "papers mentioning either speech or audio in the title, in cs.CL"
    body = {"query": {"bool": {"must": [{"match": {"title": "speech"}}],
                               "filter": [{"terms": {"categories": ["cs.CL", "or"]}}]}}}
    out = grounding.ground("articles", copy.deepcopy(body), INDEX_TABLE, q)
    assert out["query"]["bool"]["filter"] == [{"terms": {"categories": ["cs.CL"]}}]
    gone = {"query": {"terms": {"categories": ["or", "the"]}}}
    assert grounding.ground("articles", gone, INDEX_TABLE, q) == {"query": {"match_all": {}}}
    both = {"query": {"terms": {"categories": ["cs.CL", "cs.RO"]}}}
    assert grounding.ground("articles", copy.deepcopy(both), INDEX_TABLE, "cs.CL or cs.RO") == both


def test_possessives_surnames_the_question_uses_and_first_author_fallback():
    body = {"query": {"term": {"author": "Jingren Zhou's"}}}       # never a first author in the index
    out = grounding.ground("articles", body, INDEX_TABLE, "What was Jingren Zhou's most recent paper?")
    assert out == {"query": {"term": {"authors": "Jingren Zhou"}}}
    got = grounding.repair("gutenberg", "author", "Dostoyevsky Hugo", INDEX_TABLE, "passages for Dostoyevsky")
    assert got == ("author", "Fyodor Dostoyevsky")                  # Hugo is a surname too, but not asked for


CODES = grounding.category_codes()


def test_a_code_chosen_from_the_vocabulary_follows_the_category_the_question_names():
    def code(question, c):
        body = {"query": {"bool": {"filter": [{"term": {"categories": c}}]}}}
        return grounding.ground("articles", body, INDEX_TABLE, question)["query"]["bool"]["filter"][0]["term"][
            "categories"]
    assert code("how many robotics papers are there", "cs.AI") == "cs.RO"
    assert code("papers so far this year on multiagent systems", "cs.LG") == "cs.MA"
    assert code("computer vision and pattern recognition papers", "cs.AI") == "cs.CV"
    assert code("cs.AI papers about robotics", "cs.AI") == "cs.AI"           # spelled in the question: kept
    assert code("papers on machine learning", "cs.AI") == "cs.AI"            # a name two codes share: kept
    assert code("papers about sound and robotics", "cs.AI") == "cs.AI"       # two categories named: kept
    assert code("papers from last week", "cs.CL") == "cs.CL"                 # none named: kept


@given(question=st.text(max_size=60), c=st.sampled_from(sorted({c for cs in CODES.values() for c in cs})))
def test_a_renamed_code_is_the_models_or_the_named_categorys(question, c):
    out = grounding.named_code(c, question, CODES)
    assert out == c or any(out in codes and name in question.lower() for name, codes in CODES.items())


def test_a_books_short_name_grounds_to_its_stored_title():
    from tinyllm.nlq.grammar_gutenberg import book_names
    table = grounding.index_values()
    titles = sorted(set(table[("gutenberg", "title.keyword")].values()))
    shortened = 0
    for t in titles:
        for name in book_names(t):
            body = {"query": {"term": {"title.keyword": name}}}
            grounding.ground("gutenberg", body, table, f"passages of {name}")
            assert body["query"] == {"term": {"title.keyword": t}}, name
            shortened += name != t
    assert shortened >= 10                   # "Moby-Dick", "Time Machine", "Jane Eyre", ...


CODES = sorted(INDEX_TABLE[("articles", "categories")].values())


@given(st.sampled_from(CODES), st.sampled_from(["match", "match_phrase"]), st.sampled_from(["title", "abstract"]),
       st.sampled_from(["must", "filter", "must_not", "should"]), st.booleans())
def test_a_code_searched_as_a_word_becomes_a_filter_on_the_code_field(code, kind, field, occ, as_query):
    """Wherever the clause sits and whatever its case, it becomes a term on categories in the stored spelling."""
    spec = {"query": code.upper()} if as_query else code.lower()
    other = {"match": {"abstract": {"query": "robots"}}}
    body = {"query": {"bool": {occ: [{kind: {field: spec}}, other]}}, "size": 3}
    out = grounding.codes_to_filters("articles", body, INDEX_TABLE)
    assert out == {"query": {"bool": {occ: [{"term": {"categories": code}}, other]}}, "size": 3}


@given(st.sampled_from(CODES), st.from_regex(r"[a-h]{1,8}(?: [a-h.]{1,4})?", fullmatch=True))
def test_words_and_codes_inside_longer_queries_or_other_indexes_are_left_alone(code, text):
    for index, body in (("articles", {"query": {"match": {"title": f"{code} {text}"}}}),
                        ("articles", {"query": {"match": {"title": text}}}),
                        ("articles", {"query": {"term": {"category_names": code}}}),
                        ("gutenberg", {"query": {"match": {"content": code}}})):
        if text.strip().lower() in INDEX_TABLE[("articles", "categories")]:
            continue
        assert grounding.codes_to_filters(index, body, INDEX_TABLE) == body
