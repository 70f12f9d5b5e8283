"""The scope checks: features see the question's frame, not its values; the fit separates what it is shown; the
JSON round trip is exact; the shipped checks accept the hand-written questions and refuse off-topic and
unanswerable ones."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyllm.nlq import schema
from tinyllm.nlq.offtopic import UNANSWERABLE, generate
from tinyllm.nlq.scope import CHECKS, DEFAULT_PATH, Scope, ScopeCheck, features, frame

names = st.text(st.characters(whitelist_categories=("Ll",)), min_size=1, max_size=8).map(str.capitalize).filter(
    lambda w: w[:1].isupper() and w.isalpha())      # any script: "Ada", "Åsa", "Μü"


@settings(max_examples=50)
@given(first=names, last=names, n=st.integers(0, 10**6), phrase=st.text("abc xyz", min_size=1, max_size=20))
def test_values_do_not_change_the_features(first, last, n, phrase):
    """Names, numbers and quoted phrases are masked, so two questions that differ only in them look alike."""
    a = features(f'the {n} newest papers by {first} {last} with "{phrase}" in the title')
    b = features('the 3 newest papers by Ada Lovelace with "graph neural networks" in the title')
    np.testing.assert_array_equal(a, b)


def test_frame_keeps_the_words_that_say_what_is_asked():
    assert frame("How many papers did Yann LeCun write in 2024?") == \
        ["how", "many", "papers", "did", "<Aa>", "<Aa>", "write", "in", "<9>", "?"]
    assert frame("passages mentioning 'the white whale'") == ["passages", "mentioning", "<quote>"]


def test_fit_learns_a_separable_problem_and_generalises_over_values():
    pos = [f"papers about {w} by {n}" for w in ("graphs", "robots", "proteins") for n in ("Ann Lee", "Bo Li")]
    neg = [f"weather in {c} {d}" for c in ("Paris", "Lima") for d in ("today", "tomorrow", "tonight")]
    check = ScopeCheck.fit(pos, neg, dim=1 << 10, steps=200)
    assert (check.probability(pos) > 0.5).all() and (check.probability(neg) < 0.5).all()
    p_new = check.probability(["papers about graphs by Zed Quux", "weather in Oslo today"])
    assert p_new[0] > 0.5 > p_new[1]                    # unseen names and cities are just <Aa>
    with pytest.raises(ValueError, match="positive and one negative"):
        ScopeCheck.fit(pos, [])


def test_json_round_trip_and_clear_errors(tmp_path):
    rng = np.random.default_rng(0)
    checks = {}
    for k, name in enumerate(CHECKS):
        w = np.where(rng.random(1 << 10) < 0.1, rng.standard_normal(1 << 10), 0.0)
        checks[name] = ScopeCheck(np.round(w, 6), 0.25 * k, threshold=0.4)
    scope = Scope(checks)
    path = tmp_path / "scope.json"
    scope.save(path)
    again = Scope.load(path)
    qs = ["papers by Ada Lovelace", "tell me a joke", "", "?"]
    for name in CHECKS:
        np.testing.assert_array_equal(again.checks[name].probability(qs), checks[name].probability(qs))
        assert again.checks[name].threshold == 0.4
    np.testing.assert_array_equal(again.accepts(qs), scope.accepts(qs))
    path.write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(ValueError, match="retrain with scripts/train_scope.py"):
        Scope.load(path)
    with pytest.raises(ValueError, match="needs the checks"):
        Scope({"off-topic": checks["off-topic"]})


def test_word_pieces_let_inflections_share_evidence():
    """Character 4-grams: "cited" and "citations" share features that plain word unigrams would not."""
    assert set(features("papers that are cited")) & set(features("citations of papers")) - set(features("papers"))


def test_offtopic_grammar_is_deterministic_and_varied():
    a, b = generate(300, seed=3), generate(300, seed=3)
    assert a == b and generate(300, seed=4) != a
    assert len({intent for intent, _ in a}) >= 12 and len({q for _, q in a}) > 200
    assert not any("{" in q or "}" in q for _, q in a)                 # every slot filled


def test_composed_wordings_wrap_the_given_in_scope_requests():
    """With a pool of subjects, the composed wordings wrap them (first letter lowered, end punctuation dropped),
    and only unanswerable intents do: "reviews of papers by Zed Quux" is a minimal pair with the subject."""
    pool = ["Papers by Zed Quux?", "robotics surveys from {2024}"]         # braces in a subject stay as written
    drawn = generate(600, seed=1, subjects=pool)
    composed = [(i, q) for i, q in drawn if "papers by Zed Quux" in q or "robotics surveys from {2024}" in q]
    assert len(composed) > 50 and all(intent in UNANSWERABLE for intent, _ in composed)
    assert not any("Quux? " in q for _, q in composed)           # no "?" left inside the new question


def test_the_shipped_checks_accept_the_test_questions_and_refuse_off_topic_and_unanswerable_ones():
    """The shipped file against hand-written questions it was never fitted on (README: the measured rates)."""
    scope = Scope.load(DEFAULT_PATH)
    with open(schema.DATA_DIR / "nlq_testset.jsonl", encoding="utf-8") as f:
        test = [json.loads(line)["question"] for line in f if line.strip()]
    with open(schema.DATA_DIR / "nlq_out_of_scope.jsonl", encoding="utf-8") as f:
        oos = [json.loads(line) for line in f if line.strip()]
    assert scope.accepts(test).mean() >= 0.98
    off = [c["question"] for c in oos if c["kind"] != "on-topic-unanswerable"]
    unanswerable = [c["question"] for c in oos if c["kind"] == "on-topic-unanswerable"]
    assert (~scope.accepts(off)).mean() >= 0.8 and (~scope.accepts(unanswerable)).mean() >= 0.8
    assert "does not look like a search" in scope.refusal("what time is it in Tokyo", "articles")
    assert "does not store" in scope.refusal("what is the h-index of Yann LeCun", "articles")
    assert scope.refusal("papers by Yann LeCun", "articles") is None


def test_the_translator_refuses_off_topic_questions_before_translating():
    """Wired into Translator.translate: an off-topic question raises CannotTranslate naming the index; an on-topic
    one goes on to the translation (here the keyword baseline, so no model is needed)."""
    from tinyllm.nlq.translator import CannotTranslate, Translator
    translator = Translator(None, scope=Scope.load(DEFAULT_PATH))
    with pytest.raises(CannotTranslate, match="does not look like a search of the articles index"):
        translator.translate("what time is it in Tokyo", "articles")
    with pytest.raises(CannotTranslate, match="the gutenberg index does not store what this asks for"):
        translator.translate("how much does a paperback of Moby Dick cost", "gutenberg")
    assert "query" in translator.translate("papers by Yann LeCun about convolutional networks", "articles")
    assert Translator.load().scope is not None      # the shipped translator carries the shipped check
