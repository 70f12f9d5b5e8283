"""IR <-> Query DSL: the compiler's output passes the safety gate and survives DSL -> IR -> DSL unchanged."""
import gzip
import json
import random

import pytest
from hypothesis import given, strategies as st

from tinyllm.nlq import schema
from tinyllm.nlq.compiler import compile_ir
from tinyllm.nlq.constrained import Constraint, Context
from tinyllm.nlq.ir import END, Unsupported, join_pieces, parse_dsl, segment_value, words
from tinyllm.nlq.validate import validate

LITERALS = ["=0", "=1", "=10", "=2026-07-01||/d", "=2026-07-01||-1y/y", "=-01-01", "=cs.CL", "=Computer Vision",
            "= and "]
QUESTIONS = ["papers by Adrian Cosma since 2021, top 5 newest", "how many passages of Emma mention Mr. Knightley",
             "robotics articles from 2024 with 3 authors", "x"]


def random_ir(question, index, seed):
    """Walk the grammar with uniform random choices: a random member of the IR language for this question."""
    rng, con = random.Random(seed), Constraint(Context(question, index, LITERALS))
    while not con.done:
        con.advance(rng.choice(sorted(con.allowed())))
    return con.tokens


@given(st.integers(0, 10**6), st.sampled_from(QUESTIONS), st.sampled_from(schema.INDEXES))
def test_random_ir_compiles_to_a_valid_body_and_round_trips(seed, question, index):
    tokens = random_ir(question, index, seed)
    body = compile_ir(tokens, question, index)
    validate(index, body)                                   # raises QueryRejected if the gate refuses it
    assert compile_ir(parse_dsl(body, question), question, index) == body     # DSL -> IR -> DSL is the identity


def test_distilled_examples_round_trip():
    with gzip.open(schema.DATA_DIR / "nlq_examples.jsonl.gz", "rt", encoding="utf-8") as f:
        examples = [json.loads(line) for _, line in zip(range(400), f)]
    n = 0
    for ex in examples:
        try:
            tokens = parse_dsl(ex["query"], ex["question"])
        except Unsupported:
            continue
        body = compile_ir(tokens, ex["question"], ex["index"])
        validate(ex["index"], body)
        assert parse_dsl(body, ex["question"]) == tokens
        n += 1
    assert n > 350


@given(st.lists(st.sampled_from(["Heng", "Ji", "2021", "cs.CL", "-", "01", "the", "Opera"]), min_size=1, max_size=8),
       st.data())
def test_segment_then_join_is_identity(ws, data):
    question = " ".join(ws) + " ?"
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(ws) - 1), st.integers(0, 3)), min_size=1, max_size=3))
    value = "|".join(" ".join(ws[i:i + k + 1]) for i, k in spans)
    pieces = segment_value(value, question)
    assert join_pieces(pieces, question) == value
    if any(ch.isalnum() for ch in value):     # words present in the question are copied, not literal
        assert any(p.startswith("@") for p in pieces)


def test_bare_punctuation_is_spelled_not_copied():
    """A '-' or '.' the question happens to contain is never a copy inside a value (the grammar cannot say it)."""
    assert segment_value("cs.CV", "computer vision papers titled ...") == ["=cs.CV"]
    assert segment_value("2026-07-01", "-sea passages from 2026") == ["@4", "=-07-01"]   # "-" is word 0


def test_possessive_s_is_split_off_so_the_name_is_copied():
    """"Zhou's" is the words Zhou ' s: a possessive name is copied like any other (other apostrophes stay)."""
    q = "What was Jingren Zhou's latest paper? don't ask O'Brien's friends"
    assert [w for w, _, _ in words(q)][2:6] == ["Jingren", "Zhou", "'", "s"]
    assert "don't" in [w for w, _, _ in words(q)] and "O'Brien" in [w for w, _, _ in words(q)]
    assert segment_value("Jingren Zhou", q) == ["@2", "@3"]
    assert segment_value("Mark Twain", "Twain's books") == ["=Mark ", "@0"]


@given(st.integers(1, 9999), st.sampled_from("dwMy"), st.sampled_from(["-", "+"]))
def test_date_math_numbers_are_copied(n, unit, sign):
    q = f"papers from the past {n} units"
    value = f"2026-07-01||{sign}{n}{unit}/d"
    assert segment_value(value, q) == [f"=2026-07-01||{sign}", "@4", f"={unit}/d"]
    assert segment_value(f"2026-07-01||{sign}{n}{unit}/d", "papers from last month") == ["=" + value]


def test_text_values_are_copied_ignoring_case():
    q = "passages mentioning Heathcliff"
    assert segment_value("heathcliff", q, fold=True) == ["@2"]
    assert segment_value("heathcliff", q) == ["=heathcliff"]


@pytest.mark.parametrize("body", [
    {"query": {"script": {"script": "ctx._source.x = 1"}}},
    {"query": {"bool": {"filter": [{"bool": {"should": []}}]}}},
    {"query": {"match_all": {}}, "script_fields": {}},
    {"aggs": {"a": {"scripted_metric": {}}}},
])
def test_unsupported_bodies_are_named(body):
    with pytest.raises(Unsupported):
        parse_dsl(body, "q")


def test_compiler_errors_name_the_problem():
    with pytest.raises(ValueError, match="not terminated"):
        compile_ir(["<q>", "match", "f:title", "@0", END], "robots", "articles")
    with pytest.raises(ValueError, match="points past"):
        compile_ir(["<q>", "match", "f:title", "@5", ";", END], "robots", "articles")
    assert words("Feng-Qi Cui's 2 papers") == [("Feng-Qi", 0, 7), ("Cui", 8, 11), ("'", 11, 12), ("s", 12, 13),
                                               ("2", 14, 15), ("papers", 16, 22)]
