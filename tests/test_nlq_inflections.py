"""One named word, one form (inflections.py): 'surveys' beside 'the word survey' is dropped, nothing else."""
from hypothesis import given, strategies as st

from tinyllm.nlq.inflections import forms_of_one_word, named_words, one_form
from tinyllm.nlq.validate import validate

WORD = st.sampled_from(["survey", "model", "box", "agent", "whale", "benchmark"])
NAMING = st.sampled_from(["the word {w}", "the term {w}", "the keyword '{w}'", "'{w}'", "the word \"{w}\""])


def _text(op, field, word):
    return {op: {field: {"query": word}}}


def _plural(w):
    return w + ("es" if w.endswith("x") else "s")


@given(WORD, NAMING, st.booleans(), st.sampled_from(["match", "match_phrase"]), st.sampled_from(["", ".", "!"]),
       st.booleans())
def test_the_unnamed_form_of_a_named_word_is_dropped(w, naming, plural_named, op, punct, first):
    named, other = (_plural(w), w) if plural_named else (w, _plural(w))
    q = f"Find {other}: titles containing {naming.format(w=named)}{punct}"
    keep, drop = _text(op, "title", named + punct), _text("match", "title", other)
    date = {"range": {"publication_date": {"gte": "2024-01-01"}}}
    body = {"query": {"bool": {"must": [keep, drop] if first else [drop, keep], "filter": [date]}}, "size": 3}
    out = one_form(body, q)
    assert out == {"query": {"bool": {"must": [_text(op, "title", named)], "filter": [date]}}, "size": 3}
    assert validate("articles", out) == out


@given(WORD)
def test_without_a_naming_or_with_both_or_other_fields_nothing_changes(w):
    body = {"query": {"bool": {"must": [_text("match", "title", _plural(w)), _text("match", "title", w)]}}}
    assert one_form(body, f"{_plural(w)} with {w} in the title") == body            # which form? unsaid
    assert one_form(body, f"the word {w} and the word {_plural(w)}") == body        # both named: both asked
    split = {"query": {"bool": {"must": [_text("match", "title", _plural(w)), _text("match", "abstract", w)]}}}
    assert one_form(split, f"{_plural(w)} with the word {w} in the abstract") == split
    phrase = {"query": {"bool": {"must": [_text("match", "title", f"{_plural(w)} for"), _text("match", "title", w)]}}}
    assert one_form(phrase, f"the word {w}") == phrase                               # not one word each


def test_forms_and_namings():
    assert forms_of_one_word("survey", "surveys") and forms_of_one_word("boxes", "box")
    assert not forms_of_one_word("survey", "survey") and not forms_of_one_word("graph", "graphs2")
    assert named_words('titles with the word Survey, or "agents", or \'world model\'') == {"survey", "agents"}
